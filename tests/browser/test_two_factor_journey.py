"""Two-step sign-in in real Chromium: someone in finance sets up an authenticator app at their first
sign-in, keeps their recovery codes, and signs in with a code after. The codes are computed as an
authenticator app does, with pyotp, at the time the server's clock shows (frozen in tests)."""

from __future__ import annotations

import pyotp
import pytest
from selenium.webdriver.common.by import By

from lms.accounts.models import Role
from lms.extensions import db
from tests.browser.pages import (
    fill_in,
    follow_link,
    is_signed_in,
    page_heading,
    page_loads,
    page_text,
    press,
    save_full_page_screenshot,
    visit,
)
from tests.factories import NOW, PASSWORD, create_user

pytestmark = pytest.mark.browser

EMAIL = "robin.finance@example.org"


@pytest.fixture
def new_finance_officer(app):
    """Someone just given the finance role, with no authenticator app yet."""
    with app.app_context():
        create_user(EMAIL, roles=(Role.FINANCE,), first_name="Robin", second_factor=False)
        db.session.commit()


def type_password(browser, live_server) -> None:
    visit(browser, live_server, "/sign-in?next=/finance/")
    fill_in(browser, "Email address", EMAIL)
    fill_in(browser, "Password", PASSWORD)
    with page_loads(browser):
        press(browser, "Sign in")


def test_finance_sets_up_an_authenticator_app_and_signs_in_with_its_code(
    browser, live_server, new_finance_officer
):
    type_password(browser, live_server)
    assert page_heading(browser) == "Set up two-step sign-in"
    assert not is_signed_in(browser)
    qr_code = browser.find_element(By.CSS_SELECTOR, "img.qr-code")
    assert qr_code.get_attribute("src").startswith("data:image/svg+xml;base64,")
    assert qr_code.get_attribute("alt") == "QR code to scan with your authenticator app"
    assert qr_code.size["width"] == 200
    save_full_page_screenshot(browser, "two-factor-set-up")

    # The person types the key into their app instead of scanning, as the page offers.
    secret = browser.find_element(By.ID, "set-up-key").text.replace(" ", "")
    app = pyotp.TOTP(secret)
    fill_in(browser, "Code from the app", "123456" if app.at(NOW) != "123456" else "654321")
    with page_loads(browser):
        press(browser, "Turn on two-step sign-in")
    assert "That code does not match" in page_text(browser)
    assert browser.find_element(By.ID, "set-up-key").text.replace(" ", "") == secret  # the same set-up

    fill_in(browser, "Code from the app", app.at(NOW))
    with page_loads(browser):
        press(browser, "Turn on two-step sign-in")
    assert page_heading(browser) == "Your recovery codes"
    codes = [item.text for item in browser.find_elements(By.CSS_SELECTOR, "#recovery-codes code")]
    assert len(codes) == 10
    with page_loads(browser):
        follow_link(browser, "I have saved my codes")
    assert is_signed_in(browser)
    assert browser.current_url.endswith("/finance/")

    with page_loads(browser):
        press(browser, "Sign out")
    assert not is_signed_in(browser)

    # Next time: the password, then the code the app shows. The code just used to set the app up
    # works only once, so the app's previous code, still accepted, is the one typed.
    type_password(browser, live_server)
    assert page_heading(browser) == "Enter your code"
    fill_in(browser, "Code", app.at(NOW))
    with page_loads(browser):
        press(browser, "Continue")
    assert "That code is not right" in page_text(browser)
    fill_in(browser, "Code", app.at(NOW, counter_offset=-1))
    with page_loads(browser):
        press(browser, "Continue")
    assert is_signed_in(browser)
    assert browser.current_url.endswith("/finance/")

    # Their sign-ins are listed, this browser marked.
    visit(browser, live_server, "/account/security")
    assert "On since" in page_text(browser)
    assert "this browser" in page_text(browser)
    assert "10 recovery codes left" in page_text(browser)

    # A recovery code signs in once, when the phone is not to hand.
    with page_loads(browser):
        press(browser, "Sign out")
    type_password(browser, live_server)
    fill_in(browser, "Code", codes[0])
    with page_loads(browser):
        press(browser, "Continue")
    assert is_signed_in(browser)
    assert "9 codes left" in page_text(browser)
