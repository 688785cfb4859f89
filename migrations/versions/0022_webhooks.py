"""webhook subscriptions and deliveries

An integration's subscriptions (where to send which events, and the secret that signs them), the
deliveries written in the same transaction as the change they report, and each attempt to send one.

Revision ID: 0022_webhooks
Revises: 0021_api_tokens
Create Date: 2026-12-01 20:55:00.000000

"""
import sqlalchemy as sa
from alembic import op

from lms.core.db import UTCDateTime

revision = '0022_webhooks'
down_revision = '0021_api_tokens'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'webhook_subscription',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('integration_id', sa.Integer(), nullable=False),
        sa.Column('url', sa.String(length=2000), nullable=False),
        sa.Column('secret', sa.String(length=100), nullable=False),
        sa.Column('previous_secret', sa.String(length=100), nullable=True),
        sa.Column('previous_secret_until', UTCDateTime(), nullable=True),
        sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('secret_rotated_at', UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ['integration_id'], ['integration.id'],
            name=op.f('fk_webhook_subscription_integration_id_integration'), ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['created_by_id'], ['user.id'],
            name=op.f('fk_webhook_subscription_created_by_id_user'), ondelete='SET NULL',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_subscription')),
    )
    op.create_index(
        op.f('ix_webhook_subscription_integration_id'), 'webhook_subscription', ['integration_id'], unique=False
    )
    op.create_table(
        'webhook_subscription_event',
        sa.Column('subscription_id', sa.Integer(), nullable=False),
        sa.Column('event_type', sa.String(length=60), nullable=False),
        sa.ForeignKeyConstraint(
            ['subscription_id'], ['webhook_subscription.id'],
            name=op.f('fk_webhook_subscription_event_subscription_id_webhook_subscription'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('subscription_id', 'event_type', name=op.f('pk_webhook_subscription_event')),
    )
    op.create_index(
        'ix_webhook_subscription_event_event_type', 'webhook_subscription_event', ['event_type'], unique=False
    )
    op.create_table(
        'webhook_delivery',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('subscription_id', sa.Integer(), nullable=False),
        sa.Column('event_id', sa.String(length=40), nullable=False),
        sa.Column('event_type', sa.String(length=60), nullable=False),
        sa.Column('payload', sa.Text(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', UTCDateTime(), nullable=False),
        sa.Column('delivered_at', UTCDateTime(), nullable=True),
        sa.Column('failed_at', UTCDateTime(), nullable=True),
        sa.Column('last_status_code', sa.Integer(), nullable=True),
        sa.Column('last_error', sa.String(length=500), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'failed')", name=op.f('ck_webhook_delivery_status_known')
        ),
        sa.CheckConstraint('attempts >= 0', name=op.f('ck_webhook_delivery_attempts_not_negative')),
        sa.ForeignKeyConstraint(
            ['subscription_id'], ['webhook_subscription.id'],
            name=op.f('fk_webhook_delivery_subscription_id_webhook_subscription'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_delivery')),
        sa.UniqueConstraint('subscription_id', 'event_id', name=op.f('uq_webhook_delivery_subscription_id_event_id')),
    )
    op.create_index(
        op.f('ix_webhook_delivery_subscription_id'), 'webhook_delivery', ['subscription_id'], unique=False
    )
    op.create_index(
        'ix_webhook_delivery_due',
        'webhook_delivery',
        ['next_attempt_at'],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
        sqlite_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        'webhook_attempt',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('delivery_id', sa.Integer(), nullable=False),
        sa.Column('attempted_at', UTCDateTime(), nullable=False),
        sa.Column('duration_ms', sa.Integer(), nullable=False),
        sa.Column('status_code', sa.Integer(), nullable=True),
        sa.Column('error', sa.String(length=500), nullable=True),
        sa.Column('succeeded', sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ['delivery_id'], ['webhook_delivery.id'],
            name=op.f('fk_webhook_attempt_delivery_id_webhook_delivery'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_attempt')),
    )
    op.create_index(op.f('ix_webhook_attempt_delivery_id'), 'webhook_attempt', ['delivery_id'], unique=False)


def downgrade():
    op.drop_table('webhook_attempt')
    op.drop_table('webhook_delivery')
    op.drop_table('webhook_subscription_event')
    op.drop_table('webhook_subscription')
