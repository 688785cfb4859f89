"""Registers left open: the trainer is reminded, then the register closes itself.

Charges for no-shows, evaluation requests and certificates all wait for a session's register to
close, so a register nobody closes bills nobody and asks nobody for feedback. Two sweeps:

- `REGISTER_REMINDER_WORKING_DAYS` after the session's day, the trainer is reminded once that the
  register is still open and what closing it does (the L&D team is told instead when the session has
  no trainer).
- `REGISTER_CLOSE_WORKING_DAYS` after the session's day, a register in which someone has been marked
  closes: whoever is still unmarked is recorded as a no-show, exactly as if the trainer had marked
  them so. A register in which nobody has been marked stays open, because closing it would charge
  every delegate for what is more likely a register nobody kept; it stays on the L&D team's list of
  open registers. 0 turns automatic closing off.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask import current_app

from lms.bookings.models import Attendance, Booking, BookingStatus
from lms.bookings.services import close_register, lock_session, mark_unmarked, register_of
from lms.core.audit import log_action
from lms.core.calendar import working_days_after
from lms.core.timezones import london_date, start_of_london_day
from lms.courses.models import CourseSession, SessionStatus
from lms.extensions import db
from lms.messages.services import queue_message, session_subject


def reminder_due_at(session: CourseSession) -> datetime:
    days = current_app.config["REGISTER_REMINDER_WORKING_DAYS"]
    return start_of_london_day(working_days_after(london_date(session.ends_at), days))


def closes_automatically_at(session: CourseSession) -> datetime | None:
    """When the scheduler closes this register if it is still open; None when it never does."""
    days = current_app.config["REGISTER_CLOSE_WORKING_DAYS"]
    if days <= 0:
        return None
    return start_of_london_day(working_days_after(london_date(session.ends_at), days))


def _open_registers(now: datetime, *conditions) -> list[CourseSession]:
    return list(
        db.session.scalars(
            sa.select(CourseSession)
            .where(
                CourseSession.status == SessionStatus.SCHEDULED,
                CourseSession.ends_at < now,
                CourseSession.register_closed_at.is_(None),
                *conditions,
            )
            .order_by(CourseSession.ends_at, CourseSession.id)
            .with_for_update(skip_locked=True, of=CourseSession)
        )
    )


def has_marks(session: CourseSession) -> bool:
    return (
        db.session.scalar(
            sa.select(sa.func.count(Booking.id)).where(
                Booking.session_id == session.id,
                Booking.status == BookingStatus.CONFIRMED,
                Booking.attendance.is_not(None),
            )
        )
        > 0
    )


def remind_open_registers(now: datetime) -> int:
    """Remind each open register's trainer once; True to the L&D team when there is no trainer."""
    sent = 0
    for session in _open_registers(now, CourseSession.register_reminded_at.is_(None)):
        if now < reminder_due_at(session):
            continue
        session.register_reminded_at = now
        trainer = session.trainer
        queue_message(
            "register.reminder",
            to=trainer.email if trainer is not None else current_app.config["PARTNERSHIP_EMAIL"],
            user=trainer,
            subject=session_subject("The register is still open", session),
            template="bookings/register_reminder.txt",
            now=now,
            dedupe_key=f"register.reminder:{session.id}",
            session=session,
            closes_at=closes_automatically_at(session),
            unmarked=sum(booking.attendance is None for booking in register_of(session)),
        )
        sent += 1
    db.session.flush()
    return sent


def close_open_registers(now: datetime) -> int:
    """Close each register that is past its time and has someone marked; the unmarked did not come."""
    closed = 0
    for session in _open_registers(now):
        due = closes_automatically_at(session)
        if due is None or now < due or not has_marks(session):
            continue
        close_register_automatically(session, now=now)
        closed += 1
    return closed


def close_register_automatically(session: CourseSession, *, now: datetime) -> None:
    """Record the unmarked as no-shows and close the register, as the scheduler."""
    session = lock_session(session)
    unmarked = mark_unmarked(session, Attendance.NO_SHOW, by=None, now=now)
    close_register(session, by=None, now=now)
    log_action(
        "lms.register.closed_automatically",
        subject=session,
        actor=None,
        now=now,
        marked_no_show=[booking.id for booking in unmarked],
    )
