"""webhook subscriptions and deliveries

Revision ID: 0022_webhooks
Revises: 0021_api_tokens
Create Date: 2026-12-01 20:55:00.000000

"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = '0022_webhooks'
down_revision = '0021_api_tokens'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
