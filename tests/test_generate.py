"""`flask lms generate-bookings` fills a database with years of bookings that keep the booking rules."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import aliased

from lms.accounts.models import Agency, AgencyCategory, Role, User, UserRole
from lms.bookings.models import LIVE_STATUSES, Attendance, Booking, BookingStatus, CancellationReason
from lms.bookings.places import bookable_limit, free_places, next_from_waiting_list
from lms.bookings.rules import (
    closing_time,
    is_closed,
    is_colleague,
    late_cancellation,
    promoted_without_notice,
)
from lms.core import clock
from lms.core.timezones import london_date, to_london
from lms.courses.models import Course, CourseSession, SessionStatus, Topic
from lms.extensions import db
from lms.reporting.utilisation import Dimension, utilisation
from tests.conftest import empty_all_tables
from tests.factories import NOW, create_user

COUNT = 5000
# The clock is frozen at 4 May 2026 (tests/factories.py): the three years before 2026/27.
FIRST_DAY, LAST_DAY = date(2023, 4, 1), date(2026, 3, 31)
PLACES_LOW, PLACES_HIGH = 15, 30
# A notice period and closing time other than the defaults (3 and 1 working days), so a generator
# that assumed the defaults would break the rules checked below.
SETTINGS = {"NOTICE_WORKING_DAYS": 4, "BOOKING_CLOSES_WORKING_DAYS": 2}

# The command commits batch by batch, so these tests use a real database, generated once for the
# module and emptied afterwards.
pytestmark = pytest.mark.committing


@pytest.fixture(autouse=True)
def _app_context(app):
    with app.app_context():
        yield
        db.session.remove()


@pytest.fixture(scope="module")
def generated(app):
    defaults = {key: app.config[key] for key in SETTINGS}
    app.config.update(SETTINGS)
    try:
        with app.app_context():
            clock.freeze(NOW)
            result = app.test_cli_runner().invoke(args=["lms", "generate-bookings", "--count", str(COUNT)])
            assert result.exit_code == 0, result.output
            yield result
            db.session.remove()
            empty_all_tables()
    finally:
        app.config.update(defaults)


def count(model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def test_it_makes_the_bookings_asked_for_and_says_so(generated):
    assert count(Booking) == COUNT
    assert f"Generated {COUNT:,} bookings" in generated.output
    assert "from 2023/24 to 2025/26" in generated.output


def test_agencies_of_every_category_courses_on_seventeen_topics_and_a_person_per_twenty_bookings(generated):
    assert count(Agency) == 60
    assert set(db.session.scalars(sa.select(Agency.category).distinct())) == set(AgencyCategory)
    assert count(Topic) == 17
    assert count(Course) == 50
    assert count(UserRole, UserRole.role == Role.PRACTITIONER) == COUNT // 20
    assert count(User, User.other_organisation.is_not(None), User.agency_id.is_(None)) > 0
    assert db.session.scalar(sa.select(sa.func.count(sa.distinct(User.session_token)))) == count(User)


def test_sessions_hold_about_twenty_five_bookings_over_three_financial_years(generated):
    sessions = db.session.scalars(sa.select(CourseSession)).all()
    assert COUNT / 30 < len(sessions) < COUNT / 20
    days = [london_date(session.starts_at) for session in sessions]
    assert FIRST_DAY <= min(days) <= max(days) <= LAST_DAY
    for year in (2023, 2024, 2025):
        assert sum(date(year, 4, 1) <= day <= date(year + 1, 3, 31) for day in days) > len(sessions) / 4
    assert all(s.local_month == to_london(s.starts_at).strftime("%Y-%m") for s in sessions)
    assert all(PLACES_LOW <= s.places <= PLACES_HIGH for s in sessions)
    assert any(s.status is SessionStatus.CANCELLED for s in sessions)


def test_no_session_has_more_confirmed_places_than_its_bookable_limit(generated):
    confirmed = (
        sa.select(CourseSession.places, CourseSession.overbook_percent, sa.func.count(Booking.id))
        .join(Booking, Booking.session_id == CourseSession.id)
        .where(Booking.status == BookingStatus.CONFIRMED)
        .group_by(CourseSession.id, CourseSession.places, CourseSession.overbook_percent)
    )
    rows = db.session.execute(confirmed).all()
    assert rows
    assert [row for row in rows if row[2] > bookable_limit(row[0], row[1])] == []
    # Popular sessions filled right up to the limit.
    assert any(row[2] == bookable_limit(row[0], row[1]) for row in rows)


def test_no_person_has_two_live_bookings_on_a_session(generated):
    twice = (
        sa.select(Booking.session_id, Booking.user_id)
        .where(Booking.status.in_(LIVE_STATUSES))
        .group_by(Booking.session_id, Booking.user_id)
        .having(sa.func.count() > 1)
    )
    assert db.session.execute(twice).all() == []


def test_outcomes_are_those_of_a_real_programme(generated):
    def share(*where) -> float:
        return count(Booking, *where) / COUNT

    cancelled = Booking.status == BookingStatus.CANCELLED
    assert 0.55 < share(Booking.attendance == Attendance.ATTENDED) < 0.75
    assert 0.01 < share(Booking.attendance == Attendance.PARTIAL) < 0.08
    assert 0.03 < share(Booking.attendance == Attendance.NO_SHOW) < 0.12
    assert 0.05 < share(cancelled, Booking.is_late_cancellation.is_(True)) < 0.15
    assert 0.05 < share(cancelled, Booking.is_late_cancellation.is_(False)) < 0.20
    assert 0.01 < share(Booking.waitlisted_at.is_not(None)) < 0.10
    assert share(Booking.promoted_at.is_not(None)) > 0
    assert share(Booking.status == BookingStatus.WAITING) > 0
    assert share(Booking.is_walk_in.is_(True)) > 0
    assert share(Booking.cancellation_reason == CancellationReason.SESSION_CANCELLED) > 0
    # Everyone confirmed on a session that ran was marked; nobody else was.
    ran = sa.select(CourseSession.id).where(CourseSession.status == SessionStatus.COMPLETED)
    assert count(Booking, Booking.status == BookingStatus.CONFIRMED, Booking.attendance.is_(None)) == 0
    assert count(Booking, Booking.attendance.is_not(None), Booking.session_id.not_in(ran)) == 0


def test_a_place_passed_on_goes_to_a_colleague_of_the_same_agency_on_the_same_session(generated):
    original = aliased(Booking)
    pairs = db.session.execute(
        sa.select(original, Booking).join(original, original.id == Booking.substitute_of_id)
    ).all()
    assert pairs
    for before, after in pairs:
        assert before.status is BookingStatus.SUBSTITUTED
        assert (after.session_id, after.agency_id) == (before.session_id, before.agency_id)
        assert after.user_id != before.user_id
        assert after.booked_at == before.cancelled_at


def test_every_booking_is_made_before_its_session_and_cancelled_after_it_was_made(generated):
    starts = (
        sa.select(CourseSession.starts_at).where(CourseSession.id == Booking.session_id).scalar_subquery()
    )
    assert count(Booking, Booking.is_walk_in.is_(False), Booking.booked_at >= starts) == 0
    assert count(Booking, Booking.cancelled_at < Booking.booked_at) == 0
    assert count(Booking, Booking.cancelled_at >= starts) == 0


def test_utilisation_is_near_the_partnerships_two_thirds(generated):
    report = utilisation(Dimension.AGENCY, FIRST_DAY, LAST_DAY, now=NOW)
    assert 0.60 <= report.total.utilisation <= 0.76
    assert sum(row.attended_total for row in report.rows) == report.total.attended_total
    assert any(row.key.startswith("other:") for row in report.rows)


def test_new_rows_after_it_get_ids_of_their_own(generated):
    person = create_user(agency=db.session.scalars(sa.select(Agency).limit(1)).one())
    assert person.id > db.session.scalar(sa.select(sa.func.max(User.id)).where(User.id != person.id))
    db.session.rollback()


def test_a_second_run_refuses_and_changes_nothing(generated, app):
    before = count(Booking), count(User), count(CourseSession)
    result = app.test_cli_runner().invoke(args=["lms", "generate-bookings", "--count", "10"])
    assert result.exit_code == 0
    assert "already has bookings" in result.output
    assert (count(Booking), count(User), count(CourseSession)) == before


# Every booking agrees with the product's rules -------------------------------------------------


def test_every_booking_agrees_with_the_booking_rules(generated, app):
    """Flags and times stored by the generator are what the product's rule functions say of them."""
    by_session: dict[int, list[Booking]] = defaultdict(list)
    for booking in db.session.scalars(sa.select(Booking).order_by(Booking.id)):
        by_session[booking.session_id].append(booking)
    del by_session[max(by_session)]  # the last session was cut short to make exactly COUNT bookings
    lnd = set(db.session.scalars(sa.select(UserRole.user_id).where(UserRole.role == Role.LND_ADMIN)))
    seen: Counter = Counter()
    for bookings in by_session.values():
        for booking in bookings:
            seen.update(check_booking(booking, app.config, lnd))
        seen.update(replay_places(bookings[0].session, bookings))
    # Each rule had something to decide both ways.
    decided = ("late", "on time", "without notice", "with notice", "waitlisted", "promoted")
    for outcome in (*decided, "booked by L&D after closing"):
        assert seen[outcome] > 0, outcome


