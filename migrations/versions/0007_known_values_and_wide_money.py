"""known values and wide money

Every enum column gets a CHECK listing its values (ck_<table>_<column>_known), so the database
refuses a state the application does not know; the invoice's unused draft state goes. Money
columns that can pass 2^31 - 1 pence (about £21 million) become BIGINT.

Revision ID: 0007_known_values_and_wide_money
Revises: 0006_budget
Create Date: 2026-11-23 10:00:00.000000

"""
import warnings
from contextlib import contextmanager

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007_known_values_and_wide_money'
down_revision = '0006_budget'
branch_labels = None
depends_on = None


# The values as they stand at this revision; a later revision that changes an enum replaces its CHECK.
KNOWN_VALUES = {
    'agency': {
        'category': (
            'police', 'local_authority', 'childrens_social_care', 'health_commissioner', 'health_acute',
            'health_community', 'health_mental', 'health_primary', 'education_early_years',
            'education_school', 'education_post16', 'youth_justice', 'probation', 'courts', 'voluntary',
            'faith', 'housing', 'private', 'other',
        ),
    },
    'user_role': {'role': ('practitioner', 'trainer', 'lnd_admin', 'finance')},
    'course': {
        'level': ('foundation', 'intermediate', 'advanced', 'specialist', 'managers'),
        'delivery_mode': ('in_person', 'online_live', 'webinar', 'elearning'),
    },
    'course_session': {
        'delivery_mode': ('in_person', 'online_live', 'webinar', 'elearning'),
        'status': ('scheduled', 'cancelled', 'completed'),
    },
    # booking.status has had its CHECK since 0002_bookings.
    'booking': {
        'cancellation_reason': ('delegate', 'removed', 'session_cancelled'),
        'attendance': ('attended', 'partial', 'no_show'),
    },
    'question': {'kind': ('rating', 'text')},
    'follow_up': {
        'applied': ('yes', 'partly', 'no'),
        'multi_agency': ('yes', 'partly', 'no'),
    },
    'charge': {
        'reason': ('no_show', 'late_cancellation'),
        'status': ('raised', 'waived', 'withdrawn', 'invoiced', 'credited'),
        'waiver_reason': ('illness', 'bereavement', 'work_emergency', 'partnership_error', 'other'),
    },
    'invoice': {'status': ('issued', 'paid', 'credited')},
}

WIDE_MONEY = {
    'course_session': ('cost_pence',),
    'invoice': ('net_pence', 'vat_pence', 'total_pence'),
    'credit_note': ('net_pence', 'vat_pence', 'total_pence'),
    'budget': ('allocated_pence',),
}

# SQLite cannot read these back, so copying their table in batch mode loses them: made again after.
EXPRESSION_INDEXES = {
    'agency': ('uq_agency_name_lower', 'lower(name)'),
    'course': ('uq_course_title_lower', 'lower(title)'),
}


def known_values_check(column, values):
    listed = ', '.join("'{}'".format(value.replace("'", "''")) for value in values)
    return f'{column} IN ({listed})'


def upgrade():
    _refuse_unknown_values()
    with _tables_copied_safely():
        for table in _tables():
            with _batch(table) as batch_op:
                for column, values in KNOWN_VALUES.get(table, {}).items():
                    batch_op.create_check_constraint(
                        op.f(f'ck_{table}_{column}_known'), known_values_check(column, values)
                    )
                for column in WIDE_MONEY.get(table, ()):
                    batch_op.alter_column(
                        column, existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=False
                    )


def downgrade():
    with _tables_copied_safely():
        for table in _tables():
            with _batch(table) as batch_op:
                for column in KNOWN_VALUES.get(table, {}):
                    batch_op.drop_constraint(op.f(f'ck_{table}_{column}_known'), type_='check')
                # Fails on PostgreSQL if an amount no longer fits 32 bits: nothing is cut silently.
                for column in WIDE_MONEY.get(table, ()):
                    batch_op.alter_column(
                        column, existing_type=sa.BigInteger(), type_=sa.Integer(), existing_nullable=False
                    )


def _tables():
    return list(dict.fromkeys([*KNOWN_VALUES, *WIDE_MONEY]))


def _refuse_unknown_values():
    """Name any row the new CHECKs would refuse, rather than fail on an anonymous violation."""
    connection = op.get_bind()
    for table, columns in KNOWN_VALUES.items():
        for column, values in columns.items():
            col = sa.column(column, sa.String)
            unknown = connection.execute(
                sa.select(col).distinct().select_from(sa.table(table, col))
                .where(col.is_not(None), col.not_in(values))
            ).scalars().all()
            if unknown:
                raise RuntimeError(f'{table}.{column} holds values no longer known: {sorted(unknown)}')


@contextmanager
def _batch(table):
    with warnings.catch_warnings():
        # SQLite copies the table, reflecting it and its neighbours, whose lower() indexes it cannot read.
        warnings.simplefilter('ignore')
        with op.batch_alter_table(table, schema=None) as batch_op:
            yield batch_op
    if table in EXPRESSION_INDEXES and op.get_bind().dialect.name == 'sqlite':
        name, expression = EXPRESSION_INDEXES[table]
        op.create_index(name, table, [sa.text(expression)], unique=True)


@contextmanager
def _tables_copied_safely():
    """Batch mode copies each SQLite table and drops the original. With foreign keys on, dropping
    a referenced table deletes, cascades to or nulls the rows that refer to it, so they are off
    while tables are copied, and checked before they are on again."""
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
    # SQLite ignores PRAGMA foreign_keys inside a transaction: end the migration's transaction
    # (nothing is written before this point), set it, and go on in a new one.
    connection = op.get_bind()
    connection.exec_driver_sql('COMMIT')
    connection.exec_driver_sql(pragma)
    connection.exec_driver_sql('BEGIN')
