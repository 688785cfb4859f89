"""How a person uses the pages, in words a test can read: visit, fill in, choose, press."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.browser.conftest import ARTIFACTS
from tests.factories import (
    PASSWORD,
    second_factor_codes,
)

WAIT_SECONDS = 10


def visit(browser: WebDriver, live_server, path: str) -> None:
    browser.get(live_server.url + path)
    wait(browser).until(lambda b: b.execute_script("return document.readyState") == "complete")


@contextmanager
def page_loads(browser: WebDriver) -> Iterator[None]:
    """Whatever happens inside leads to a new page, which is waited for."""
    old_page = browser.find_element(By.TAG_NAME, "html")
    yield
    wait(browser).until(lambda _: is_gone(old_page))
    wait(browser).until(lambda b: b.execute_script("return document.readyState") == "complete")


def is_gone(element: WebElement) -> bool:
    """True once the element left the document. Chromium reports that in more than one way:
    a stale reference, or an inspector error that the node no longer belongs to the document."""
    try:
        element.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as error:
        if "does not belong to the document" in str(error) or "No node with given id" in str(error):
            return True
        raise
    return False


def wait(browser: WebDriver) -> WebDriverWait:
    return WebDriverWait(browser, WAIT_SECONDS)


def field_labelled(browser: WebDriver, label: str) -> WebElement:
    """The control a <label> names, found as assistive technology finds it: by for= and id."""
    for candidate in browser.find_elements(By.TAG_NAME, "label"):
        if candidate.text.removesuffix("(optional)").strip() == label:
            return browser.find_element(By.ID, candidate.get_attribute("for"))
    raise AssertionError(f"no field labelled {label!r}")


def fill_in(browser: WebDriver, label: str, text: str) -> None:
    field = field_labelled(browser, label)
    field.clear()
    field.send_keys(text)


def choose(browser: WebDriver, label: str, option: str) -> None:
    Select(field_labelled(browser, label)).select_by_visible_text(option)


def chosen_option(browser: WebDriver, label: str) -> str:
    return Select(field_labelled(browser, label)).first_selected_option.text


def type_date(browser: WebDriver, label: str, day: date) -> None:
    """Type a date as a person would, in the order this browser's date fields show."""
    order = browser.execute_script(
        "return new Intl.DateTimeFormat().formatToParts(new Date(2026, 0, 2))"
        ".filter(part => part.type !== 'literal').map(part => part.type)"
    )
    parts = {"day": f"{day:%d}", "month": f"{day:%m}", "year": f"{day:%Y}"}
    field = field_labelled(browser, label)
    field.send_keys("".join(parts[part] for part in order))
    assert field.get_property("value") == day.isoformat()


def sign_in_through_the_form(browser: WebDriver, live_server, email: str) -> None:
    """The password, then, for L&D and finance, the code their authenticator app shows."""
    visit(browser, live_server, "/sign-in")
    fill_in(browser, "Email address", email)
    fill_in(browser, "Password", PASSWORD)
    with page_loads(browser):
        press(browser, "Sign in")
    if page_heading(browser) == "Enter your code":
        enter_app_code(browser)
    assert is_signed_in(browser)


def enter_app_code(browser: WebDriver, secret: str | None = None) -> None:
    """Type the code the app shows now. Each code works once, so a person signing in again within
    the same half minute types the next one the app shows (the server accepts the step either side)."""
    codes = second_factor_codes(secret=secret) if secret else second_factor_codes()
    for code in codes:
        fill_in(browser, "Code", code)
        with page_loads(browser):
            press(browser, "Continue")
        if page_heading(browser) != "Enter your code":
            return
    raise AssertionError("no code the app shows now was accepted")


def fill_in_registration(browser: WebDriver, *, organisation: str) -> None:
    fill_in(browser, "First name", "Priya")
    fill_in(browser, "Last name", "Patel")
    fill_in(browser, "Work email address", "priya.patel@example.org")
    fill_in(browser, "Job role", "Health visitor")
    fill_in(browser, "Organisation you work for", organisation)
    fill_in(browser, "Line manager's name", "Sam Lee")
    fill_in(browser, "Line manager's email address", "sam.lee@example.org")
    fill_in(browser, "Password", PASSWORD)
    fill_in(browser, "Confirm password", PASSWORD)


def button(browser: WebDriver, text: str) -> WebElement:
    return browser.find_element(By.XPATH, f"//button[normalize-space()='{text}']")


def press(browser: WebDriver, text: str) -> None:
    button(browser, text).click()


def follow_link(browser: WebDriver, text: str) -> None:
    browser.find_element(By.LINK_TEXT, text).click()


def press_key(browser: WebDriver, key: str) -> None:
    ActionChains(browser).send_keys(key).perform()


def focused_element(browser: WebDriver) -> WebElement:
    return browser.switch_to.active_element


def tab_until(browser: WebDriver, text: str, most: int = 30) -> None:
    """Press Tab until the link or button with that text has the focus."""
    for _ in range(most):
        press_key(browser, Keys.TAB)
        if focused_element(browser).text.strip() == text:
            return
    raise AssertionError(f"{text!r} cannot be reached with the Tab key")


def resize_to(browser: WebDriver, size: tuple[int, int]) -> None:
    browser.set_window_size(*size)
    wait(browser).until(lambda b: b.execute_script("return window.innerWidth") == size[0])


# What a person sees ----------------------------------------------------------------------------


def page_heading(browser: WebDriver) -> str:
    return browser.find_element(By.TAG_NAME, "h1").text


def page_text(browser: WebDriver) -> str:
    return browser.find_element(By.TAG_NAME, "body").text


def flash_message(browser: WebDriver) -> str:
    return browser.find_element(By.CSS_SELECTOR, ".flash").text


def results_heading(browser: WebDriver) -> str:
    return browser.find_element(By.ID, "results-title").text


def listed_courses(browser: WebDriver) -> list[str]:
    return [card.text for card in browser.find_elements(By.CSS_SELECTOR, ".session-card h3")]


def is_signed_in(browser: WebDriver) -> bool:
    header = browser.find_element(By.CSS_SELECTOR, ".site-header")
    return bool(header.find_elements(By.XPATH, ".//button[normalize-space()='Sign out']"))


def is_above(first: WebElement, second: WebElement) -> bool:
    return first.rect["y"] + first.rect["height"] <= second.rect["y"]


def fits_across_the_screen(browser: WebDriver, element: WebElement) -> bool:
    width = browser.execute_script("return document.documentElement.clientWidth")
    return element.rect["x"] >= 0 and element.rect["x"] + element.rect["width"] <= width


def assert_no_horizontal_scrolling(browser: WebDriver) -> None:
    scroll_width, inner_width, client_width = browser.execute_script(
        "const page = document.documentElement;return [page.scrollWidth, window.innerWidth, page.clientWidth]"
    )
    assert scroll_width <= inner_width, f"page is {scroll_width}px wide in a {inner_width}px window"
    # innerWidth counts a desktop scrollbar; the page must also fit beside it.
    assert scroll_width <= client_width, f"page is {scroll_width}px wide, {client_width}px shown"


def save_full_page_screenshot(browser: WebDriver, name: str) -> None:
    """The whole page, laid out at the window's width, to test-artifacts/NAME.png."""
    width = browser.execute_script("return window.innerWidth")
    metrics = {"width": width, "deviceScaleFactor": 1, "mobile": False}
    try:
        # A viewport as tall as the page: no scrollbar, so the layout is the window's width.
        browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {**metrics, "height": 900})
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {**metrics, "height": height})
        shot = browser.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"{name}.png").write_bytes(base64.b64decode(shot["data"]))
