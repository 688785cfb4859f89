"""Importing the programme: courses and their sessions, a session a row, matched on the course and
its start time. A row without a date describes the course alone.

Courses and sessions are made by the programme services; a session already in the system is changed
through the bookings service, so anyone booked is told of a new time or place. A session that has
run or was cancelled is left as it is. A course's details (topic, level, duration, provider) must
agree on every row that gives them; the delivery mode on a row is the session's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time

import sqlalchemy as sa
from flask import current_app

from lms.accounts.models import Role, User
from lms.accounts.services import find_user_by_email
from lms.bookings.services import edit_session
from lms.core.timezones import InvalidLocalTime, london_to_utc
from lms.courses.models import Course, CourseLevel, CourseSession, DeliveryMode, SessionStatus
from lms.courses.services import (
    CourseDetails,
    SessionDetails,
    create_course,
    create_session,
    find_or_create_topic,
    update_course,
)
from lms.extensions import db
from lms.imports.fields import Cells
from lms.imports.readers import Lines, Row, Table
from lms.imports.report import ImportKind, ImportReport, Progress, RowProblem
from lms.imports.steps import (
    FirstSeen,
    all_or_nothing,
    attempt,
    changed_only,
    check_overflow,
    each_row,
    require_columns,
)

COLUMNS = [
    "course_title",
    "topic",
    "level",
    "delivery_mode",
    "duration_hours",
    "provider",
    "date",
    "start_time",
    "end_time",
    "venue",
    "online_link",
    "places",
    "overbook_percent",
    "cost",
    "trainer_email",
]
COURSE_FIELDS = ("topic", "level", "duration_hours", "provider")
MODE_ALIASES = {
    "virtual": DeliveryMode.ONLINE_LIVE,
    "online": DeliveryMode.ONLINE_LIVE,
    "live online": DeliveryMode.ONLINE_LIVE,
    "in-person": DeliveryMode.IN_PERSON,
    "face to face": DeliveryMode.IN_PERSON,
    "face-to-face": DeliveryMode.IN_PERSON,
    "classroom": DeliveryMode.IN_PERSON,
    "e-learning": DeliveryMode.ELEARNING,
}
LEVEL_ALIASES = {"managers": CourseLevel.MANAGERS, "leaders": CourseLevel.MANAGERS}


@dataclass
class CourseFacts:
    """What a row says about its course; blank where it says nothing."""

    title: str
    topic: str
    level: CourseLevel | None
    mode: DeliveryMode | None
    minutes: int | None
    provider: str


def import_programme(
    lines: Lines, *, by: User | None, now: datetime, dry_run: bool, progress: Progress | None = None
) -> ImportReport:
    """Add and update courses and sessions from a file."""
    table = lines.with_headings()
    require_columns(table, {"course_title": "course_title"}, "the programme (" + ", ".join(COLUMNS) + ")")
    report = ImportReport(ImportKind.PROGRAMME, dry_run=dry_run, rows=len(table.rows))
    columns = {key: table.label(key) for key in COLUMNS} | {
        "title": table.label("course_title"),
        "topic_id": table.label("topic"),
        "starts_at": table.label("date"),
        "ends_at": table.label("end_time"),
        "trainer_id": table.label("trainer_email"),
        "course_id": table.label("course_title"),
    }
    courses: dict[str, tuple[int, CourseFacts]] = {}
    sessions = FirstSeen()
    with all_or_nothing(report):
        for row in each_row(table.rows, progress):
            if check_overflow(report, row):
                attempt(
                    report,
                    row,
                    lambda row=row: _import_row(table, row, courses, sessions, report, by=by, now=now),
                    columns,
                )
    return report


def _import_row(
    table: Table,
    row: Row,
    courses: dict[str, tuple[int, CourseFacts]],
    sessions: FirstSeen,
    report: ImportReport,
    *,
    by: User | None,
    now: datetime,
) -> None:
    cells = Cells(table, row)
    facts = _course_facts(cells)
    _agrees_with_earlier_rows(cells, facts, courses)
    has_session = any(cells.text(key, max_length=500) for key in ("date", "start_time", "end_time", "places"))
    course, course_change = _course(cells, facts, has_session, by=by, now=now)
    session_change = None
    if has_session:
        details = _session_details(cells, course, facts)
        sessions.check((course.id, details.starts_at), row.line, cells.label("date"), "This session")
        session_change = _session(cells, details, report, by=by, now=now)
    for change in (course_change, session_change):
        if change:
            report.count(change)
    if not course_change and not session_change:
        report.count("unchanged")


def _course_facts(cells: Cells) -> CourseFacts:
    return CourseFacts(
        title=cells.text("course_title", max_length=300, required="Every row needs the course's title."),
        topic=cells.text("topic", max_length=150),
        level=cells.choice("level", CourseLevel, aliases=LEVEL_ALIASES),
        mode=cells.choice("delivery_mode", DeliveryMode, aliases=MODE_ALIASES),
        minutes=cells.hours("duration_hours"),
        provider=cells.text("provider", max_length=200),
    )


def _agrees_with_earlier_rows(
    cells: Cells, facts: CourseFacts, courses: dict[str, tuple[int, CourseFacts]]
) -> None:
    """One course, one set of details: a row that says otherwise than an earlier one is a problem."""
    key = facts.title.casefold()
    if key not in courses:
        courses[key] = (cells.row.line, facts)
        return
    line, first = courses[key]
    for name, attribute in zip(COURSE_FIELDS, ("topic", "level", "minutes", "provider"), strict=True):
        mine, theirs = getattr(facts, attribute), getattr(first, attribute)
        if mine and theirs and mine != theirs:
            raise RowProblem(
                cells.label(name), f"Line {line} gives the same course another {cells.label(name)}."
            )
        if mine and not theirs:
            setattr(first, attribute, mine)


def _course(
    cells: Cells, facts: CourseFacts, has_session: bool, *, by: User | None, now: datetime
) -> tuple[Course, str | None]:
    """The row's course, added or brought up to date; and "courses_created", "courses_updated" or None."""
    course = db.session.scalar(sa.select(Course).where(sa.func.lower(Course.title) == facts.title.lower()))
    if course is None:
        given = {
            "topic": facts.topic,
            "level": facts.level,
            "delivery_mode": facts.mode,
            "duration_hours": facts.minutes,
            "provider": facts.provider,
        }
        missing = [key for key, value in given.items() if not value]
        if missing:
            raise RowProblem(
                cells.label(missing[0]),
                f"A new course needs its {', '.join(missing)} (on its first row in the file).",
            )
    topic_id = find_or_create_topic(facts.topic, by=by, now=now).id if facts.topic else None
    details = CourseDetails(
        title=facts.title,
        topic_id=topic_id or course.topic_id,
        description=course.description if course else "",
        target_audience=course.target_audience if course else "",
        level=facts.level or course.level,
        # The course's own mode: from a new course's first row, or a row that is the course alone.
        delivery_mode=(
            facts.mode if (course is None or not has_session) and facts.mode else course.delivery_mode
        ),
        duration_minutes=facts.minutes or course.duration_minutes,
        provider=facts.provider or course.provider,
        is_active=course.is_active if course else True,
    )
    if course is None:
        return create_course(details, by=by, now=now), "courses_created"
    changed = changed_only(
        lambda: _course_snapshot(course), lambda: update_course(course, details, by=by, now=now)
    )
    return course, "courses_updated" if changed else None


