"""Calendar invitations are iTIP requests and cancellations that calendar apps act on: read back from
the mail server and parsed with icalendar, a cancellation matches its invitation and outranks it."""

from __future__ import annotations

from datetime import UTC, timedelta

from icalendar import Calendar

from lms.accounts.models import Role
from lms.bookings.services import (
    book_place,
    cancel_booking,
    cancel_session,
    edit_session,
    remove_delegate,
    substitute_booking,
)
from lms.courses.models import DeliveryMode
from lms.courses.services import SessionDetails
from lms.messages.delivery import deliver_pending
from tests.conftest import Mailbox
from tests.factories import NOW, create_agency, create_session, create_user

LATER = NOW + timedelta(days=1)


def delivered(mailbox, address: str):
    deliver_pending(LATER)
    return mailbox.to(address)


def invitation_in(message):
    """The calendar sent with a message: the method-bearing alternative and the .ics file agree."""
    assert message.get_content_type() == "multipart/mixed"
    [alternative] = [p for p in message.iter_parts() if p.get_content_type() == "multipart/alternative"]
    types = [part.get_content_type() for part in alternative.iter_parts()]
    assert types == ["text/plain", "text/html", "text/calendar"]
    inline = list(alternative.iter_parts())[2]
    [attached] = [p for p in message.iter_attachments() if p.get_content_type() == "text/calendar"]
    assert attached.get_filename().endswith(".ics")
    assert inline.get_param("method") == attached.get_param("method")
    assert inline.get_content() == attached.get_content()
    calendar = Calendar.from_ical(inline.get_content())
    assert str(calendar["METHOD"]) == inline.get_param("method")
    [event] = calendar.walk("VEVENT")
    return str(calendar["METHOD"]), event


def has_no_invitation(message) -> bool:
    return not any(part.get_content_type() == "text/calendar" for part in message.walk())


def test_a_booking_is_a_request_and_its_cancellation_a_cancel_of_the_same_event(app, app_context, mailbox):
    session = create_session(delivery_mode=DeliveryMode.IN_PERSON, venue="Room 4\nCouncil House")
    person = create_user("ali@example.org", first_name="Ali", last_name="O'Neil")
    booking = book_place(session, person, by=person, now=NOW)
    cancel_booking(booking, by=person, now=NOW + timedelta(hours=2))

    invited, cancelled = delivered(mailbox, "ali@example.org")

    method, request = invitation_in(invited)
    assert method == "REQUEST"
    assert str(request["ORGANIZER"]) == f"mailto:{app.config['PARTNERSHIP_EMAIL']}"
    assert request["ORGANIZER"].params["CN"] == app.config["PARTNERSHIP_NAME"]
    attendee = request["ATTENDEE"]
    assert str(attendee) == "mailto:ali@example.org"
    assert attendee.params["CN"] == "Ali O'Neil"
    assert attendee.params["PARTSTAT"] == "ACCEPTED" and attendee.params["RSVP"] == "FALSE"
    assert request.decoded("DTSTART") == session.starts_at.astimezone(UTC)
    assert request.decoded("DTEND") == session.ends_at.astimezone(UTC)
    assert request.decoded("DTSTAMP") == NOW
    assert str(request["LOCATION"]) == "Room 4, Council House"
    assert str(request["STATUS"]) == "CONFIRMED"
    assert str(request["UID"]) == f"session-{session.id}-person-{person.id}@localhost"

    method, cancel = invitation_in(cancelled)
    assert method == "CANCEL"
    assert str(cancel["UID"]) == str(request["UID"])
    assert cancel["SEQUENCE"] > request["SEQUENCE"]
    assert str(cancel["ATTENDEE"]) == "mailto:ali@example.org"
    assert str(cancel["ORGANIZER"]) == str(request["ORGANIZER"])
    assert str(cancel["STATUS"]) == "CANCELLED"
    assert "LOCATION" not in cancel and "Room 4" not in str(cancel["DESCRIPTION"])
    assert [part.get_filename() for part in cancelled.iter_attachments()] == ["cancellation.ics"]


