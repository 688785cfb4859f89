"""The session page, the cancel page and "My bookings" ask the booking the same questions, so for
every state of a booking they offer the same actions and say the same thing about charges, and
what they say is what the cancelling service then does."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from flask import current_app

from lms.bookings.services import book_place, cancel_booking
from lms.extensions import db
from tests.conftest import sign_in
from tests.factories import NOW, create_session, create_user

THURSDAY = datetime(2026, 5, 7, 9, 30)  # NOW is the Monday before: inside the 3-working-day notice


def confirmed_in_good_time():
    person = create_user()
    return book_place(create_session(starts_at=NOW + timedelta(days=30)), person, by=person, now=NOW)


def confirmed_inside_the_notice_period():
    person = create_user()
    session = create_session(local_start=THURSDAY)
    return book_place(session, person, by=person, now=NOW - timedelta(days=10))


def promoted_at_short_notice():
    session = create_session(places=1, overbook_percent=0, local_start=THURSDAY)
    first, second = create_user(), create_user()
    held = book_place(session, first, by=first, now=NOW - timedelta(days=10))
    waiting = book_place(session, second, by=second, now=NOW - timedelta(days=10))
    cancel_booking(held, by=first, now=NOW)
    db.session.refresh(waiting)
    assert waiting.is_confirmed and waiting.promoted_without_notice
    return waiting


def waiting():
    session = create_session(places=1, overbook_percent=0, starts_at=NOW + timedelta(days=30))
    first, second = create_user(), create_user()
    book_place(session, first, by=first, now=NOW)
    return book_place(session, second, by=second, now=NOW)


def waiting_inside_the_notice_period():
    session = create_session(places=1, overbook_percent=0, local_start=THURSDAY)
    first, second = create_user(), create_user()
    book_place(session, first, by=first, now=NOW - timedelta(days=10))
    return book_place(session, second, by=second, now=NOW - timedelta(days=10))


def after_the_start():
    person = create_user()
    session = create_session(starts_at=NOW - timedelta(hours=1))
    return book_place(session, person, by=person, now=NOW - timedelta(days=20))


def awaiting_approval():
    config = current_app.config
    before, config["BOOKING_APPROVAL"] = config["BOOKING_APPROVAL"], "all"
    try:
        person = create_user()
        booking = book_place(create_session(starts_at=NOW + timedelta(days=30)), person, by=person, now=NOW)
    finally:
        config["BOOKING_APPROVAL"] = before
    assert booking.is_awaiting_approval
    return booking


def cancelled():
    booking = confirmed_in_good_time()
    cancel_booking(booking, by=booking.user, now=NOW)
    return booking


STATES = [
    confirmed_in_good_time,
    confirmed_inside_the_notice_period,
    promoted_at_short_notice,
    waiting,
    waiting_inside_the_notice_period,
    after_the_start,
    awaiting_approval,
    cancelled,
]

TERMS = re.compile(r'<div class="cancel-terms[^"]*"[^>]*>(.*?)</div>', re.S)


def words(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def terms(page: str, booking_id: int | None = None) -> list[str]:
    """The cancellation terms a page shows (on "My bookings", those in the booking's own card)."""
    if booking_id is not None:
        cards = [c for c in page.split('<li class="session-card">') if f"/bookings/{booking_id}/cancel" in c]
        page = cards[0] if cards else ""
    return [words(found) for found in TERMS.findall(page)]


@pytest.mark.parametrize("state", STATES, ids=lambda f: f.__name__)
def test_every_page_about_a_booking_offers_and_says_the_same(client, state):
    booking = state()
    cancel_link = f'href="/bookings/{booking.id}/cancel"'
    sign_in(client, booking.user)

    session_page = client.get(f"/sessions/{booking.session_id}").get_data(as_text=True)
    mine = client.get("/bookings").get_data(as_text=True)
    cancel_page = client.get(f"/bookings/{booking.id}/cancel").get_data(as_text=True)
    button = r"<button[^>]*>\s*(Cancel my place|Leave the waiting list|Withdraw my booking)\s*</button>"
    cancel_button = re.search(button, cancel_page)

    may_cancel = booking.can_cancel(booking.user, NOW)
    offers = {
        "session page": cancel_link in session_page,
        "my bookings": cancel_link in mine,
        "cancel page": cancel_button is not None,
    }
    assert offers == dict.fromkeys(offers, may_cancel), offers

    said = {
        "session page": terms(session_page),
        "my bookings": terms(mine, booking.id),
        "cancel page": terms(cancel_page),
    }
    if not may_cancel:
        assert said == dict.fromkeys(said, []), said
        return
    assert said["session page"] == said["my bookings"] == said["cancel page"], said
    [sentence] = said["cancel page"]
    warned_late = "is a late cancellation" in sentence and sentence.startswith("Cancelling now is a late")

    # What the pages said is what the service does when the person cancels now.
    savepoint = db.session.begin_nested()
    cancel_booking(booking, by=booking.user, now=NOW)
    charged = booking.is_late_cancellation
    savepoint.rollback()
    assert warned_late == charged, sentence
    if booking.is_waiting or booking.promoted_without_notice:
        assert not charged and "free of charge" in sentence
