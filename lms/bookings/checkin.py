"""Self check-in: the trainer shows a QR code for the session, delegates scan it and say they are here.

The code holds a link signed with the application's secret key, so it cannot be made from a session's
id. Following it records when the delegate arrived (`booking.checked_in_at`); the register then shows
who checked in and offers "Attended" for them, and the trainer still keeps the register. A delegate
can check in only with a confirmed place, and only within a window around the start
(`CHECK_IN_OPENS_MINUTES` before it to `CHECK_IN_CLOSES_MINUTES` after it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

from lms.accounts.models import User
from lms.bookings.models import Booking
from lms.bookings.services import live_booking
from lms.core.audit import log_action
from lms.core.errors import DomainError
from lms.core.formatting import format_datetime, format_time, plural
from lms.courses.models import CourseSession
from lms.extensions import db

SALT = "lms.check-in"


class CheckInError(DomainError):
    pass


def _signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def check_in_token(session: CourseSession) -> str:
    """The token in the session's check-in link (and so in its QR code)."""
    return _signer().dumps({"s": session.id})


def session_for_check_in_token(token: str) -> CourseSession:
    """The session a check-in link is for; a link that was altered or made up is not found."""
    try:
        data = _signer().loads(token)
    except BadSignature:
        data = None
    session_id = data.get("s") if isinstance(data, dict) else None
    session = db.session.get(CourseSession, session_id) if isinstance(session_id, int) else None
    if session is None:
        raise CheckInError.not_found(
            "This check-in link is not valid. Scan the QR code the trainer shows again, or tell the "
            "trainer you are here."
        )
    return session


@dataclass(frozen=True)
class CheckInWindow:
    opens_at: datetime
    closes_at: datetime

    def is_open(self, now: datetime) -> bool:
        return self.opens_at <= now <= self.closes_at


def check_in_window(session: CourseSession) -> CheckInWindow:
    config = current_app.config
    return CheckInWindow(
        opens_at=session.starts_at - timedelta(minutes=config["CHECK_IN_OPENS_MINUTES"]),
        closes_at=session.starts_at + timedelta(minutes=config["CHECK_IN_CLOSES_MINUTES"]),
    )


def check_in_problem(session: CourseSession, person: User, now: datetime) -> str | None:
    """Why `person` cannot check in to `session` now, in words for them; None when they can."""
    if session.is_cancelled:
        return "This session has been cancelled, so there is nothing to check in to."
    booking = live_booking(session, person)
    if booking is None or not booking.is_confirmed:
        return (
            "You do not have a confirmed place on this session, so you cannot check in. If you have "
            "come to it, tell the trainer: they can add you to the register."
        )
    if booking.checked_in_at is not None:
        return None  # checking in again is harmless
    window = check_in_window(session)
    if now < window.opens_at:
        return (
            f"Check-in opens at {format_time(window.opens_at)}, "
            f"{check_in_minutes('CHECK_IN_OPENS_MINUTES')} before the session starts "
            f"({format_datetime(session.starts_at)}). Scan the code again then."
        )
    if now > window.closes_at:
        return (
            f"Check-in for this session closed at {format_datetime(window.closes_at)}. If you are here, "
            "tell the trainer: they mark the register."
        )
    return None


def check_in_minutes(setting: str) -> str:
    return plural(current_app.config[setting], "minute")


def check_in(session: CourseSession, person: User, *, now: datetime) -> Booking:
    """Record that `person`, who has a confirmed place, has arrived; doing it again changes nothing."""
    problem = check_in_problem(session, person, now)
    if problem is not None:
        raise CheckInError.conflict(problem)
    booking = live_booking(session, person)
    if booking.checked_in_at is None:
        booking.checked_in_at = now
        db.session.flush()
        log_action("lms.booking.checked_in", subject=booking, actor=person, now=now, session_id=session.id)
    return booking
