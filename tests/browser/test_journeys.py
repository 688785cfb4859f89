"""Journeys through the site in real headless Chromium, against the app served over HTTP.

A practitioner registers, signs out, signs in again and narrows the catalogue down; a
mistake on the registration form is explained; the catalogue fits a phone's screen.
"""

from __future__ import annotations

import re
from datetime import date, datetime

import pytest
import sqlalchemy as sa
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from lms.accounts.models import AgencyCategory, Role, User
from lms.courses.models import DeliveryMode
from lms.extensions import db
from tests.browser.conftest import PHONE
from tests.browser.pages import (  # noqa: F401
    assert_no_horizontal_scrolling,
    button,
    choose,
    chosen_option,
    field_labelled,
    fill_in,
    fill_in_registration,
    fits_across_the_screen,
    flash_message,
    focused_element,
    follow_link,
    is_above,
    is_signed_in,
    listed_courses,
    page_heading,
    page_loads,
    page_text,
    press,
    press_key,
    resize_to,
    results_heading,
    save_full_page_screenshot,
    sign_in_through_the_form,
    tab_until,
    type_date,
    visit,
    wait,
)
from tests.conftest import Mailbox
from tests.factories import (
    PASSWORD,
    create_agency,
    create_course,
    create_session,
    create_topic,
    create_user,
)

pytestmark = pytest.mark.browser

LARGE_PHONE_ON_ITS_SIDE = (640, 360)  # also what 1280px wide at 200% zoom lays out
AGENCY = "West Midlands Police"

# The programme: four upcoming sessions and one that has already happened (NOW is 4 May 2026).
RECOGNISING_NEGLECT = "Recognising neglect"  # Neglect, in person, 20 May
ONLINE_SAFETY = "Keeping children safe online"  # Online safety, online live, 10 June
DOMESTIC_ABUSE = "Domestic abuse and its impact on children"  # Domestic abuse, webinar, 24 June
GRADED_CARE = "Graded Care Profile 2"  # Neglect, online live, 15 July
ALREADY_HAPPENED = "Child exploitation: spotting the signs"  # Exploitation, 20 April
ALL_UPCOMING = [RECOGNISING_NEGLECT, ONLINE_SAFETY, DOMESTIC_ABUSE, GRADED_CARE]


@pytest.fixture
def programme(app):
    """Courses on different topics, delivered in different ways, on different dates."""
    with app.app_context():
        neglect = create_topic("Neglect")
        schedule(RECOGNISING_NEGLECT, neglect, DeliveryMode.IN_PERSON, datetime(2026, 5, 20, 9, 30))
        schedule(
            ONLINE_SAFETY,
            create_topic("Online safety"),
            DeliveryMode.ONLINE_LIVE,
            datetime(2026, 6, 10, 13, 0),
        )
        schedule(
            DOMESTIC_ABUSE,
            create_topic("Domestic abuse"),
            DeliveryMode.WEBINAR,
            datetime(2026, 6, 24, 10, 0),
            description="How coercive control and violence at home harm children.",
        )
        schedule(GRADED_CARE, neglect, DeliveryMode.ONLINE_LIVE, datetime(2026, 7, 15, 9, 30))
        schedule(
            ALREADY_HAPPENED,
            create_topic("Exploitation"),
            DeliveryMode.IN_PERSON,
            datetime(2026, 4, 20, 9, 30),
        )
        create_agency(AGENCY, category=AgencyCategory.POLICE)
        db.session.commit()


@pytest.fixture
def agency(app):
    with app.app_context():
        create_agency(AGENCY, category=AgencyCategory.POLICE)
        db.session.commit()
    return AGENCY


@pytest.fixture
def practitioner(app):
    with app.app_context():
        user = create_user("jo.bloggs@example.org", first_name="Jo")
        db.session.commit()
        return user.email


# The journeys ---------------------------------------------------------------------------------


