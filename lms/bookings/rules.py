"""When bookings close and when a cancellation is late: working days in UK time."""

from __future__ import annotations

from datetime import datetime

from flask import current_app

from lms.core.calendar import working_days_before, working_days_between
from lms.core.timezones import london_date, start_of_london_day
from lms.courses.models import CourseSession


def bookings_close_at(session: CourseSession) -> datetime:
    """Bookings close at the start of the working day(s) before the session's date."""
    days = current_app.config["BOOKING_CLOSES_WORKING_DAYS"]
    if days <= 0:
        return session.starts_at
    return start_of_london_day(working_days_before(london_date(session.starts_at), days))


def is_late(session: CourseSession, now: datetime) -> bool:
    """Late when fewer whole working days than the notice period remain before the session's date."""
    notice = current_app.config["NOTICE_WORKING_DAYS"]
    return working_days_between(london_date(now), london_date(session.starts_at)) < notice


def late_from(session: CourseSession) -> datetime:
    """The moment from which cancelling becomes late: the start of the notice period's first day."""
    notice = current_app.config["NOTICE_WORKING_DAYS"]
    if notice <= 0:
        return session.starts_at
    return start_of_london_day(working_days_before(london_date(session.starts_at), notice))


def bookings_closed_for(session: CourseSession, user, now: datetime) -> bool:
    """Bookings have closed for this person: the L&D team can still add people after closing."""
    from lms.accounts.models import Role

    return now >= bookings_close_at(session) and not user.has_role(Role.LND_ADMIN)


def is_late_cancellation(booking, now: datetime) -> bool:
    """Cancelling now is late: a confirmed place, inside the notice period, not given at short notice."""
    return booking.is_confirmed and is_late(booking.session, now) and not booking.promoted_without_notice