def check_booking(booking: Booking, config, lnd: set[int]) -> Counter:
    """A late cancellation, a promotion without notice, a booking made before bookings closed and a
    place passed to a colleague, each as the rules say."""
    notice, session = config["NOTICE_WORKING_DAYS"], booking.session
    day, seen = london_date(session.starts_at), Counter()
    by_delegate = booking.cancellation_reason is CancellationReason.DELEGATE
    late = by_delegate and late_cancellation(
        london_date(booking.cancelled_at),
        day,
        notice,
        confirmed=booking.confirmed_at is not None,
        without_notice=booking.promoted_without_notice,
    )
    assert booking.is_late_cancellation == late, booking.id
    seen["late" if late else "on time"] += by_delegate
    promoted = booking.promoted_at is not None
    without_notice = promoted and promoted_without_notice(london_date(booking.promoted_at), day, notice)
    assert booking.promoted_without_notice == without_notice, booking.id
    seen["without notice" if without_notice else "with notice"] += promoted
    if not booking.is_walk_in and booking.substitute_of is None:
        closes_at = closing_time(session.starts_at, config["BOOKING_CLOSES_WORKING_DAYS"])
        staff = booking.booked_by_id in lnd
        assert not is_closed(booking.booked_at, closes_at, staff=staff), booking.id
        seen["booked by L&D after closing"] += staff and booking.booked_at >= closes_at
    if booking.substitute_of is not None:
        before, after = booking.substitute_of.user, booking.user
        same = (before.agency_id, before.other_organisation, after.agency_id, after.other_organisation)
        assert is_colleague(*same), booking.id
    return seen


