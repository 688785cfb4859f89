"""audit entries by age (the retention sweep finds the old ones without reading them all)

Revision ID: 0025_audit_created_at
Revises: 0024_notify_trigger
Create Date: 2026-12-01 22:00:00.000000

"""
from alembic import op

revision = '0025_audit_created_at'
down_revision = '0024_notify_trigger'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_entry_created_at'), ['created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_entry_created_at'))
