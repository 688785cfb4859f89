"""Certificates in real Chromium: refused until the evaluation is in, then downloaded and verified."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from io import BytesIO

import pytest
from pypdf import PdfReader
from selenium.webdriver.common.by import By

from lms.accounts.models import Role
from lms.bookings.models import Attendance
from lms.bookings.services import book_place, close_register, mark_attendance
from lms.extensions import db
from tests.browser.pages import (
    fill_in,
    flash_message,
    page_loads,
    page_text,
    press,
    save_full_page_screenshot,
    sign_in_through_the_form,
    visit,
)
from tests.factories import NOW, create_course, create_session, create_user

pytestmark = pytest.mark.browser


@pytest.fixture
def attended_booking(app):
    """Alex attended the whole of a session whose register is closed."""
    with app.app_context():
        trainer = create_user(roles=(Role.TRAINER,))
        course = create_course("Online Safety", provider="City Training Ltd", duration_minutes=180)
        session = create_session(course=course, starts_at=NOW - timedelta(days=2), trainer=trainer)
        alex = create_user("alex@example.org", first_name="Alex", last_name="Morgan")
        booking = book_place(
            session, alex, by=create_user(roles=(Role.LND_ADMIN,)), now=NOW - timedelta(days=20)
        )
        mark_attendance(
            booking, Attendance.ATTENDED, by=trainer, now=session.starts_at + timedelta(minutes=5)
        )
        close_register(session, by=trainer, now=session.ends_at)
        db.session.commit()
        return booking.id


def downloaded_pdf(browser, timeout: float = 10) -> bytes:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [p for p in browser.download_dir.glob("*.pdf") if p.stat().st_size > 0]
        if done and not list(browser.download_dir.glob("*.crdownload")):
            return done[0].read_bytes()
        time.sleep(0.1)
    raise AssertionError("no PDF was downloaded")


def choose_rating(browser, question: str, rating: str) -> None:
    legend = browser.find_element(By.XPATH, f"//legend[normalize-space()={question!r}]")
    fieldset = legend.find_element(By.XPATH, "..")
    label = fieldset.find_element(By.XPATH, f".//label[normalize-space()={rating!r}]")
    label.click()


def test_the_certificate_follows_the_evaluation_and_can_be_verified(browser, live_server, attended_booking):
    sign_in_through_the_form(browser, live_server, "alex@example.org")
    assert "Evaluate Online Safety" in page_text(browser)  # the dashboard says what is waiting

    visit(browser, live_server, f"/certificates/{attended_booking}.pdf")
    assert "Complete the evaluation of this session to download your certificate." in flash_message(browser)
    assert "Evaluate the session" in page_text(browser)
    assert list(browser.download_dir.glob("*.pdf")) == []

    for question in (
        "Your understanding of the subject before the course",
        "Your understanding of the subject now",
        "Your understanding of its impact on safeguarding children",
        "Your confidence in responding to this topic since attending",
        "How useful the course is for your practice",
        "Your understanding of other agencies' roles",
    ):
        choose_rating(browser, question, "High")
    choose_rating(browser, "Your understanding of the subject before the course", "Low")
    fill_in(
        browser, "One thing you will do differently", "Check who else is involved before a strategy call."
    )
    save_full_page_screenshot(browser, "evaluation-form")
    with page_loads(browser):
        press(browser, "Send my evaluation")
    assert "Your certificate is ready to download." in flash_message(browser)

    browser.find_element(By.PARTIAL_LINK_TEXT, "Download").click()
    pdf = PdfReader(BytesIO(downloaded_pdf(browser)))
    text = " ".join(page.extract_text() for page in pdf.pages)
    assert len(pdf.pages) == 1
    assert "Alex Morgan" in text and "Online Safety" in text
    number = re.search(r"SCP-\d{4}-[0-9A-Z]{4}-[0-9A-Z]{4}", "".join(text.split())).group(0)

    visit(browser, live_server, "/certificates/verify")
    fill_in(browser, "Certificate number", number.lower())
    with page_loads(browser):
        press(browser, "Check")
    assert "This certificate is genuine" in page_text(browser)
    assert "Alex Morgan" in page_text(browser) and "alex@example.org" not in page_text(browser)
    save_full_page_screenshot(browser, "certificate-verified")

    fill_in(browser, "Certificate number", "SCP-2026-MADE-UP00")
    with page_loads(browser):
        press(browser, "Check")
    assert "No certificate has this number" in page_text(browser)
    assert "Alex Morgan" not in page_text(browser)
