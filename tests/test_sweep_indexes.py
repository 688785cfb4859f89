"""The scheduler's sweeps read only what can be due, through indexes: never the years of history.

Each sweep's statements are caught on their way to the database and explained. On PostgreSQL the
planner is told to avoid sequential scans, so the plan shows whether an index can serve the
statement at all (with an empty table it would rightly scan); SQLite is told to read the table
through the index, and refuses if the index cannot serve the statement. bench/bench_sweeps.py
times the same sweeps on a million bookings.
"""

from __future__ import annotations

import json
import re

import pytest
import sqlalchemy as sa

from lms.evaluations.services import remind_evaluations
from lms.extensions import db
from lms.followups.services import close_due, invite_due, remind_due
from tests.factories import NOW


def statements_of(sweep) -> list[tuple[str, object]]:
    sent: list[tuple[str, object]] = []

    def catch(connection, cursor, statement, parameters, context, executemany) -> None:
        if re.match(r"\s*(SELECT|UPDATE)", statement, re.IGNORECASE):
            sent.append((statement, parameters))

    sa.event.listen(db.engine, "before_cursor_execute", catch)
    try:
        sweep(NOW)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", catch)
    return sent


def indexes_used(statement: str, parameters, index: str, table: str) -> set[str]:
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        (plan,) = connection.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters).one()
        text = plan if isinstance(plan, str) else json.dumps(plan)
        return set(re.findall(r'"Index Name": "(\w+)"', text))
    # SQLite refuses to plan a statement told to read a table INDEXED BY an index it cannot use.
    forced = re.sub(rf"\b(FROM|JOIN) {table}\b", rf"\1 {table} INDEXED BY {index}", statement, count=1)
    rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + forced, parameters)
    return {name for row in rows for name in re.findall(r"USING (?:COVERING )?INDEX (\w+)", row[3])}


@pytest.mark.parametrize(
    ("sweep", "index", "table"),
    [
        (remind_evaluations, "ix_booking_evaluation_due", "booking"),
        (invite_due, "ix_course_session_ends_at", "course_session"),
        (remind_due, "ix_follow_up_open", "follow_up"),
        (close_due, "ix_follow_up_open", "follow_up"),
    ],
)
def test_a_sweep_finds_what_is_due_through_its_index(app_context, sweep, index, table):
    [(statement, parameters)] = statements_of(sweep)[:1]
    assert index in indexes_used(statement, parameters, index, table)
