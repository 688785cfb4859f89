"""The fee per place for organisations outside the partnership (PLACE_FEE_CATEGORIES)."""

import csv
import io
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook
from pypdf import PdfReader

from lms.accounts.models import AgencyCategory, Role
from lms.bookings.models import Attendance
from lms.bookings.services import book_place, cancel_booking, close_register, mark_attendance
from lms.core.errors import PermissionDenied
from lms.extensions import db
from lms.finance.models import Charge, ChargeReason, ChargeStatus
from lms.finance.services import (
    issue_credit_note,
    place_fee,
    run_invoicing,
    set_place_fee,
    settle_register_charge,
)
from lms.messages.models import OutboxMessage
from tests.conftest import csrf_token, sign_in
from tests.factories import NOW, create_agency, create_course, create_session, create_user

PERIOD = (date(2026, 4, 1), date(2026, 6, 30))


@pytest.fixture
def fees(app):
    """Private providers pay £60 a place unless the course says otherwise."""
    before = {key: app.config[key] for key in ("PLACE_FEE_CATEGORIES", "PLACE_FEE_PENCE")}
    app.config.update(PLACE_FEE_CATEGORIES=["private"], PLACE_FEE_PENCE=6000)
    yield
    app.config.update(before)


def admin():
    return create_user(roles=(Role.LND_ADMIN,))


def session_that_ran(course=None):
    trainer = create_user(roles=(Role.TRAINER,))
    return create_session(course=course, starts_at=NOW - timedelta(days=3), hours=3, trainer=trainer)


def register(session, outcomes):
    """Book one delegate for each (agency, outcome), mark them, and close the register."""
    bookings = []
    by = admin()
    for agency, outcome in outcomes:
        booking = book_place(
            session, create_user(agency=agency), by=by, now=session.starts_at - timedelta(days=20)
        )
        mark_attendance(booking, outcome, by=session.trainer, now=session.starts_at + timedelta(minutes=5))
        bookings.append(booking)
    close_register(session, by=session.trainer, now=session.ends_at)
    return bookings


def charges_of(bookings):
    return [
        db.session.scalar(sa.select(Charge).where(Charge.booking_id == booking.id)) for booking in bookings
    ]


def kinds_to(address):
    return list(
        db.session.scalars(
            sa.select(OutboxMessage.kind).where(OutboxMessage.recipient == address).order_by(OutboxMessage.id)
        )
    )


def test_a_paying_organisation_is_charged_the_fee_for_every_place_taken_once_the_register_closes(
    app_context, fees
):
    provider = create_agency("Bright Futures Ltd", category=AgencyCategory.PRIVATE)
    police = create_agency("West Midlands Police", category=AgencyCategory.POLICE)
    session = session_that_ran()
    bookings = register(
        session,
        [
            (provider, Attendance.ATTENDED),
            (provider, Attendance.PARTIAL),
            (provider, Attendance.NO_SHOW),
            (police, Attendance.ATTENDED),
            (police, Attendance.NO_SHOW),
        ],
    )
    charges = charges_of(bookings)
    # The place was theirs whether they came or not: the fee, and no no-show charge on top.
    assert [(c.reason, c.amount_pence) for c in charges[:3]] == [(ChargeReason.PLACE_FEE, 6000)] * 3
    assert all(c.status is ChargeStatus.RAISED and c.agency_id == provider.id for c in charges[:3])
    assert charges[3] is None
    assert (charges[4].reason, charges[4].amount_pence) == (ChargeReason.NO_SHOW, 2500)
    subjects = db.session.scalars(
        sa.select(OutboxMessage.subject).where(
            OutboxMessage.kind == "charge.raised", OutboxMessage.user_id == bookings[0].user_id
        )
    ).all()
    assert len(subjects) == 1 and subjects[0].startswith("Place fee: ")


