import csv
import io
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from lms.accounts.models import AgencyCategory, Role
from lms.bookings.models import Attendance
from lms.bookings.services import book_place, cancel_booking, cancel_session, close_register, mark_attendance
from lms.core import clock
from lms.core.errors import PermissionDenied
from lms.extensions import db
from lms.finance import services as finance_services
from lms.finance.models import (
    Charge,
    ChargeReason,
    ChargeStatus,
    DocumentCounter,
    Invoice,
    InvoiceStatus,
    WaiverReason,
)
from lms.finance.services import (
    FinanceError,
    charge_amount,
    charges_needing_credit,
    issue_credit_note,
    mark_paid,
    preview_invoice_run,
    run_invoicing,
    waive_charge,
)
from lms.messages.models import OutboxMessage
from tests.conftest import csrf_token, empty_all_tables, sign_in
from tests.factories import NOW, create_agency, create_session, create_user

PERIOD = (date(2026, 4, 1), date(2026, 6, 30))


def finance_user():
    return create_user(roles=(Role.FINANCE,))


def admin():
    return create_user(roles=(Role.LND_ADMIN,))


def session_that_ran(*, hours=3, days_ago=3, places=20, starts_at=None):
    trainer = create_user(roles=(Role.TRAINER,))
    return create_session(
        starts_at=starts_at or NOW - timedelta(days=days_ago), hours=hours, trainer=trainer, places=places
    )


def no_shows(session, agencies):
    """Book one delegate from each agency, mark them all no-shows and close the register."""
    bookings = []
    for agency in agencies:
        person = (
            create_user(agency=agency) if agency else create_user(other_organisation="Little Stars Nursery")
        )
        bookings.append(book_place(session, person, by=admin(), now=session.starts_at - timedelta(days=20)))
    for booking in bookings:
        mark_attendance(
            booking, Attendance.NO_SHOW, by=session.trainer, now=session.starts_at + timedelta(minutes=5)
        )
    close_register(session, by=session.trainer, now=session.ends_at)
    return bookings


def charge_of(booking):
    return db.session.scalar(sa.select(Charge).where(Charge.booking_id == booking.id))


# The price ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hours", "pence"),
    [(1, 2500), (3, 2500), (4, 2500), (4 + 1 / 60, 5000), (7, 5000), (8, 5000)],
)
def test_up_to_four_hours_costs_25_pounds_and_longer_a_day_50(app_context, hours, pence):
    assert charge_amount(create_session(hours=hours)) == pence


def test_a_session_over_several_days_costs_50_pounds_a_day(app_context):
    two_days = create_session(
        starts_at=datetime(2026, 6, 9, 8, 30, tzinfo=UTC), hours=32
    )  # Tue 09:30 to Wed 17:30
    assert charge_amount(two_days) == 10000
    three_days = create_session(starts_at=datetime(2026, 6, 9, 8, 30, tzinfo=UTC), hours=56)
    assert charge_amount(three_days) == 15000


def test_the_amounts_are_settings(app, app_context):
    app.config.update(CHARGE_SHORT_SESSION_PENCE=3000, CHARGE_PER_DAY_PENCE=6000)
    try:
        assert charge_amount(create_session(hours=2)) == 3000
        assert charge_amount(create_session(hours=6)) == 6000
    finally:
        app.config.update(CHARGE_SHORT_SESSION_PENCE=2500, CHARGE_PER_DAY_PENCE=5000)


# Raising charges ------------------------------------------------------------------------------


def test_closing_the_register_charges_each_no_show_and_tells_them(app_context):
    police = create_agency("West Midlands Police")
    session = session_that_ran()
    [booking] = no_shows(session, [police])
    charge = charge_of(booking)
    assert (charge.reason, charge.status, charge.amount_pence) == (
        ChargeReason.NO_SHOW,
        ChargeStatus.RAISED,
        2500,
    )
    assert charge.agency == police and charge.session_date == date(2026, 5, 1)
    notice = db.session.scalar(sa.select(OutboxMessage).where(OutboxMessage.kind == "charge.raised"))
    assert (
        notice.recipient == booking.user.email
        and "£25.00" in notice.body
        and "West Midlands Police" in notice.body
    )


