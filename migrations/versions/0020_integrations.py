"""integrations (other systems registered by L&D)

An integration is another system the partnership connects: its website, an agency's HR system,
the finance ledger. API tokens and webhook subscriptions belong to one; revoking it cuts them all.

Revision ID: 0020_integrations
Revises: 0019_payments
Create Date: 2026-12-01 20:50:00.000000

"""
import sqlalchemy as sa
from alembic import op

import lms.core.db

revision = '0020_integrations'
down_revision = '0019_payments'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('integration',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=True),
    sa.Column('contact_email', sa.String(length=254), nullable=True),
    sa.Column('agency_id', sa.Integer(), nullable=True),
    sa.Column('created_at', lms.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('revoked_at', lms.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(
        ['agency_id'], ['agency.id'], name=op.f('fk_integration_agency_id_agency'), ondelete='RESTRICT'
    ),
    sa.ForeignKeyConstraint(
        ['created_by_id'], ['user.id'], name=op.f('fk_integration_created_by_id_user'), ondelete='SET NULL'
    ),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_integration')),
    sa.UniqueConstraint('name', name=op.f('uq_integration_name')),
    )
    with op.batch_alter_table('integration', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_integration_agency_id'), ['agency_id'], unique=False)


def downgrade():
    op.drop_table('integration')
