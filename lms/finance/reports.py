"""Read-only finance figures by agency, aggregated in the database, and the chart that shows them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa

from lms.accounts.models import Agency
from lms.extensions import db
from lms.finance.models import Charge, ChargeStatus, CreditNoteLine, Invoice, InvoiceLine, InvoiceStatus


@dataclass(frozen=True)
class AgencyFigures:
    agency_id: int | None
    name: str
    charges: int
    raised: int
    waived: int
    unbilled: int
    invoiced: int
    paid: int
    outstanding: int
    overdue: int


def agency_summary(start: date, end: date, *, agency_id: int | None, today: date) -> list[AgencyFigures]:
    """Charges for sessions in the period, by agency: raised, waived, unbilled, invoiced, paid, owed."""

    def pence_where(condition):
        return sa.func.coalesce(sa.func.sum(sa.case((condition, Charge.amount_pence), else_=0)), 0)

    billed = Charge.status.in_([ChargeStatus.INVOICED, ChargeStatus.CREDITED])
    live_line = sa.and_(Charge.status == ChargeStatus.INVOICED, CreditNoteLine.id.is_(None))
    query = (
        sa.select(
            Charge.agency_id,
            sa.func.coalesce(Agency.name, "Organisation not yet mapped"),
            sa.func.count(Charge.id),
            pence_where(Charge.status != ChargeStatus.WITHDRAWN),
            pence_where(Charge.status == ChargeStatus.WAIVED),
            pence_where(Charge.status == ChargeStatus.RAISED),
            pence_where(billed),
            pence_where(sa.and_(live_line, Invoice.status == InvoiceStatus.PAID)),
            pence_where(sa.and_(live_line, Invoice.status == InvoiceStatus.ISSUED)),
            pence_where(sa.and_(live_line, Invoice.status == InvoiceStatus.ISSUED, Invoice.due_on < today)),
        )
        .select_from(Charge)
        .outerjoin(Agency, Agency.id == Charge.agency_id)
        .outerjoin(InvoiceLine, InvoiceLine.charge_id == Charge.id)
        .outerjoin(Invoice, Invoice.id == InvoiceLine.invoice_id)
        .outerjoin(CreditNoteLine, CreditNoteLine.invoice_line_id == InvoiceLine.id)
        .where(Charge.session_date.between(start, end))
        .group_by(Charge.agency_id, Agency.name)
    )
    if agency_id is not None:
        query = query.where(Charge.agency_id == agency_id)
    rows = [AgencyFigures(*row) for row in db.session.execute(query)]
    return sorted(rows, key=lambda r: (-r.raised, r.name))


@dataclass(frozen=True)
class Bar:
    label: str
    segments: list[tuple[str, int, float, float]]  # (css class, pence, x, width) in percent
    total: int


def bar_chart(rows: list[AgencyFigures]) -> list[Bar]:
    """Stacked bars, one an agency, scaled to the largest: paid, outstanding, unbilled, waived."""
    largest = max((r.paid + r.outstanding + r.unbilled + r.waived for r in rows), default=0) or 1
    bars = []
    for row in rows:
        x = 0.0
        segments = []
        for css, pence in (
            ("paid", row.paid),
            ("outstanding", row.outstanding),
            ("unbilled", row.unbilled),
            ("waived", row.waived),
        ):
            width = 100 * pence / largest
            segments.append((css, pence, x, width))
            x += width
        bars.append(Bar(row.name, segments, row.paid + row.outstanding + row.unbilled + row.waived))
    return bars
