"""API tokens

Revision ID: 0021_api_tokens
Revises: 0020_integrations
Create Date: 2026-12-01 20:55:00.000000

"""
import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = '0021_api_tokens'
down_revision = '0020_integrations'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