def test_a_practitioner_registers_signs_out_signs_in_and_filters_the_catalogue(
    browser, live_server, app, programme, mailbox
):
    visit(browser, live_server, "/register")
    assert page_heading(browser) == "Create your account"
    fill_in_registration(browser, organisation=AGENCY)
    with page_loads(browser):
        press(browser, "Create account")

    # The same answer whether or not the address has an account: the link comes by email.
    assert page_heading(browser) == "Check your email"
    assert not is_signed_in(browser)
    [confirmation] = mailbox.delivered().to("priya.patel@example.org")
    link = re.search(r"https?://\S+/register/confirm/\S+", Mailbox.text(confirmation)).group(0)
    browser.get(link)
    with page_loads(browser):
        press(browser, "Confirm and sign in")

    assert page_heading(browser) == "Find a course"
    assert "Your account is ready" in flash_message(browser)
    assert is_signed_in(browser)
    assert account_for(app, "priya.patel@example.org") == {
        "name": "Priya Patel",
        "agency": AGENCY,
        "other_organisation": None,
        "line_manager_email": "sam.lee@example.org",
        "roles": {Role.PRACTITIONER},
    }

    with page_loads(browser):
        press(browser, "Sign out")
    assert page_heading(browser) == "Sign in"
    assert flash_message(browser) == "You have signed out."
    assert not is_signed_in(browser)

    visit(browser, live_server, "/sign-in")
    press_key(browser, Keys.TAB)
    assert focused_element(browser).text == "Skip to main content"
    fill_in(browser, "Email address", "Priya.Patel@example.org")
    fill_in(browser, "Password", PASSWORD)
    with page_loads(browser):
        press_key(browser, Keys.ENTER)
    assert page_heading(browser) == "Hello, Priya"
    assert is_signed_in(browser)

    with page_loads(browser):
        follow_link(browser, "Find a course")
    assert results_heading(browser) == "4 upcoming sessions"
    assert listed_courses(browser) == ALL_UPCOMING
    assert_no_horizontal_scrolling(browser)
    save_full_page_screenshot(browser, "catalogue-desktop")

    # By topic
    choose(browser, "Topic", "Neglect")
    with page_loads(browser):
        press(browser, "Apply filters")
    assert results_heading(browser) == "2 upcoming sessions"
    assert listed_courses(browser) == [RECOGNISING_NEGLECT, GRADED_CARE]
    assert chosen_option(browser, "Topic") == "Neglect"

    # By delivery mode, typing the option's name into the focused select
    choose(browser, "Topic", "Any topic")
    field_labelled(browser, "Delivery").send_keys("Online live")
    assert chosen_option(browser, "Delivery") == "Online live"
    with page_loads(browser):
        press(browser, "Apply filters")
    assert listed_courses(browser) == [ONLINE_SAFETY, GRADED_CARE]

    # Clearing the filters, reached with the Tab key
    tab_until(browser, "Clear filters")
    with page_loads(browser):
        press_key(browser, Keys.ENTER)
    assert listed_courses(browser) == ALL_UPCOMING

    # By free text, sent with the Enter key
    fill_in(browser, "Search", "coercive control")
    with page_loads(browser):
        press_key(browser, Keys.ENTER)
    assert results_heading(browser) == "1 upcoming session"
    assert listed_courses(browser) == [DOMESTIC_ABUSE]
    assert field_labelled(browser, "Search").get_property("value") == "coercive control"

    # By a date range
    field_labelled(browser, "Search").clear()
    type_date(browser, "From", date(2026, 6, 1))
    type_date(browser, "To", date(2026, 6, 30))
    with page_loads(browser):
        press_key(browser, Keys.ENTER)
    assert listed_courses(browser) == [ONLINE_SAFETY, DOMESTIC_ABUSE]
    assert field_labelled(browser, "From").get_property("value") == "2026-06-01"
    assert field_labelled(browser, "To").get_property("value") == "2026-06-30"
    assert ALREADY_HAPPENED not in page_text(browser)


