"""Utilisation: the partnership's own 2024/25 figures, rows that add up, last year beside this."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest

from lms.accounts.models import AgencyCategory, Role
from lms.bookings.models import Attendance, Booking, BookingStatus
from lms.courses.models import DeliveryMode, SessionStatus
from lms.extensions import db
from lms.reporting.utilisation import Dimension, utilisation
from tests.conftest import sign_in
from tests.factories import create_agency, create_course, create_session, create_topic, create_user

LATER = datetime(2026, 4, 1, tzinfo=UTC)  # every session below has run by then
YEAR = (date(2024, 4, 1), date(2025, 3, 31))


_people: dict[int, list] = {}


def staff_of(agency, n: int) -> list:
    """A few people per agency, reused across sessions (one booking each per session)."""
    pool = _people.setdefault(agency.id, [])
    while len(pool) < n:
        pool.append(create_user(agency=agency))
    return pool[:n]


def add_bookings(session, agency, outcomes):
    """Bookings straight into the table: the report reads what the register recorded."""
    for user, outcome in zip(staff_of(agency, len(outcomes)), outcomes, strict=True):
        db.session.add(
            Booking(
                session=session,
                user=user,
                agency_id=agency.id,
                status=BookingStatus.CONFIRMED,
                booked_at=session.starts_at - timedelta(days=20),
                confirmed_at=session.starts_at - timedelta(days=20),
                attendance=outcome,
            )
        )
    db.session.flush()


def build_year(first_day: date, *, sessions: int, places_each: list[int], attended_each: list[int]):
    """A year of sessions over twelve months, four topics, two modes and three agencies."""
    topics = [create_topic(f"Topic {n} {first_day.year}") for n in range(4)]
    agencies = [
        create_agency(f"Police {first_day.year}", category=AgencyCategory.POLICE),
        create_agency(f"Council {first_day.year}", category=AgencyCategory.LOCAL_AUTHORITY),
        create_agency(f"School {first_day.year}", category=AgencyCategory.EDUCATION_SCHOOL),
    ]
    for n in range(sessions):
        month = (first_day.month - 1 + n % 12) % 12 + 1
        year = first_day.year + (1 if month < first_day.month else 0)
        course = create_course(
            f"Course {n} {first_day.year}",
            topic=topics[n % 4],
            delivery_mode=DeliveryMode.IN_PERSON if n % 3 else DeliveryMode.ONLINE_LIVE,
        )
        session = create_session(
            course=course, local_start=datetime(year, month, 10, 9, 30), places=places_each[n]
        )
        attended = attended_each[n]
        outcomes = [Attendance.ATTENDED] * (attended - attended // 10) + [Attendance.PARTIAL] * (
            attended // 10
        )
        outcomes += [Attendance.NO_SHOW] * 2
        for i, agency in enumerate(agencies):
            add_bookings(session, agency, outcomes[i::3])


def spread(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


@pytest.fixture(autouse=True)
def _fresh_people():
    _people.clear()


@pytest.fixture
def year_2024_25(app_context):
    # 68 sessions, 1,905 places offered, 1,291 attended: the partnership's 2024/25 report.
    build_year(date(2024, 4, 1), sessions=68, places_each=spread(1905, 68), attended_each=spread(1291, 68))
    # Cancelled sessions offer no places, and nobody attends them.
    cancelled = create_session(
        local_start=datetime(2024, 9, 10, 9, 30), places=40, status=SessionStatus.CANCELLED
    )
    assert cancelled.places == 40


def test_a_year_like_2024_25_shows_1905_places_1291_attended_and_68_percent(year_2024_25):
    report = utilisation(Dimension.COURSE, *YEAR, now=LATER)
    assert (report.total.sessions, report.total.places, report.total.attended_total) == (68, 1905, 1291)
    assert round(report.total.utilisation * 100) == 68


@pytest.mark.parametrize("dimension", list(Dimension))
def test_rows_add_up_to_the_totals_whatever_the_breakdown(year_2024_25, dimension):
    report = utilisation(dimension, *YEAR, now=LATER)
    assert sum(r.attended_total for r in report.rows) == report.total.attended_total == 1291
    assert sum(r.no_shows for r in report.rows) == report.total.no_shows == 136
    if dimension.offers_places:
        assert sum(r.places for r in report.rows) == 1905
        assert sum(r.sessions for r in report.rows) == 68


def test_months_run_in_order_and_agencies_carry_their_category(year_2024_25):
    months = utilisation(Dimension.MONTH, *YEAR, now=LATER).rows
    assert [m.key for m in months][:3] == ["2024-04", "2024-05", "2024-06"] and len(months) == 12
    categories = {r.label for r in utilisation(Dimension.CATEGORY, *YEAR, now=LATER).rows}
    assert categories == {"Police", "Local authority", "Education - school"}


def test_the_previous_year_matches_a_year_built_the_same_way(app_context):
    build_year(date(2023, 4, 1), sessions=60, places_each=[30] * 60, attended_each=[20] * 60)
    build_year(date(2024, 4, 1), sessions=68, places_each=spread(1905, 68), attended_each=spread(1291, 68))
    last = utilisation(Dimension.MONTH, date(2023, 4, 1), date(2024, 3, 31), now=LATER)
    assert (last.total.places, last.total.attended_total) == (1800, 1200)
    this = utilisation(Dimension.MONTH, *YEAR, now=LATER)
    assert this.total.places == 1905


def test_sessions_that_have_not_run_yet_offer_no_places(app_context):
    agency = create_agency()
    ran = create_session(starts_at=datetime(2024, 5, 10, 8, 30, tzinfo=UTC), places=20)
    add_bookings(ran, agency, [Attendance.ATTENDED] * 15)
    create_session(starts_at=datetime(2024, 6, 10, 8, 30, tzinfo=UTC), places=20)
    report = utilisation(Dimension.COURSE, *YEAR, now=datetime(2024, 6, 1, tzinfo=UTC))
    assert (report.total.places, report.total.attended_total) == (20, 15)


def test_organisations_typed_as_other_show_under_their_typed_names(app_context):
    session = create_session(starts_at=datetime(2024, 5, 10, 8, 30, tzinfo=UTC))
    for typed in ("Acorns Hospice", "ACORNS hospice"):
        user = create_user(other_organisation=typed)
        db.session.add(
            Booking(
                session=session,
                user=user,
                other_organisation=typed,
                status=BookingStatus.CONFIRMED,
                booked_at=session.starts_at,
                attendance=Attendance.ATTENDED,
            )
        )
    db.session.flush()
    [row] = utilisation(Dimension.AGENCY, *YEAR, now=LATER).rows
    assert row.label.lower().startswith("acorns hospice") and "typed as other" in row.label
    assert row.attended == 2


def test_the_page_shows_the_chart_and_the_csv_adds_up(client, year_2024_25):
    from lms.core import clock

    clock.freeze(datetime(2025, 3, 31, 20, 0, tzinfo=UTC))
    sign_in(client, create_user(roles=(Role.LND_ADMIN,)))
    page = client.get("/reports/utilisation?by=month").get_data(as_text=True)
    assert "Utilisation, 2024/25" in page and "<svg" in page and "68%" in page
    rows = list(
        csv.reader(io.StringIO(client.get("/reports/utilisation.csv?by=agency").get_data(as_text=True)))
    )
    header, body, total = rows[0], rows[1:-1], rows[-1]
    attended = header.index("Attended in full")
    partly = header.index("Attended in part")
    assert sum(int(r[attended]) + int(r[partly]) for r in body) == 1291
    assert sum(int(r[header.index("Attendances")]) for r in body) == 1291
    assert total[0] == "Total" and total[header.index("Places offered")] == "1905"


@pytest.mark.parametrize("role", [Role.PRACTITIONER, Role.TRAINER, Role.FINANCE])
def test_only_l_and_d_see_reports(client, role):
    sign_in(client, create_user(roles=(role,)))
    assert client.get("/reports/utilisation").status_code == 403
    assert client.get("/reports/utilisation.csv").status_code == 403
