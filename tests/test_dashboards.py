"""Each role's dashboard shows the work waiting for it, not only links."""

from datetime import timedelta

from lms.accounts.models import Role
from lms.bookings.models import Attendance
from lms.bookings.services import book_place, mark_attendance
from lms.core import clock
from lms.finance.models import ChargeReason
from lms.finance.services import raise_charge
from lms.reporting.work import finance_work, lnd_work
from tests.conftest import sign_in
from tests.factories import NOW, create_course, create_session, create_user


def book(session, count, *, when=None):
    admin = create_user(roles=(Role.LND_ADMIN,))
    moment = when or min(NOW, session.starts_at - timedelta(days=20))
    return [book_place(session, create_user(), by=admin, now=moment) for _ in range(count)]


def test_l_and_d_see_open_registers_under_filled_sessions_long_queues_and_unmapped_names(client):
    trainer = create_user(roles=(Role.TRAINER,))
    ran = create_session(
        course=create_course("Ran last week"), starts_at=NOW - timedelta(days=7), trainer=trainer
    )
    came, _forgot = book(ran, 2, when=NOW - timedelta(days=30))
    mark_attendance(came, Attendance.ATTENDED, by=trainer, now=NOW - timedelta(days=7, hours=-1))
    nobody = create_session(course=create_course("Nobody marked"), starts_at=NOW - timedelta(days=3))
    book(nobody, 1, when=NOW - timedelta(days=30))
    quiet = create_session(course=create_course("Quiet one"), places=20, starts_at=NOW + timedelta(days=14))
    book(quiet, 3)
    busy = create_session(
        course=create_course("Busy one"), places=8, overbook_percent=0, starts_at=NOW + timedelta(days=20)
    )
    book(busy, 14)
    create_user(other_organisation="Little Acorns Nursery")
    create_user(other_organisation="little acorns nursery")

    work = lnd_work(NOW)
    assert [r.session.course.title for r in work.open_registers] == ["Ran last week", "Nobody marked"]
    assert work.open_registers[0].will_close_itself and not work.open_registers[1].will_close_itself
    assert [f.session.course.title for f in work.under_filled] == ["Quiet one"]
    assert [(f.session.course.title, f.waiting) for f in work.long_waits] == [("Busy one", 6)]
    assert (work.unmapped_names, work.unmapped_people) == (1, 2)

    sign_in(client, create_user(roles=(Role.LND_ADMIN,)))
    page = client.get("/dashboard").get_data(as_text=True)
    assert "Needs the L&amp;D team" in page
    assert "1 organisation name typed by 2 people" in page
    assert "Nobody has been marked, so it will not close by itself." in page
    assert "Quiet one" in page and "3 of 20 places taken" in page
    assert "6 people waiting" in page


def test_finance_see_what_is_not_invoiced_instead_of_their_own_bookings(client):
    session = create_session(starts_at=NOW - timedelta(days=7), cost_pence=40000)
    [booking] = book(session, 1, when=NOW - timedelta(days=30))
    clock.freeze(NOW)
    charge = raise_charge(booking, ChargeReason.NO_SHOW, now=NOW)
    assert charge is not None
    work = finance_work(NOW.date())
    assert work.unbilled_count == 1 and work.unbilled_pence == charge.amount_pence
    assert work.unpaid_count == 0
    sign_in(client, create_user(roles=(Role.FINANCE,)))
    page = client.get("/dashboard").get_data(as_text=True)
    assert "Needs finance" in page
    assert "1 charge not yet invoiced" in page
    assert "Needs the L&amp;D team" not in page


def test_a_practitioner_sees_neither_team_s_work(client):
    create_session(starts_at=NOW - timedelta(days=7))
    sign_in(client, create_user())
    page = client.get("/dashboard").get_data(as_text=True)
    assert "Needs the L&amp;D team" not in page and "Needs finance" not in page


def test_l_and_d_see_how_many_bookings_await_approval(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "BOOKING_APPROVAL", "all")
    session = create_session(starts_at=NOW + timedelta(days=30))
    for _ in range(2):
        person = create_user()
        booking = book_place(session, person, by=person, now=NOW)
        assert booking.is_awaiting_approval
    work = lnd_work(NOW)
    assert (work.manager_approvals, work.lnd_approvals) == (2, 0)
    sign_in(client, create_user(roles=(Role.LND_ADMIN,)))
    page = client.get("/dashboard").get_data(as_text=True)
    assert "0 bookings for the L&amp;D team to decide" in page
    assert "2 bookings waiting for a line manager" in page