def replay_places(session: CourseSession, bookings: list[Booking]) -> Counter:
    """Replay a session's bookings in time order: every booking confirmed or waitlisted, and every
    promotion from the waiting list, is what the capacity calculator decides at that moment, and
    confirmed places never exceed the bookable limit."""
    limit = bookable_limit(session.places, session.overbook_percent)
    booked, left, passed_on, promoted, walked_in = (defaultdict(list) for _ in range(5))
    for booking in bookings:
        if booking.substitute_of_id is not None:
            passed_on[booking.booked_at].append(booking)
        elif booking.is_walk_in:
            walked_in[booking.confirmed_at].append(booking)
        if booking.substitute_of_id is None and booking.booked_at < session.starts_at:
            booked[booking.booked_at].append(booking)
        if booking.cancelled_at is not None:
            left[booking.cancelled_at].append(booking)
        if booking.promoted_at is not None:
            promoted[booking.promoted_at].append(booking)
    confirmed, waiting, seen = 0, [], Counter()
    for moment in sorted(set().union(booked, left, passed_on, promoted, walked_in)):
        for booking in booked[moment]:
            if booking.waitlisted_at == moment:
                assert free_places(limit, confirmed) == 0, booking.id
                waiting.append(booking)
                seen["waitlisted"] += 1
            else:
                assert booking.confirmed_at == moment and free_places(limit, confirmed) > 0, booking.id
                confirmed += 1
        for booking in left[moment]:  # cancelled, or passed to a colleague
            if booking.confirmed_at is None:
                waiting.remove(booking)
            else:
                confirmed -= 1
        confirmed += len(passed_on[moment])
        if moment < session.starts_at:
            first_in_line = next_from_waiting_list(waiting, limit, confirmed)
            assert [b.id for b in promoted[moment]] == [b.id for b in first_in_line], moment
        for booking in promoted[moment]:
            waiting.remove(booking)
            confirmed += 1
            seen["promoted"] += 1
        for booking in walked_in[moment]:
            if booking in waiting:
                waiting.remove(booking)
            confirmed += 1
        assert confirmed <= limit, session.id
        if moment < session.starts_at:
            assert not (waiting and free_places(limit, confirmed) > 0), moment
    assert confirmed == sum(b.status is BookingStatus.CONFIRMED for b in bookings)
    assert waiting == [b for b in bookings if b.status is BookingStatus.WAITING]
    return seen
