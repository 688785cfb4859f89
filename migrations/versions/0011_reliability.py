"""reliability (idempotent requests)

A state-changing request is stored under its key with what it answered, in the same
transaction as its change, so the same form sent again is answered, not acted on twice.

Revision ID: 0011_reliability
Revises: 0010_performance
Create Date: 2026-12-01 16:10:00.000000

"""
from alembic import op
import sqlalchemy as sa

import lms.core.db


revision = '0011_reliability'
down_revision = '0010_performance'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'request_key',
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('created_at', lms.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('status', sa.SmallInteger(), nullable=True),
        sa.Column('location', sa.Text(), nullable=True),
        sa.Column('flashes', sa.JSON(), nullable=False),
        sa.Column('page', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_request_key')),
    )
    op.create_index(op.f('ix_request_key_created_at'), 'request_key', ['created_at'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_request_key_created_at'), table_name='request_key')
    op.drop_table('request_key')
