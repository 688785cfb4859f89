"""Scheduled messages before a session: a reminder a week before, joining instructions 2 working days before.

Sweeps: each selects what is due now (rows locked with SKIP LOCKED on PostgreSQL, so two
schedulers never take the same one), records that it went, and writes the message with a
dedupe key the database will not accept twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from lms.bookings.models import Booking, BookingStatus
from lms.core.calendar import working_days_before
from lms.core.timezones import london_date, start_of_london_day
from lms.courses.models import CourseSession, SessionStatus
from lms.extensions import db
from lms.messages.services import queue_message, session_subject


def _upcoming_confirmed(now: datetime, within: timedelta, marker) -> list[Booking]:
    return list(
        db.session.scalars(
            sa.select(Booking)
            .join(Booking.session)
            .where(
                Booking.status == BookingStatus.CONFIRMED,
                CourseSession.status == SessionStatus.SCHEDULED,
                CourseSession.starts_at > now,
                CourseSession.starts_at <= now + within,
                marker.is_(None),
            )
            .order_by(Booking.id)
            .with_for_update(skip_locked=True, of=Booking)
        )
    )


def joining_instructions_from(session: CourseSession) -> datetime:
    days = current_app.config["JOINING_INSTRUCTIONS_WORKING_DAYS"]
    return start_of_london_day(working_days_before(london_date(session.starts_at), days))


def _send(booking: Booking, kind: str, subject: str, template: str, now: datetime) -> None:
    queue_message(
        kind,
        to=booking.user.email,
        user=booking.user,
        subject=session_subject(subject, booking.session),
        template=f"bookings/{template}",
        now=now,
        dedupe_key=f"{kind}:{booking.id}",
        booking=booking,
        session=booking.session,
    )


def send_session_reminders(now: datetime) -> int:
    """A week before the session, remind each confirmed delegate once."""
    window = timedelta(days=current_app.config["SESSION_REMINDER_DAYS"])
    sent = 0
    for booking in _upcoming_confirmed(now, window, Booking.reminder_sent_at):
        booking.reminder_sent_at = now
        # Someone who booked inside the week, or whose joining instructions are already due,
        # has just been told everything; a reminder on top would be noise.
        if booking.confirmed_at and booking.confirmed_at > booking.session.starts_at - window:
            continue
        if now >= joining_instructions_from(booking.session):
            continue
        _send(booking, "session.reminder", "Coming up next week", "reminder.txt", now)
        sent += 1
    db.session.flush()
    return sent


def send_joining_instructions(now: datetime) -> int:
    """Two working days before, send each confirmed delegate the venue or joining link."""
    sent = 0
    for booking in _upcoming_confirmed(now, timedelta(days=14), Booking.joining_sent_at):
        if now < joining_instructions_from(booking.session):
            continue
        booking.joining_sent_at = now
        _send(booking, "session.joining", "Joining instructions", "joining.txt", now)
        sent += 1
    db.session.flush()
    return sent
