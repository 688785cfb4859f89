"""`flask lms demo-data` builds a believable financial year, and only in an empty database."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from lms.accounts.models import Agency, Role, User, UserRole
from lms.accounts.passwords import verify_password
from lms.accounts.services import unmapped_organisations
from lms.bookings.models import LIVE_STATUSES, Attendance, Booking, BookingStatus, CancellationReason
from lms.core import clock
from lms.core.audit import AuditEntry
from lms.core.calendar import is_working_day
from lms.core.timezones import london_date
from lms.courses.models import Course, CourseSession, DeliveryMode, SessionStatus
from lms.demo import DEMO_PASSWORD, financial_year
from lms.extensions import db
from lms.messages.models import OutboxMessage
from tests.conftest import empty_all_tables
from tests.factories import NOW, create_agency

# The clock is frozen at 4 May 2026 (tests/factories.py), so this is the current year.
YEAR_START, YEAR_END = date(2026, 4, 1), date(2027, 3, 31)
NOVEMBER = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)  # a Friday evening, most of the year run


# The command commits, so these tests work on a real database and empty it afterwards. The
# demo is loaded once for the tests that only read it; those that need an empty database run first.
pytestmark = pytest.mark.committing


@pytest.fixture(autouse=True)
def _app_context(app):
    with app.app_context():
        yield
        db.session.remove()


@pytest.fixture
def run_demo(app):
    runner = app.test_cli_runner()
    return lambda: runner.invoke(args=["lms", "demo-data"])


@pytest.fixture
def emptied_afterwards():
    yield
    db.session.rollback()
    empty_all_tables()


@pytest.fixture(scope="module")
def loaded(app):
    with app.app_context():
        clock.freeze(NOW)
        result = app.test_cli_runner().invoke(args=["lms", "demo-data"])
        assert result.exit_code == 0, result.output
        yield result
        db.session.remove()
        empty_all_tables()


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def people_with_role(role: Role) -> list[User]:
    return list(
        db.session.scalars(sa.select(User).join(UserRole).where(UserRole.role == role).order_by(User.id))
    )


def test_it_refuses_a_database_that_already_has_an_agency(run_demo, emptied_afterwards):
    create_agency("West Midlands Police")
    result = run_demo()
    assert result.exit_code == 0
    assert "not empty" in result.output
    assert count(Agency) == 1
    assert count(User) == 0


def test_loaded_in_november_most_of_the_year_has_run_near_the_2024_25_utilisation(
    run_demo, emptied_afterwards
):
    clock.freeze(NOVEMBER)  # as when the command is run for real; the test fixture unfreezes it
    result = run_demo()
    assert result.exit_code == 0, result.output
    assert len(sessions_that_ran(NOVEMBER)) >= 40
    assert_the_booking_rules_held(NOVEMBER)
    assert_utilisation_near_2024_25(NOVEMBER, result.output)
    assert_every_message_marked_sent(NOVEMBER)


def test_the_financial_year_runs_from_1_april_to_31_march():
    assert financial_year(date(2026, 11, 21), "04-01") == (YEAR_START, YEAR_END)
    assert financial_year(date(2027, 3, 31), "04-01") == (YEAR_START, YEAR_END)
    assert financial_year(date(2026, 4, 1), "04-01") == (YEAR_START, YEAR_END)
    assert financial_year(date(2026, 3, 31), "04-01") == (date(2025, 4, 1), date(2026, 3, 31))


def test_it_loads_every_agency_and_the_whole_programme(loaded):
    assert count(Agency) == 26
    assert count(Course) == 16
    assert count(CourseSession) == 68
    police = db.session.scalar(sa.select(Agency).where(Agency.short_name == "WMP"))
    assert police.billing_email and police.billing_address and police.purchase_order


def test_every_session_is_on_a_working_day_of_the_current_year(loaded):
    for session in db.session.scalars(sa.select(CourseSession)):
        day = london_date(session.starts_at)
        assert YEAR_START <= day <= YEAR_END
        assert is_working_day(day), day
        assert session.ends_at > session.starts_at
        assert session.trainer is not None
        if session.delivery_mode is DeliveryMode.IN_PERSON:
            assert session.venue
        else:
            assert session.online_link.startswith("https://")


def test_a_few_sessions_earlier_in_the_year_were_cancelled(loaded):
    cancelled = db.session.scalars(
        sa.select(CourseSession).where(CourseSession.status == SessionStatus.CANCELLED)
    ).all()
    assert 1 <= len(cancelled) <= 3
    for session in cancelled:
        assert session.starts_at < NOW
        assert session.cancelled_at < session.starts_at
        assert session.cancel_reason


def test_hundreds_of_practitioners_some_of_whom_typed_their_organisation(loaded):
    assert len(people_with_role(Role.PRACTITIONER)) >= 300
    typed = db.session.scalars(sa.select(User).where(User.other_organisation.is_not(None))).all()
    assert typed
    assert all(person.agency_id is None for person in typed)
    # Names differing only in case are grouped for L&D to map in one go.
    assert any(group.people > 1 for group in unmapped_organisations())


def test_there_is_a_demo_sign_in_for_each_role(loaded):
    accounts = {
        "practitioner@demo.example": Role.PRACTITIONER,
        "trainer@demo.example": Role.TRAINER,
        "lnd@demo.example": Role.LND_ADMIN,
        "finance@demo.example": Role.FINANCE,
    }
    for email, role in accounts.items():
        user = db.session.scalar(sa.select(User).where(User.email == email))
        assert user.roles == {role}
        assert verify_password(user.password_hash, DEMO_PASSWORD)
        assert email in loaded.output
    assert DEMO_PASSWORD in loaded.output
    assert len(people_with_role(Role.TRAINER)) >= 5


def sessions_that_ran(now: datetime = NOW) -> list[CourseSession]:
    return list(
        db.session.scalars(
            sa.select(CourseSession).where(
                CourseSession.ends_at < now, CourseSession.status != SessionStatus.CANCELLED
            )
        )
    )


def bookings_on(session: CourseSession, *statuses: BookingStatus) -> list[Booking]:
    return list(
        db.session.scalars(
            sa.select(Booking).where(Booking.session_id == session.id, Booking.status.in_(statuses))
        )
    )


def assert_the_booking_rules_held(now: datetime) -> None:
    """Bookable limits, one live booking a person, and a closed register for every session that ran."""
    for session in db.session.scalars(sa.select(CourseSession)):
        assert len(bookings_on(session, BookingStatus.CONFIRMED)) <= session.bookable_limit
        if session.ends_at > now:
            assert session.register_closed_at is None
    doubles = db.session.execute(
        sa.select(Booking.session_id, Booking.user_id)
        .where(Booking.status.in_(LIVE_STATUSES))
        .group_by(Booking.session_id, Booking.user_id)
        .having(sa.func.count() > 1)
    ).all()
    assert doubles == []
    for session in sessions_that_ran(now):
        assert session.status is SessionStatus.COMPLETED
        assert session.register_closed_at > session.ends_at
        register = bookings_on(session, BookingStatus.CONFIRMED)
        assert all(booking.attendance is not None for booking in register)


def assert_utilisation_near_2024_25(now: datetime, output: str) -> None:
    """Attended (fully or partly) over places of the sessions that ran: 68% in 2024/25."""
    ran = sessions_that_ran(now)
    places = sum(session.places for session in ran)
    outcomes = [
        booking.attendance for session in ran for booking in bookings_on(session, BookingStatus.CONFIRMED)
    ]
    attended = sum(outcome.counts_as_attended for outcome in outcomes)
    assert 0.60 <= attended / places <= 0.76
    assert Attendance.PARTIAL in outcomes
    assert 0.03 <= outcomes.count(Attendance.NO_SHOW) / len(outcomes) <= 0.12
    assert f"{attended / places:.0%} utilisation" in output


def assert_every_message_marked_sent(now: datetime) -> None:
    messages = db.session.scalars(sa.select(OutboxMessage)).all()
    assert len(messages) >= count(Booking)
    assert all(message.sent_at == now and message.attempts == 1 for message in messages)


def test_people_have_booked_the_sessions_so_far_and_some_still_to_come(loaded):
    ran = sessions_that_ran()
    assert ran
    for session in ran:
        assert len(bookings_on(session, BookingStatus.CONFIRMED)) >= session.places // 3
    to_come = db.session.scalars(sa.select(CourseSession).where(CourseSession.starts_at > NOW)).all()
    booked = [session for session in to_come if bookings_on(session, BookingStatus.CONFIRMED)]
    assert 3 <= len(booked) < len(to_come)


def test_the_booking_rules_held_and_every_register_is_closed(loaded):
    assert_the_booking_rules_held(NOW)


def test_attendance_so_far_is_near_the_2024_25_utilisation(loaded):
    assert_utilisation_near_2024_25(NOW, loaded.output)


def test_people_cancelled_on_time_and_late_and_were_told_when_a_session_was_cancelled(loaded):
    cancelled = db.session.scalars(sa.select(Booking).where(Booking.status == BookingStatus.CANCELLED)).all()
    by_delegate = [b for b in cancelled if b.cancellation_reason is CancellationReason.DELEGATE]
    assert any(booking.is_late_cancellation for booking in by_delegate)
    assert any(not booking.is_late_cancellation for booking in by_delegate)
    for booking in cancelled:
        assert booking.booked_at < booking.cancelled_at < booking.session.starts_at
    called_off = sa.select(CourseSession).where(CourseSession.status == SessionStatus.CANCELLED)
    for session in db.session.scalars(called_off):
        assert bookings_on(session, *LIVE_STATUSES) == []
        told = bookings_on(session, BookingStatus.CANCELLED)
        assert any(booking.cancellation_reason is CancellationReason.SESSION_CANCELLED for booking in told)


def test_a_couple_of_sessions_to_come_are_full_with_people_waiting(loaded):
    full = [
        session
        for session in db.session.scalars(sa.select(CourseSession).where(CourseSession.starts_at > NOW))
        if len(bookings_on(session, BookingStatus.CONFIRMED)) == session.bookable_limit
    ]
    assert len(full) >= 2
    for session in full:
        assert 3 <= len(bookings_on(session, BookingStatus.WAITING)) <= 6


def test_the_demo_practitioner_has_attended_holds_places_and_is_waiting_for_one(loaded):
    person = db.session.scalar(sa.select(User).where(User.email == "practitioner@demo.example"))
    bookings = db.session.scalars(sa.select(Booking).where(Booking.user_id == person.id)).all()
    to_come = [booking for booking in bookings if booking.session.starts_at > NOW]
    assert any(booking.attendance is Attendance.ATTENDED for booking in bookings)
    assert 1 <= sum(booking.status is BookingStatus.CONFIRMED for booking in to_come) <= 2
    assert [booking.status for booking in to_come].count(BookingStatus.WAITING) == 1


def test_every_message_is_marked_sent_so_none_goes_out_when_the_app_starts(loaded):
    assert_every_message_marked_sent(NOW)


def test_the_demo_trainer_has_sessions_still_to_come(loaded):
    trainer = db.session.scalar(sa.select(User).where(User.email == "trainer@demo.example"))
    upcoming = db.session.scalars(
        sa.select(CourseSession).where(CourseSession.trainer_id == trainer.id, CourseSession.starts_at > NOW)
    ).all()
    assert upcoming


def test_running_it_again_changes_nothing(loaded, run_demo):
    before = [count(model) for model in (Agency, User, Course, CourseSession, AuditEntry)]
    again = run_demo()
    assert again.exit_code == 0
    assert "not empty" in again.output
    assert [count(model) for model in (Agency, User, Course, CourseSession, AuditEntry)] == before
