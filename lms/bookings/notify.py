"""The messages the booking life cycle sends. Each goes to the outbox in the same transaction."""

from __future__ import annotations

from datetime import datetime

from lms.bookings import managers
from lms.bookings.models import Booking
from lms.messages.calendar import invitation
from lms.messages.services import queue_message, session_subject


def _invite(booking: Booking, *, now: datetime, cancel: bool = False) -> dict[str, str]:
    """A calendar request for a confirmed place, or the cancellation that removes it again."""
    return invitation(booking, now=now, cancel=cancel)


def _send(
    kind: str,
    booking: Booking,
    subject: str,
    template: str,
    *,
    now: datetime,
    invite=None,
    **context,
):
    person = booking.user
    return queue_message(
        kind,
        to=person.email,
        user=person,
        subject=session_subject(subject, booking.session),
        template=f"bookings/{template}",
        now=now,
        attachments=[invite] if invite else None,
        booking=booking,
        session=booking.session,
        **context,
    )


def booking_confirmed(booking: Booking, *, now: datetime):
    managers.confirmation_copied(booking, now=now)
    return _send(
        "booking.confirmed",
        booking,
        "Place confirmed",
        "confirmed.txt",
        now=now,
        invite=_invite(booking, now=now),
        moment=now,
    )


def waiting_list_joined(booking: Booking, position: int | None, *, now: datetime):
    return _send(
        "booking.waitlisted",
        booking,
        "You are on the waiting list",
        "waitlisted.txt",
        now=now,
        position=position,
    )


def place_confirmed_from_waiting_list(booking: Booking, *, now: datetime):
    managers.confirmation_copied(booking, now=now)
    return _send(
        "booking.promoted",
        booking,
        "A place has come up for you",
        "promoted.txt",
        now=now,
        invite=_invite(booking, now=now),
        moment=now,
    )


def cancellation_confirmed(booking: Booking, *, now: datetime):
    invite = _invite(booking, now=now, cancel=True) if booking.confirmed_at else None
    return _send("booking.cancelled", booking, "Booking cancelled", "cancelled.txt", now=now, invite=invite)


def removed_by_admin(booking: Booking, *, now: datetime):
    invite = _invite(booking, now=now, cancel=True) if booking.confirmed_at else None
    return _send(
        "booking.removed",
        booking,
        "Your booking has been cancelled",
        "removed.txt",
        now=now,
        invite=invite,
    )


def substitution(original: Booking, replacement: Booking, *, now: datetime):
    managers.confirmation_copied(replacement, now=now)
    _send(
        "booking.substituted_from",
        original,
        "Your place has passed to a colleague",
        "substituted_from.txt",
        now=now,
        invite=_invite(original, now=now, cancel=True),
        replacement=replacement,
    )
    _send(
        "booking.substituted_to",
        replacement,
        "A colleague has passed you their place",
        "substituted_to.txt",
        now=now,
        invite=_invite(replacement, now=now),
        original=original,
        moment=now,
    )


def session_cancelled(booking: Booking, *, was_confirmed: bool, now: datetime):
    invite = _invite(booking, now=now, cancel=True) if was_confirmed else None
    return _send(
        "session.cancelled",
        booking,
        "Session cancelled",
        "session_cancelled.txt",
        now=now,
        invite=invite,
    )


def session_changed(booking: Booking, *, now: datetime):
    invite = _invite(booking, now=now) if booking.is_confirmed else None
    return _send(
        "session.changed",
        booking,
        "Session details changed",
        "session_changed.txt",
        now=now,
        invite=invite,
    )
