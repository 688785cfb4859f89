"""Past attendance: the sessions of earlier years and who came, recorded without messages or charges,
so last year's report columns and everyone's training record are there from the first day."""

from __future__ import annotations

import csv
import io
from datetime import date, time

import pytest
import sqlalchemy as sa

from lms.accounts.models import User
from lms.bookings.models import Attendance, Booking, BookingStatus
from lms.bookings.services import BookingError, book_place, record_past_attendance
from lms.core.audit import AuditEntry
from lms.courses.models import Course, CourseSession, SessionStatus
from lms.extensions import db
from lms.finance.models import Charge
from lms.imports.report import ImportKind
from lms.messages.models import OutboxMessage
from lms.reporting.utilisation import Dimension, utilisation
from tests.conftest import sign_in
from tests.factories import NOW, create_course, create_session, create_user
from tests.imports.helpers import admin, count, lines_from_text, load_partnership, problems, run

ATTENDANCE = ImportKind.ATTENDANCE
LAST_YEAR = (date(2025, 4, 1), date(2026, 3, 31))


@pytest.fixture
def by():
    lnd = admin()
    load_partnership(lnd)
    return lnd


def person(email: str) -> User:
    return db.session.scalar(sa.select(User).where(User.email == email))


def course(title: str) -> Course:
    return db.session.scalar(sa.select(Course).where(Course.title == title))


def test_past_attendance_makes_completed_sessions_with_their_registers_and_nothing_else(by):
    messages = count(OutboxMessage)
    report = run(ATTENDANCE, "attendance.csv", by=by)
    assert report.written and report.counts == {"created": 4, "sessions": 2}
    [june] = [s for s in course("Understanding Neglect").sessions if s.status is SessionStatus.COMPLETED]
    assert june.register_is_closed and june.places == 3  # places not given: everyone recorded had one
    outcomes = {
        b.user.email: b.attendance
        for b in db.session.scalars(sa.select(Booking).where(Booking.session_id == june.id))
    }
    assert outcomes == {
        "amira.khan@example.org": Attendance.ATTENDED,
        "ben.osei@example.org": Attendance.NO_SHOW,
        "chloe.price@example.org": Attendance.PARTIAL,
    }
    # No message, no charge for the no-show, and an audit entry for each.
    assert count(OutboxMessage) == messages and count(Charge) == 0
    names = db.session.scalars(
        sa.select(AuditEntry.name).where(AuditEntry.name.like("lms.%.past_recorded"))
    ).all()
    assert sorted(names) == ["lms.booking.past_recorded"] * 4 + ["lms.session.past_recorded"] * 2


def test_importing_past_attendance_again_does_not_duplicate_it(by):
    run(ATTENDANCE, "attendance.csv", by=by)
    before = count(Booking), count(CourseSession), count(AuditEntry)
    again = run(ATTENDANCE, "attendance.csv", by=by)
    assert again.counts == {"unchanged": 4, "sessions": 2}
    assert (count(Booking), count(CourseSession), count(AuditEntry)) == before


def test_a_corrected_outcome_updates_the_booking(by):
    run(ATTENDANCE, "attendance.csv", by=by)
    fixed = lines_from_text(
        "email,course_title,date,outcome\nben.osei@example.org,Understanding Neglect,10/06/2025,Attended\n"
    )
    assert run(ATTENDANCE, fixed, by=by).counts == {"updated": 1, "sessions": 1}
    booking = db.session.scalar(
        sa.select(Booking).join(Booking.user).where(User.email == "ben.osei@example.org")
    )
    assert booking.attendance is Attendance.ATTENDED


def test_past_attendance_appears_in_last_years_utilisation(by):
    run(ATTENDANCE, "attendance.csv", by=by)
    last_year = utilisation(Dimension.COURSE, *LAST_YEAR, now=NOW)
    neglect = next(row for row in last_year.rows if row.label == "Understanding Neglect")
    assert (neglect.sessions, neglect.places, neglect.attended, neglect.partial, neglect.no_shows) == (
        1,
        3,
        1,
        1,
        1,
    )
    assert last_year.total.attended_total == 3 and last_year.total.places == 4
    by_agency = utilisation(Dimension.AGENCY, *LAST_YEAR, now=NOW)
    assert {row.label: row.attended_total for row in by_agency.rows} == {
        "Meadowbank Primary School": 2,
        "Little Acorns Day Nursery": 1,
    }


def test_the_utilisation_report_gives_past_attendance_as_last_years_figures(by, client):
    run(ATTENDANCE, "attendance.csv", by=by)
    sign_in(client, by)
    page = client.get("/reports/utilisation?by=course").get_data(as_text=True)
    assert "Attendances last year" in page
    table = list(
        csv.reader(io.StringIO(client.get("/reports/utilisation.csv?by=course").get_data(as_text=True)))
    )
    header, total = next(r for r in table if "Previous year attendances" in r), table[-1]
    assert total[0] == "Total"
    last_year = dict(zip(header, total, strict=True))
    assert last_year["Previous year attendances"] == "3"  # two attended and one partly, of 4 places
    assert float(last_year["Previous year utilisation %"]) == 75.0


