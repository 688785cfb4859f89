"""Booking in real Chromium: a place, the waiting list, a cancellation, and the next in line."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa

from lms.bookings.models import Booking, BookingStatus
from lms.extensions import db
from tests.browser.pages import (
    flash_message,
    page_loads,
    page_text,
    press,
    save_full_page_screenshot,
    sign_in_through_the_form,
    visit,
)
from tests.conftest import Mailbox
from tests.factories import create_course, create_session, create_user

pytestmark = pytest.mark.browser


@pytest.fixture
def one_place(app):
    """A session with a single bookable place, and two practitioners who want it."""
    with app.app_context():
        course = create_course("Working with Resistant Families")
        session = create_session(
            course=course, local_start=datetime(2026, 6, 17, 9, 30), places=1, overbook_percent=10
        )
        create_user("first@example.org", first_name="Alex")
        create_user("second@example.org", first_name="Bea")
        db.session.commit()
        return session.id


def sign_out(browser) -> None:
    with page_loads(browser):
        press(browser, "Sign out")


def status_of(app, email: str, session_id: int) -> BookingStatus:
    with app.app_context():
        return db.session.scalar(
            sa.select(Booking.status)
            .join(Booking.user)
            .where(Booking.session_id == session_id, Booking.user.has(email=email))
            .order_by(Booking.id.desc())
        )


def test_a_cancellation_gives_the_place_to_the_person_waiting(app, browser, live_server, one_place, mailbox):
    session_page = f"/sessions/{one_place}"

    sign_in_through_the_form(browser, live_server, "first@example.org")
    visit(browser, live_server, session_page)
    assert "1 place left" in page_text(browser)
    with page_loads(browser):
        press(browser, "Book a place")
    assert "Your place is confirmed" in flash_message(browser)
    save_full_page_screenshot(browser, "booking-confirmed")
    sign_out(browser)

    sign_in_through_the_form(browser, live_server, "second@example.org")
    visit(browser, live_server, session_page)
    assert "This session is full." in page_text(browser)
    with page_loads(browser):
        press(browser, "Join the waiting list")
    assert "waiting list at number 1" in flash_message(browser)
    assert status_of(app, "second@example.org", one_place) is BookingStatus.WAITING
    sign_out(browser)

    sign_in_through_the_form(browser, live_server, "first@example.org")
    visit(browser, live_server, "/bookings")
    with page_loads(browser):
        browser.find_element("partial link text", "Cancel").click()
    assert "Cancel your place?" in page_text(browser)
    assert "Cancelling now is free of charge." in page_text(browser)
    with page_loads(browser):
        press(browser, "Cancel my place")
    assert "Your booking is cancelled. There is no charge." in flash_message(browser)
    sign_out(browser)

    sign_in_through_the_form(browser, live_server, "second@example.org")
    visit(browser, live_server, "/bookings")
    assert "Confirmed" in page_text(browser)
    visit(browser, live_server, session_page)
    assert "Your place is confirmed." in page_text(browser)
    save_full_page_screenshot(browser, "booking-promoted")
    assert status_of(app, "second@example.org", one_place) is BookingStatus.CONFIRMED
    told = mailbox.delivered().to("second@example.org")
    promoted = [m for m in told if m["Subject"].startswith("A place has come up")]
    assert len(promoted) == 1
    assert "Your place is now confirmed" in Mailbox.text(promoted[0])
