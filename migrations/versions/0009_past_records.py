"""past records: bookings imported from before the system are marked as such

A booking recorded from past attendance (flask lms import-attendance) counts in reports and
training records, but nobody is asked to evaluate it, sent a follow-up, or given a certificate
for it: the evaluation that earns one was never possible.

Revision ID: 0009_past_records
Revises: 0008_organisations
Create Date: 2026-12-01 17:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


revision = '0009_past_records'
down_revision = '0008_organisations'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        'booking',
        sa.Column('is_past_record', sa.Boolean(), server_default=sa.false(), nullable=False),
    )


def downgrade():
    # SQLite (3.35 and later) drops a plain column in place, so no table is copied.
    op.execute('ALTER TABLE booking DROP COLUMN is_past_record')
