"""registers (a reminder when a register is left open)

The scheduler reminds the trainer once that a session's register is still open, and closes it a
few working days later; the reminder's time is kept so it goes only once. A delegate who checks
themselves in with the session's QR code has the time kept on their booking.

Revision ID: 0018_registers
Revises: 0017_sign_in
Create Date: 2026-12-01 18:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


revision = '0018_registers'
down_revision = '0017_sign_in'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('course_session', sa.Column('register_reminded_at', sa.DateTime(timezone=True), nullable=True))
    # Self check-in: when the delegate scanned the session's QR code and said they had arrived.
    op.add_column('booking', sa.Column('checked_in_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    # Plain columns: SQLite (3.35 and later) drops them in place, so no table is copied.
    op.drop_column('booking', 'checked_in_at')
    op.drop_column('course_session', 'register_reminded_at')