def test_past_attendance_appears_in_the_persons_training_record(by, client):
    run(ATTENDANCE, "attendance.csv", by=by)
    amira = person("amira.khan@example.org")
    amira.password_hash = by.password_hash
    db.session.flush()
    sign_in(client, amira)
    page = client.get("/record").get_data(as_text=True)
    assert "2 sessions attended" in page
    assert "Understanding Neglect" in page and "Child Exploitation Awareness" in page
    assert "10 Jun 2025" in page or "10 June 2025" in page


def test_a_file_with_bad_rows_lists_each_problem_and_writes_nothing(by):
    report = run(ATTENDANCE, "attendance-bad.csv", by=by, dry_run=True)
    assert problems(report) == [(2, "email"), (3, "course_title"), (4, "outcome"), (5, "date"), (7, "email")]
    reasons = [p.reason for p in report.problems]
    assert "import them with the people import first" in reasons[0]
    assert "There is no course called “Safer Sleep”" in reasons[1]
    assert "more than 56 days ago" in reasons[3]
    assert "already on line 6" in reasons[4]
    assert count(Booking) == 0
    assert run(ATTENDANCE, "attendance-bad.csv", by=by).written is False
    assert count(Booking) == 0 and count(CourseSession) == 3


def test_a_session_with_its_own_register_in_the_system_is_refused():
    lnd = admin()
    neglect = create_course("Understanding Neglect")
    ran = create_session(course=neglect, starts_at=NOW.replace(year=2025, month=6, day=10))
    delegate = create_user()
    book_place(ran, delegate, by=lnd, now=NOW.replace(year=2025, month=5, day=1))
    with pytest.raises(BookingError, match="has its own register"):
        record_past_attendance(
            create_user(), neglect, date(2025, 6, 10), Attendance.ATTENDED, by=lnd, now=NOW
        )


def test_a_past_session_the_programme_listed_and_nobody_booked_is_taken_over():
    lnd = admin()
    neglect = create_course("Understanding Neglect")
    listed = create_session(course=neglect, starts_at=NOW.replace(year=2025, month=6, day=10), places=18)
    booking, change = record_past_attendance(
        create_user(), neglect, date(2025, 6, 10), Attendance.ATTENDED, by=lnd, now=NOW
    )
    assert change == "created" and booking.session == listed
    assert listed.status is SessionStatus.COMPLETED and listed.places == 18
    assert booking.status is BookingStatus.CONFIRMED


def test_two_sessions_on_one_day_need_the_start_time():
    lnd = admin()
    neglect = create_course("Understanding Neglect")
    record_past_attendance(
        create_user(), neglect, date(2025, 6, 10), Attendance.ATTENDED, start=time(9, 30), by=lnd, now=NOW
    )
    record_past_attendance(
        create_user(), neglect, date(2025, 6, 10), Attendance.ATTENDED, start=time(14, 0), by=lnd, now=NOW
    )
    with pytest.raises(BookingError, match="2 sessions on 10/06/2025"):
        record_past_attendance(
            create_user(), neglect, date(2025, 6, 10), Attendance.ATTENDED, by=lnd, now=NOW
        )


def test_hours_and_places_set_the_length_and_places_of_the_session(by):
    lines = lines_from_text(
        "email,course_title,date,outcome,hours,places\n"
        "amira.khan@example.org,Understanding Neglect,2025-06-10,attended,2.5,20\n"
    )
    run(ATTENDANCE, lines, by=by)
    [session] = [s for s in course("Understanding Neglect").sessions if s.status is SessionStatus.COMPLETED]
    assert session.length_minutes == 150 and session.places == 20


def test_past_records_are_not_evaluated_certified_or_followed_up(by, client):
    from lms.evaluations.services import can_evaluate, pending_evaluations
    from lms.followups.services import invite_due

    run(ATTENDANCE, "attendance.csv", by=by)
    amira = person("amira.khan@example.org")
    bookings = db.session.scalars(sa.select(Booking).where(Booking.user_id == amira.id)).all()
    assert bookings and all(b.is_past_record for b in bookings)
    assert pending_evaluations(amira) == []
    assert not any(can_evaluate(b) or b.earns_certificate for b in bookings)
    assert invite_due(NOW) == 0
    from lms.accounts.passwords import hash_password
    from tests.factories import PASSWORD

    amira.password_hash = hash_password(PASSWORD)  # as if she had followed her invitation
    db.session.flush()
    sign_in(client, amira)
    page = client.get("/record").get_data(as_text=True)
    assert "Recorded before this system" in page and "Not issued for past records" in page
    assert "/evaluations/" not in page
