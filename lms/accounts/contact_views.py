"""The training contact's pages, and L&D naming training contacts on an organisation's page.

Every page of the contact works within the organisations lms/accounts/contacts.py says the signed-in
person follows; an id from the path or the query string only ever narrows that, so another
organisation's booking, charge or invoice is "not found", exactly like one that does not exist.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user

from lms.accounts.contact_forms import ContactFilterForm, TrainingContactForm
from lms.accounts.contact_reports import (
    BOOKING_VIEWS,
    RECORD_HEADER,
    RECORD_WIDTHS,
    bookings_query,
    charges_query,
    credit_note_in_scope,
    invoice_in_scope,
    invoices_query,
    missed_query,
    overview,
    staff_summary,
    training_records,
)
from lms.accounts.contacts import (
    add_training_contact,
    contacts_for,
    followed_ids,
    organisations_followed_by,
    remove_training_contact,
)
from lms.accounts.models import Agency, Role, User
from lms.accounts.services import find_user_by_email
from lms.core.access import roles_required
from lms.core.clock import now
from lms.core.forms import ButtonForm
from lms.core.timezones import london_date
from lms.core.web import domain_errors, download, filters_from_query, get_or_404, page_number, query_args
from lms.extensions import db
from lms.reporting.export import table_response

bp = Blueprint("contacts", __name__, url_prefix="/organisation")
admin_bp = Blueprint("contact_admin", __name__, url_prefix="/admin/agencies")
contact_only = roles_required(Role.TRAINING_CONTACT)
admin_only = roles_required(Role.LND_ADMIN)
PAGE_SIZE = 50


def _scope() -> tuple[ContactFilterForm, set[int]]:
    """The filter form of the page, and the organisations it shows (never beyond those followed)."""
    followed = followed_ids(current_user)
    form = filters_from_query(
        ContactFilterForm(formdata=None).with_organisations(organisations_followed_by(current_user))
    )
    return form, form.chosen_ids(followed)


def _page(query: sa.Select):
    return db.paginate(query, page=page_number(), per_page=PAGE_SIZE, error_out=False)


@bp.route("/")
@contact_only
def dashboard():
    form, ids = _scope()
    return render_template(
        "contacts/dashboard.html",
        form=form,
        organisations=organisations_followed_by(current_user),
        overview=overview(ids, now=now()),
        # The organisation chosen here carries into the links to each list and download.
        args={"organisation": form.organisation.data} if form.organisation.data else {},
    )


@bp.route("/bookings")
@contact_only
def bookings():
    form, ids = _scope()
    show = form.show.data or "upcoming"
    page = _page(bookings_query(ids, show, now=now()))
    return render_template(
        "contacts/bookings.html",
        form=form,
        page=page,
        show=show,
        views=BOOKING_VIEWS,
        args=query_args(),
    )


@bp.route("/no-shows")
@contact_only
def missed():
    form, ids = _scope()
    page = _page(missed_query(ids, until=now()))
    return render_template("contacts/missed.html", form=form, page=page, args=query_args())


@bp.route("/charges")
@contact_only
def charges():
    form, ids = _scope()
    page = _page(charges_query(ids))
    return render_template("contacts/charges.html", form=form, page=page, args=query_args())


@bp.route("/invoices")
@contact_only
def invoices():
    form, ids = _scope()
    page = _page(invoices_query(ids))
    return render_template(
        "contacts/invoices.html", form=form, page=page, today=london_date(now()), args=query_args()
    )


@bp.route("/invoices/<id:invoice_id>.pdf")
@contact_only
def invoice_pdf(invoice_id: int):
    from lms.finance.documents import render_invoice
    from lms.finance.paperwork import invoice_document

    found = invoice_in_scope(invoice_id, followed_ids(current_user)) or abort(404)
    return download(render_invoice(invoice_document(found)), "application/pdf", f"{found.number}.pdf")


@bp.route("/credit-notes/<id:note_id>.pdf")
@contact_only
def credit_note_pdf(note_id: int):
    from lms.finance.documents import render_invoice
    from lms.finance.paperwork import credit_note_document

    note = credit_note_in_scope(note_id, followed_ids(current_user)) or abort(404)
    return download(render_invoice(credit_note_document(note)), "application/pdf", f"{note.number}.pdf")


@bp.route("/staff")
@contact_only
def staff():
    form, ids = _scope()
    page, members = staff_summary(ids, page=page_number(), per_page=PAGE_SIZE)
    return render_template("contacts/staff.html", form=form, page=page, members=members, args=query_args())


@bp.route("/training-records.csv")
@contact_only
def records_as_csv():
    _, ids = _scope()
    return _records("csv", ids)


@bp.route("/training-records.xlsx")
@contact_only
def records_as_xlsx():
    _, ids = _scope()
    return _records("xlsx", ids)


def _records(fmt: str, ids):
    """The staff's training records, as a CSV or a spreadsheet."""
    rows = training_records(ids)
    return table_response(
        fmt, "training-records", "Training records", RECORD_HEADER, rows, min_widths=RECORD_WIDTHS
    )


# L&D: naming an organisation's training contacts ------------------------------------------------


@admin_bp.route("/<id:agency_id>/training-contacts", methods=["POST"])
@admin_only
def add(agency_id: int):
    agency = get_or_404(Agency, agency_id)
    form = TrainingContactForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            flash(errors[0], "error")
        return redirect(url_for("people.edit_agency", agency_id=agency.id))
    person = find_user_by_email(form.email.data)
    if person is None:
        flash("No one is registered with that email address: add them on the People page first.", "error")
        return redirect(url_for("people.edit_agency", agency_id=agency.id))
    with domain_errors():
        add_training_contact(agency, person, by=current_user, now=now())
        flash(f"{person.full_name} is now a training contact for {agency.name}.", "success")
    return redirect(url_for("people.edit_agency", agency_id=agency.id))


@admin_bp.route("/<id:agency_id>/training-contacts/<id:user_id>/remove", methods=["POST"])
@admin_only
def remove(agency_id: int, user_id: int):
    agency = get_or_404(Agency, agency_id)
    person = get_or_404(User, user_id)
    if ButtonForm().validate_on_submit():
        with domain_errors():
            remove_training_contact(agency, person, by=current_user, now=now())
            flash(f"{person.full_name} is no longer a training contact for {agency.name}.", "success")
    return redirect(url_for("people.edit_agency", agency_id=agency.id))


def training_contacts_of(agency: Agency) -> dict:
    """What the organisation's page needs to list its training contacts and name another."""
    return {
        "training_contacts": contacts_for(agency),
        "contact_form": TrainingContactForm(),
        "button": ButtonForm(),
    }
