"""approvals

A booking may wait for its line manager's (or the L&D team's) approval: booking.status gains
'awaiting_approval', which is live (the one-live-booking-per-person index covers it), and
booking.cancellation_reason gains 'approval_declined' and 'approval_expired'. approval_request
keeps each booking's request (only the hashes of the secrets its links carry); course.needs_approval
and approval_category are what L&D choose when BOOKING_APPROVAL is "chosen".

Revision ID: 0014_approvals
Revises: 0013_messages
Create Date: 2026-12-01 18:00:00.000000

"""
import warnings
from contextlib import contextmanager

from alembic import op
import sqlalchemy as sa

from lms.core.db import UTCDateTime


revision = '0014_approvals'
down_revision = '0013_messages'
branch_labels = None
depends_on = None


STATUSES_BEFORE = ('confirmed', 'waiting', 'cancelled', 'substituted')
STATUSES_AFTER = (*STATUSES_BEFORE, 'awaiting_approval')
REASONS_BEFORE = ('delegate', 'removed', 'session_cancelled')
REASONS_AFTER = (*REASONS_BEFORE, 'approval_declined', 'approval_expired')
LIVE_BEFORE = "status IN ('confirmed', 'waiting')"
LIVE_AFTER = "status IN ('confirmed', 'waiting', 'awaiting_approval')"
CATEGORIES = (
    'police', 'local_authority', 'childrens_social_care', 'health_commissioner', 'health_acute',
    'health_community', 'health_mental', 'health_primary', 'education_early_years',
    'education_school', 'education_post16', 'youth_justice', 'probation', 'courts', 'voluntary',
    'faith', 'housing', 'private', 'other',
)


def known_values_check(column, values):
    listed = ', '.join("'{}'".format(value.replace("'", "''")) for value in values)
    return f'{column} IN ({listed})'


def upgrade():
    with _tables_copied_safely():
        _replace_booking_checks(STATUSES_AFTER, REASONS_AFTER, LIVE_AFTER)
    op.add_column(
        'course', sa.Column('needs_approval', sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    op.create_table(
        'approval_category',
        sa.Column('category', sa.String(length=32), nullable=False),
        sa.Column('chosen_at', UTCDateTime(), nullable=False),
        sa.Column('chosen_by_id', sa.Integer(), nullable=True),
        sa.CheckConstraint(
            known_values_check('category', CATEGORIES), name=op.f('ck_approval_category_category_known')
        ),
        sa.ForeignKeyConstraint(
            ['chosen_by_id'], ['user.id'], name=op.f('fk_approval_category_chosen_by_id_user'),
            ondelete='SET NULL',
        ),
        sa.PrimaryKeyConstraint('category', name=op.f('pk_approval_category')),
    )
    op.create_table(
        'approval_request',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('booking_id', sa.Integer(), nullable=False),
        sa.Column('approver', sa.String(length=32), nullable=False),
        sa.Column('manager_name', sa.String(length=200), nullable=True),
        sa.Column('manager_email', sa.String(length=254), nullable=True),
        sa.Column('missed_count', sa.Integer(), nullable=True),
        sa.Column('token_hash', sa.String(length=64), nullable=True),
        sa.Column('reminder_token_hash', sa.String(length=64), nullable=True),
        sa.Column('holds_place', sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column('requested_at', UTCDateTime(), nullable=False),
        sa.Column('expires_at', UTCDateTime(), nullable=False),
        sa.Column('remind_after', UTCDateTime(), nullable=False),
        sa.Column('reminded_at', UTCDateTime(), nullable=True),
        sa.Column('decided_at', UTCDateTime(), nullable=True),
        sa.Column('decision', sa.String(length=32), nullable=True),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('decided_by_id', sa.Integer(), nullable=True),
        sa.Column('decided_by_email', sa.String(length=254), nullable=True),
        sa.CheckConstraint(
            known_values_check('approver', ('manager', 'lnd')),
            name=op.f('ck_approval_request_approver_known'),
        ),
        sa.CheckConstraint(
            known_values_check('decision', ('approved', 'declined', 'expired')),
            name=op.f('ck_approval_request_decision_known'),
        ),
        sa.ForeignKeyConstraint(
            ['booking_id'], ['booking.id'], name=op.f('fk_approval_request_booking_id_booking'),
            ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['decided_by_id'], ['user.id'], name=op.f('fk_approval_request_decided_by_id_user'),
            ondelete='SET NULL',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_approval_request')),
        sa.UniqueConstraint('booking_id', name=op.f('uq_approval_request_booking_id')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_approval_request_token_hash')),
        sa.UniqueConstraint('reminder_token_hash', name=op.f('uq_approval_request_reminder_token_hash')),
    )
    op.create_index(op.f('ix_approval_request_expires_at'), 'approval_request', ['expires_at'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_approval_request_expires_at'), table_name='approval_request')
    op.drop_table('approval_request')
    op.drop_table('approval_category')
    op.drop_column('course', 'needs_approval')
    # The older schema knows no booking awaiting approval: such a booking was never confirmed, so
    # it is cancelled as not approved in time (a reason the older schema does not know either,
    # hence removed by the L&D team, without charge).
    op.execute(
        "UPDATE booking SET status = 'cancelled', cancellation_reason = 'removed' "
        "WHERE status = 'awaiting_approval'"
    )
    op.execute(
        "UPDATE booking SET cancellation_reason = 'removed' "
        "WHERE cancellation_reason IN ('approval_declined', 'approval_expired')"
    )
    with _tables_copied_safely():
        _replace_booking_checks(STATUSES_BEFORE, REASONS_BEFORE, LIVE_BEFORE)


def _replace_booking_checks(statuses, reasons, live):
    op.drop_index('uq_booking_live_per_person', table_name='booking')
    with warnings.catch_warnings():
        # SQLite copies the table, reflecting it and its neighbours, whose lower() indexes it cannot read.
        warnings.simplefilter('ignore')
        with op.batch_alter_table('booking', schema=None) as batch_op:
            batch_op.drop_constraint(op.f('ck_booking_status_known'), type_='check')
            batch_op.drop_constraint(op.f('ck_booking_cancellation_reason_known'), type_='check')
            batch_op.create_check_constraint(
                op.f('ck_booking_status_known'), known_values_check('status', statuses)
            )
            batch_op.create_check_constraint(
                op.f('ck_booking_cancellation_reason_known'),
                known_values_check('cancellation_reason', reasons),
            )
    op.create_index(
        'uq_booking_live_per_person',
        'booking',
        ['session_id', 'user_id'],
        unique=True,
        postgresql_where=sa.text(live),
        sqlite_where=sa.text(live),
    )


@contextmanager
def _tables_copied_safely():
    """Batch mode copies the SQLite booking table and drops the original. With foreign keys on,
    dropping a referenced table deletes, cascades to or nulls the rows that refer to it (charges,
    evaluations, certificates), so they are off while it is copied, and checked before they are on
    again."""
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
