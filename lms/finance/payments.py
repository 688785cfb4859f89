"""Payments received against invoices, each invoice's balance, and the debt still owed by age."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import selectinload

from lms.accounts.models import Role, User
from lms.core.audit import log_action
from lms.core.formatting import format_date, format_money, pounds_value
from lms.core.permissions import require_role
from lms.core.timezones import london_date
from lms.extensions import db
from lms.finance.models import Invoice, InvoiceStatus, Payment
from lms.finance.services import FinanceError, lock_invoice
from lms.integrations.webhooks import emit

MAX_REFERENCE = 100


def record_payment(
    invoice: Invoice,
    amount_pence: int,
    received_on: date,
    reference: str | None,
    *,
    by: User | None,
    now: datetime,
) -> Payment:
    """Finance record money received against an issued invoice: all or part of its balance, never more;
    the invoice is paid when nothing is left."""
    require_role(by, Role.FINANCE, message="Only finance can record payments.")
    invoice = lock_invoice(invoice)
    if invoice.status is not InvoiceStatus.ISSUED:
        raise FinanceError.conflict(
            f"This invoice is {invoice.status.title.lower()}, so no payment can be recorded against it."
        )
    if amount_pence <= 0:
        raise FinanceError("Enter an amount of more than £0.00.", field="amount")
    balance = invoice.balance_pence
    if amount_pence > balance:
        owed = format_money(balance)
        raise FinanceError(f"That is more than the balance of {owed}: record at most {owed}.", field="amount")
    if received_on > london_date(now):
        raise FinanceError("The payment cannot have been received in the future.", field="received_on")
    if received_on < invoice.issued_on:
        issued = format_date(invoice.issued_on)
        raise FinanceError(
            f"The payment cannot have been received before the invoice was issued ({issued}).",
            field="received_on",
        )
    reference = (reference or "").strip()[:MAX_REFERENCE] or None
    payment = Payment(
        invoice=invoice,
        received_on=received_on,
        amount_pence=amount_pence,
        reference=reference,
        recorded_at=now,
        recorded_by_id=by.id if by is not None else None,
    )
    db.session.add(payment)
    db.session.flush()
    log_action(
        "lms.payment.recorded",
        subject=payment,
        actor=by,
        now=now,
        invoice=invoice.number,
        amount_pence=amount_pence,
        received_on=received_on.isoformat(),
        balance_pence=invoice.balance_pence,
    )
    settle_if_paid(invoice, by=by, now=now)
    return payment


def settle_if_paid(invoice: Invoice, *, by: User | None, now: datetime) -> None:
    """An issued invoice with payments and nothing left to pay is paid (a credit note can do that too)."""
    if invoice.status is InvoiceStatus.ISSUED and invoice.payments and invoice.balance_pence <= 0:
        invoice.status = InvoiceStatus.PAID
        invoice.paid_at = now
        db.session.flush()
        log_action("lms.invoice.paid", subject=invoice, actor=by, now=now, paid_pence=invoice.paid_pence)
        emit("invoice.paid", invoice, now=now)


# Aged debt ------------------------------------------------------------------------------------

# (title, first day past due, last day past due); None: no limit. Not yet due is "0 days".
AGE_BUCKETS: tuple[tuple[str, int | None, int | None], ...] = (
    ("Not yet due", None, 0),
    ("1–30 days", 1, 30),
    ("31–60 days", 31, 60),
    ("61–90 days", 61, 90),
    ("Over 90 days", 91, None),
)


def age_bucket(days_overdue: int) -> int:
    """The index in AGE_BUCKETS of a balance this many days past its due date."""
    for index, (_, first, last) in enumerate(AGE_BUCKETS):
        if (first is None or days_overdue >= first) and (last is None or days_overdue <= last):
            return index
    raise ValueError(days_overdue)


@dataclass
class DebtRow:
    name: str
    agency_id: int | None
    buckets: list[int] = field(default_factory=lambda: [0] * len(AGE_BUCKETS))
    invoices: int = 0

    @property
    def total(self) -> int:
        return sum(self.buckets)


@dataclass
class AgedDebt:
    today: date
    rows: list[DebtRow]

    @property
    def titles(self) -> list[str]:
        return [title for title, _, _ in AGE_BUCKETS]

    @property
    def totals(self) -> DebtRow:
        total = DebtRow("Total", None)
        for row in self.rows:
            total.buckets = [a + b for a, b in zip(total.buckets, row.buckets, strict=True)]
            total.invoices += row.invoices
        return total


def aged_debt(today: date, *, agency_id: int | None = None) -> AgedDebt:
    """What each organisation still owes on issued invoices, by how long past due it is."""
    query = (
        sa.select(Invoice)
        .where(Invoice.status == InvoiceStatus.ISSUED)
        .options(selectinload(Invoice.payments), selectinload(Invoice.credit_notes))
        .order_by(Invoice.bill_to_name, Invoice.id)
    )
    if agency_id is not None:
        query = query.where(Invoice.agency_id == agency_id)
    rows: dict[int, DebtRow] = {}
    for invoice in db.session.scalars(query):
        owed = invoice.outstanding_pence
        if owed <= 0:
            continue
        row = rows.setdefault(invoice.agency_id, DebtRow(invoice.bill_to_name, invoice.agency_id))
        row.buckets[age_bucket(invoice.days_overdue(today))] += owed
        row.invoices += 1
    return AgedDebt(today, sorted(rows.values(), key=lambda r: (-r.total, r.name)))


def aged_debt_table(debt: AgedDebt) -> tuple[list[str], list[list]]:
    """The aged debt as a download: a row an organisation, then the totals; money as pounds."""
    header = ["Organisation", "Invoices", *debt.titles, "Total"]
    rows = [
        [row.name, row.invoices, *(pounds_value(p) for p in row.buckets), pounds_value(row.total)]
        for row in [*debt.rows, debt.totals]
    ]
    return header, rows


# Payments are history too ---------------------------------------------------------------------


@event.listens_for(OrmSession, "before_flush")
def _payments_are_history(session, flush_context, instances) -> None:
    for obj in session.dirty:
        if isinstance(obj, Payment) and sa.inspect(obj).persistent:
            attrs = sa.inspect(obj).attrs
            changed = {a.key for a in attrs if a.history.has_changes()} - {"invoice", "recorded_by"}
            if changed:
                raise FinanceError("A payment cannot be changed once recorded.")
    for obj in session.deleted:
        if isinstance(obj, Payment):
            raise FinanceError("A payment is never deleted.")
