"""security (second factors, sign-in sessions, security events)

A person may have an authenticator app (second_factor: the secret it shares) and recovery codes
(only their hashes). Each browser's sign-in is a row of sign_in_session (only the hash of the secret
its cookie holds), so one can be ended on its own. A practitioner who has registered but not yet
followed the link emailed to the address has confirmation_pending set. Security events are audit
entries, so they need no table of their own.

Revision ID: 0012_security
Revises: 0011_reliability
Create Date: 2026-12-01 16:10:00.000000

"""
from alembic import op
import sqlalchemy as sa

from lms.core.db import UTCDateTime


revision = '0012_security'
down_revision = '0011_reliability'
branch_labels = None
depends_on = None


def upgrade():
    # A plain ADD COLUMN on both databases: existing people are not waiting for a confirmation.
    op.add_column(
        'user',
        sa.Column('confirmation_pending', sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.create_table(
        'second_factor',
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('totp_secret', sa.String(length=32), nullable=False),
        sa.Column('enabled_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ['user_id'], ['user.id'], name=op.f('fk_second_factor_user_id_user'), ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('user_id', name=op.f('pk_second_factor')),
    )
    op.create_table(
        'recovery_code',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('code_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('used_at', UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ['user_id'], ['user.id'], name=op.f('fk_recovery_code_user_id_user'), ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery_code')),
        sa.UniqueConstraint('user_id', 'code_hash', name=op.f('uq_recovery_code_user_id_code_hash')),
    )
    op.create_table(
        'sign_in_session',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('started_at', UTCDateTime(), nullable=False),
        sa.Column('address', sa.String(length=45), nullable=True),
        sa.Column('user_agent', sa.String(length=200), nullable=True),
        sa.Column('factor_confirmed_at', UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ['user_id'], ['user.id'], name=op.f('fk_sign_in_session_user_id_user'), ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sign_in_session')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_sign_in_session_token_hash')),
    )
    op.create_index(op.f('ix_sign_in_session_user_id'), 'sign_in_session', ['user_id'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_sign_in_session_user_id'), table_name='sign_in_session')
    op.drop_table('sign_in_session')
    op.drop_table('recovery_code')
    op.drop_table('second_factor')
    # The column has no index or constraint, so both databases drop it in place (SQLite since 3.35)
    # without copying the user table that so many others refer to.
    op.drop_column('user', 'confirmation_pending')