def test_a_late_cancellation_is_charged_when_it_happens_and_an_on_time_one_is_not(app_context):
    session = create_session(starts_at=datetime(2026, 6, 11, 8, 30, tzinfo=UTC))
    late, on_time = (book_place(session, p, by=p, now=NOW) for p in (create_user(), create_user()))
    cancel_booking(on_time, by=on_time.user, now=datetime(2026, 6, 1, 9, 0, tzinfo=UTC))
    cancel_booking(late, by=late.user, now=datetime(2026, 6, 9, 9, 0, tzinfo=UTC))
    assert charge_of(on_time) is None
    assert charge_of(late).reason is ChargeReason.LATE_CANCELLATION


def test_no_charge_for_substitutions_partnership_cancellations_or_short_notice_places(app_context):
    agency = create_agency()
    session = create_session(places=1, overbook_percent=0, starts_at=datetime(2026, 6, 11, 8, 30, tzinfo=UTC))
    holder = book_place(session, create_user(agency=agency), by=admin(), now=NOW)
    waiting = book_place(session, create_user(), by=admin(), now=NOW)
    cancel_booking(holder, by=holder.user, now=datetime(2026, 6, 9, 9, 0, tzinfo=UTC))  # late: charged
    cancel_booking(waiting, by=waiting.user, now=datetime(2026, 6, 10, 9, 0, tzinfo=UTC))  # no notice: free
    assert charge_of(waiting) is None
    other = create_session(starts_at=datetime(2026, 6, 11, 8, 30, tzinfo=UTC))
    booked = book_place(other, create_user(), by=admin(), now=NOW)
    cancel_session(other, reason="Trainer unwell", by=admin(), now=datetime(2026, 6, 10, 9, 0, tzinfo=UTC))
    assert charge_of(booked) is None


def test_exempt_agency_categories_are_never_charged(app, app_context):
    app.config["CHARGE_EXEMPT_CATEGORIES"] = ["voluntary"]
    try:
        charity = create_agency("NSPCC", category=AgencyCategory.VOLUNTARY)
        [booking] = no_shows(session_that_ran(), [charity])
        assert charge_of(booking) is None
    finally:
        app.config["CHARGE_EXEMPT_CATEGORIES"] = []


def test_a_register_corrected_to_attended_withdraws_an_unbilled_charge(app_context):
    [booking] = no_shows(session_that_ran(), [create_agency()])
    mark_attendance(booking, Attendance.ATTENDED, by=admin(), now=NOW)
    assert charge_of(booking).status is ChargeStatus.WITHDRAWN
    mark_attendance(booking, Attendance.NO_SHOW, by=admin(), now=NOW)
    assert charge_of(booking).status is ChargeStatus.RAISED


def test_a_billed_charge_corrected_on_the_register_waits_for_a_credit_note(app_context):
    [booking] = no_shows(session_that_ran(), [create_agency()])
    run_invoicing(*PERIOD, by=finance_user(), now=NOW)
    mark_attendance(booking, Attendance.ATTENDED, by=admin(), now=NOW)
    assert charge_of(booking).status is ChargeStatus.INVOICED
    assert charges_needing_credit() == [charge_of(booking)]


# Waivers --------------------------------------------------------------------------------------


def test_l_and_d_waive_a_charge_for_a_reason_and_it_is_recorded(app_context):
    [booking] = no_shows(session_that_ran(), [create_agency()])
    charge = charge_of(booking)
    lnd = admin()
    with pytest.raises(FinanceError, match="Say why"):
        waive_charge(charge, WaiverReason.OTHER, " ", by=lnd, now=NOW)
    with pytest.raises(PermissionDenied):
        waive_charge(charge, WaiverReason.ILLNESS, "", by=finance_user(), now=NOW)
    waive_charge(charge, WaiverReason.BEREAVEMENT, "", by=lnd, now=NOW)
    assert (charge.status, charge.waived_by_id, charge.waived_at) == (ChargeStatus.WAIVED, lnd.id, NOW)
    with pytest.raises(FinanceError, match="waived"):
        waive_charge(charge, WaiverReason.ILLNESS, "", by=lnd, now=NOW)
    assert preview_invoice_run(*PERIOD).bills == []


# Invoice runs ---------------------------------------------------------------------------------