def test_a_moved_session_updates_the_event_and_a_cancelled_one_removes_it(app_context, mailbox):
    admin = create_user(roles=(Role.LND_ADMIN,))
    session = create_session(online_link="https://meet.example.org/first")
    person = create_user("kit@example.org")
    book_place(session, person, by=person, now=NOW)
    details = SessionDetails(
        course_id=session.course_id,
        starts_at=session.starts_at + timedelta(days=1),
        ends_at=session.ends_at + timedelta(days=1),
        delivery_mode=session.delivery_mode,
        places=session.places,
        overbook_percent=session.overbook_percent,
        cost_pence=session.cost_pence,
        online_link="https://meet.example.org/second",
    )
    edit_session(session, details, by=admin, now=NOW + timedelta(hours=1))
    cancel_session(session, reason="Trainer unwell", by=admin, now=NOW + timedelta(hours=2))

    booked, changed, called_off = delivered(mailbox, "kit@example.org")

    _, first = invitation_in(booked)
    method, moved = invitation_in(changed)
    assert method == "REQUEST"
    assert str(moved["UID"]) == str(first["UID"])
    assert moved["SEQUENCE"] > first["SEQUENCE"]
    assert moved.decoded("DTSTART") == first.decoded("DTSTART") + timedelta(days=1)
    assert str(moved["LOCATION"]) == "https://meet.example.org/second"
    method, cancel = invitation_in(called_off)
    assert method == "CANCEL"
    assert str(cancel["UID"]) == str(first["UID"])
    assert cancel["SEQUENCE"] > moved["SEQUENCE"]
    assert "meet.example.org" not in cancel.to_ical().decode()


def test_passing_a_place_on_cancels_it_for_one_and_invites_the_other(app_context, mailbox):
    agency = create_agency()
    session = create_session()
    giver = create_user("giver@example.org", agency=agency)
    taker = create_user("taker@example.org", agency=agency)
    booking = book_place(session, giver, by=giver, now=NOW)
    substitute_booking(booking, taker, by=giver, now=NOW + timedelta(hours=1))

    _, given_up = delivered(mailbox, "giver@example.org")
    [received] = mailbox.to("taker@example.org")

    method, cancel = invitation_in(given_up)
    assert method == "CANCEL" and str(cancel["ATTENDEE"]) == "mailto:giver@example.org"
    method, request = invitation_in(received)
    assert method == "REQUEST" and str(request["ATTENDEE"]) == "mailto:taker@example.org"
    assert str(request["UID"]) != str(cancel["UID"])  # each person's calendar has its own event
    assert str(request["LOCATION"]) == session.online_link


def test_a_place_from_the_waiting_list_is_a_request_and_waiting_sends_none(app_context, mailbox):
    session = create_session(places=1, overbook_percent=0)
    holder, waiting = create_user(), create_user("next@example.org")
    first = book_place(session, holder, by=holder, now=NOW)
    book_place(session, waiting, by=waiting, now=NOW)
    cancel_booking(first, by=holder, now=NOW + timedelta(hours=1))

    joined, promoted = delivered(mailbox, "next@example.org")

    assert has_no_invitation(joined)
    assert "meet.example.org" not in Mailbox.text(joined)
    method, request = invitation_in(promoted)
    assert method == "REQUEST" and str(request["LOCATION"]) == session.online_link


def test_booking_again_after_cancelling_outranks_the_cancellation(app_context, mailbox):
    session = create_session()
    person = create_user("again@example.org")
    first = book_place(session, person, by=person, now=NOW)
    cancel_booking(first, by=person, now=NOW + timedelta(hours=1))
    book_place(session, person, by=person, now=NOW + timedelta(hours=2))

    booked, cancelled, rebooked = delivered(mailbox, "again@example.org")

    _, request = invitation_in(booked)
    _, cancel = invitation_in(cancelled)
    _, again = invitation_in(rebooked)
    assert str(request["UID"]) == str(cancel["UID"]) == str(again["UID"])
    assert request["SEQUENCE"] < cancel["SEQUENCE"] < again["SEQUENCE"]


def test_removing_someone_waiting_sends_no_cancellation(app_context, mailbox):
    admin = create_user(roles=(Role.LND_ADMIN,))
    session = create_session(places=1, overbook_percent=0)
    book_place(session, create_user(), by=admin, now=NOW)
    waiting = book_place(session, create_user("waiting@example.org"), by=admin, now=NOW)
    remove_delegate(waiting, by=admin, now=NOW + timedelta(hours=1))

    for message in delivered(mailbox, "waiting@example.org"):
        assert has_no_invitation(message)


def test_an_organiser_other_than_the_sender_is_named_with_sent_by(app, app_context, mailbox):
    address = app.config["PARTNERSHIP_EMAIL"]
    app.config["PARTNERSHIP_EMAIL"] = "lnd-team@example.org"
    try:
        person = create_user("sent-by@example.org")
        book_place(create_session(), person, by=person, now=NOW)
        [message] = delivered(mailbox, "sent-by@example.org")
    finally:
        app.config["PARTNERSHIP_EMAIL"] = address

    _, request = invitation_in(message)
    assert str(request["ORGANIZER"]) == "mailto:lnd-team@example.org"
    assert request["ORGANIZER"].params["SENT-BY"] == "mailto:training@example.org"  # MAIL_FROM
    assert message["Reply-To"].addresses[0].addr_spec == "lnd-team@example.org"
