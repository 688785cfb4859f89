"""Line-manager approval in real Chromium: the practitioner books, the manager follows the link
read from the mail server and approves on a phone without an account, and the place is confirmed."""

from __future__ import annotations

import re
import threading
from datetime import datetime

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from lms import create_app
from lms.bookings.models import Booking, BookingStatus
from lms.extensions import db
from tests.browser.accessibility import page_problems
from tests.browser.conftest import PHONE, LiveServer
from tests.browser.pages import (
    assert_no_horizontal_scrolling,
    field_labelled,
    flash_message,
    page_heading,
    page_loads,
    page_text,
    press,
    resize_to,
    save_full_page_screenshot,
    sign_in_through_the_form,
    visit,
)
from tests.conftest import Mailbox, make_config
from tests.factories import create_course, create_session, create_user

pytestmark = pytest.mark.browser

MANAGER = "ward.sister@example.org"


@pytest.fixture(scope="module")
def approval_server(app, smtp_server):
    """The app over HTTP, as live_server serves it, with every booking needing approval."""
    controller, _ = smtp_server
    config = make_config(controller.port)
    config.BOOKING_APPROVAL = "all"
    live_app = create_app(config)
    server = make_server("127.0.0.1", 0, live_app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    live_app.config["BASE_URL"] = url
    thread = threading.Thread(target=server.serve_forever, name="approval-server", daemon=True)
    thread.start()
    yield LiveServer(url=url)
    server.shutdown()
    thread.join(timeout=10)
    with live_app.app_context():
        db.engine.dispose()


@pytest.fixture
def session_to_book(app):
    with app.app_context():
        course = create_course("Safeguarding Babies")
        session = create_session(course=course, local_start=datetime(2026, 6, 17, 9, 30), places=10)
        person = create_user("nurse@example.org", first_name="Nia")
        person.line_manager_name = "Wendy Ward"
        person.line_manager_email = MANAGER
        db.session.commit()
        return session.id


def status_of(app, session_id: int) -> BookingStatus:
    with app.app_context():
        return db.session.scalar(sa.select(Booking.status).where(Booking.session_id == session_id))


def test_the_manager_approves_from_the_emailed_link_and_the_place_is_confirmed(
    app, browser, approval_server, session_to_book, mailbox
):
    session_page = f"/sessions/{session_to_book}"

    sign_in_through_the_form(browser, approval_server, "nurse@example.org")
    visit(browser, approval_server, session_page)
    assert "needs your line manager's approval" in page_text(browser)
    with page_loads(browser):
        press(browser, "Book a place")
    assert "awaiting your line manager's approval" in flash_message(browser)
    assert "Your booking is awaiting approval." in page_text(browser)
    assert "Wendy Ward" in page_text(browser)
    assert status_of(app, session_to_book) is BookingStatus.AWAITING_APPROVAL
    with page_loads(browser):
        press(browser, "Sign out")

    [request] = mailbox.delivered().to(MANAGER)
    assert request["Subject"].startswith("Please approve a training place for Nia")
    link = re.search(r"https?://\S+/approve/[A-Za-z0-9_-]+", Mailbox.text(request)).group(0)
    assert link.startswith(approval_server.url)

    resize_to(browser, PHONE)
    browser.get(link)
    assert page_heading(browser).startswith("Approve a training place for Nia")
    assert "Safeguarding Babies" in page_text(browser)
    assert field_labelled(browser, "If you decline, say why").tag_name == "textarea"
    assert_no_horizontal_scrolling(browser)
    save_full_page_screenshot(browser, "approval-page-phone")
    assert page_problems(browser, "the manager's approval page") == []
    resize_to(browser, PHONE)
    with page_loads(browser):
        press(browser, "Approve the place")
    assert page_heading(browser) == "You approved the place"
    assert page_problems(browser, "the page after approving") == []
    assert status_of(app, session_to_book) is BookingStatus.CONFIRMED

    browser.get(link)  # the link works once
    assert page_heading(browser) == "This booking has already been decided"
    assert page_problems(browser, "the page of a link used twice") == []

    sign_in_through_the_form(browser, approval_server, "nurse@example.org")
    visit(browser, approval_server, session_page)
    assert "Your place is confirmed." in page_text(browser)
    confirmed = [
        m for m in mailbox.delivered().to("nurse@example.org") if m["Subject"].startswith("Place confirmed")
    ]
    assert len(confirmed) == 1
    assert any(part.get_content_type() == "text/calendar" for part in confirmed[0].iter_attachments())