def test_a_run_bills_each_agency_once_with_a_line_a_charge(app_context):
    police, council = (
        create_agency("West Midlands Police", billing_address="Lloyd House", purchase_order="PO-1"),
        (create_agency("Birmingham City Council")),
    )
    no_shows(session_that_ran(days_ago=10), [police, council, police])
    no_shows(session_that_ran(days_ago=3, hours=6), [police, None])
    preview = preview_invoice_run(*PERIOD)
    assert [(b.agency.name, len(b.charges), b.net_pence) for b in preview.bills] == [
        ("Birmingham City Council", 1, 2500),
        ("West Midlands Police", 3, 10000),
    ]
    assert preview.waiting_for_an_agency == 1
    invoices = run_invoicing(*PERIOD, by=finance_user(), now=NOW)
    assert [(i.number, i.bill_to_name, i.total_pence) for i in invoices] == [
        ("INV2627-0001", "Birmingham City Council", 2500),
        ("INV2627-0002", "West Midlands Police", 10000),
    ]
    police_invoice = invoices[1]
    assert police_invoice.purchase_order == "PO-1" and police_invoice.bill_to_address == "Lloyd House"
    assert police_invoice.due_on == date(2026, 6, 3)
    assert sorted(line.amount_pence for line in police_invoice.lines) == [2500, 2500, 5000]
    assert {line.reason for line in police_invoice.lines} == {"No-show"}
    assert run_invoicing(*PERIOD, by=finance_user(), now=NOW) == []


def test_numbers_run_on_without_gaps_and_restart_each_financial_year(app_context):
    for n in range(3):
        no_shows(session_that_ran(days_ago=10 + n), [create_agency()])
        run_invoicing(*PERIOD, by=finance_user(), now=NOW + timedelta(hours=n))
    numbers = db.session.scalars(sa.select(Invoice.number).order_by(Invoice.id)).all()
    assert numbers == ["INV2627-0001", "INV2627-0002", "INV2627-0003"]
    no_shows(session_that_ran(days_ago=12), [create_agency()])
    [april] = run_invoicing(
        date(2026, 4, 1), date(2027, 3, 31), by=finance_user(), now=datetime(2027, 4, 2, 9, tzinfo=UTC)
    )
    assert april.number == "INV2728-0001"


def test_a_run_that_fails_half_way_leaves_no_invoice_and_uses_no_number(app_context, monkeypatch):
    no_shows(session_that_ran(), [create_agency("A agency"), create_agency("B agency")])
    original = finance_services._issue_invoice
    calls = []

    def fail_on_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("the database went away")
        return original(*args, **kwargs)

    monkeypatch.setattr(finance_services, "_issue_invoice", fail_on_second)
    with pytest.raises(RuntimeError), db.session.begin_nested():
        run_invoicing(*PERIOD, by=finance_user(), now=NOW)
    monkeypatch.setattr(finance_services, "_issue_invoice", original)
    assert db.session.scalar(sa.select(sa.func.count(Invoice.id))) == 0
    assert {c.status for c in db.session.scalars(sa.select(Charge))} == {ChargeStatus.RAISED}
    assert (db.session.scalar(sa.select(DocumentCounter.last_number)) or 0) == 0
    invoices = run_invoicing(*PERIOD, by=finance_user(), now=NOW)
    assert [i.number for i in invoices] == ["INV2627-0001", "INV2627-0002"]


def test_only_finance_runs_invoicing(app_context):
    with pytest.raises(PermissionDenied):
        run_invoicing(*PERIOD, by=admin(), now=NOW)


def test_an_issued_invoice_never_changes(app_context):
    no_shows(session_that_ran(), [create_agency()])
    [invoice] = run_invoicing(*PERIOD, by=finance_user(), now=NOW)
    with pytest.raises(FinanceError, match="cannot be changed"), db.session.begin_nested():
        invoice.total_pence = 1
        db.session.flush()
    with pytest.raises(FinanceError, match="cannot be changed"), db.session.begin_nested():
        invoice.lines[0].amount_pence = 1
        db.session.flush()
    with pytest.raises(FinanceError, match="never deleted"), db.session.begin_nested():
        db.session.delete(invoice)
        db.session.flush()
    db.session.refresh(invoice)
    assert invoice.total_pence == 2500
    mark_paid(invoice, by=finance_user(), now=NOW)  # its status may move on
    assert invoice.status is InvoiceStatus.PAID


