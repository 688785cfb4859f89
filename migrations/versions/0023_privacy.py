"""retention, erasure and access requests

Revision ID: 0023_privacy
Revises: 0022_webhooks
Create Date: 2026-12-01 20:55:00.000000

"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = '0023_privacy'
down_revision = '0022_webhooks'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
