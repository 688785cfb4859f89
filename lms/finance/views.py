"""Finance pages: the dashboard, charges and waivers, invoice runs, invoices, credit notes, exports."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from lms.accounts.models import Agency, Role
from lms.bookings.models import Booking
from lms.core.access import roles_required, signed_in
from lms.core.branding import brand_logo
from lms.core.clock import now
from lms.core.financial_year import financial_year_bounds, financial_year_of
from lms.core.formatting import format_money, format_range, plural
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
from lms.finance.documents import DocumentLine, InvoiceDocument, Party, invoices_csv, render_invoice
from lms.finance.forms import CreditNoteForm, FilterForm, PeriodForm, WaiverForm
from lms.finance.models import Charge, ChargeStatus, CreditNote, Invoice, WaiverReason
from lms.finance.reports import agency_summary, bar_chart
from lms.finance.services import (
    charges_needing_credit,
    issue_credit_note,
    mark_paid,
    preview_invoice_run,
    run_invoicing,
    waive_charge,
)

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
    )


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
    query = sa.select(Invoice).order_by(Invoice.financial_year.desc(), Invoice.sequence.desc())
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


@bp.route("/invoices/<id:invoice_id>")
@finance_or_lnd
def invoice(invoice_id: int):
    found = get_or_404(Invoice, invoice_id)
    return render_form(
        "finance/invoice.html",
        invoice=found,
        credit_form=_credit_form(found),
        today=london_date(now()),
        button=ButtonForm(),
    )


@bp.route("/invoices/<id:invoice_id>/paid", methods=["POST"])
@finance_only
def paid(invoice_id: int):
    found = get_or_404(Invoice, invoice_id)
    if ButtonForm().validate_on_submit():
        with domain_errors():
            mark_paid(found, by=current_user, now=now())
            flash(f"{found.number} is marked paid.", "success")
    return redirect(url_for("finance.invoice", invoice_id=invoice_id))


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
    return render_form(
        "finance/invoice.html", invoice=found, credit_form=form, today=london_date(now()), button=ButtonForm()
    )


def _seller() -> Party:
    config = current_app.config
    return Party(
        name=config["PARTNERSHIP_NAME"],
        address=config["PARTNERSHIP_ADDRESS"],
        email=config["PARTNERSHIP_EMAIL"],
        logo=brand_logo(),
    )


def _buyer(invoice: Invoice) -> Party:
    return Party(
        name=invoice.bill_to_name,
        address=invoice.bill_to_address or "",
        contact=invoice.bill_to_contact,
        email=invoice.bill_to_email,
    )


def _how_to_pay(reference: str) -> str:
    return current_app.config["PAYMENT_INSTRUCTIONS"].replace("{reference}", reference)


@bp.route("/invoices/<id:invoice_id>.pdf")
@finance_or_lnd
def invoice_pdf(invoice_id: int):
    found = get_or_404(Invoice, invoice_id)
    document = InvoiceDocument(
        kind="Invoice",
        number=found.number,
        issued_on=found.issued_on,
        due_on=found.due_on,
        seller=_seller(),
        buyer=_buyer(found),
        purchase_order=found.purchase_order,
        period=(found.period_start, found.period_end),
        lines=[
            DocumentLine(
                line.delegate_label, line.course_title, line.session_date, line.reason, line.amount_pence
            )
            for line in found.lines
        ],
        vat_rate_percent=found.vat_rate_percent,
        how_to_pay=_how_to_pay(found.number),
        net_pence=found.net_pence,
        vat_pence=found.vat_pence,
        total_pence=found.total_pence,
    )
    return download(render_invoice(document), "application/pdf", f"{found.number}.pdf")


@bp.route("/credit-notes/<id:note_id>.pdf")
@finance_or_lnd
def credit_note_pdf(note_id: int):
    note = get_or_404(CreditNote, note_id)
    invoice = note.invoice
    document = InvoiceDocument(
        kind="Credit note",
        number=note.number,
        issued_on=note.issued_on,
        due_on=None,
        seller=_seller(),
        buyer=_buyer(invoice),
        purchase_order=invoice.purchase_order,
        period=None,
        lines=[
            DocumentLine(
                cl.invoice_line.delegate_label,
                cl.invoice_line.course_title,
                cl.invoice_line.session_date,
                cl.invoice_line.reason,
                cl.amount_pence,
            )
            for cl in note.lines
        ],
        vat_rate_percent=invoice.vat_rate_percent,
        how_to_pay="No payment is due on a credit note.",
        refers_to=invoice.number,
        note=note.reason,
        net_pence=note.net_pence,
        vat_pence=note.vat_pence,
        total_pence=note.total_pence,
    )
    return download(render_invoice(document), "application/pdf", f"{note.number}.pdf")


@bp.route("/export.csv")
@finance_or_lnd
def export_csv():
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
    return download(invoices_csv(rows), "text/csv", "invoices.csv")


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
