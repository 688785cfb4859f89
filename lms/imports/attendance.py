"""Importing past attendance: who came to the sessions that ran before this system did, so that
last year's report columns, training records and histories are there from the first day.

A row is a person (by email: they must be imported first, as people; someone unknown is a problem,
never created here), a course (by title: from the programme import), the date, and the outcome.
The bookings service makes the session if needed, completed with its register closed, and records
the outcome without sending anything or charging anyone. A person on a session again is an update,
so importing the same file twice changes nothing.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from lms.accounts.models import User
from lms.accounts.services import find_user_by_email
from lms.bookings.models import Attendance
from lms.bookings.services import record_past_attendance
from lms.courses.models import Course
from lms.extensions import db
from lms.imports.fields import Cells
from lms.imports.readers import Lines, Row, Table
from lms.imports.report import ImportKind, ImportReport, Progress, RowProblem
from lms.imports.steps import FirstSeen, all_or_nothing, attempt, check_overflow, each_row, require_columns

COLUMNS = ["email", "course_title", "date", "outcome", "hours", "start_time", "places"]
NEEDED = {key: key for key in COLUMNS[:4]}
OUTCOME_ALIASES = {
    "attended": Attendance.ATTENDED,
    "yes": Attendance.ATTENDED,
    "partial": Attendance.PARTIAL,
    "partially": Attendance.PARTIAL,
    "partly attended": Attendance.PARTIAL,
    "no show": Attendance.NO_SHOW,
    "noshow": Attendance.NO_SHOW,
    "did not attend": Attendance.NO_SHOW,
    "dna": Attendance.NO_SHOW,
    "absent": Attendance.NO_SHOW,
}


def import_attendance(
    lines: Lines, *, by: User | None, now: datetime, dry_run: bool, progress: Progress | None = None
) -> ImportReport:
    """Record past attendance from a file."""
    table = lines.with_headings()
    require_columns(table, NEEDED, "past attendance (" + ", ".join(COLUMNS[:4]) + ", and hours if known)")
    report = ImportReport(ImportKind.ATTENDANCE, dry_run=dry_run, rows=len(table.rows))
    columns = {key: table.label(key) for key in COLUMNS}
    seen = FirstSeen()
    sessions: set[int] = set()
    with all_or_nothing(report):
        for row in each_row(table.rows, progress):
            if check_overflow(report, row):
                attempt(
                    report,
                    row,
                    lambda row=row: _import_row(table, row, seen, sessions, report, by=by, now=now),
                    columns,
                )
        report.count("sessions", len(sessions))
    return report


def _import_row(
    table: Table,
    row: Row,
    seen: FirstSeen,
    sessions: set[int],
    report: ImportReport,
    *,
    by: User | None,
    now: datetime,
) -> None:
    cells = Cells(table, row)
    email = cells.email("email", required="Give the person's email address.")
    title = cells.text("course_title", max_length=300, required="Give the course's title.")
    day = cells.day("date", required="Give the date of the session.")
    outcome = cells.choice(
        "outcome",
        Attendance,
        aliases=OUTCOME_ALIASES,
        required="Give the outcome: attended, partially attended or no-show.",
    )
    start = cells.time_of_day("start_time")
    seen.check(
        (email, title.casefold(), day, start), row.line, cells.label("email"), "This person's attendance"
    )
    person = find_user_by_email(email)
    if person is None:
        raise RowProblem(
            cells.label("email"),
            f"No one is registered as {email}: import them with the people import first.",
        )
    course = db.session.scalar(sa.select(Course).where(sa.func.lower(Course.title) == title.lower()))
    if course is None:
        raise RowProblem(
            cells.label("course_title"),
            f"There is no course called “{title}”: add it with the programme import first "
            "(a row without a date adds the course alone).",
        )
    booking, change = record_past_attendance(
        person,
        course,
        day,
        outcome,
        start=start,
        minutes=cells.hours("hours"),
        places=cells.whole_number("places", low=1, high=10_000),
        by=by,
        now=now,
    )
    sessions.add(booking.session_id)
    report.count(change)
