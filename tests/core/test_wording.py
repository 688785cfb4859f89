"""Pages and emails say one of a thing in the singular: "1 invoice", "1 person", "1 working day"."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa
from flask import render_template

from lms.accounts.models import Role
from lms.bookings.models import Attendance
from lms.bookings.services import book_place, cancel_booking, close_register, mark_attendance
from lms.core.timezones import start_of_london_day
from lms.extensions import db
from lms.finance.services import run_invoicing
from lms.messages.models import OutboxMessage
from tests.conftest import sign_in
from tests.factories import NOW, create_agency, create_course, create_session, create_user


def no_shows(delegates, *, places=20):
    """A session that ran three days ago with each delegate marked a no-show and the register closed."""
    trainer = create_user(roles=(Role.TRAINER,))
    session = create_session(starts_at=NOW - timedelta(days=3), trainer=trainer, places=places)
    admin = create_user(roles=(Role.LND_ADMIN,))
    bookings = [book_place(session, person, by=admin, now=NOW - timedelta(days=20)) for person in delegates]
    for booking in bookings:
        mark_attendance(booking, Attendance.NO_SHOW, by=trainer, now=session.starts_at + timedelta(minutes=5))
    close_register(session, by=trainer, now=session.ends_at)
    return bookings


def page(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, path
    return " ".join(response.get_data(as_text=True).split())


def test_an_invoice_run_of_one_invoice_and_one_waiting_charge_says_so_in_the_singular(client):
    police = create_agency("West Midlands Police")
    no_shows([create_user(agency=police), create_user(other_organisation="Little Stars Nursery")])
    sign_in(client, create_user(roles=(Role.FINANCE,)))

    shown = page(client, "/finance/run?start=2026-04-01&end=2026-06-30")

    assert "Preview: 1 invoice, £25.00" in shown
    assert "1 charge belongs to organisations typed as “other”" in shown
    assert "Confirm and issue 1 invoice</button>" in shown
    assert "1 invoices" not in shown and "1 charge belong " not in shown


def test_one_invoiced_charge_that_no_longer_stands_is_one_charge(client):
    finance = create_user(roles=(Role.FINANCE,))
    [booking] = no_shows([create_user()])
    run_invoicing(date(2026, 4, 1), date(2026, 6, 30), by=finance, now=NOW)
    mark_attendance(booking, Attendance.ATTENDED, by=create_user(roles=(Role.LND_ADMIN,)), now=NOW)
    sign_in(client, finance)

    shown = page(client, "/finance/")

    assert "1 invoiced charge no longer stands" in shown
    assert "Issue a credit note for it." in shown


def test_lists_of_one_say_one(client):
    admin = create_user(roles=(Role.LND_ADMIN,))  # the only person, in the only agency
    create_course("Online Safety")
    sign_in(client, admin)

    assert "<caption>1 person</caption>" in page(client, "/admin/people")
    assert "<caption>1 organisation</caption>" in page(client, "/admin/agencies")
    assert "<caption>1 course</caption>" in page(client, "/admin/programme/courses")
    create_session()
    assert "<caption>1 upcoming session</caption>" in page(client, "/admin/programme/sessions")


def test_a_trainer_with_a_one_place_session_sees_one_place(client):
    trainer = create_user(roles=(Role.TRAINER,))
    create_session(trainer=trainer, places=1)
    sign_in(client, trainer)

    shown = page(client, "/admin/programme/my-sessions")

    assert "· 1 place</p>" in shown and "1 places" not in shown


def test_the_utilisation_report_of_one_session_speaks_in_the_singular(client):
    no_shows([create_user()], places=1)
    sign_in(client, create_user(roles=(Role.LND_ADMIN,)))

    shown = page(client, "/reports/utilisation?by=course")

    assert '1</span><span class="figure-label">session ran' in shown
    assert '1</span><span class="figure-label">place offered' in shown
    assert '1</span><span class="figure-label">no-show<' in shown
    assert '0%</span><span class="figure-label">utilisation' in shown


def test_emails_say_one_day_one_minute_and_one_working_day(app, monkeypatch):
    person = create_user()
    with app.test_request_context():
        invitation = render_template(
            "messages/account_invitation.txt", recipient=person, days=1, token="t", link=lambda *a, **k: ""
        )
        reset = render_template(
            "messages/password_reset.txt", recipient=person, minutes=1, token="t", link=lambda *a, **k: ""
        )
    assert "expires in 1 day)" in invitation
    assert "expires in 1 minute)" in reset

    monkeypatch.setitem(app.config, "NOTICE_WORKING_DAYS", 1)
    session = create_session(starts_at=NOW + timedelta(hours=3))
    booking = book_place(session, create_user(), by=create_user(roles=(Role.LND_ADMIN,)), now=NOW)
    cancel_booking(booking, by=booking.user, now=NOW + timedelta(hours=1))
    assert booking.is_late_cancellation
    sent = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.user_id == booking.user_id))
    bodies = {message.kind: " ".join(message.body.split()) for message in sent}
    assert "(less than 1 working day before the session)" in bodies["booking.cancelled"]
    assert "less than 1 working day before it, which counts as a late cancellation" in bodies["charge.raised"]


def test_an_email_gives_a_session_s_times_once_and_its_end_date_only_if_it_differs(app):
    session = create_session(course=create_course("Online Safety"), starts_at=NOW + timedelta(days=30))
    with app.test_request_context():
        text = render_template(
            "messages/_session.txt", session=session, booking=None, link=lambda *a, **k: ""
        )
    assert "When:     Wed 3 June 2026, 10:00 to 13:00 (UK time)" in text


def test_templates_reach_the_formatting_module_by_short_names(app):
    closes_at = start_of_london_day(date(2026, 12, 3))
    template = app.jinja_env.from_string(
        "{{ 1|plural('invoice') }} | {{ 3|plural('person', 'people') }}"
        " | {{ 2|plural_word('stands', 'stand') }} | {{ 1905|number }} | {{ 125050|money }}"
        " | {{ 12003750|whole_pounds }} | {{ 0.6777|percent }}"
        " | {{ 0.6777|percent(1) }} | {{ 10|rate }} | {{ 3.65|decimal }} | {{ 90|hours }}"
        " | {{ number_range('INV2728-0003', 'INV2728-0003') }} | {{ point_change(0.68, 0.66) }}"
        " | {{ day|plain_date }} | {{ day|long_date }} | {{ day|month }} | {{ period(day, day) }}"
        " | {{ bookings_close(closes_at, now=now) }}"
    )
    shown = template.render(day=date(2026, 12, 2), closes_at=closes_at, now=NOW)
    assert shown.split(" | ") == [
        "1 invoice",
        "3 people",
        "stand",
        "1,905",
        "£1,250.50",
        "£120,038",
        "68%",
        "67.8%",
        "10%",
        "3.7",
        "1.5 hours",
        "INV2728-0003",
        "up 2 points",
        "2 December 2026",
        "Wednesday 2 December 2026",
        "December 2026",
        "2 December 2026",
        "Bookings close at the end of Wednesday 2 December",
    ]
