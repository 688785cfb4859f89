"""organisations: official code, postcode, the parent that pays; the organisation on invoice lines

Every organisation a practitioner can belong to (a police force, a trust, each school, GP practice
and nursery) is a row of `agency`. It gains the official code it is known by (a school's URN, a
GP practice's ODS code), its postcode, and optionally a parent that pays its charges (a
multi-academy trust for its schools). Invoice lines keep the delegate's own organisation, so an
invoice to a parent says which school each line is for. Existing rows keep their ids, so every
booking, charge and invoice points where it did.

Revision ID: 0008_organisations
Revises: 0007_known_values_and_wide_money
Create Date: 2026-12-01 16:00:00.000000

"""
import warnings
from contextlib import contextmanager

from alembic import op
import sqlalchemy as sa


revision = '0008_organisations'
down_revision = '0007_known_values_and_wide_money'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('agency', sa.Column('official_code', sa.String(length=20), nullable=True))
    op.add_column('agency', sa.Column('postcode', sa.String(length=10), nullable=True))
    op.add_column('agency', sa.Column('parent_id', sa.Integer(), nullable=True))
    with _tables_copied_safely(), _batch('agency') as batch_op:
        # NO ACTION, checked at the end of the statement: a parent with schools cannot be deleted,
        # but a statement that removes a parent and its schools together can.
        batch_op.create_foreign_key(op.f('fk_agency_parent_id_agency'), 'agency', ['parent_id'], ['id'])
    op.create_index(op.f('uq_agency_official_code'), 'agency', ['official_code'], unique=True)
    op.create_index(op.f('ix_agency_parent_id'), 'agency', ['parent_id'], unique=False)
    op.add_column('invoice_line', sa.Column('organisation_name', sa.String(length=200), nullable=True))


def downgrade():
    op.drop_index(op.f('ix_agency_parent_id'), table_name='agency')
    op.drop_index(op.f('uq_agency_official_code'), table_name='agency')
    with _tables_copied_safely():
        with _batch('invoice_line') as batch_op:
            batch_op.drop_column('organisation_name')
        with _batch('agency') as batch_op:
            batch_op.drop_constraint(op.f('fk_agency_parent_id_agency'), type_='foreignkey')
            batch_op.drop_column('parent_id')
            batch_op.drop_column('postcode')
            batch_op.drop_column('official_code')


# Copying a SQLite table (batch mode) safely: the same steps as revision 0007, kept here as they were
# when this revision was written.


@contextmanager
def _batch(table):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # SQLite cannot reflect the lower(name) index; it is made again
        with op.batch_alter_table(table, schema=None) as batch_op:
            yield batch_op
    if table == 'agency' and op.get_bind().dialect.name == 'sqlite':
        op.create_index('uq_agency_name_lower', 'agency', [sa.text('lower(name)')], unique=True)


@contextmanager
def _tables_copied_safely():
    """With SQLite foreign keys on, dropping the copied agency table would touch the rows that refer
    to it; they are off while it is copied, and checked before they are on again."""
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
    connection = op.get_bind()
    connection.exec_driver_sql('COMMIT')
    connection.exec_driver_sql(pragma)
    connection.exec_driver_sql('BEGIN')
