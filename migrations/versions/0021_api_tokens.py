"""API tokens

Tokens for the JSON API, held by a person or by an integration: only the SHA-256 hash of the secret
is kept, with a short prefix to recognise it by.

Revision ID: 0021_api_tokens
Revises: 0020_integrations
Create Date: 2026-12-01 20:55:00.000000

"""
import sqlalchemy as sa
from alembic import op

import lms.core.db

revision = '0021_api_tokens'
down_revision = '0020_integrations'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('api_token',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('scopes', sa.String(length=200), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('integration_id', sa.Integer(), nullable=True),
    sa.Column('created_at', lms.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('expires_at', lms.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', lms.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', lms.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint(
        '(user_id IS NULL) <> (integration_id IS NULL)', name=op.f('ck_api_token_one_holder')
    ),
    sa.ForeignKeyConstraint(
        ['user_id'], ['user.id'], name=op.f('fk_api_token_user_id_user'), ondelete='CASCADE'
    ),
    sa.ForeignKeyConstraint(
        ['integration_id'], ['integration.id'],
        name=op.f('fk_api_token_integration_id_integration'), ondelete='CASCADE',
    ),
    sa.ForeignKeyConstraint(
        ['created_by_id'], ['user.id'], name=op.f('fk_api_token_created_by_id_user'), ondelete='SET NULL'
    ),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_token')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_token_token_hash')),
    )
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_token_user_id'), ['user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_api_token_integration_id'), ['integration_id'], unique=False)


def downgrade():
    op.drop_table('api_token')
