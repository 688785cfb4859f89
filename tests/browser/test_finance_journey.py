"""Finance in real Chromium: preview an invoice run, confirm it, download an invoice, record payments."""

from __future__ import annotations

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
    type_date,
    visit,
)
from tests.factories import NOW, create_agency, create_session, create_user

pytestmark = pytest.mark.browser


@pytest.fixture
def no_shows(app):
    """Two agencies whose staff did not come to a session that ran last week."""
    with app.app_context():
        trainer = create_user(roles=(Role.TRAINER,))
        session = create_session(starts_at=NOW - timedelta(days=7), trainer=trainer)
        police = create_agency(
            "West Midlands Police",
            billing_contact="Accounts Payable",
            billing_address="Lloyd House, Birmingham",
            purchase_order="PO-4471",
        )
        council = create_agency("Birmingham City Council", billing_address="Council House")
        lnd = create_user(roles=(Role.LND_ADMIN,))
        for agency, name in ((police, "Pat"), (police, "Chris"), (council, "Jo")):
            person = create_user(agency=agency, first_name=name, last_name="Absent")
            booking = book_place(session, person, by=lnd, now=session.starts_at - timedelta(days=14))
            mark_attendance(
                booking, Attendance.NO_SHOW, by=trainer, now=session.starts_at + timedelta(minutes=5)
            )
        close_register(session, by=trainer, now=session.ends_at)
        create_user("money@example.org", roles=(Role.FINANCE,))
        db.session.commit()


def downloaded_pdf(browser, timeout: float = 10) -> bytes:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [p for p in browser.download_dir.glob("*.pdf") if p.stat().st_size > 0]
        if done and not list(browser.download_dir.glob("*.crdownload")):
            return done[0].read_bytes()
        time.sleep(0.1)
    raise AssertionError("no PDF was downloaded")


def test_finance_previews_confirms_a_run_and_downloads_an_invoice(browser, live_server, no_shows):
    from datetime import date

    sign_in_through_the_form(browser, live_server, "money@example.org")
    visit(browser, live_server, "/finance/")
    assert "£75.00" in page_text(browser)  # raised, across both agencies
    save_full_page_screenshot(browser, "finance-dashboard")

    visit(browser, live_server, "/finance/run")
    type_date(browser, "From", date(2026, 4, 1))
    type_date(browser, "To", date(2026, 5, 31))
    with page_loads(browser):
        press(browser, "Preview")
    assert "Preview: 2 invoices, £75.00" in page_text(browser)
    save_full_page_screenshot(browser, "finance-preview")
    with page_loads(browser):
        press(browser, "Confirm and issue 2 invoices")
    assert "2 invoices issued, INV2627-0001 to INV2627-0002." in flash_message(browser)

    with page_loads(browser):
        browser.find_element(By.LINK_TEXT, "INV2627-0002").click()
    assert "West Midlands Police" in page_text(browser) and "PO-4471" in page_text(browser)
    browser.find_element(By.LINK_TEXT, "Download PDF").click()
    pdf = PdfReader(BytesIO(downloaded_pdf(browser)))
    text = " ".join(page.extract_text() for page in pdf.pages)
    for expected in (
        "INV2627-0002",
        "West Midlands Police",
        "Accounts Payable",
        "PO-4471",
        "Pat Absent",
        "Chris Absent",
        "£50.00",
    ):
        assert expected in text, expected
    assert "Jo Absent" not in text

    # A part payment, then the rest: the form offers today and the balance.
    assert "No payments recorded." in page_text(browser)
    fill_in(browser, "Amount (£)", "20.00")
    fill_in(browser, "Reference", "BACS 0001")
    with page_loads(browser):
        press(browser, "Record payment")
    assert "Payment of £20.00 recorded against INV2627-0002; £30.00 is left to pay." in flash_message(browser)
    assert "BACS 0001" in page_text(browser)
    with page_loads(browser):
        press(browser, "Record payment")
    assert "it is paid in full" in flash_message(browser)
    assert "Record a payment" not in page_text(browser)

    visit(browser, live_server, "/finance/")
    aged = browser.find_element(By.XPATH, "//table[caption[contains(., 'Balances owed')]]").text
    assert "Birmingham City Council" in aged and "West Midlands Police" not in aged