def test_the_fee_is_raised_once_however_often_the_register_is_settled_or_corrected(app_context, fees):
    provider = create_agency(category=AgencyCategory.PRIVATE)
    session = session_that_ran()
    [booking] = register(session, [(provider, Attendance.ATTENDED)])
    [charge] = charges_of([booking])
    lnd = admin()
    later = session.ends_at + timedelta(days=1)
    settle_register_charge(booking, by=lnd, now=later)
    mark_attendance(booking, Attendance.NO_SHOW, by=lnd, now=later)
    mark_attendance(booking, Attendance.ATTENDED, by=lnd, now=later)
    assert db.session.scalar(sa.select(sa.func.count(Charge.id)).where(Charge.booking_id == booking.id)) == 1
    db.session.refresh(charge)
    assert (charge.reason, charge.status, charge.raised_at) == (
        ChargeReason.PLACE_FEE,
        ChargeStatus.RAISED,
        session.ends_at,
    )
    assert kinds_to(booking.user.email).count("charge.raised") == 1


def test_a_correction_withdraws_a_fee_the_register_no_longer_supports(app, app_context, fees):
    provider = create_agency(category=AgencyCategory.PRIVATE)
    session = session_that_ran()
    [booking] = register(session, [(provider, Attendance.ATTENDED)])
    [charge] = charges_of([booking])
    app.config["PLACE_FEE_CATEGORIES"] = []  # the partnership stopped charging them, then corrects
    mark_attendance(booking, Attendance.PARTIAL, by=admin(), now=session.ends_at + timedelta(days=1))
    db.session.refresh(charge)
    assert charge.status is ChargeStatus.WITHDRAWN


def test_nothing_is_charged_before_the_register_closes_or_when_the_fee_is_nothing(app, app_context, fees):
    provider = create_agency(category=AgencyCategory.PRIVATE)
    session = session_that_ran()
    booking = book_place(session, create_user(agency=provider), by=admin(), now=NOW - timedelta(days=30))
    mark_attendance(booking, Attendance.ATTENDED, by=session.trainer, now=session.starts_at)
    assert charges_of([booking]) == [None]
    free = session_that_ran(create_course())
    app.config["PLACE_FEE_PENCE"] = 0
    [unpaid] = register(free, [(provider, Attendance.ATTENDED)])
    assert charges_of([unpaid]) == [None]


def test_a_course_may_set_its_own_fee(app_context, fees):
    course = create_course()
    lnd = admin()
    set_place_fee(course, 12500, by=lnd, now=NOW)
    assert place_fee(course) == 12500
    [booking] = register(
        session_that_ran(course), [(create_agency(category=AgencyCategory.PRIVATE), Attendance.ATTENDED)]
    )
    assert charges_of([booking])[0].amount_pence == 12500
    set_place_fee(course, None, by=lnd, now=NOW)
    assert place_fee(course) == 6000
    with pytest.raises(PermissionDenied):
        set_place_fee(course, 100, by=create_user(roles=(Role.FINANCE,)), now=NOW)


def test_a_late_cancellation_keeps_its_own_charge_and_pays_no_fee(app_context, fees):
    provider = create_agency(category=AgencyCategory.PRIVATE)
    session = create_session(
        starts_at=NOW + timedelta(days=1), hours=3, trainer=create_user(roles=(Role.TRAINER,))
    )
    person = create_user(agency=provider)
    booking = book_place(session, person, by=person, now=NOW - timedelta(days=20))
    cancel_booking(booking, by=person, now=NOW)
    [charge] = charges_of([booking])
    assert (charge.reason, charge.amount_pence) == (ChargeReason.LATE_CANCELLATION, 2500)