def test_credit_notes_correct_chosen_lines_then_the_rest(app_context):
    no_shows(session_that_ran(), [create_agency("Police")] * 3)
    money = finance_user()
    [invoice] = run_invoicing(*PERIOD, by=money, now=NOW)
    first, second, third = invoice.lines
    note = issue_credit_note(invoice, [first.id], "Delegate was at the session", by=money, now=NOW)
    assert (
        note.number == "CN2627-0001" and note.total_pence == 2500 and invoice.status is InvoiceStatus.ISSUED
    )
    assert first.charge.status is ChargeStatus.CREDITED
    assert invoice.outstanding_pence == 5000
    with pytest.raises(FinanceError, match="not been credited"):
        issue_credit_note(invoice, [first.id], "again", by=money, now=NOW)
    mark_paid(invoice, by=money, now=NOW)
    assert invoice.outstanding_pence == 0
    second_note = issue_credit_note(invoice, [second.id, third.id], "Paid in error", by=money, now=NOW)
    assert second_note.number == "CN2627-0002"
    assert invoice.status is InvoiceStatus.CREDITED


def test_an_invoice_is_overdue_thirty_days_after_issue(app_context):
    no_shows(session_that_ran(), [create_agency()])
    [invoice] = run_invoicing(*PERIOD, by=finance_user(), now=NOW)
    assert not invoice.is_overdue(date(2026, 6, 3))
    assert invoice.is_overdue(date(2026, 6, 4))


