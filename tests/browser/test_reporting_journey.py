"""Reports in real Chromium: utilisation for a period and an agency, its chart, its CSV."""

from __future__ import annotations

import csv
import io
import time
from datetime import date, datetime, timedelta

import pytest
from selenium.webdriver.common.by import By

from lms.accounts.models import AgencyCategory, Role
from lms.bookings.models import Attendance, Booking, BookingStatus
from lms.extensions import db
from tests.browser.pages import (
    choose,
    page_loads,
    page_text,
    press,
    save_full_page_screenshot,
    sign_in_through_the_form,
    type_date,
    visit,
)
from tests.factories import create_agency, create_course, create_session, create_user

pytestmark = pytest.mark.browser


@pytest.fixture
def april(app):
    """Two sessions in April 2026, 40 places, attended by police and council staff."""
    with app.app_context():
        police = create_agency("West Midlands Police", category=AgencyCategory.POLICE)
        council = create_agency("Birmingham City Council", category=AgencyCategory.LOCAL_AUTHORITY)
        for day, course in ((14, "Online Safety"), (21, "Hidden Harm")):
            session = create_session(
                course=create_course(course), local_start=datetime(2026, 4, day, 9, 30), places=20
            )
            for agency, attended in ((police, 9), (council, 5)):
                for n in range(attended + 1):
                    person = create_user(agency=agency)
                    db.session.add(
                        Booking(
                            session=session,
                            user=person,
                            agency_id=agency.id,
                            status=BookingStatus.CONFIRMED,
                            booked_at=session.starts_at - timedelta(days=10),
                            attendance=Attendance.ATTENDED if n < attended else Attendance.NO_SHOW,
                        )
                    )
        create_user("lnd@example.org", roles=(Role.LND_ADMIN,))
        db.session.commit()


def downloaded(browser, suffix: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [p for p in browser.download_dir.glob(f"*{suffix}") if p.stat().st_size > 0]
        if done and not list(browser.download_dir.glob("*.crdownload")):
            return done[0].read_text()
        time.sleep(0.1)
    raise AssertionError(f"no {suffix} was downloaded")


def test_l_and_d_see_utilisation_by_agency_for_a_period_and_download_it(browser, live_server, april):
    sign_in_through_the_form(browser, live_server, "lnd@example.org")
    visit(browser, live_server, "/reports/utilisation")
    assert "Utilisation, 2026/27" in page_text(browser)
    choose(browser, "Break down by", "Organisation")
    type_date(browser, "From", date(2026, 4, 1))
    type_date(browser, "To", date(2026, 4, 30))
    with page_loads(browser):
        press(browser, "Show")
    text = page_text(browser)
    assert "Utilisation, 1 April 2026 to 30 April 2026" in text
    assert "40\nplaces offered" in text and "28\nattendances" in text and "70%" in text
    assert browser.find_element(By.CSS_SELECTOR, "svg[role=img]").is_displayed()
    assert "Attendance by organisation" in text
    save_full_page_screenshot(browser, "utilisation-by-agency")
    browser.find_element(By.LINK_TEXT, "Download this table as CSV").click()
    rows = list(csv.DictReader(io.StringIO(downloaded(browser, ".csv"))))
    by_agency = {row["Organisation"]: int(row["Attendances"]) for row in rows}
    assert by_agency == {"West Midlands Police": 18, "Birmingham City Council": 10, "Total": 28}
