"""The approval pages: the manager's public page behind the emailed link, the "Awaiting approval"
page of the L&D team and training contacts, and what the booking pages say meanwhile."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from lms.accounts.contacts import add_training_contact
from lms.accounts.models import Role
from lms.bookings.approvals import expire_due
from lms.bookings.models import Attendance, Booking, BookingStatus
from lms.bookings.services import book_place, cancel_booking
from lms.core import clock
from lms.extensions import db
from lms.messages.models import OutboxMessage
from tests.conftest import Mailbox, csrf_token, sign_in
from tests.factories import NOW, create_agency, create_course, create_session, create_user

LINK = re.compile(r"https?://[^/\s]+(/approve/[A-Za-z0-9_-]+)")


@pytest.fixture(autouse=True)
def approval_for_all(app, monkeypatch):
    monkeypatch.setitem(app.config, "BOOKING_APPROVAL", "all")


def awaiting(session=None, person=None) -> Booking:
    person = person or create_user()
    person.line_manager_email = f"manager-of-{person.id}@example.org"
    booking = book_place(session or create_session(), person, by=person, now=NOW)
    assert booking.is_awaiting_approval
    return booking


def link_for(booking: Booking) -> str:
    body = db.session.scalar(
        sa.select(OutboxMessage.body).where(
            OutboxMessage.kind == "booking.approval_request",
            OutboxMessage.recipient == booking.approval.manager_email,
        )
    )
    return LINK.search(body).group(1)


def decide(client, path, **data):
    return client.post(path, data={"csrf_token": csrf_token(client, path), **data})


def text(response) -> str:
    return response.get_data(as_text=True)


def lnd():
    return create_user(roles=(Role.LND_ADMIN,))


# The manager's page ----------------------------------------------------------------------------


def test_the_manager_sees_the_place_and_its_terms_without_signing_in(client):
    booking = awaiting(create_session(course=create_course("Neglect Foundations")))
    page = client.get(link_for(booking))
    assert page.status_code == 200 and page.headers["X-Robots-Tag"] == "noindex"
    assert page.headers["Cache-Control"] == "no-store"
    body = text(page)
    assert booking.user.full_name in body and "Neglect Foundations" in body
    assert "£25.00" in body  # what a no-show would cost the organisation
    assert "Approve the place" in body and "Decline the place" in body
    assert '<label for="reason">' in body and 'name="csrf_token"' in body
    assert "<h1>" in body and 'name="viewport"' in body


def test_approving_by_the_link_confirms_the_place_once(client, mailbox):
    booking = awaiting()
    path = link_for(booking)
    response = decide(client, path, action="approve")
    assert response.status_code == 302
    assert "You approved the place" in text(client.get(response.headers["Location"]))
    db.session.refresh(booking)
    assert booking.is_confirmed

    again = client.get(path)
    assert again.status_code == 409 and "already been decided" in text(again)
    token = csrf_token(client, "/sign-in")
    second = client.post(path, data={"csrf_token": token, "action": "decline", "reason": "No"})
    assert second.status_code == 409 and "already approved" in text(second)
    db.session.refresh(booking)
    assert booking.is_confirmed
    [confirmation] = [
        m for m in mailbox.delivered().to(booking.user.email) if "Place confirmed" in m["Subject"]
    ]
    assert any(part.get_content_type() == "text/calendar" for part in confirmation.iter_attachments())


def test_a_decision_without_its_form_token_changes_nothing(client):
    booking = awaiting()
    path = link_for(booking)
    response = client.post(path, data={"action": "approve"})
    assert response.status_code == 400
    db.session.refresh(booking)
    assert booking.is_awaiting_approval


def test_declining_needs_a_reason_beside_the_field(client, mailbox):
    booking = awaiting()
    path = link_for(booking)
    refused = decide(client, path, action="decline", reason="   ")
    assert refused.status_code == 422
    assert "Say why the booking is declined" in text(refused)
    db.session.refresh(booking)
    assert booking.is_awaiting_approval

    done = decide(client, path, action="decline", reason="We are short-staffed that week")
    assert done.status_code == 302
    db.session.refresh(booking)
    assert booking.status is BookingStatus.CANCELLED
    [told] = [m for m in mailbox.delivered().to(booking.user.email) if "not approved" in m["Subject"]]
    assert "We are short-staffed that week" in Mailbox.text(told)


def test_a_tampered_link_gives_a_clear_not_found_page(client):
    booking = awaiting()
    path = link_for(booking)
    tampered = path[:-2] + ("zz" if not path.endswith("zz") else "yy")
    response = client.get(tampered)
    assert response.status_code == 404 and "This link is not valid" in text(response)
    posted = client.post(tampered, data={"csrf_token": csrf_token(client, "/sign-in"), "action": "approve"})
    assert posted.status_code == 404
    db.session.refresh(booking)
    assert booking.is_awaiting_approval


def test_a_link_after_the_deadline_or_the_booking_was_cancelled_is_gone(client):
    lapsed, cancelled = awaiting(), awaiting()
    cancel_booking(cancelled, by=cancelled.user, now=NOW)
    response = client.get(link_for(cancelled))
    assert response.status_code == 410 and "cancelled" in text(response)

    path = link_for(lapsed)
    token = csrf_token(client, path)
    clock.freeze(lapsed.approval.expires_at + timedelta(minutes=1))
    response = client.post(path, data={"csrf_token": token, "action": "approve"})
    assert response.status_code == 410 and "has passed" in text(response)
    db.session.refresh(lapsed)
    assert lapsed.is_awaiting_approval  # nothing changed; the sweep closes it
    expire_due(clock.now())
    assert client.get(path).status_code == 410


# Awaiting approval: L&D and training contacts ----------------------------------------------------


def test_l_and_d_see_what_is_waiting_with_its_deadline_and_decide(client):
    first, second = awaiting(), awaiting()
    sign_in(client, lnd())
    page = text(client.get("/approvals"))
    assert first.user.full_name in page and second.user.full_name in page
    assert "Deadline" in page and "Holds a place meanwhile" in page

    assert decide(client, f"/approvals/{first.approval.id}/approve").status_code == 302
    refused = client.post(
        f"/approvals/{second.approval.id}/decline", data={"csrf_token": csrf_token(client, "/approvals")}
    )
    assert refused.status_code == 302
    db.session.refresh(second)
    assert second.is_awaiting_approval
    client.post(
        f"/approvals/{second.approval.id}/decline",
        data={"csrf_token": csrf_token(client, "/approvals"), "reason": "Already trained"},
    )
    db.session.refresh(first)
    db.session.refresh(second)
    assert first.is_confirmed and second.status is BookingStatus.CANCELLED
    client.get("/approvals")  # the flash says who was declined
    assert second.user.full_name not in text(client.get("/approvals"))


def test_a_training_contact_approves_for_their_organisation_only(client):
    agency, other = create_agency(), create_agency()
    ours, theirs = awaiting(person=create_user(agency=agency)), awaiting(person=create_user(agency=other))
    contact = create_user(roles=(Role.PRACTITIONER,), second_factor=True)  # staff sign in with a code
    add_training_contact(agency, contact, by=lnd(), now=NOW)
    sign_in(client, contact)
    page = text(client.get("/approvals"))
    assert ours.user.full_name in page and theirs.user.full_name not in page
    assert (
        decide(
            client,
            f"/approvals/{theirs.approval.id}/approve",
        ).status_code
        == 404
    )
    assert decide(client, f"/approvals/{ours.approval.id}/approve").status_code == 302
    db.session.refresh(ours)
    db.session.refresh(theirs)
    assert ours.is_confirmed and theirs.is_awaiting_approval


def test_a_practitioner_cannot_open_the_approvals_page(client):
    sign_in(client, create_user())
    assert client.get("/approvals").status_code == 403


def test_l_and_d_choose_the_categories_when_approval_is_chosen(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "BOOKING_APPROVAL", "chosen")
    sign_in(client, lnd())
    assert "What needs approval" in text(client.get("/approvals"))
    response = client.post(
        "/approvals/categories",
        data={
            "csrf_token": csrf_token(client, "/approvals"),
            "categories": ["education_school", "voluntary"],
        },
    )
    assert response.status_code == 302
    page = text(client.get("/approvals"))
    checked = re.findall(r'<input\b[^>]*\bchecked\b[^>]*value="(\w+)"', page)
    assert sorted(checked) == ["education_school", "voluntary"]


def test_the_course_page_has_the_approval_checkbox(client):
    course = create_course()
    sign_in(client, lnd())
    page = text(client.get(f"/admin/programme/courses/{course.id}"))
    assert "Bookings need the line manager&#39;s approval" in page or "line manager's approval" in page


# What the booking pages say ------------------------------------------------------------------------


def test_the_booking_page_asks_for_the_manager_when_none_is_on_record(client, mailbox):
    person = create_user()
    person.line_manager_email = None
    session = create_session()
    sign_in(client, person)
    page = text(client.get(f"/sessions/{session.id}"))
    assert "needs your line manager" in page and 'name="manager_email"' in page
    path = f"/sessions/{session.id}"
    client.post(
        f"{path}/book",
        data={
            "csrf_token": csrf_token(client, path),
            "manager_name": "Pat Head",
            "manager_email": "pat@example.org",
        },
    )
    page = text(client.get(path))
    assert "Your booking is awaiting approval." in page and "Pat Head" in page
    assert [m["Subject"] for m in mailbox.delivered().to("pat@example.org")]
    mine = text(client.get("/bookings"))
    assert "Awaiting approval until" in mine and "Withdraw" in mine


def test_the_booking_page_says_why_after_repeated_no_shows(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "BOOKING_APPROVAL", "off")
    monkeypatch.setitem(app.config, "NO_SHOW_LIMIT", 1)
    person = create_user()
    past = create_session(starts_at=NOW - timedelta(days=20))
    db.session.add(
        Booking(
            session=past,
            user=person,
            status=BookingStatus.CONFIRMED,
            booked_at=past.starts_at,
            attendance=Attendance.NO_SHOW,
        )
    )
    db.session.flush()
    session = create_session()
    sign_in(client, person)
    page = text(client.get(f"/sessions/{session.id}"))
    assert "1 no-show or late cancellation" in page and "L&amp;D team must approve" in page
    path = f"/sessions/{session.id}"
    client.post(f"{path}/book", data={"csrf_token": csrf_token(client, path)})
    page = text(client.get(path))
    assert "Your booking is awaiting approval." in page and "non-attendance policy" in page
