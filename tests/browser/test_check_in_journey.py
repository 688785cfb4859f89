"""Self check-in in real Chromium: the trainer shows the session's QR code, a delegate opens its link
on a phone, signs in, checks in, and the trainer's register shows them as here."""

from __future__ import annotations

from datetime import timedelta

import pytest
from selenium.webdriver.common.by import By

from lms.accounts.models import Role
from lms.bookings.services import book_place
from lms.core import clock
from lms.extensions import db
from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.pages import (
    assert_no_horizontal_scrolling,
    fill_in,
    follow_link,
    page_heading,
    page_loads,
    page_text,
    press,
    resize_to,
    save_full_page_screenshot,
    sign_in_through_the_form,
    visit,
)
from tests.factories import NOW, PASSWORD, create_course, create_session, create_user

pytestmark = pytest.mark.browser


@pytest.fixture
def session_today(app):
    """A session starting in 20 minutes (the frozen clock's now), with one delegate booked."""
    with app.app_context():
        trainer = create_user("trainer@example.org", roles=(Role.TRAINER,), first_name="Tara")
        session = create_session(
            course=create_course("Safeguarding Babies"),
            starts_at=NOW + timedelta(minutes=20),
            trainer=trainer,
        )
        delegate = create_user("nia@example.org", first_name="Nia", last_name="Nurse")
        book_place(session, delegate, by=delegate, now=NOW - timedelta(days=7))
        db.session.commit()
        return session.id


def test_a_delegate_checks_in_from_the_qr_link_and_the_trainer_sees_it(browser, live_server, session_today):
    register = f"/sessions/{session_today}/register"
    sign_in_through_the_form(browser, live_server, "trainer@example.org")
    visit(browser, live_server, register)
    assert "Nia Nurse" in page_text(browser)  # before the start, the delegate list
    with page_loads(browser):
        follow_link(browser, "Check-in QR code")
    assert page_heading(browser) == "Check in to Safeguarding Babies"
    assert browser.find_element(By.CSS_SELECTOR, ".check-in-code svg").is_displayed()
    save_full_page_screenshot(browser, "check-in-code")
    link = browser.find_element(By.CSS_SELECTOR, "a.check-in-link").get_attribute("href")
    assert "/check-in/" in link and not link.endswith(f"/{session_today}")

    # The delegate's phone: not signed in yet.
    browser.delete_all_cookies()
    resize_to(browser, PHONE)
    browser.get(link)
    assert page_heading(browser) == "Sign in"
    fill_in(browser, "Email address", "nia@example.org")
    fill_in(browser, "Password", PASSWORD)
    with page_loads(browser):
        press(browser, "Sign in")
    assert page_heading(browser) == "Check in"
    assert "You have a confirmed place" in page_text(browser)
    with page_loads(browser):
        press(browser, "Check me in")
    assert page_heading(browser) == "You are checked in"
    assert "you checked in at 10:00" in page_text(browser)
    assert_no_horizontal_scrolling(browser)
    save_full_page_screenshot(browser, "check-in-done-phone")

    # Back on the trainer's laptop.
    browser.delete_all_cookies()
    resize_to(browser, DESKTOP)
    sign_in_through_the_form(browser, live_server, "trainer@example.org")
    visit(browser, live_server, register)
    save_full_page_screenshot(browser, "check-in-register")
    text = page_text(browser)
    assert "1 checked in" in text
    row = browser.find_element(By.XPATH, "//tr[th[contains(., 'Nia Nurse')] or td[contains(., 'Nia Nurse')]]")
    assert "10:00" in row.text

    # Once the session has started, "Attended" is already chosen for whoever checked in.
    clock.freeze(NOW + timedelta(minutes=25))
    visit(browser, live_server, register)
    attended = browser.find_element(By.XPATH, "//input[@type='radio'][@value='attended']")
    assert attended.is_selected()
    save_full_page_screenshot(browser, "check-in-register-open")
    with page_loads(browser):
        press(browser, "Save register")
    assert "The register has been saved." in page_text(browser)
