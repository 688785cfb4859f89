"""Finance pages: the dashboard, charges and waivers, invoice runs, invoices, credit notes, exports."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm import selectinload

from lms.accounts.models import Agency, Role
from lms.bookings.models import Booking
from lms.core.access import roles_required, signed_in
from lms.core.clock import now
from lms.core.financial_year import financial_year_bounds, financial_year_of
from lms.core.formatting import format_date, format_money, format_pounds_plain, format_range, plural
from lms.core.forms import ButtonForm, options
from lms.core.timezones import london_date
from lms.core.web import (
    domain_errors,
    download,
    filters_from_query,
    get_or_404,
    page_number,
    query_args,
    render_form,
)
from lms.extensions import db
from lms.finance.documents import invoices_csv, invoices_xlsx, render_invoice
from lms.finance.forms import CreditNoteForm, FilterForm, PaymentForm, PeriodForm, WaiverForm
from lms.finance.models import Charge, ChargeStatus, CreditNote, Invoice, WaiverReason
from lms.finance.paperwork import credit_note_document, emailed_to, invoice_document
from lms.finance.payments import aged_debt, aged_debt_table, record_payment
from lms.finance.reports import agency_summary, bar_chart
from lms.finance.services import (
    charges_needing_credit,
    issue_credit_note,
    preview_invoice_run,
    run_invoicing,
    waive_charge,
)
from lms.reporting.export import XLSX, table_response

bp = Blueprint("finance", __name__, url_prefix="/finance")
finance_or_lnd = roles_required(Role.FINANCE, Role.LND_ADMIN)
finance_only = roles_required(Role.FINANCE)


def _filters() -> FilterForm:
    form = FilterForm(formdata=None)
    agencies = db.session.scalars(sa.select(Agency).order_by(Agency.name)).all()
    form.agency.choices = options([("", "Every organisation"), *[(a.id, a.label) for a in agencies]])
    return filters_from_query(form)


def _this_year() -> tuple[date, date]:
    year = financial_year_of(london_date(now()), current_app.config["FINANCIAL_YEAR_START"])
    return financial_year_bounds(year, current_app.config["FINANCIAL_YEAR_START"])


@bp.route("/")
@finance_or_lnd
def dashboard():
    form = _filters()
    start, end = _this_year()
    start, end = form.start.data or start, form.end.data or end
    agency_id = int(form.agency.data) if form.agency.data else None
    rows = agency_summary(start, end, agency_id=agency_id, today=london_date(now()))
    totals = {
        key: sum(getattr(row, key) for row in rows)
        for key in ("raised", "waived", "unbilled", "invoiced", "paid", "outstanding", "overdue")
    }
    chart = bar_chart(rows[:12])
    return render_template(
        "finance/dashboard.html",
        form=form,
        rows=rows,
        totals=totals,
        chart=chart,
        start=start,
        end=end,
        needing_credit=charges_needing_credit(),
        debt=aged_debt(london_date(now()), agency_id=agency_id),
    )


@bp.route("/aged-debt.<any(csv, xlsx):fmt>")
@finance_or_lnd
def aged_debt_export(fmt: str):
    form = _filters()
    debt = aged_debt(london_date(now()), agency_id=int(form.agency.data) if form.agency.data else None)
    header, rows = aged_debt_table(debt)
    heading = f"Aged debt on {format_date(debt.today)}"
    name = f"aged-debt-{debt.today.isoformat()}"
    return table_response(fmt, name, "Aged debt", header, rows, heading=heading)


@bp.route("/charges")
@finance_or_lnd
def charges():
    form = _filters()
    query = sa.select(Charge).join(Charge.booking).order_by(Charge.session_date.desc(), Charge.id.desc())
    if form.start.data:
        query = query.where(Charge.session_date >= form.start.data)
    if form.end.data:
        query = query.where(Charge.session_date <= form.end.data)
    if form.agency.data:
        query = query.where(Charge.agency_id == int(form.agency.data))
    if form.status.data:
        query = query.where(Charge.status == ChargeStatus(form.status.data))
    page = db.paginate(query, page=page_number(), per_page=50, error_out=False)
    args = query_args()
    return render_template("finance/charges.html", form=form, page=page, args=args)


@bp.route("/charges/<id:charge_id>/waive", methods=["GET", "POST"])
@roles_required(Role.LND_ADMIN)
def waive(charge_id: int):
    charge = get_or_404(Charge, charge_id)
    form = WaiverForm()
    if form.validate_on_submit():
        with domain_errors(form):
            waive_charge(
                charge, WaiverReason(form.reason.data), form.note.data or "", by=current_user, now=now()
            )
            flash(f"The charge to {charge.booking.user.full_name} has been waived.", "success")
            return redirect(url_for("finance.charges"))
    return render_form("finance/waive.html", form=form, charge=charge)


@bp.route("/run", methods=["GET", "POST"])
@finance_only
def run():
    # A link may carry the period (?start=...&end=...); a date that does not parse is shown beside its field.
    form = PeriodForm(formdata=request.args or None) if request.method == "GET" else PeriodForm()
    if request.method == "GET":
        start, end = _this_year()
        for field in (form.start, form.end):
            field.errors = list(field.process_errors)
        form.start.data = form.start.data or start
        form.end.data = form.end.data or min(end, london_date(now()))
    preview = None
    if request.method == "POST" and form.validate_on_submit():
        with domain_errors(form):
            invoices = run_invoicing(form.start.data, form.end.data, by=current_user, now=now())
            if invoices:
                issued = plural(len(invoices), "invoice")
                numbers = format_range(invoices[0].number, invoices[-1].number)
                flash(f"{issued} issued, {numbers}.", "success")
            else:
                flash("There was nothing to invoice in that period.", "info")
            return redirect(url_for("finance.invoices"))
    if not form.errors and form.start.data and form.end.data and form.end.data >= form.start.data:
        preview = preview_invoice_run(form.start.data, form.end.data)
    return render_form("finance/run.html", form=form, preview=preview)


@bp.route("/invoices")
@finance_or_lnd
def invoices():
    form = _filters()
    query = (
        sa.select(Invoice)
        .order_by(Invoice.financial_year.desc(), Invoice.sequence.desc())
        .options(selectinload(Invoice.payments), selectinload(Invoice.credit_notes))
    )
    if form.agency.data:
        query = query.where(Invoice.agency_id == int(form.agency.data))
    if form.start.data:
        query = query.where(Invoice.issued_on >= form.start.data)
    if form.end.data:
        query = query.where(Invoice.issued_on <= form.end.data)
    page = db.paginate(query, page=page_number(), per_page=50, error_out=False)
    args = query_args()
    return render_template("finance/invoices.html", form=form, page=page, args=args, today=london_date(now()))


def _credit_form(invoice: Invoice) -> CreditNoteForm:
    form = CreditNoteForm()
    form.lines.choices = [
        (line.id, f"{line.delegate_name}, {line.course_title}, {format_money(line.amount_pence)}")
        for line in invoice.lines
        if line.credit_line is None
    ]
    return form


def _payment_form(invoice: Invoice) -> PaymentForm:
    form = PaymentForm()
    if not form.is_submitted():
        form.received_on.data = london_date(now())
        form.amount.data = format_pounds_plain(invoice.balance_pence)
    return form


def _invoice_page(invoice: Invoice, *, credit_form=None, payment_form=None):
    return render_form(
        "finance/invoice.html",
        invoice=invoice,
        credit_form=credit_form or _credit_form(invoice),
        payment_form=payment_form or _payment_form(invoice),
        emailed_to=emailed_to(invoice),
        today=london_date(now()),
        button=ButtonForm(),
    )


@bp.route("/invoices/<id:invoice_id>")
@finance_or_lnd
def invoice(invoice_id: int):
    return _invoice_page(get_or_404(Invoice, invoice_id))


@bp.route("/invoices/<id:invoice_id>/payments", methods=["POST"])
@finance_only
def payment(invoice_id: int):
    found = get_or_404(Invoice, invoice_id)
    form = _payment_form(found)
    if form.validate_on_submit():
        with domain_errors(form):
            paid = record_payment(
                found, form.pence, form.received_on.data, form.reference.data, by=current_user, now=now()
            )
            left = found.balance_pence
            balance = "it is paid in full" if left <= 0 else f"{format_money(left)} is left to pay"
            amount = format_money(paid.amount_pence)
            flash(f"Payment of {amount} recorded against {found.number}; {balance}.", "success")
            return redirect(url_for("finance.invoice", invoice_id=invoice_id))
    return _invoice_page(found, payment_form=form)


@bp.route("/invoices/<id:invoice_id>/credit", methods=["POST"])
@finance_only
def credit(invoice_id: int):
    found = get_or_404(Invoice, invoice_id)
    form = _credit_form(found)
    if form.validate_on_submit():
        with domain_errors(form):
            note = issue_credit_note(found, form.lines.data, form.reason.data, by=current_user, now=now())
            flash(f"Credit note {note.number} issued against {found.number}.", "success")
            return redirect(url_for("finance.invoice", invoice_id=invoice_id))
    return _invoice_page(found, credit_form=form)


@bp.route("/invoices/<id:invoice_id>.pdf")
@finance_or_lnd
def invoice_pdf(invoice_id: int):
    found = get_or_404(Invoice, invoice_id)
    return download(render_invoice(invoice_document(found)), "application/pdf", f"{found.number}.pdf")


@bp.route("/credit-notes/<id:note_id>.pdf")
@finance_or_lnd
def credit_note_pdf(note_id: int):
    note = get_or_404(CreditNote, note_id)
    return download(render_invoice(credit_note_document(note)), "application/pdf", f"{note.number}.pdf")


@bp.route("/export.csv")
@finance_or_lnd
def export_csv():
    return download(invoices_csv(_document_lines()), "text/csv", "invoices.csv")


@bp.route("/export.xlsx")
@finance_or_lnd
def export_xlsx():
    return download(invoices_xlsx(_document_lines()), XLSX, "invoices.xlsx")


def _document_lines() -> list[dict]:
    """The lines of the invoices and credit notes issued in the filters' period, one a row."""
    form = _filters()
    invoices_query = sa.select(Invoice).order_by(Invoice.financial_year, Invoice.sequence)
    notes_query = sa.select(CreditNote).order_by(CreditNote.financial_year, CreditNote.sequence)
    if form.start.data:
        invoices_query = invoices_query.where(Invoice.issued_on >= form.start.data)
        notes_query = notes_query.where(CreditNote.issued_on >= form.start.data)
    if form.end.data:
        invoices_query = invoices_query.where(Invoice.issued_on <= form.end.data)
        notes_query = notes_query.where(CreditNote.issued_on <= form.end.data)
    rows = []
    for inv in db.session.scalars(invoices_query):
        for line in inv.lines:
            rows.append(
                dict(
                    invoice_number=inv.number,
                    kind="Invoice",
                    issued_on=inv.issued_on,
                    due_on=inv.due_on,
                    agency=inv.bill_to_name,
                    purchase_order=inv.purchase_order or "",
                    delegate_name=line.delegate_name,
                    course_title=line.course_title,
                    session_date=line.session_date,
                    reason=line.reason,
                    amount_pence=line.amount_pence,
                )
            )
    for note in db.session.scalars(notes_query):
        for cl in note.lines:
            line = cl.invoice_line
            rows.append(
                dict(
                    invoice_number=note.number,
                    kind="Credit note",
                    issued_on=note.issued_on,
                    due_on=None,
                    agency=note.invoice.bill_to_name,
                    purchase_order=note.invoice.purchase_order or "",
                    delegate_name=line.delegate_name,
                    course_title=line.course_title,
                    session_date=line.session_date,
                    reason=line.reason,
                    amount_pence=-cl.amount_pence,
                )
            )
    return rows


# A delegate's own charges ---------------------------------------------------------------------


@bp.route("/mine")
@signed_in
def mine():
    rows = db.session.scalars(
        sa.select(Charge)
        .join(Charge.booking)
        .where(Booking.user_id == current_user.id)
        .order_by(Charge.session_date.desc())
    ).all()
    return render_template("finance/mine.html", charges=rows)


from lms.finance import place_fee_views  # noqa: E402, F401 - the place fees page, on this blueprint
