"""When bookings close, when a cancellation is late, and who may take a colleague's place.

Each rule is a pure function of plain values (times, UK dates, the partnership's settings), so the
booking services and the benchmark dataset generator decide the same way; the functions below them
apply a rule to a session or booking with this partnership's settings.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from flask import current_app

from lms.accounts.models import Role, organisation_key
from lms.core.calendar import working_days_before
from lms.core.timezones import london_date, start_of_london_day
from lms.courses.models import CourseSession

# The rules ----------------------------------------------------------------------------------


def closing_time(starts_at: datetime, closes_working_days: int) -> datetime:
    """Bookings close at the start of the working day `closes_working_days` before the session's date."""
    if closes_working_days <= 0:
        return starts_at
    return start_of_london_day(working_days_before(london_date(starts_at), closes_working_days))


def is_closed(now: datetime, closes_at: datetime, *, staff: bool) -> bool:
    """Bookings have closed for someone: the L&D team can still add people after closing."""
    return now >= closes_at and not staff


def is_late_on(day: date, session_day: date, notice_working_days: int) -> bool:
    """Late when fewer whole working days than the notice period lie between `day` and the session's:
    that is, from the notice period's first working day on (found by stepping back from the session,
    a few days, rather than counting forward from `day`, which may be months away)."""
    if notice_working_days < 1:
        return False
    return day >= working_days_before(session_day, notice_working_days)


def notice_period_starts_at(starts_at: datetime, notice_working_days: int) -> datetime:
    """The moment from which cancelling becomes late: the start of the notice period's first day."""
    if notice_working_days <= 0:
        return starts_at
    return start_of_london_day(working_days_before(london_date(starts_at), notice_working_days))


def promoted_without_notice(promoted_on: date, session_day: date, notice_working_days: int) -> bool:
    """Confirmed from the waiting list inside the notice period: they had no notice of the place."""
    return is_late_on(promoted_on, session_day, notice_working_days)


def late_cancellation(
    cancelled_on: date,
    session_day: date,
    notice_working_days: int,
    *,
    confirmed: bool,
    without_notice: bool,
) -> bool:
    """A late cancellation: of a confirmed place, inside the notice period, not given at short notice."""
    return confirmed and not without_notice and is_late_on(cancelled_on, session_day, notice_working_days)


def is_colleague(
    agency_id: int | None,
    other_organisation: str | None,
    colleague_agency_id: int | None,
    colleague_other_organisation: str | None,
) -> bool:
    """Same agency; or, for people who typed their organisation, the same organisation typed."""
    if agency_id is not None:
        return colleague_agency_id == agency_id
    return colleague_agency_id is None and organisation_key(colleague_other_organisation or "") == (
        organisation_key(other_organisation or "")
    )


# The rules applied to a session or booking, with the partnership's settings -----------------


def bookings_close_at(session: CourseSession) -> datetime:
    """Bookings close at the start of the working day(s) before the session's date."""
    return closing_time(session.starts_at, current_app.config["BOOKING_CLOSES_WORKING_DAYS"])


def bookable_from(now: datetime) -> datetime:
    """The earliest start a session can have and still take bookings from practitioners now.

    Bookings close a set number of working days before a session's date, so a later session never
    closes sooner: the first London day whose sessions are still open bounds them all."""
    closes_working_days = current_app.config["BOOKING_CLOSES_WORKING_DAYS"]
    if closes_working_days <= 0:
        return now
    day = london_date(now)
    while closing_time(start_of_london_day(day), closes_working_days) <= now:
        day += timedelta(days=1)
    return start_of_london_day(day)


def late_from(session: CourseSession) -> datetime:
    """The moment from which cancelling becomes late: the start of the notice period's first day."""
    return notice_period_starts_at(session.starts_at, current_app.config["NOTICE_WORKING_DAYS"])


def bookings_closed_for(session: CourseSession, user, now: datetime) -> bool:
    """Bookings have closed for this person: the L&D team can still add people after closing."""
    return is_closed(now, bookings_close_at(session), staff=user.has_role(Role.LND_ADMIN))


def is_promotion_without_notice(session: CourseSession, now: datetime) -> bool:
    """Someone confirmed from the waiting list now would have had no notice of the place."""
    notice = current_app.config["NOTICE_WORKING_DAYS"]
    return promoted_without_notice(london_date(now), london_date(session.starts_at), notice)


def is_late_cancellation(booking, now: datetime) -> bool:
    """Cancelling now is late: a confirmed place, inside the notice period, not given at short notice."""
    return late_cancellation(
        london_date(now),
        london_date(booking.session.starts_at),
        current_app.config["NOTICE_WORKING_DAYS"],
        confirmed=booking.is_confirmed,
        without_notice=booking.promoted_without_notice,
    )
