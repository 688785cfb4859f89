"""messages (calendar feeds)

Each person may have one calendar subscription address: a long random token that serves their own
confirmed bookings as an iCalendar feed. Resetting it replaces the token, so an address that was
shared by mistake stops working. Deleting the person deletes their feed.

Revision ID: 0013_messages
Revises: 0012_security
Create Date: 2026-12-01 16:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


revision = '0013_messages'
down_revision = '0012_security'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'calendar_feed',
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('token', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['user_id'], ['user.id'], name='fk_calendar_feed_user_id_user', ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('user_id', name='pk_calendar_feed'),
        sa.UniqueConstraint('token', name='uq_calendar_feed_token'),
    )


def downgrade():
    op.drop_table('calendar_feed')