def runs_at_once(app, money_id, periods):
    """Start one invoice run per period, each in its own thread and transaction, at one moment.

    Returns the numbers each run issued, in the order of `periods`, and any errors raised.
    """
    barrier = threading.Barrier(len(periods))
    results, errors = [None] * len(periods), []

    def run(index, period):
        try:
            with app.app_context():
                from lms.accounts.models import User
                from lms.core.db import write_intent

                barrier.wait()
                with write_intent():
                    money = db.session.get(User, money_id)
                    invoices = run_invoicing(*period, by=money, now=NOW)
                    db.session.commit()
                    results[index] = [i.number for i in invoices]
        except Exception as exc:  # noqa: BLE001 - reported by the caller's assertion
            errors.append(exc)

    threads = [threading.Thread(target=run, args=item) for item in enumerate(periods)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results, errors


def invoiced_charges() -> int:
    query = sa.select(sa.func.count(Charge.id)).where(Charge.status == ChargeStatus.INVOICED)
    return db.session.scalar(query)


def numbers(first, last):
    return [f"INV2627-{n:04d}" for n in range(first, last + 1)]


@pytest.mark.committing
def test_two_runs_at_once_bill_every_charge_once_with_unbroken_numbers(app):
    # The year's first run: creating its counter row is part of what the runs contend for.
    with app.app_context():
        agencies = [create_agency(f"Agency {n:02d}") for n in range(12)]
        session = session_that_ran(places=30)
        no_shows(session, agencies * 2)
        money_id = finance_user().id
        db.session.commit()
    try:
        results, errors = runs_at_once(app, money_id, [PERIOD, PERIOD])
        assert errors == []
        assert sorted(n for batch in results for n in batch) == numbers(1, 12)
        assert sorted(len(batch) for batch in results) == [0, 12]
        with app.app_context():
            assert invoiced_charges() == 24
    finally:
        with app.app_context():
            empty_all_tables()


MARCH = (date(2026, 3, 1), date(2026, 3, 31))


@pytest.mark.committing
@pytest.mark.parametrize("second_period", [PERIOD, MARCH], ids=["same period", "another period"])
def test_two_runs_at_once_after_an_earlier_run_carry_on_its_numbers(app, second_period):
    # The counter row exists, so only its row lock keeps the runs apart. Over the same period the
    # second run must find everything billed; over another period it must number after the first.
    with app.app_context():
        money = finance_user()
        money_id = money.id
        no_shows(session_that_ran(), [create_agency(f"Earlier agency {n}") for n in range(3)])
        assert [i.number for i in run_invoicing(*PERIOD, by=money, now=NOW)] == numbers(1, 3)
        agencies = [create_agency(f"Agency {n:02d}") for n in range(12)]
        no_shows(session_that_ran(places=30), agencies[:6] * 2)
        march_or_not = datetime(2026, 3, 16, 9, tzinfo=UTC) if second_period == MARCH else None
        no_shows(session_that_ran(places=30, starts_at=march_or_not), agencies[6:] * 2)
        db.session.commit()
    try:
        results, errors = runs_at_once(app, money_id, [PERIOD, second_period])
        assert errors == []
        assert sorted(n for batch in results for n in batch) == numbers(4, 15)
        if second_period == PERIOD:
            assert sorted(len(batch) for batch in results) == [0, 12]
        else:
            # Each run held the counter from its first number to its last: two unbroken blocks.
            assert sorted(results) == [numbers(4, 9), numbers(10, 15)]
        with app.app_context():
            assert invoiced_charges() == 3 + 24
            counter = db.session.get(DocumentCounter, ("invoice", 2026))
            assert counter.last_number == 15
    finally:
        with app.app_context():
            empty_all_tables()


# Pages and who sees them ----------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.PRACTITIONER, Role.TRAINER])
def test_only_finance_and_l_and_d_see_finance_pages(client, role):
    sign_in(client, create_user(roles=(role,)))
    for path in ("/finance/", "/finance/charges", "/finance/invoices", "/finance/run", "/finance/export.csv"):
        assert client.get(path).status_code == 403, path


def test_l_and_d_see_charges_but_only_finance_runs_invoices(client):
    sign_in(client, admin())
    assert client.get("/finance/charges").status_code == 200
    assert client.get("/finance/run").status_code == 403


def test_a_practitioner_sees_their_own_charges_and_nobody_elses(client):
    session = session_that_ran()
    mine, theirs = no_shows(session, [create_agency(), create_agency()])
    sign_in(client, mine.user)
    page = client.get("/finance/mine").get_data(as_text=True)
    assert page.count("£25.00") == 1


def test_finance_previews_confirms_and_downloads_an_invoice(client):
    police = create_agency(
        "West Midlands Police",
        billing_contact="Accounts Payable",
        billing_address="Lloyd House\nColmore Circus",
    )
    bookings = no_shows(session_that_ran(), [police, police])
    sign_in(client, finance_user())
    page = client.get("/finance/run?start=2026-04-01&end=2026-06-30").get_data(as_text=True)
    assert "Preview: 1 invoice, £50.00" in page and "West Midlands Police" in page
    token = csrf_token(client, "/finance/run")
    response = client.post(
        "/finance/run", data={"start": "2026-04-01", "end": "2026-06-30", "csrf_token": token}
    )
    assert response.status_code == 302
    invoice = db.session.scalar(sa.select(Invoice))
    response = client.get(f"/finance/invoices/{invoice.id}.pdf")
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(response.data)).pages)
    assert invoice.number in text and "£50.00" in text and "Accounts Payable" in text
    for booking in bookings:
        assert booking.user.full_name in text
    csv_text = client.get("/finance/export.csv").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert [row["invoice_number"] for row in rows] == [invoice.number, invoice.number]
    dashboard = client.get("/finance/").get_data(as_text=True)
    assert "West Midlands Police" in dashboard and "<svg" in dashboard


def test_a_bad_period_is_explained_and_nothing_is_issued(client):
    no_shows(session_that_ran(), [create_agency()])
    sign_in(client, finance_user())
    token = csrf_token(client, "/finance/run")
    response = client.post(
        "/finance/run", data={"start": "2026-06-30", "end": "2026-04-01", "csrf_token": token}
    )
    assert response.status_code == 422
    assert "The period must end on or after the day it starts." in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Invoice.id))) == 0
    clock.freeze(NOW)


def test_a_charge_waived_while_finance_looked_at_the_preview_is_not_billed(app_context):
    bookings = no_shows(session_that_ran(), [create_agency("Police")] * 2)
    preview = preview_invoice_run(*PERIOD)
    assert len(preview.bills[0].charges) == 2
    # Another person waives one (straight in the table, as another process would).
    waived = charge_of(bookings[0])
    db.session.execute(sa.update(Charge).where(Charge.id == waived.id).values(status=ChargeStatus.WAIVED))
    [invoice] = run_invoicing(*PERIOD, by=finance_user(), now=NOW)
    assert [line.charge_id for line in invoice.lines] == [charge_of(bookings[1]).id]
    assert charge_of(bookings[0]).status is ChargeStatus.WAIVED
