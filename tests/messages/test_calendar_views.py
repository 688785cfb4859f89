"""Add a session to a calendar from its page, and subscribe to a personal feed at a secret address."""

from __future__ import annotations

import base64
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from icalendar import Calendar

from lms.accounts.models import Role
from lms.bookings.models import Booking
from lms.bookings.services import book_place, cancel_booking, cancel_session
from lms.core.audit import AuditEntry
from lms.core.errors import PermissionDenied
from lms.courses.models import DeliveryMode
from lms.extensions import db
from lms.messages.models import CalendarFeed, OutboxMessage
from lms.messages.services import reset_calendar_feed
from tests.conftest import csrf_token, sign_in
from tests.factories import NOW, create_session, create_user

ADDRESS = re.compile(r'id="calendar-address" value="http://localhost(/calendar/[^"]+\.ics)"')


def events_of(response) -> list:
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    return Calendar.from_ical(response.get_data()).walk("VEVENT")


def feed_path(client) -> str:
    page = client.get("/account/calendar").get_data(as_text=True)
    return ADDRESS.search(page).group(1)


def create_feed(client) -> str:
    response = client.post("/account/calendar", data={"csrf_token": csrf_token(client, "/account/calendar")})
    assert response.status_code == 302
    return feed_path(client)


# Add to calendar ------------------------------------------------------------------------------


def test_a_confirmed_delegate_downloads_the_session_with_the_invitations_uid(client):
    session = create_session(delivery_mode=DeliveryMode.IN_PERSON, venue="Room 4, Council House")
    person = create_user()
    book_place(session, person, by=person, now=NOW)
    invitation = db.session.scalar(sa.select(OutboxMessage).where(OutboxMessage.kind == "booking.confirmed"))
    sent_uid = re.search(r"UID:(\S+)", _ics_of(invitation)).group(1)
    sign_in(client, person)

    page = client.get(f"/sessions/{session.id}").get_data(as_text=True)
    assert f'href="/sessions/{session.id}/calendar.ics"' in page
    response = client.get(f"/sessions/{session.id}/calendar.ics")

    calendar = Calendar.from_ical(response.get_data())
    assert str(calendar["METHOD"]) == "PUBLISH"
    [event] = events_of(response)
    assert str(event["UID"]) == sent_uid
    assert str(event["LOCATION"]) == "Room 4, Council House"
    assert "ATTENDEE" not in event
    assert response.headers["Content-Disposition"] == f'attachment; filename="session-{session.id}.ics"'


def _ics_of(message: OutboxMessage) -> str:
    [attachment] = message.attachments
    return base64.b64decode(attachment["content_b64"]).decode()


def test_no_download_without_a_confirmed_place(client):
    session = create_session(places=1, overbook_percent=0)
    holder, waiting, stranger = create_user(), create_user(), create_user()
    book_place(session, holder, by=holder, now=NOW)
    book_place(session, waiting, by=waiting, now=NOW)
    path = f"/sessions/{session.id}/calendar.ics"

    assert client.get(path).status_code == 302  # signed out: to the sign-in page
    for person in (waiting, stranger):
        visitor = client.application.test_client()
        sign_in(visitor, person)
        assert path not in visitor.get(f"/sessions/{session.id}").get_data(as_text=True)
        assert visitor.get(path).status_code == 404


# The personal feed ----------------------------------------------------------------------------


def test_the_feed_serves_ones_own_confirmed_bookings_and_nothing_else(client):
    admin = create_user(roles=(Role.LND_ADMIN,))
    person, other = create_user(), create_user("other@example.org", first_name="Noor")
    coming = create_session(online_link="https://meet.example.org/coming")
    recent = create_session(starts_at=NOW - timedelta(days=10))
    long_ago = create_session(starts_at=NOW - timedelta(days=200))
    left = create_session()
    called_off = create_session()
    theirs = create_session(online_link="https://meet.example.org/theirs")
    for session in (coming, recent, long_ago, left, called_off):
        book_place(session, person, by=admin, now=NOW - timedelta(days=300))
    cancel_booking(book_place(left, other, by=other, now=NOW), by=other, now=NOW)
    book_place(theirs, other, by=other, now=NOW)
    cancel_booking(db.session.scalar(_booking(left, person)), by=person, now=NOW)
    cancel_session(called_off, reason="Room flooded", by=admin, now=NOW)
    sign_in(client, person)

    path = create_feed(client)
    stranger = client.application.test_client()  # calendar apps do not sign in
    response = stranger.get(path)

    events = events_of(response)
    assert [str(e["SUMMARY"]) for e in events] == [recent.course.title, coming.course.title]
    assert str(events[1]["LOCATION"]) == "https://meet.example.org/coming"
    text = response.get_data(as_text=True)
    assert "theirs" not in text and "Noor" not in text and "other@example.org" not in text
    assert "ATTENDEE" not in text and person.email not in text
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT1H" in text and "X-PUBLISHED-TTL:PT1H" in text
    assert response.headers["Cache-Control"] == "private, max-age=300"
    again = stranger.get(path, headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def _booking(session, person):
    return sa.select(Booking).where(Booking.session_id == session.id, Booking.user_id == person.id)


def test_a_wrong_token_is_not_found(client):
    person = create_user()
    reset_calendar_feed(person, by=person, now=NOW)
    token = db.session.get(CalendarFeed, person.id).token

    assert client.get(f"/calendar/{token}.ics").status_code == 200
    for wrong in (token[:-1] + ("A" if token[-1] != "A" else "B"), "x" * 43, "short", token + "x" * 30):
        assert client.get(f"/calendar/{wrong}.ics").status_code == 404


def test_resetting_the_address_stops_the_old_one_at_once(client):
    person = create_user()
    sign_in(client, person)
    page = client.get("/account/calendar").get_data(as_text=True)
    assert "Create my calendar address" in page and "calendar-address" not in page

    first = create_feed(client)
    second = create_feed(client)

    assert first != second
    assert client.get(first).status_code == 404
    assert client.get(second).status_code == 200
    assert "webcal://localhost" + second in client.get("/account/calendar").get_data(as_text=True)
    names = db.session.scalars(sa.select(AuditEntry.name).where(AuditEntry.subject_id == person.id)).all()
    assert "lms.calendar_feed.created" in names and "lms.calendar_feed.reset" in names


def test_a_disabled_persons_feed_is_not_found(client):
    person = create_user()
    feed = reset_calendar_feed(person, by=person, now=NOW)
    person.is_enabled = False
    db.session.flush()

    assert client.get(f"/calendar/{feed.token}.ics").status_code == 404


def test_only_the_person_can_reset_their_address(app_context):
    person, admin = create_user(), create_user(roles=(Role.LND_ADMIN,))
    with pytest.raises(PermissionDenied):
        reset_calendar_feed(person, by=admin, now=NOW)
