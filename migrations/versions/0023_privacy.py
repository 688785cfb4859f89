"""retention, erasure and access requests

Requests for access to or erasure of a person's data, logged by L&D with their deadline; when a
person's data was erased; the name a certificate keeps after erasure (when the setting keeps it).

Revision ID: 0023_privacy
Revises: 0022_webhooks
Create Date: 2026-12-01 20:55:00.000000

"""
import sqlalchemy as sa
from alembic import op

import lms.core.db

revision = '0023_privacy'
down_revision = '0022_webhooks'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('data_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('access', 'erasure', name='requestkind', native_enum=False,
                              create_constraint=False, length=32), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('received_on', sa.Date(), nullable=False),
    sa.Column('deadline', sa.Date(), nullable=False),
    sa.Column('received_how', sa.Enum('letter', 'email', 'phone', 'in_person', 'other', name='receivedhow',
                                      native_enum=False, create_constraint=False, length=32), nullable=False),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('status', sa.Enum('open', 'completed', name='requeststatus', native_enum=False,
                                create_constraint=False, length=32), nullable=False),
    sa.Column('logged_at', lms.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('logged_by_id', sa.Integer(), nullable=True),
    sa.Column('completed_at', lms.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('completed_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("kind IN ('access', 'erasure')", name=op.f('ck_data_request_kind_known')),
    sa.CheckConstraint(
        "received_how IN ('letter', 'email', 'phone', 'in_person', 'other')",
        name=op.f('ck_data_request_received_how_known'),
    ),
    sa.CheckConstraint("status IN ('open', 'completed')", name=op.f('ck_data_request_status_known')),
    sa.CheckConstraint('deadline >= received_on', name=op.f('ck_data_request_deadline_after_receipt')),
    sa.CheckConstraint(
        "(status = 'completed') = (completed_at IS NOT NULL)",
        name=op.f('ck_data_request_completed_when_completed_at'),
    ),
    sa.ForeignKeyConstraint(
        ['user_id'], ['user.id'], name=op.f('fk_data_request_user_id_user'), ondelete='RESTRICT'
    ),
    sa.ForeignKeyConstraint(
        ['logged_by_id'], ['user.id'], name=op.f('fk_data_request_logged_by_id_user'), ondelete='SET NULL'
    ),
    sa.ForeignKeyConstraint(
        ['completed_by_id'], ['user.id'], name=op.f('fk_data_request_completed_by_id_user'),
        ondelete='SET NULL',
    ),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_request')),
    )
    with op.batch_alter_table('data_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_request_user_id'), ['user_id'], unique=False)
        batch_op.create_index('ix_data_request_status_deadline', ['status', 'deadline'], unique=False)
    # Plain nullable columns: added in place on both databases.
    op.add_column('user', sa.Column('erased_at', lms.core.db.UTCDateTime(timezone=True), nullable=True))
    op.add_column('certificate', sa.Column('kept_name', sa.String(length=200), nullable=True))


def downgrade():
    op.drop_column('certificate', 'kept_name')
    op.drop_column('user', 'erased_at')
    op.drop_table('data_request')
