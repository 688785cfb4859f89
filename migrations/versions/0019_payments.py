"""payments

Payments received against invoices, part or whole. An invoice already marked paid gets one
payment of what was left to pay, on the day it was marked, so its balance stays 0.

Revision ID: 0019_payments
Revises: 0018_registers
Create Date: 2026-12-01 18:10:00.000000

"""
from datetime import UTC
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

import lms.core.db

revision = '0019_payments'
down_revision = '0018_registers'
branch_labels = None
depends_on = None

LONDON = ZoneInfo("Europe/London")


def upgrade():
    payment = op.create_table('payment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('received_on', sa.Date(), nullable=False),
    sa.Column('amount_pence', sa.BigInteger(), nullable=False),
    sa.Column('reference', sa.String(length=100), nullable=True),
    sa.Column('recorded_at', lms.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('amount_pence > 0', name=op.f('ck_payment_amount_positive')),
    sa.ForeignKeyConstraint(
        ['invoice_id'], ['invoice.id'], name=op.f('fk_payment_invoice_id_invoice'), ondelete='RESTRICT'
    ),
    sa.ForeignKeyConstraint(
        ['recorded_by_id'], ['user.id'], name=op.f('fk_payment_recorded_by_id_user'), ondelete='SET NULL'
    ),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment'))
    )
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_invoice_id'), ['invoice_id'], unique=False)

    invoice = sa.table(
        'invoice',
        sa.column('id', sa.Integer()),
        sa.column('status', sa.String()),
        sa.column('total_pence', sa.BigInteger()),
        sa.column('paid_at', lms.core.db.UTCDateTime(timezone=True)),
        sa.column('issued_on', sa.Date()),
    )
    credit_note = sa.table(
        'credit_note',
        sa.column('invoice_id', sa.Integer()),
        sa.column('total_pence', sa.BigInteger()),
        sa.column('issued_at', lms.core.db.UTCDateTime(timezone=True)),
    )
    # What was left to pay when it was marked paid: credit notes issued later are refunds due.
    credited = (
        sa.select(sa.func.coalesce(sa.func.sum(credit_note.c.total_pence), 0))
        .where(credit_note.c.invoice_id == invoice.c.id, credit_note.c.issued_at <= invoice.c.paid_at)
        .scalar_subquery()
    )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(
            invoice.c.id,
            invoice.c.total_pence,
            invoice.c.paid_at,
            invoice.c.issued_on,
            credited.label('credited'),
        )
        .where(invoice.c.status == 'paid', invoice.c.paid_at.is_not(None))
    ).all()
    payments = [
        {
            'invoice_id': row.id,
            'received_on': max(row.paid_at.astimezone(LONDON).date(), row.issued_on),
            'amount_pence': row.total_pence - row.credited,
            'reference': None,
            'recorded_at': row.paid_at.astimezone(UTC),
            'recorded_by_id': None,
        }
        for row in rows
        if row.total_pence - row.credited > 0
    ]
    if payments:
        op.bulk_insert(payment, payments)


def downgrade():
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payment_invoice_id'))

    op.drop_table('payment')
