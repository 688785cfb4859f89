"""charging policy (the fee per place) and the line manager's comment on a follow-up

A charge may now be a place fee (charge.reason 'place_fee'), raised when a session has run for each
delegate of an organisation in PLACE_FEE_CATEGORIES; a course may set its own fee per place
(course.place_fee_pence, NULL: the PLACE_FEE_PENCE setting). Once a delegate has answered the
level-2 follow-up, their line manager is asked for a comment (manager_comment: only the hash of the
link's secret is kept).

Revision ID: 0016_charging_policy
Revises: 0015_training_contacts
Create Date: 2026-12-01 18:00:00.000000

"""
import warnings
from contextlib import contextmanager

from alembic import op
import sqlalchemy as sa

from lms.core.db import UTCDateTime


revision = '0016_charging_policy'
down_revision = '0015_training_contacts'
branch_labels = None
depends_on = None

REASONS_BEFORE = ('no_show', 'late_cancellation')
REASONS_AFTER = (*REASONS_BEFORE, 'place_fee')
PRACTICE_CHANGES = ('none', 'a_little', 'noticeably', 'a_great_deal')


def known_values_check(column, values):
    listed = ', '.join("'{}'".format(value.replace("'", "''")) for value in values)
    return f'{column} IN ({listed})'


def upgrade():
    _replace_reason_check(REASONS_AFTER)
    op.add_column('course', sa.Column('place_fee_pence', sa.Integer(), nullable=True))
    op.create_table(
        'manager_comment',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('follow_up_id', sa.Integer(), nullable=False),
        sa.Column('manager_email', sa.String(length=254), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('invited_at', UTCDateTime(), nullable=False),
        sa.Column('expires_at', UTCDateTime(), nullable=False),
        sa.Column('answered_at', UTCDateTime(), nullable=True),
        sa.Column('change', sa.String(length=32), nullable=True),
        sa.Column('comment', sa.Text(), nullable=True),
        sa.CheckConstraint(
            known_values_check('change', PRACTICE_CHANGES), name=op.f('ck_manager_comment_change_known')
        ),
        sa.ForeignKeyConstraint(
            ['follow_up_id'], ['follow_up.id'],
            name=op.f('fk_manager_comment_follow_up_id_follow_up'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_manager_comment')),
        sa.UniqueConstraint('follow_up_id', name=op.f('uq_manager_comment_follow_up_id')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_manager_comment_token_hash')),
    )


def downgrade():
    fees = op.get_bind().execute(sa.text("SELECT count(*) FROM charge WHERE reason = 'place_fee'")).scalar()
    if fees:
        raise RuntimeError(
            f'charge.reason holds {fees} place fee(s), which the earlier schema does not know: '
            'downgrading would lose them'
        )
    op.drop_table('manager_comment')
    # A plain DROP COLUMN on both databases (SQLite since 3.35): no index or constraint names it.
    op.drop_column('course', 'place_fee_pence')
    _replace_reason_check(REASONS_BEFORE)


def _replace_reason_check(values):
    name = op.f('ck_charge_reason_known')
    with _tables_copied_safely(), warnings.catch_warnings():
        # SQLite copies the table, reflecting its neighbours, whose lower() indexes it cannot read
        # (the charge table has none of its own, so nothing is lost).
        warnings.simplefilter('ignore')
        with op.batch_alter_table('charge', schema=None) as batch_op:
            batch_op.drop_constraint(name, type_='check')
            batch_op.create_check_constraint(name, known_values_check('reason', values))


# Copying a SQLite table (batch mode) safely: the same steps as revision 0007.


@contextmanager
def _tables_copied_safely():
    """With SQLite foreign keys on, dropping the copied charge table would touch the invoice lines
    that refer to it; they are off while it is copied, and checked before they are on again."""
    if op.get_bind().dialect.name != 'sqlite':
        yield
        return
    _outside_a_transaction('PRAGMA foreign_keys=OFF')
    connection = op.get_bind()
    if connection.exec_driver_sql('PRAGMA foreign_keys').scalar():
        raise RuntimeError('Could not turn SQLite foreign keys off to copy tables safely')
    yield
    broken = connection.exec_driver_sql('PRAGMA foreign_key_check').all()
    if broken:
        raise RuntimeError(f'Copying tables broke foreign keys: {broken[:5]}')
    _outside_a_transaction('PRAGMA foreign_keys=ON')


def _outside_a_transaction(pragma):
    # SQLite ignores PRAGMA foreign_keys inside a transaction: end the migration's transaction,
    # set it, and go on in a new one.
    connection = op.get_bind()
    connection.exec_driver_sql('COMMIT')
    connection.exec_driver_sql(pragma)
    connection.exec_driver_sql('BEGIN')
