"""Booking in real Chromium: a place, the waiting list, a cancellation, and the next in line."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
import sqlalchemy as sa
from selenium.webdriver.common.by import By

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


def test_a_practitioner_books_from_the_catalogue_and_puts_the_session_in_their_calendar(
    app, browser, live_server, mailbox
):
    """No approval asked: the catalogue says how many places are left, the session page books one,
    the confirmation carries a calendar request, and "Add to my calendar" downloads the same event."""
    from icalendar import Calendar

    with app.app_context():
        course = create_course("Contextual Safeguarding in Practice")
        session = create_session(course=course, local_start=datetime(2026, 6, 24, 13, 30), places=12)
        create_user("casey@example.org", first_name="Casey")
        db.session.commit()
        session_id = session.id

    sign_in_through_the_form(browser, live_server, "casey@example.org")
    visit(browser, live_server, "/sessions/")
    card = browser.find_element(
        By.XPATH, "//li[contains(@class, 'session-card')][.//a[contains(., 'Contextual')]]"
    )
    assert "13 places left" in card.text  # 12 places and 10% overbooking: 13 can book
    with page_loads(browser):
        card.find_element(By.LINK_TEXT, "Contextual Safeguarding in Practice").click()
    with page_loads(browser):
        press(browser, "Book a place")
    assert "Your place is confirmed" in flash_message(browser)
    assert status_of(app, "casey@example.org", session_id) is BookingStatus.CONFIRMED

    [confirmation] = mailbox.delivered().to("casey@example.org")
    request = next(part for part in confirmation.walk() if part.get_content_type() == "text/calendar")
    invite = Calendar.from_ical(request.get_content())
    assert str(invite["METHOD"]) == "REQUEST"
    [event] = invite.walk("VEVENT")
    assert "Contextual Safeguarding in Practice" in str(event["SUMMARY"])
    assert "casey@example.org" in str(event["ATTENDEE"]).lower()

    browser.find_element(By.PARTIAL_LINK_TEXT, "Add to my calendar").click()
    downloaded = Calendar.from_ical(downloaded_file(browser, ".ics"))
    [same] = downloaded.walk("VEVENT")
    assert str(same["UID"]) == str(event["UID"])
    assert same.decoded("DTSTART") == event.decoded("DTSTART")
    save_full_page_screenshot(browser, "booked-from-the-catalogue")


def downloaded_file(browser, suffix: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [p for p in browser.download_dir.glob(f"*{suffix}") if p.stat().st_size > 0]
        if done and not list(browser.download_dir.glob("*.crdownload")):
            return done[0].read_text()
        time.sleep(0.1)
    raise AssertionError(f"no {suffix} was downloaded")
