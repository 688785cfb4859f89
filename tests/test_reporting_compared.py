"""The utilisation page: this year, last year and this year's months from one read of the bookings,
with the same figures the report gives for each on its own."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from lms.accounts.models import AgencyCategory, Role
from lms.bookings.models import Attendance, Booking, BookingStatus, CancellationReason
from lms.core import clock
from lms.courses.models import DeliveryMode, SessionStatus
from lms.extensions import db
from lms.reporting.utilisation import Dimension, utilisation, utilisation_compared
from tests.conftest import sign_in
from tests.factories import create_agency, create_course, create_session, create_topic, create_user

LATER = datetime(2025, 3, 31, 12, 0, tzinfo=UTC)  # the year's last session starts at 13:00
THIS = (date(2024, 4, 1), date(2025, 3, 31))
LAST = (date(2023, 4, 1), date(2024, 3, 31))
CONFIRMED, CANCELLED = BookingStatus.CONFIRMED, BookingStatus.CANCELLED


def book(session, *, agency=None, typed=None, status=CONFIRMED, attendance=None, **fields) -> None:
    """A booking straight into the table, as the register and cancellations leave it."""
    person = create_user(agency=agency, other_organisation=typed)
    db.session.add(
        Booking(
            session=session,
            user=person,
            agency_id=agency.id if agency else None,
            other_organisation=typed,
            status=status,
            booked_at=session.starts_at - timedelta(days=20),
            attendance=attendance,
            **fields,
        )
    )


@pytest.fixture
def two_years(app_context):
    """Sessions in several months of two years, bookings of every kind, from agencies and from
    organisations typed in different cases; a cancelled session and one not yet run."""
    police = create_agency("Police", category=AgencyCategory.POLICE)
    school = create_agency("School", category=AgencyCategory.EDUCATION_SCHOOL)
    topics = [create_topic("Neglect"), create_topic("Exploitation")]
    courses = [
        create_course("Neglect basics", topic=topics[0], delivery_mode=DeliveryMode.IN_PERSON),
        create_course("Exploitation", topic=topics[1], delivery_mode=DeliveryMode.ONLINE_LIVE),
    ]
    starts = [
        datetime(2023, 5, 10, 9, 30),
        datetime(2024, 3, 31, 23, 30),  # the last half hour of 2023/24, in London
        datetime(2024, 4, 1, 0, 30),  # the first of 2024/25
        datetime(2024, 4, 20, 9, 30),
        datetime(2024, 11, 5, 9, 30),
        datetime(2025, 3, 31, 14, 0),  # not run yet
        datetime(2025, 7, 1, 9, 30),  # in neither year
    ]
    for n, local_start in enumerate(starts):
        session = create_session(course=courses[n % 2], local_start=local_start, places=10 + n)
        book(session, agency=police, attendance=Attendance.ATTENDED)
        book(session, agency=police, attendance=Attendance.PARTIAL)
        book(session, agency=school, attendance=Attendance.NO_SHOW)
        book(session, agency=school, attendance=Attendance.ATTENDED, is_walk_in=True)
        book(session, typed="Acorns Hospice" if n % 2 else "ACORNS hospice", attendance=Attendance.ATTENDED)
        book(session, typed="Little Stars", status=CANCELLED, is_late_cancellation=True)
        book(
            session,
            agency=police,
            status=CANCELLED,
            cancellation_reason=CancellationReason.DELEGATE,
            waitlisted_at=session.starts_at - timedelta(days=25),
        )
    cancelled = create_session(
        course=courses[0], local_start=datetime(2024, 6, 3, 9, 30), status=SessionStatus.CANCELLED
    )
    book(cancelled, agency=police, status=CANCELLED, cancellation_reason=CancellationReason.SESSION_CANCELLED)
    db.session.flush()


@pytest.mark.parametrize("dimension", list(Dimension))
def test_the_page_gives_what_the_report_gives_for_each_year_and_this_years_months(two_years, dimension):
    page = utilisation_compared(dimension, THIS, LAST, now=LATER)
    assert page.current == utilisation(dimension, *THIS, now=LATER)
    assert page.previous == utilisation(dimension, *LAST, now=LATER)
    assert page.by_month == utilisation(Dimension.MONTH, *THIS, now=LATER)
    assert (page.current.total.sessions, page.previous.total.sessions) == (3, 2)
    assert [(row.key, row.sessions) for row in page.by_month.rows] == [("2024-04", 2), ("2024-11", 1)]


def test_the_totals_are_the_sums_of_the_rows(two_years):
    page = utilisation_compared(Dimension.AGENCY, THIS, LAST, now=LATER)
    for report in (page.current, page.previous):
        for name in ("booked", "attended", "partial", "no_shows", "late_cancellations", "waiting"):
            assert getattr(report.total, name) == sum(getattr(row, name) for row in report.rows)
    this = page.current.total
    assert (this.booked, this.attended, this.partial, this.no_shows) == (12, 9, 3, 3)
    assert (this.late_cancellations, this.on_time_cancellations, this.waiting) == (3, 3, 3)
    assert (this.places, this.attended_total) == (12 + 13 + 14, 12)


def test_names_typed_in_any_case_are_one_row_in_both_years(two_years):
    page = utilisation_compared(Dimension.AGENCY, THIS, LAST, now=LATER)
    [typed] = [row for row in page.current.rows if row.key == "other:acorns hospice"]
    assert typed.label == "ACORNS hospice (typed as other)" and typed.attended == 3
    assert {row.key: row.attended for row in page.previous.rows}["other:acorns hospice"] == 2


def test_both_years_and_the_months_come_from_one_read_of_the_bookings(two_years):
    sent = []

    def catch(connection, cursor, statement, *args) -> None:
        sent.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", catch)
    try:
        utilisation_compared(Dimension.AGENCY, THIS, LAST, now=LATER)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", catch)
    selects = [s for s in sent if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 2
    assert len([s for s in selects if " booking " in s.replace("\n", " ")]) == 1


def test_overlapping_periods_each_count_every_session_they_hold(two_years):
    this, last = (date(2023, 10, 1), date(2025, 3, 31)), (date(2022, 10, 1), date(2024, 3, 31))
    page = utilisation_compared(Dimension.COURSE, this, last, now=LATER)
    assert page.current == utilisation(Dimension.COURSE, *this, now=LATER)
    assert page.previous == utilisation(Dimension.COURSE, *last, now=LATER)
    assert (page.current.total.sessions, page.previous.total.sessions) == (4, 2)


def test_a_period_from_the_middle_of_a_month_has_its_months_cut_to_it(two_years):
    period = (date(2024, 4, 15), date(2024, 11, 5))
    page = utilisation_compared(Dimension.TOPIC, period, LAST, now=LATER)
    assert page.by_month == utilisation(Dimension.MONTH, *period, now=LATER)
    assert [(row.key, row.sessions) for row in page.by_month.rows] == [("2024-04", 1), ("2024-11", 1)]
    assert page.by_month.total == page.current.total


def test_the_page_reads_the_bookings_once(client, two_years):
    clock.freeze(datetime(2025, 3, 31, 20, 0, tzinfo=UTC))
    sign_in(client, create_user(roles=(Role.LND_ADMIN,)))
    sent = []

    def catch(connection, cursor, statement, *args) -> None:
        sent.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", catch)
    try:
        page = client.get("/reports/utilisation?by=course")
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", catch)
    assert page.status_code == 200 and "Neglect basics" in page.get_data(as_text=True)
    assert len([s for s in sent if "FROM booking" in s]) == 1


def test_a_period_of_decades_is_still_shown_month_by_month(two_years):
    period, before = (date(2000, 1, 1), date(2100, 12, 31)), (date(1900, 1, 1), date(1999, 12, 31))
    page = utilisation_compared(Dimension.AGENCY, period, before, now=LATER)
    assert page.current == utilisation(Dimension.AGENCY, *period, now=LATER)
    assert page.by_month == utilisation(Dimension.MONTH, *period, now=LATER)
    assert (page.current.total.sessions, len(page.by_month.rows), page.previous.rows) == (5, 4, [])
