"""iCalendar text: invitations and cancellations (iTIP, RFC 5546), downloads and feeds (RFC 5545).

Nothing here reads the database or the app: lms/messages/calendar.py decides what an event says
and who it is for; this module only writes it, with the icalendar library (escaping, folding long
lines at 75 octets, parameter quoting), so every calendar app reads the same thing.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from icalendar import Calendar, Event, vCalAddress, vDuration

PRODID = "-//Safeguarding Training//LMS//EN"
REQUEST, CANCEL, PUBLISH = "REQUEST", "CANCEL", "PUBLISH"


@dataclass(frozen=True)
class Party:
    """Someone named in an event: the organiser (the partnership) or the attendee (the delegate)."""

    email: str
    name: str


@dataclass(frozen=True)
class SessionEvent:
    """What a delegate's calendar shows for a session. `location` is left out when cancelled."""

    uid: str
    sequence: int
    starts_at: datetime
    ends_at: datetime
    summary: str
    description: str
    location: str | None
    url: str | None
    cancelled: bool = False


def _address(party: Party, **params: str) -> vCalAddress:
    address = vCalAddress(f"mailto:{party.email}")
    address.params["CN"] = party.name
    for name, value in params.items():
        address.params[name.replace("_", "-").upper()] = value
    return address


def vevent(
    event: SessionEvent,
    *,
    organiser: Party,
    now: datetime,
    sent_by: str | None = None,
    attendee: Party | None = None,
) -> Event:
    """One VEVENT, times in UTC. With an attendee it is an iTIP request (or cancellation) to them."""
    item = Event()
    item.add("uid", event.uid)
    item.add("sequence", event.sequence)
    item.add("dtstamp", now.astimezone(UTC))
    item.add("dtstart", event.starts_at.astimezone(UTC))
    item.add("dtend", event.ends_at.astimezone(UTC))
    item.add("summary", event.summary)
    item.add("description", event.description)
    if event.location and not event.cancelled:
        item.add("location", event.location)
    if event.url:
        item.add("url", event.url)
    item.add("status", "CANCELLED" if event.cancelled else "CONFIRMED")
    item.add("transp", "TRANSPARENT" if event.cancelled else "OPAQUE")
    organiser_address = _address(organiser)
    if sent_by and sent_by.lower() != organiser.email.lower():
        organiser_address.params["SENT-BY"] = f"mailto:{sent_by}"
    item.add("organizer", organiser_address)
    if attendee is not None:
        # The delegate booked the place themselves: they have accepted, and no reply is wanted
        # (declining in a calendar app would not cancel the booking; the booking pages do).
        params = {"cutype": "INDIVIDUAL", "role": "REQ-PARTICIPANT"}
        if not event.cancelled:
            params |= {"partstat": "ACCEPTED", "rsvp": "FALSE"}
        item.add("attendee", _address(attendee, **params))
    return item


def calendar_text(
    events: Iterable[Event],
    *,
    method: str | None,
    name: str | None = None,
    refresh: timedelta | None = None,
) -> bytes:
    """A VCALENDAR holding the events: an iTIP message when `method` is given, else a plain feed."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    if method:
        calendar.add("method", method)
    if name:
        calendar.add("name", name)  # RFC 7986
        calendar.add("x-wr-calname", name)  # what Outlook and Google read
    if refresh is not None:
        calendar.add("refresh-interval", refresh, parameters={"VALUE": "DURATION"})
        calendar.add("x-published-ttl", vDuration(refresh))
    for event in events:
        calendar.add_component(event)
    return calendar.to_ical()


def invitation_attachment(text: bytes, method: str) -> dict[str, str]:
    """The outbox's record of an invitation; delivery sends it as a text/calendar part with
    `method=` inside the message's alternatives, and again as an .ics file."""
    return {
        "filename": "cancellation.ics" if method == CANCEL else "invitation.ics",
        "content_type": "text/calendar",
        "method": method,
        "content_b64": base64.b64encode(text).decode(),
    }