def _course_snapshot(course: Course) -> tuple:
    return (
        course.title,
        course.topic_id,
        course.level,
        course.delivery_mode,
        course.duration_minutes,
        course.provider,
    )


def _moment(cells: Cells, day, at: time, key: str) -> datetime:
    try:
        return london_to_utc(datetime.combine(day, at))
    except InvalidLocalTime as exc:
        raise RowProblem(cells.label(key), str(exc)) from exc


def _session_details(cells: Cells, course: Course, facts: CourseFacts) -> SessionDetails:
    day = cells.day("date", required="Give the session's date.")
    starts_at = _moment(
        cells, day, cells.time_of_day("start_time", required="Give the start time."), "start_time"
    )
    ends_at = _moment(cells, day, cells.time_of_day("end_time", required="Give the end time."), "end_time")
    trainer_id = None
    trainer_email = cells.email("trainer_email")
    if trainer_email:
        trainer = find_user_by_email(trainer_email)
        if trainer is None or not trainer.has_role(Role.TRAINER):
            raise RowProblem(
                cells.label("trainer_email"),
                f"{trainer_email} is not a trainer here: "
                "import them as a person with the trainer role first.",
            )
        trainer_id = trainer.id
    overbook = cells.whole_number("overbook_percent", low=0, high=100)
    return SessionDetails(
        course_id=course.id,
        starts_at=starts_at,
        ends_at=ends_at,
        delivery_mode=facts.mode or course.delivery_mode,
        places=cells.whole_number("places", low=1, high=10_000, required="Give the number of places."),
        overbook_percent=current_app.config["OVERBOOK_PERCENT"] if overbook is None else overbook,
        cost_pence=cells.money("cost") or 0,
        venue=cells.lines("venue", max_length=1000) or None,
        online_link=cells.text("online_link", max_length=500) or None,
        trainer_id=trainer_id,
    )


def _session(
    cells: Cells, details: SessionDetails, report: ImportReport, *, by: User | None, now: datetime
) -> str | None:
    """Add the session, or bring a scheduled one up to date: "sessions_created", "sessions_updated"
    or None."""
    session = db.session.scalar(
        sa.select(CourseSession).where(
            CourseSession.course_id == details.course_id, CourseSession.starts_at == details.starts_at
        )
    )
    if session is None:
        create_session(details, by=by, now=now)
        if details.ends_at <= now:
            report.note(
                cells.row.line,
                cells.label("date"),
                "This session is in the past: load who came with the past attendance import.",
            )
        return "sessions_created"
    if session.status is not SessionStatus.SCHEDULED:
        report.note(
            cells.row.line,
            cells.label("date"),
            f"This session is {session.status.title.lower()}: it is left as it is.",
        )
        return None
    if _session_snapshot(session) == _wanted(details):
        return None
    changed = changed_only(
        lambda: _session_snapshot(session), lambda: edit_session(session, details, by=by, now=now)
    )
    return "sessions_updated" if changed else None


def _wanted(details: SessionDetails) -> tuple:
    """What _session_snapshot would read once `details` are saved."""
    return (
        details.starts_at,
        details.ends_at,
        details.delivery_mode,
        details.venue,
        details.online_link,
        details.trainer_id,
        details.places,
        details.overbook_percent,
        details.cost_pence,
    )


def _session_snapshot(session: CourseSession) -> tuple:
    return (
        session.starts_at,
        session.ends_at,
        session.delivery_mode,
        session.venue,
        session.online_link,
        session.trainer_id,
        session.places,
        session.overbook_percent,
        session.cost_pence,
    )
