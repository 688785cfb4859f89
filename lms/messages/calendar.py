"""What a delegate's calendar says about their bookings: invitations, cancellations, downloads, feeds.

One event per session and person. Its UID stays the same whatever happens to the booking, so a
cancellation removes the event an invitation added, and a new time moves it. Its SEQUENCE rises
with every change the calendar must take in:

    sequence = session.sequence + 2 * (earlier bookings of this person for this session) + cancelled

The session's sequence rises when its time or place changes; a cancellation is one above the last
invitation; and booking again after cancelling starts above that cancellation, so a calendar app
never mistakes a new invitation for an old one.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from email.utils import parseaddr

import sqlalchemy as sa
from flask import current_app

from lms.bookings.models import Booking, BookingStatus
from lms.courses.models import CourseSession, SessionStatus
from lms.extensions import db
from lms.messages.ics import (
    CANCEL,
    PUBLISH,
    REQUEST,
    Party,
    SessionEvent,
    calendar_text,
    invitation_attachment,
    vevent,
)
from lms.messages.services import absolute_url, site_domain

# The feed shows a person's confirmed bookings from this long ago onwards, and asks calendar apps
# to fetch it again this often.
FEED_PAST = timedelta(days=92)
FEED_REFRESH = timedelta(hours=1)
FEED_LIMIT = 500


def event_uid(session: CourseSession, person_id: int) -> str:
    return f"session-{session.id}-person-{person_id}@{site_domain()}"


# Set on a new booking by whoever counted the person's bookings of the session while holding its lock.
_EARLIER = "_calendar_earlier_bookings"


def note_earlier_bookings(booking: Booking, count: int) -> None:
    """Say how many bookings of this session the person had before this new one, as counted under
    the session's lock, so its invitation does not count them again."""
    setattr(booking, _EARLIER, (booking.session.id, booking.user.id, count))


def earlier_bookings(booking: Booking) -> int:
    """The person's bookings of the session made before this one."""
    noted = getattr(booking, _EARLIER, None)
    if noted is not None and noted[:2] == (booking.session_id, booking.user_id):
        return noted[2]
    return db.session.scalar(
        sa.select(sa.func.count(Booking.id)).where(
            Booking.session_id == booking.session_id,
            Booking.user_id == booking.user_id,
            Booking.id < booking.id,
        )
    )


def event_sequence(booking: Booking, *, cancel: bool = False) -> int:
    return booking.session.sequence + 2 * earlier_bookings(booking) + (1 if cancel else 0)


def _location(session: CourseSession) -> str:
    if session.delivery_mode.is_online:
        return session.online_link or "Online"
    return ", ".join(line.strip() for line in (session.venue or "").splitlines() if line.strip())


def session_event(booking: Booking, *, cancel: bool = False) -> SessionEvent:
    """The event for a booking; the venue or joining link only while the place is confirmed."""
    session = booking.session
    config = current_app.config
    details = absolute_url("catalogue.detail", session_id=session.id)
    lines = [f"{session.course.title}", f"{config['PARTNERSHIP_NAME']} training"]
    if cancel:
        lines += ["", "Your place on this session is cancelled."]
    else:
        if session.delivery_mode.is_online and session.online_link:
            lines += ["", f"Join: {session.online_link}"]
        elif session.venue:
            lines += ["", f"Venue: {_location(session)}"]
        lines += [
            "",
            "To cancel your place or send a colleague, use My bookings (removing the event from "
            f"your calendar does not cancel your place): {absolute_url('bookings.mine')}",
        ]
    lines += ["", f"Details: {details}"]
    return SessionEvent(
        uid=event_uid(session, booking.user_id),
        sequence=event_sequence(booking, cancel=cancel),
        starts_at=session.starts_at,
        ends_at=session.ends_at,
        summary=session.course.title,
        description="\n".join(lines),
        location=None if cancel else _location(session),
        url=details,
        cancelled=cancel,
    )


def _organiser() -> tuple[Party, str]:
    config = current_app.config
    sender = parseaddr(config["MAIL_FROM"])[1]
    return Party(email=config["PARTNERSHIP_EMAIL"], name=config["PARTNERSHIP_NAME"]), sender


def invitation(booking: Booking, *, now: datetime, cancel: bool = False) -> dict[str, str]:
    """An iTIP REQUEST (a confirmed place) or CANCEL (a place given up), as an outbox attachment."""
    organiser, sender = _organiser()
    person = booking.user
    method = CANCEL if cancel else REQUEST
    event = vevent(
        session_event(booking, cancel=cancel),
        organiser=organiser,
        sent_by=sender,
        attendee=Party(email=person.email, name=person.full_name),
        now=now,
    )
    return invitation_attachment(calendar_text([event], method=method), method)


def download(booking: Booking, *, now: datetime) -> bytes:
    """"Add to calendar": the one event, published (not an invitation), with the invitation's UID."""
    organiser, _ = _organiser()
    event = vevent(session_event(booking), organiser=organiser, now=now)
    return calendar_text([event], method=PUBLISH)


def feed_bookings(person_id: int, now: datetime) -> list[Booking]:
    """A person's confirmed places on sessions that have not been cancelled, recent and to come."""
    return list(
        db.session.scalars(
            sa.select(Booking)
            .join(Booking.session)
            .where(
                Booking.user_id == person_id,
                Booking.status == BookingStatus.CONFIRMED,
                CourseSession.status != SessionStatus.CANCELLED,
                CourseSession.ends_at >= now - FEED_PAST,
            )
            .order_by(CourseSession.starts_at, Booking.id)
            .limit(FEED_LIMIT)
        )
    )


def last_revised(booking: Booking) -> datetime:
    """When the event last changed: a feed's DTSTAMP (RFC 5545), so an unchanged feed reads the same."""
    moments = [booking.session.updated_at, booking.confirmed_at or booking.booked_at]
    return max(moment for moment in moments if moment is not None)


def feed(person_id: int, *, now: datetime) -> bytes:
    """A person's calendar subscription: their own bookings and nothing about anyone else."""
    organiser, _ = _organiser()
    events = [
        vevent(session_event(booking), organiser=organiser, now=last_revised(booking))
        for booking in feed_bookings(person_id, now)
    ]
    name = f"{current_app.config['PARTNERSHIP_NAME']}: my training"
    return calendar_text(events, method=None, name=name, refresh=FEED_REFRESH)