def test_an_organisation_not_in_the_list_is_explained_and_creates_no_account(
    browser, live_server, app, agency
):
    visit(browser, live_server, "/register")
    options = browser.find_elements(By.CSS_SELECTOR, "#organisations option")
    organisations = [option.get_attribute("value") for option in options]
    assert organisations == [AGENCY]
    fill_in_registration(browser, organisation="West Mids Police")
    with page_loads(browser):
        press(browser, "Create account")

    summary = browser.find_element(By.CSS_SELECTOR, ".error-summary")
    assert summary.get_attribute("role") == "alert"
    assert summary.find_element(By.TAG_NAME, "h2").text == "There is a problem"
    [link] = summary.find_elements(By.TAG_NAME, "a")
    assert "“West Mids Police” is not in the list. Did you mean “West Midlands Police”?" in link.text
    assert link.get_attribute("href").endswith("#organisation")
    assert is_above(summary, browser.find_element(By.CSS_SELECTOR, "form.form"))

    organisation = field_labelled(browser, "Organisation you work for")
    error = browser.find_element(By.ID, "organisation-error")
    assert error.is_displayed() and "is not in the list" in error.text
    assert organisation.get_attribute("aria-invalid") == "true"
    assert "organisation-error" in organisation.get_attribute("aria-describedby").split()
    assert organisation.get_attribute("list") == "organisations"
    assert is_above(error, organisation)
    assert field_labelled(browser, "First name").get_property("value") == "Priya"
    assert account_for(app, "priya.patel@example.org") is None
    assert count_accounts(app) == 0

    # Ticking "not in the list" keeps the name as typed, for L&D to settle.
    fill_in(browser, "Password", PASSWORD)
    fill_in(browser, "Confirm password", PASSWORD)
    browser.find_element(By.ID, "not_listed").click()
    with page_loads(browser):
        press(browser, "Create account")
    assert account_for(app, "priya.patel@example.org")["other_organisation"] == "West Mids Police"


def test_the_catalogue_fits_a_phone_screen_and_its_filters_work_there(
    browser, live_server, programme, practitioner
):
    resize_to(browser, PHONE)
    sign_in_through_the_form(browser, live_server, practitioner)
    with page_loads(browser):
        follow_link(browser, "Find a course")

    assert page_heading(browser) == "Find a course"
    assert_no_horizontal_scrolling(browser)
    filters = browser.find_element(By.CSS_SELECTOR, "form.filters")
    assert filters.is_displayed()
    assert fits_across_the_screen(browser, filters)
    for label in ("Search", "Topic", "Delivery", "From", "To"):
        assert fits_across_the_screen(browser, field_labelled(browser, label)), label
    assert fits_across_the_screen(browser, button(browser, "Apply filters"))
    save_full_page_screenshot(browser, "catalogue-phone")

    choose(browser, "Delivery", "In person")
    with page_loads(browser):
        press(browser, "Apply filters")
    assert listed_courses(browser) == [RECOGNISING_NEGLECT]
    assert_no_horizontal_scrolling(browser)


def test_the_catalogue_does_not_scroll_sideways_at_640_pixels_wide(
    browser, live_server, programme, practitioner
):
    resize_to(browser, LARGE_PHONE_ON_ITS_SIDE)
    sign_in_through_the_form(browser, live_server, practitioner)
    visit(browser, live_server, "/sessions/")
    save_full_page_screenshot(browser, "catalogue-640")
    assert_no_horizontal_scrolling(browser)


# Setting up ------------------------------------------------------------------------------------


def schedule(title, topic, mode, local_start, *, description="What the course covers."):
    course = create_course(title, topic=topic, delivery_mode=mode, description=description)
    return create_session(course=course, local_start=local_start)


def account_for(app, email: str) -> dict | None:
    """What the database holds for the person with that email address, if anyone."""
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.email == email.lower()))
        if user is None:
            return None
        return {
            "name": f"{user.first_name} {user.last_name}",
            "agency": user.agency.name if user.agency else None,
            "other_organisation": user.other_organisation,
            "line_manager_email": user.line_manager_email,
            "roles": {row.role for row in user.role_rows},
        }


def count_accounts(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(User))
