"""The programme comes in through the programme services: a course and its sessions, matched on the
course and the start time; a session people have booked changes through the bookings service."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from lms.bookings.services import book_place
from lms.core.audit import AuditEntry
from lms.courses.models import Course, CourseLevel, CourseSession, DeliveryMode
from lms.extensions import db
from lms.imports.report import ImportKind
from lms.messages.models import OutboxMessage
from tests.factories import NOW, create_user
from tests.imports.helpers import admin, count, lines_from_text, problems, run

PROGRAMME = ImportKind.PROGRAMME


@pytest.fixture
def by():
    lnd = admin()
    for kind, name in ((ImportKind.ORGANISATIONS, "organisations.csv"), (ImportKind.PEOPLE, "people.csv")):
        assert run(kind, name, by=lnd).written
    return lnd


def course(title: str) -> Course:
    return db.session.scalar(sa.select(Course).where(Course.title == title))


def test_courses_and_sessions_are_added_with_their_details(by):
    report = run(PROGRAMME, "programme.csv", by=by)
    assert report.written
    assert report.counts == {"courses_created": 3, "sessions_created": 3}
    neglect = course("Understanding Neglect")
    assert neglect.topic.name == "Neglect" and neglect.level is CourseLevel.FOUNDATION
    assert neglect.delivery_mode is DeliveryMode.IN_PERSON and neglect.duration_minutes == 180
    first, second = neglect.sessions
    # 09:30 in London in June is 08:30 UTC.
    assert first.starts_at == datetime(2026, 6, 16, 8, 30, tzinfo=UTC)
    assert first.venue == "Training Room 1, Council House" and first.cost_pence == 45000
    assert (
        first.places == 20 and first.overbook_percent == 10 and first.trainer.email == "trainer@example.org"
    )
    # A session's own mode; the overbooking default when the cell is blank.
    assert second.delivery_mode is DeliveryMode.ONLINE_LIVE and second.overbook_percent == 10
    assert second.online_link == "https://meet.example.org/neglect-july"
    abuse = course("Domestic Abuse and Children")
    assert abuse.sessions[0].starts_at == datetime(2026, 9, 14, 9, 0, tzinfo=UTC)  # a UK date, 14/09/2026
    # A row without a date is the course alone.
    exploitation = course("Child Exploitation Awareness")
    assert exploitation.duration_minutes == 210 and exploitation.sessions == []


def test_importing_the_same_programme_again_changes_nothing(by):
    run(PROGRAMME, "programme.csv", by=by)
    entries = count(AuditEntry)
    again = run(PROGRAMME, "programme.csv", by=by)
    assert again.counts == {"unchanged": 4}
    assert (count(Course), count(CourseSession), count(AuditEntry)) == (3, 3, entries)


def test_a_changed_session_with_bookings_is_changed_through_the_bookings_service(by):
    run(PROGRAMME, "programme.csv", by=by)
    session = course("Understanding Neglect").sessions[0]
    delegate = create_user()
    book_place(session, delegate, by=delegate, now=NOW)
    messages = count(OutboxMessage)
    moved = lines_from_text(
        "course_title,date,start_time,end_time,venue,places,cost,trainer_email\n"
        'Understanding Neglect,2026-06-16,09:30,12:30,"Room 2, Council House",24,450,trainer@example.org\n'
    )
    report = run(PROGRAMME, moved, by=by)
    assert report.counts == {"sessions_updated": 1}
    db.session.refresh(session)
    assert session.venue == "Room 2, Council House" and session.places == 24
    assert session.sequence == 1  # calendar invitations updated
    changed = db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.recipient == delegate.email)
    ).all()
    assert "changed" in changed[-1].subject.lower()
    # The delegate and the session's trainer are told; nobody else.
    told = db.session.scalars(sa.select(OutboxMessage.recipient).order_by(OutboxMessage.id)).all()[messages:]
    assert sorted(told) == sorted([delegate.email, "trainer@example.org"])
    assert (
        db.session.scalar(sa.select(AuditEntry).where(AuditEntry.name == "lms.session.updated")) is not None
    )


def test_a_dry_run_of_a_file_with_bad_rows_lists_each_problem_and_writes_nothing(by):
    report = run(PROGRAMME, "programme-bad.csv", by=by, dry_run=True)
    assert problems(report) == [
        (2, "level"),
        (3, "end_time"),
        (4, "places"),
        (5, "online_link"),
        (6, "trainer_email"),
        (7, "venue"),
        (8, "start_time"),
        (9, "level"),
        (10, "cost"),
    ]
    reasons = [p.reason for p in report.problems]
    assert "“Beginner” is not one of" in reasons[0]
    assert reasons[1] == "The session must end after it starts."
    assert "does not exist in UK time" in reasons[6]
    assert reasons[7] == "Line 3 gives the same course another level."
    assert count(Course) == 0 and count(CourseSession) == 0


def test_a_real_run_with_a_bad_row_writes_nothing(by):
    report = run(PROGRAMME, "programme-bad.csv", by=by)
    assert not report.written
    assert count(Course) == 0 and count(CourseSession) == 0


def test_a_new_course_needs_its_details(by):
    report = run(PROGRAMME, lines_from_text("course_title,topic\nBrand New Course,Neglect\n"), by=by)
    assert problems(report) == [(2, "level")]


def test_a_past_session_in_the_programme_comes_with_a_note(by):
    report = run(
        PROGRAMME,
        lines_from_text(
            "course_title,topic,level,delivery_mode,duration_hours,provider,date,start_time,end_time,online_link,places\n"
            "Old Course,Neglect,Foundation,Webinar,2,City Training Ltd,2025-06-10,10:00,12:00,https://meet.example.org/x,30\n"
        ),
        by=by,
    )
    assert report.written and "past attendance import" in report.notes[0].reason