def test_the_invoice_run_bills_fees_as_lines_of_their_own_in_the_pdf_credit_note_and_export(client, fees):
    provider = create_agency(
        "Bright Futures Ltd",
        category=AgencyCategory.PRIVATE,
        billing_contact="Accounts",
        billing_address="1 High St",
    )
    course = create_course("Neglect: recognising and responding")
    register(session_that_ran(course), [(provider, Attendance.ATTENDED), (provider, Attendance.NO_SHOW)])
    partner = create_agency("City Council", category=AgencyCategory.LOCAL_AUTHORITY)
    register(session_that_ran(course), [(partner, Attendance.NO_SHOW)])
    finance = create_user(roles=(Role.FINANCE,))
    invoices = run_invoicing(*PERIOD, by=finance, now=NOW)
    by_agency = {invoice.bill_to_name: invoice for invoice in invoices}
    fees_invoice = by_agency["Bright Futures Ltd"]
    assert [(line.reason, line.amount_pence) for line in fees_invoice.lines] == [("Place fee", 6000)] * 2
    assert fees_invoice.total_pence == 12000
    assert [line.reason for line in by_agency["City Council"].lines] == ["No-show"]
    assert {c.status for c in db.session.scalars(sa.select(Charge))} == {ChargeStatus.INVOICED}
    assert run_invoicing(*PERIOD, by=finance, now=NOW) == []  # billed once
    note = issue_credit_note(fees_invoice, [fees_invoice.lines[0].id], "Booked in error", by=finance, now=NOW)

    sign_in(client, finance)
    response = client.get(f"/finance/invoices/{fees_invoice.id}.pdf")
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(response.data)).pages)
    assert text.count("Place fee") == 2 and "£60.00" in text and "£120.00" in text and "No-show" not in text
    response = client.get(f"/finance/credit-notes/{note.id}.pdf")
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(response.data)).pages)
    assert "Place fee" in text and "£60.00" in text and fees_invoice.number in text

    rows = list(csv.DictReader(io.StringIO(client.get("/finance/export.csv").get_data(as_text=True))))
    mine = [
        (row["kind"], row["reason"], row["amount"])
        for row in rows
        if row["invoice_number"] in (fees_invoice.number, note.number)
    ]
    assert mine == [
        ("Invoice", "Place fee", "60.00"),
        ("Invoice", "Place fee", "60.00"),
        ("Credit note", "Place fee", "-60.00"),
    ]
    assert [row["reason"] for row in rows if row["agency"] == "City Council"] == ["No-show"]

    response = client.get("/finance/export.xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    header, *cells = list(sheet.values)
    lines = [dict(zip(header, values, strict=True)) for values in cells]
    mine = [
        (line["kind"], line["reason"], line["amount"], line["amount_pence"])
        for line in lines
        if line["invoice_number"] in (fees_invoice.number, note.number)
    ]
    assert mine == [
        ("Invoice", "Place fee", 60, 6000),
        ("Invoice", "Place fee", 60, 6000),
        ("Credit note", "Place fee", -60, -6000),
    ]
    assert {line["session_date"].date() for line in lines} == {(NOW - timedelta(days=3)).date()}


def test_lnd_set_a_courses_fee_on_the_place_fees_page_and_finance_only_read_it(client, fees):
    course = create_course("Working with families")
    lnd = admin()
    sign_in(client, lnd)
    page = client.get("/finance/place-fees").get_data(as_text=True)
    assert "Private and independent" in page and "£60.00" in page
    assert "not an organisation category" not in page
    client.application.config["PLACE_FEE_CATEGORIES"] = ["private", "out of area"]
    page = client.get("/finance/place-fees").get_data(as_text=True)
    assert "The setting also names out of area, which is not an organisation category" in page
    token = csrf_token(client, "/finance/place-fees")
    response = client.post(f"/finance/place-fees/{course.id}", data={"fee": "75.50", "csrf_token": token})
    assert response.status_code == 302
    db.session.refresh(course)
    assert course.place_fee_pence == 7550
    response = client.post(f"/finance/place-fees/{course.id}", data={"fee": "lots", "csrf_token": token})
    assert response.status_code == 422 and "Enter an amount in pounds" in response.get_data(as_text=True)
    response = client.post(f"/finance/place-fees/{course.id}", data={"fee": "", "csrf_token": token})
    db.session.refresh(course)
    assert response.status_code == 302 and course.place_fee_pence is None

    other = client.application.test_client()
    sign_in(other, create_user(roles=(Role.FINANCE,)))
    assert other.get("/finance/place-fees").status_code == 200
    token = csrf_token(other, "/finance/place-fees")
    assert (
        other.post(f"/finance/place-fees/{course.id}", data={"fee": "1", "csrf_token": token}).status_code
        == 403
    )
