"""Invoices (with their lines) and charges, for the finance ledger (scope finance:read: a finance
person's or L&D's own token, or an integration's). Amounts are whole pence."""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import selectinload

from lms.api import schemas
from lms.api.auth import requires
from lms.api.blueprint import api_blueprint, documented
from lms.api.paging import paged
from lms.core.errors import NotFound
from lms.core.financial_year import financial_year_bounds
from lms.extensions import db
from lms.finance.models import Charge, Invoice
from lms.integrations.tokens import Scope

blp = api_blueprint("api_finance", "Invoices and charges (scope finance:read)")


_documented = documented(blp, 401, 403, 429)


def present_invoice(invoice: Invoice) -> dict:
    return {
        "id": invoice.id,
        "number": invoice.number,
        "financial_year": invoice.financial_year,
        "status": invoice.status.value,
        "status_title": invoice.status.title,
        "organisation_id": invoice.agency_id,
        "bill_to_name": invoice.bill_to_name,
        "purchase_order": invoice.purchase_order,
        "period_start": invoice.period_start,
        "period_end": invoice.period_end,
        "issued_at": invoice.issued_at.isoformat(),
        "issued_on": invoice.issued_on,
        "due_on": invoice.due_on,
        "paid_at": invoice.paid_at.isoformat() if invoice.paid_at else None,
        "net_pence": invoice.net_pence,
        "vat_pence": invoice.vat_pence,
        "total_pence": invoice.total_pence,
        "vat_rate_percent": invoice.vat_rate_percent,
        "credited_pence": invoice.credited_pence,
        "paid_pence": invoice.paid_pence,
        "outstanding_pence": invoice.outstanding_pence,
        "lines": [
            {
                "id": line.id,
                "charge_id": line.charge_id,
                "delegate_name": line.delegate_name,
                "organisation_name": line.organisation_name,
                "course_title": line.course_title,
                "session_date": line.session_date,
                "reason": line.reason,
                "amount_pence": line.amount_pence,
            }
            for line in invoice.lines
        ],
    }


def _filtered(query: sa.Select, args: dict, *, day, status, agency_id) -> sa.Select:
    """The query narrowed by the filters invoices and charges share: a financial year and a date
    range on `day`, a status (of the enum `status` is a column of), and the organisation."""
    year = args.get("financial_year")
    if year is not None:
        start, end = financial_year_bounds(year, current_app.config["FINANCIAL_YEAR_START"])
        query = query.where(day.between(start, end))
    if args.get("status"):
        query = query.where(status == status.type.enum_class(args["status"]))
    if args.get("from_"):
        query = query.where(day >= args["from_"])
    if args.get("to"):
        query = query.where(day <= args["to"])
    if args.get("organisation"):
        query = query.where(agency_id == args["organisation"])
    return query


def _invoices() -> sa.Select:
    return sa.select(Invoice).options(
        selectinload(Invoice.lines), selectinload(Invoice.credit_notes), selectinload(Invoice.payments)
    )


@blp.route("/invoices")
@_documented
@requires(Scope.FINANCE_READ)
@blp.arguments(schemas.InvoiceQuery, location="query", as_kwargs=False)
@blp.response(200, schemas.page_of(schemas.Invoice, "InvoicePage"))
def invoices(args):
    """Invoices, latest first, with their lines and what is still owed."""
    query = _filtered(
        _invoices().order_by(Invoice.issued_at.desc(), Invoice.id.desc()),
        args,
        day=Invoice.issued_on,
        status=Invoice.status,
        agency_id=Invoice.agency_id,
    )
    return paged(query, args, lambda rows: [present_invoice(invoice) for invoice in rows])


@blp.route("/invoices/<id:invoice_id>")
@_documented
@blp.alt_response(404, response="NOT_FOUND")
@requires(Scope.FINANCE_READ)
@blp.response(200, schemas.Invoice)
def invoice(invoice_id: int):
    """One invoice with its lines."""
    found = db.session.scalar(_invoices().where(Invoice.id == invoice_id))
    if found is None:
        raise NotFound("There is no such invoice.")
    return present_invoice(found)


def present_charge(charge: Charge) -> dict:
    booking = charge.booking
    return {
        "id": charge.id,
        "booking_id": charge.booking_id,
        "organisation_id": charge.agency_id,
        "reason": charge.reason.value,
        "reason_title": charge.reason.title,
        "status": charge.status.value,
        "status_title": charge.status.title,
        "amount_pence": charge.amount_pence,
        "session_date": charge.session_date,
        "raised_at": charge.raised_at.isoformat(),
        "delegate_name": booking.user.full_name,
        "course_title": booking.session.course.title,
    }


@blp.route("/charges")
@_documented
@requires(Scope.FINANCE_READ)
@blp.arguments(schemas.ChargeQuery, location="query", as_kwargs=False)
@blp.response(200, schemas.page_of(schemas.Charge, "ChargePage"))
def charges(args):
    """Charges (no-shows, late cancellations, place fees), latest session first."""
    query = _filtered(
        sa.select(Charge).order_by(Charge.session_date.desc(), Charge.id.desc()),
        args,
        day=Charge.session_date,
        status=Charge.status,
        agency_id=Charge.agency_id,
    )
    return paged(query, args, lambda rows: [present_charge(charge) for charge in rows])
