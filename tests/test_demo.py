"""`flask lms demo-data` builds two believable financial years, and only in an empty database."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from io import BytesIO

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from lms.accounts.models import Agency, AgencyCategory, Role, User, UserRole
from lms.accounts.passwords import verify_password
from lms.accounts.services import unmapped_organisations
from lms.bookings.models import LIVE_STATUSES, Attendance, Booking, BookingStatus, CancellationReason
from lms.core import clock
from lms.core.audit import AuditEntry
from lms.core.calendar import is_working_day
from lms.core.formatting import format_percent
from lms.core.timezones import london_date
from lms.courses.models import Course, CourseSession, DeliveryMode, SessionStatus
from lms.demo import DEMO_PASSWORD, financial_year, is_training_day, moved_on, read_csv
from lms.demo_data import PROGRAMME_CSV, SESSIONS_CSV
from lms.evaluations.models import Certificate, Evaluation
from lms.extensions import db
from lms.finance.models import (
    Budget,
    Charge,
    ChargeStatus,
    CreditNote,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
)
from lms.followups.models import FollowUp
from lms.messages.models import OutboxMessage
from lms.reporting.results import budget_figures, evaluation_results, follow_up_results
from lms.reporting.utilisation import Dimension, utilisation
from tests.conftest import empty_all_tables, sign_in
from tests.factories import create_agency

# The demo is loaded as on the afternoon of Tuesday 1 December 2026: the current financial year is
# 2026/27, two thirds run; the previous one, 2025/26, is over.
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
PREVIOUS = (date(2025, 4, 1), date(2026, 3, 31))
CURRENT = (date(2026, 4, 1), date(2027, 3, 31))


# The command commits, so these tests work on a real database and empty it afterwards. The demo is
# loaded once, for the tests that only read it; the one that needs an empty database runs first.
pytestmark = pytest.mark.committing


@pytest.fixture(autouse=True)
def _app_context(app):
    with app.app_context():
        yield
        db.session.remove()


@pytest.fixture
def run_demo(app):
    runner = app.test_cli_runner()
    return lambda: runner.invoke(args=["lms", "demo-data"])


def empty_database() -> None:
    # A trust's schools refer to it, and a row that is referred to cannot go first.
    db.session.execute(sa.update(Agency).values(parent_id=None))
    db.session.commit()
    empty_all_tables()


@pytest.fixture
def emptied_afterwards():
    yield
    db.session.rollback()
    empty_database()


@pytest.fixture(scope="module")
def loaded(app):
    with app.app_context():
        clock.freeze(NOW)
        result = app.test_cli_runner().invoke(args=["lms", "demo-data"])
        clock.freeze(None)
        assert result.exit_code == 0, result.output
        yield result
        db.session.rollback()
        empty_database()
        db.session.remove()


def count(model, *conditions) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*conditions))


def people_with_role(role: Role) -> list[User]:
    return list(
        db.session.scalars(sa.select(User).join(UserRole).where(UserRole.role == role).order_by(User.id))
    )


def sessions_in(first: date, last: date) -> list[CourseSession]:
    return [
        session
        for session in db.session.scalars(sa.select(CourseSession).order_by(CourseSession.starts_at))
        if first <= london_date(session.starts_at) <= last
    ]


def bookings_on(session: CourseSession, *statuses: BookingStatus) -> list[Booking]:
    return list(
        db.session.scalars(
            sa.select(Booking).where(Booking.session_id == session.id, Booking.status.in_(statuses))
        )
    )


def agency_named(name: str) -> Agency:
    return db.session.scalar(sa.select(Agency).where(Agency.name == name))


# Only into an empty database ------------------------------------------------------------------


def test_it_refuses_a_database_that_already_has_an_agency(run_demo, emptied_afterwards):
    create_agency("West Midlands Police")
    result = run_demo()
    assert result.exit_code == 0
    assert "not empty" in result.output
    assert count(Agency) == 1
    assert count(User) == 0


def test_the_financial_year_runs_from_1_april_to_31_march():
    assert financial_year(date(2026, 11, 21), "04-01") == CURRENT
    assert financial_year(date(2027, 3, 31), "04-01") == CURRENT
    assert financial_year(date(2026, 4, 1), "04-01") == CURRENT
    assert financial_year(date(2026, 3, 31), "04-01") == PREVIOUS


def test_a_date_moves_on_to_the_same_weekday_of_the_same_week():
    assert moved_on(date(2024, 6, 11), 1) == date(2025, 6, 10)  # Tuesdays of week 24
    assert moved_on(date(2024, 6, 11), 2) == date(2026, 6, 9)
    assert moved_on(date(2025, 3, 20), 2) == date(2027, 3, 25)  # 2026 has 53 weeks: Thursdays of week 12


# The previous year: the published 2024/25 shape -------------------------------------------------


def test_the_previous_year_reports_the_published_places_attendance_and_utilisation(loaded):
    total = utilisation(Dimension.MONTH, *PREVIOUS, now=NOW).total
    assert total.sessions == 68
    assert total.places == 1_905
    assert total.attended_total == 1_291
    assert format_percent(total.utilisation) == "68%"
    assert "2025/26: 68 sessions, 1,905 places offered, 1,291 delegates attended: 68% utilisation." in (
        loaded.output
    )


def test_the_previous_year_ran_every_session_of_the_sixteen_modules(loaded):
    sessions = sessions_in(*PREVIOUS)
    assert len(sessions) == 68
    assert all(session.status is SessionStatus.COMPLETED for session in sessions)
    assert all(session.register_closed_at > session.ends_at for session in sessions)
    published = {row["title"]: int(row["sessions_commissioned"]) for row in read_csv(PROGRAMME_CSV)}
    assert Counter(session.course.title for session in sessions) == published


def test_the_previous_year_is_on_the_published_dates_a_year_on(loaded):
    published = sorted(read_csv(SESSIONS_CSV), key=lambda row: (row["title"], row["date"]))
    sessions = sorted(sessions_in(*PREVIOUS), key=lambda s: (s.course.title, s.starts_at))
    moved_for_a_holiday = 0
    for row, session in zip(published, sessions, strict=True):
        assert session.course.title == row["title"]
        assert session.places == int(row["places"])
        day, planned = london_date(session.starts_at), moved_on(date.fromisoformat(row["date"]), 1)
        if day != planned:
            # A bank holiday a year on: the next training day instead.
            assert not is_training_day(planned)
            assert planned < day <= planned + timedelta(days=7)
            moved_for_a_holiday += 1
        assert is_working_day(day)
    assert moved_for_a_holiday <= 3


def test_the_previous_years_budget_and_spending_are_the_published_ones(loaded):
    figures = budget_figures(2025, *PREVIOUS, now=NOW)
    assert figures.allocated == 12_003_700  # £120,037
    assert figures.spent == figures.commissioned == 6_793_100  # £67,931
    assert figures.places_offered == 1_905
    assert figures.attended == 1_291
    assert db.session.get(Budget, 2026).allocated_pence > 0


# The current year: run to today, booked ahead -----------------------------------------------------


def test_the_current_year_has_run_to_today_near_the_reported_utilisation(loaded):
    sessions = sessions_in(*CURRENT)
    assert len(sessions) == 68
    ran = [s for s in sessions if s.ends_at < NOW and s.status is not SessionStatus.CANCELLED]
    assert len(ran) >= 40
    for session in ran:
        assert session.status is SessionStatus.COMPLETED
        assert session.register_closed_at is not None
        assert len(bookings_on(session, BookingStatus.CONFIRMED)) >= session.places // 3
    total = utilisation(Dimension.MONTH, *CURRENT, now=NOW).total
    assert 0.62 <= total.utilisation <= 0.78
    assert f"{format_percent(total.utilisation)} utilisation" in loaded.output


def test_sessions_to_come_have_bookings_and_some_have_waiting_lists(loaded):
    to_come = [session for session in sessions_in(*CURRENT) if session.starts_at > NOW]
    assert to_come
    assert all(
        session.status is SessionStatus.SCHEDULED and session.register_closed_at is None
        for session in to_come
    )
    booked = [session for session in to_come if bookings_on(session, BookingStatus.CONFIRMED)]
    assert 3 <= len(booked) < len(to_come)
    # A couple are full weeks ahead with a short queue. Others may have just filled, the people who
    # will wait for them not having come yet.
    full = [s for s in to_come if len(bookings_on(s, BookingStatus.CONFIRMED)) == s.bookable_limit]
    queued = [s for s in full if 3 <= len(bookings_on(s, BookingStatus.WAITING)) <= 6]
    assert len(queued) >= 2
    # Nobody waits for a session that still has a place.
    assert not any(
        bookings_on(session, BookingStatus.WAITING)
        for session in to_come
        if len(bookings_on(session, BookingStatus.CONFIRMED)) < session.bookable_limit
    )


def test_a_few_sessions_earlier_this_year_were_cancelled_and_everyone_was_told(loaded):
    cancelled = db.session.scalars(
        sa.select(CourseSession).where(CourseSession.status == SessionStatus.CANCELLED)
    ).all()
    assert 1 <= len(cancelled) <= 3
    for session in cancelled:
        assert CURRENT[0] <= london_date(session.starts_at) and session.starts_at < NOW
        assert session.cancelled_at < session.starts_at
        assert session.cancel_reason
        assert bookings_on(session, *LIVE_STATUSES) == []
        told = bookings_on(session, BookingStatus.CANCELLED)
        assert any(booking.cancellation_reason is CancellationReason.SESSION_CANCELLED for booking in told)


def test_every_session_is_on_a_working_day_with_a_trainer_and_a_venue_or_link(loaded):
    for session in db.session.scalars(sa.select(CourseSession)):
        assert PREVIOUS[0] <= london_date(session.starts_at) <= CURRENT[1]
        assert is_working_day(london_date(session.starts_at))
        assert session.ends_at > session.starts_at
        assert session.trainer is not None
        if session.delivery_mode is DeliveryMode.IN_PERSON:
            assert session.venue
        else:
            assert session.online_link.startswith("https://")
    assert count(Course) == 16


# The booking rules held throughout ------------------------------------------------------------------


def test_the_booking_rules_held_and_every_register_before_today_is_closed(loaded):
    for session in db.session.scalars(sa.select(CourseSession)):
        assert len(bookings_on(session, BookingStatus.CONFIRMED)) <= session.bookable_limit
        if session.ends_at < NOW and session.status is not SessionStatus.CANCELLED:
            assert session.register_closed_at is not None
            assert all(b.attendance is not None for b in bookings_on(session, BookingStatus.CONFIRMED))
        if session.ends_at > NOW:
            assert session.register_closed_at is None
    doubles = db.session.execute(
        sa.select(Booking.session_id, Booking.user_id)
        .where(Booking.status.in_(LIVE_STATUSES))
        .group_by(Booking.session_id, Booking.user_id)
        .having(sa.func.count() > 1)
    ).all()
    assert doubles == []


def test_people_cancelled_on_time_and_late_came_partly_missed_and_waited(loaded):
    cancelled = db.session.scalars(sa.select(Booking).where(Booking.status == BookingStatus.CANCELLED)).all()
    by_delegate = [b for b in cancelled if b.cancellation_reason is CancellationReason.DELEGATE]
    assert any(booking.is_late_cancellation for booking in by_delegate)
    assert any(not booking.is_late_cancellation for booking in by_delegate)
    for booking in cancelled:
        assert booking.booked_at < booking.cancelled_at < booking.session.starts_at
    total = utilisation(Dimension.MONTH, PREVIOUS[0], CURRENT[1], now=NOW).total
    assert total.partial > 0
    assert 0.03 <= total.no_shows / (total.attended_total + total.no_shows) <= 0.12
    assert total.waiting > 20
    assert count(Booking, Booking.promoted_at.is_not(None)) > 10


# Evaluations, certificates, follow-ups ------------------------------------------------------------


def test_most_attendees_evaluated_and_the_evaluation_report_has_every_course(loaded):
    results = evaluation_results(*PREVIOUS)
    assert len(results) == 16
    for course in results:
        assert 0.6 <= course.response_rate <= 1
        assert all(question.total for question in course.questions)
        assert course.comments
        understanding = course.mean_of("understanding of the subject now")
        assert understanding > course.mean_of("understanding of the subject before")


def test_certificates_were_issued_to_those_who_evaluated_after_attending_in_full(loaded):
    certificates = db.session.scalars(sa.select(Certificate)).all()
    assert len(certificates) > 1_500
    evaluated = set(db.session.scalars(sa.select(Evaluation.booking_id)))
    for certificate in certificates:
        assert certificate.booking.attendance is Attendance.ATTENDED
        assert certificate.booking_id in evaluated
    full_and_evaluated = count(Booking, Booking.id.in_(evaluated), Booking.attendance == Attendance.ATTENDED)
    assert full_and_evaluated == len(certificates)


def test_demo_certificates_are_drawn_when_downloaded(loaded, client):
    # The demo keeps no PDFs (rendering them would be much of its load): each is drawn on download.
    assert count(Certificate, Certificate.pdf.is_not(None)) == 0
    practitioner = db.session.scalar(sa.select(User).where(User.email == "practitioner@demo.example"))
    certificate = db.session.scalars(
        sa.select(Certificate).join(Certificate.booking).where(Booking.user_id == practitioner.id)
    ).first()
    assert certificate is not None
    sign_in(client, practitioner, password=DEMO_PASSWORD)

    response = client.get(f"/certificates/{certificate.booking_id}.pdf")

    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert certificate.number in " ".join(PdfReader(BytesIO(response.data)).pages[0].extract_text().split())


def test_follow_ups_were_invited_at_six_weeks_and_about_half_answered(loaded):
    results = follow_up_results(*PREVIOUS)
    assert results.invited == utilisation(Dimension.MONTH, *PREVIOUS, now=NOW).total.attended_total
    assert 0.4 <= results.response_rate <= 0.7
    assert results.applied and results.barriers and results.examples
    for follow_up in db.session.scalars(sa.select(FollowUp).where(FollowUp.submitted_at.is_not(None))):
        session = follow_up.booking.session
        assert session.ends_at + timedelta(days=42) <= follow_up.invited_at <= follow_up.submitted_at
        assert follow_up.submitted_at < follow_up.closes_at


# Finance -------------------------------------------------------------------------------------


def test_invoices_were_issued_for_both_years_paid_and_one_credited(loaded):
    invoices = db.session.scalars(sa.select(Invoice).order_by(Invoice.financial_year, Invoice.sequence)).all()
    statuses = Counter(invoice.status for invoice in invoices)
    assert statuses[InvoiceStatus.PAID] > statuses[InvoiceStatus.ISSUED] > 0
    assert statuses[InvoiceStatus.CREDITED] == 1
    credited = next(invoice for invoice in invoices if invoice.status is InvoiceStatus.CREDITED)
    note = db.session.scalar(sa.select(CreditNote).where(CreditNote.invoice_id == credited.id))
    assert note.total_pence == credited.total_pence and note.reason
    for year in {invoice.financial_year for invoice in invoices}:
        numbers = [invoice.sequence for invoice in invoices if invoice.financial_year == year]
        assert numbers == list(range(1, len(numbers) + 1))
    billed = {line.session_date for invoice in invoices for line in invoice.lines}
    assert min(billed) < PREVIOUS[0] + timedelta(days=92)  # from the first quarter of last year...
    assert max(billed) >= CURRENT[0] + timedelta(days=91)  # ...to the second quarter of this one
    assert all(invoice.bill_to_address and invoice.bill_to_email for invoice in invoices)


def test_some_charges_were_waived_for_a_reason_and_some_await_invoicing(loaded):
    waived = db.session.scalars(sa.select(Charge).where(Charge.status == ChargeStatus.WAIVED)).all()
    assert len(waived) >= 10
    for charge in waived:
        assert charge.waiver_reason is not None and charge.waived_by is not None
        assert charge.raised_at < charge.waived_at
    assert count(Charge, Charge.status == ChargeStatus.RAISED) > 0


def test_a_school_in_a_trust_is_billed_through_the_trust(loaded):
    lines = db.session.scalars(sa.select(InvoiceLine).where(InvoiceLine.organisation_name.is_not(None))).all()
    assert lines
    for line in lines:
        school = agency_named(line.organisation_name)
        assert school.parent is not None and line.invoice.agency_id == school.parent_id
        assert school.billing_email is None
        assert school.parent.billing_email and school.parent.billing_address


# Organisations and people -----------------------------------------------------------------------


def test_each_school_and_gp_practice_is_an_organisation_of_its_own(loaded):
    agencies = db.session.scalars(sa.select(Agency)).all()
    names = {agency.name for agency in agencies}
    assert not names & {"Primary school", "GP practice", "Childminder", "Voluntary or community organisation"}
    schools = [a for a in agencies if a.category is AgencyCategory.EDUCATION_SCHOOL and a.parent_id is None]
    assert sum(bool(re.fullmatch(r"\d{6}", a.official_code or "")) for a in agencies) >= 50  # URNs
    practices = [a for a in agencies if a.category is AgencyCategory.HEALTH_PRIMARY]
    assert len(practices) >= 20
    assert all(re.fullmatch(r"[A-Z]\d{5}", practice.official_code) for practice in practices)  # ODS
    assert all(re.fullmatch(r"B\d{1,2} \d[A-Z]{2}", a.postcode) for a in schools + practices)
    trusts = {agency.parent for agency in agencies if agency.parent is not None}
    assert len(trusts) == 2
    assert count(Agency, Agency.category == AgencyCategory.EDUCATION_EARLY_YEARS) >= 15
    police = agency_named("West Midlands Police")
    assert police.billing_email and police.billing_address and police.purchase_order


def test_hundreds_of_practitioners_and_names_typed_for_lnd_to_map(loaded):
    assert len(people_with_role(Role.PRACTITIONER)) >= 800
    typed = db.session.scalars(sa.select(User).where(User.other_organisation.is_not(None))).all()
    assert typed and all(person.agency_id is None for person in typed)
    groups = {group.name.casefold(): group for group in unmapped_organisations()}
    assert any(group.people > 1 for group in groups.values())  # names differing only in case
    # Near-misses of organisations on the list, for L&D to map onto them.
    assert "st marys primary" in groups
    assert agency_named("St Mary's C of E Primary School") is not None
    assert "moseley medical centre" in groups and agency_named("Moseley Medical Practice") is not None


def test_there_is_a_demo_sign_in_for_each_role(loaded):
    accounts = {
        "practitioner@demo.example": Role.PRACTITIONER,
        "trainer@demo.example": Role.TRAINER,
        "lnd@demo.example": Role.LND_ADMIN,
        "finance@demo.example": Role.FINANCE,
        "contact@demo.example": Role.TRAINING_CONTACT,
    }
    for email, role in accounts.items():
        user = db.session.scalar(sa.select(User).where(User.email == email))
        assert user.roles == {role}
        assert verify_password(user.password_hash, DEMO_PASSWORD)
        assert email in loaded.output
    assert DEMO_PASSWORD in loaded.output
    assert len(people_with_role(Role.TRAINER)) >= 5


def test_the_demo_practitioner_has_something_on_every_page(loaded):
    person = db.session.scalar(sa.select(User).where(User.email == "practitioner@demo.example"))
    bookings = db.session.scalars(sa.select(Booking).where(Booking.user_id == person.id)).all()
    attended = [booking for booking in bookings if booking.attendance is Attendance.ATTENDED]
    certified = [booking for booking in attended if count(Certificate, Certificate.booking_id == booking.id)]
    assert len(certified) >= 2
    assert any(count(Evaluation, Evaluation.booking_id == booking.id) == 0 for booking in attended)
    open_surveys = db.session.scalars(
        sa.select(FollowUp).where(
            FollowUp.booking_id.in_([b.id for b in attended]), FollowUp.submitted_at.is_(None)
        )
    ).all()
    assert any(follow_up.is_open(NOW) for follow_up in open_surveys)
    to_come = [booking for booking in bookings if booking.session.starts_at > NOW]
    assert 1 <= sum(booking.status is BookingStatus.CONFIRMED for booking in to_come) <= 2
    assert [booking.status for booking in to_come].count(BookingStatus.WAITING) == 1


def test_the_demo_trainer_has_sessions_still_to_come(loaded):
    trainer = db.session.scalar(sa.select(User).where(User.email == "trainer@demo.example"))
    upcoming = db.session.scalars(
        sa.select(CourseSession).where(CourseSession.trainer_id == trainer.id, CourseSession.starts_at > NOW)
    ).all()
    assert upcoming


def test_every_message_is_marked_sent_so_none_goes_out_when_the_app_starts(loaded):
    messages = db.session.scalars(sa.select(OutboxMessage)).all()
    assert len(messages) >= count(Booking)
    assert all(message.sent_at == NOW and message.attempts == 1 for message in messages)


def test_running_it_again_changes_nothing(loaded, run_demo):
    before = [count(model) for model in (Agency, User, Course, CourseSession, AuditEntry)]
    again = run_demo()
    assert again.exit_code == 0
    assert "not empty" in again.output
    assert [count(model) for model in (Agency, User, Course, CourseSession, AuditEntry)] == before


@pytest.mark.postgresql
def test_the_planner_has_statistics_for_the_loaded_tables(loaded):
    # Without them, the first reports after a load could pick joins meant for empty tables.
    analysed = db.session.scalars(
        sa.text(
            "SELECT relname FROM pg_stat_user_tables "
            "WHERE schemaname = current_schema() AND last_analyze IS NOT NULL"
        )
    ).all()
    assert {"booking", "answer", "evaluation", "course_session", "charge"} <= set(analysed)
