"""What the scheduler's sweeps cost with nothing due, on 1,000 and on 1,000,000 bookings of history.

Run on demand (pytest never collects it):

    .venv/bin/python -m bench.bench_sweeps [--large 1000000] [--repeat 15] [--sqlite]

For each size it builds a schema of its own in DATABASE_URL (default
postgresql://postgres@127.0.0.1:5432/test), runs the migrations, fills it with what
`flask lms generate-bookings` makes (lms/datasets/generate.py: three financial years of sessions and
bookings, to 31 March 2026) and adds the history the generator leaves out, as a system that had run
those years would hold it: a follow-up survey for each attendee (half answered, the rest reminded
and closed), an evaluation from two attendees in three (who were then never reminded), and a sent
outbox message for each booking. The clock is fixed at 1 June 2026, when everything in the data has
been done: each sweep then finds nothing due, and whatever it reads, it reads because of history.

It times each sweep as the scheduler runs it (an app context, write intent, the sweep, commit) on
both sizes in turns, and prints the medians and, for each sweep, RATIO large/small (goal <= 2).
Then it explains the statements each sweep sends on the large data (PostgreSQL: EXPLAIN ANALYZE;
SQLite: EXPLAIN QUERY PLAN) and names every table read whole. It drops its schemas (or temporary
SQLite files) when it ends, however it ends.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade

from bench.common import bench_app, database_url, in_schema, run_ddl, say
from config import BASE_DIR
from lms.core import clock
from lms.core.db import UTCDateTime, write_intent
from lms.datasets.generate import generate
from lms.extensions import db

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)  # after every follow-up of the data has closed
SMALL = 1_000
MAX_LARGE = 1_000_000
GOAL = 2.0  # large / small, for each sweep
BIG_TABLES = {"booking", "follow_up", "outbox_message", "evaluation", "course_session", "user"}


# The sweeps, as lms/scheduler.py runs them ----------------------------------------------------


def _sweeps() -> list[Callable[[datetime], int]]:
    """The scheduler's own jobs, with its follow-up job taken apart into its three sweeps."""
    from lms.followups.services import close_due, invite_due, remind_due
    from lms.scheduler import deliver_outbox, evaluation_reminders, joining_instructions, session_reminders

    return [
        session_reminders,
        joining_instructions,
        evaluation_reminders,
        invite_due,
        remind_due,
        close_due,
        deliver_outbox,
    ]


SWEEPS = _sweeps()


def run_sweep(app: Flask, sweep: Callable[[datetime], int]) -> tuple[float, int]:
    """One run as lms.scheduler.run_job does it; seconds, and how many things it found due."""
    started = time.perf_counter()
    with app.app_context(), write_intent():
        try:
            done = sweep(NOW)
            db.session.commit()
        finally:
            db.session.remove()
    return time.perf_counter() - started, done


# The data -------------------------------------------------------------------------------------


def later(dialect: str, column: str, days: int) -> str:
    """SQL for a stored UTC time plus whole days, as each database keeps it."""
    if dialect == "postgresql":
        return f"({column} + interval '{days} days')"
    # SQLite keeps naive UTC text, as SQLAlchemy writes it.
    return f"strftime('%Y-%m-%d %H:%M:%S.000000', {column}, '+{days} days')"


def add_history(dialect: str) -> None:
    """What years of running leave behind that the generator does not write (core SQL, untimed)."""
    attended = (
        "b.status = 'confirmed' AND b.attendance IN ('attended', 'partial') AND b.is_past_record = :no"
    )
    answered = "b.id % 2 = 0"
    evaluated = "b.id % 3 <> 0"
    statements = [
        # Every attendee was invited 6 weeks on; half answered, the rest were reminded and closed.
        f"""INSERT INTO follow_up (booking_id, invited_at, closes_at, reminded_at, closed_at, submitted_at,
                applied, confidence, barriers)
            SELECT b.id, {later(dialect, "s.ends_at", 42)}, {later(dialect, "s.ends_at", 56)},
                CASE WHEN {answered} THEN NULL ELSE {later(dialect, "s.ends_at", 49)} END,
                CASE WHEN {answered} THEN NULL ELSE {later(dialect, "s.ends_at", 56)} END,
                CASE WHEN {answered} THEN {later(dialect, "s.ends_at", 45)} END,
                CASE WHEN {answered} THEN 'yes' END, CASE WHEN {answered} THEN 4 END, '[]'
            FROM booking b JOIN course_session s ON s.id = b.session_id
            WHERE {attended} AND s.status = 'completed'""",
        "INSERT INTO question_set (course_id, version, created_at) SELECT id, 1, :set_up FROM course",
        # Two attendees in three evaluated within a day of being asked, so were never reminded.
        f"""INSERT INTO evaluation (booking_id, question_set_id, submitted_at)
            SELECT b.id, q.id, {later(dialect, "b.evaluation_requested_at", 1)}
            FROM booking b JOIN course_session s ON s.id = b.session_id
            JOIN question_set q ON q.course_id = s.course_id
            WHERE {attended} AND b.evaluation_requested_at IS NOT NULL AND {evaluated}""",
        f"""UPDATE booking SET evaluation_reminded_at = NULL
            WHERE id IN (SELECT booking_id FROM evaluation) AND {evaluated.replace("b.", "booking.")}""",
        # A message for every booking, sent long ago.
        """INSERT INTO outbox_message (kind, recipient, user_id, subject, body, attachments, created_at,
                next_attempt_at, attempts, sent_at)
            SELECT 'booking.confirmed', u.email, b.user_id, 'Place confirmed', 'Your place is confirmed.',
                '[]', b.booked_at, b.booked_at, 1, b.booked_at
            FROM booking b JOIN "user" u ON u.id = b.user_id""",
    ]
    set_up = sa.bindparam("set_up", type_=UTCDateTime())
    for statement in statements:
        query = sa.text(statement)
        if ":set_up" in statement:
            query = query.bindparams(set_up)
        db.session.execute(query, {"no": False, "set_up": NOW})
    db.session.commit()


def load(app: Flask, count: int) -> str:
    with app.app_context():
        upgrade(directory=str(BASE_DIR / "migrations"))
        started = time.perf_counter()
        with write_intent():
            generate(count, now=NOW)
            add_history(db.engine.dialect.name)
        db.session.remove()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql(
                "VACUUM (ANALYZE)" if db.engine.dialect.name == "postgresql" else "ANALYZE"
            )
            rows = {
                table: connection.exec_driver_sql(f'SELECT count(*) FROM "{table}"').scalar()
                for table in ("booking", "course_session", "follow_up", "evaluation", "outbox_message")
            }
        db.engine.dispose()
    seconds = time.perf_counter() - started
    return f"{count:,} bookings in {seconds:.0f} s: " + ", ".join(f"{t} {n:,}" for t, n in rows.items())


@contextmanager
def postgresql_database(label: str) -> Iterator[str]:
    url = database_url()
    schema = f"bench_sweep_{label}_{os.getpid()}_{secrets.token_hex(3)}"
    run_ddl(url, f"CREATE SCHEMA {schema}")
    try:
        yield in_schema(url, schema)
    finally:
        say(f"  dropping schema {schema}")
        run_ddl(url, f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@contextmanager
def sqlite_database(label: str) -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix=f"bench_sweep_{label}_") as folder:
        yield f"sqlite:///{Path(folder) / 'bench.sqlite3'}"


# Timing ---------------------------------------------------------------------------------------


@dataclass
class Timings:
    seconds: dict[str, list[float]] = field(default_factory=dict)
    found: dict[str, set[int]] = field(default_factory=dict)

    def add(self, name: str, seconds: float, done: int) -> None:
        self.seconds.setdefault(name, []).append(seconds)
        self.found.setdefault(name, set()).add(done)

    def median_ms(self, name: str) -> float:
        return statistics.median(self.seconds[name]) * 1000


def measure(apps: dict[str, Flask], repeat: int) -> dict[str, Timings]:
    """Every sweep on every size, taking turns, after one warm-up of each."""
    timings = {label: Timings() for label in apps}
    for app in apps.values():
        for sweep in SWEEPS:
            run_sweep(app, sweep)
    for turn in range(repeat):
        for label, app in apps.items():
            for sweep in SWEEPS:
                timings[label].add(sweep.__name__, *run_sweep(app, sweep))
        say(f"  turn {turn + 1}/{repeat}")
    return timings


# Plans ----------------------------------------------------------------------------------------


def statements_of(app: Flask, sweep: Callable[[datetime], int]) -> list[tuple[str, object]]:
    """The SELECTs and UPDATEs a sweep sends, caught on the way to the driver."""
    sent: list[tuple[str, object]] = []

    def catch(connection, cursor, statement, parameters, context, executemany) -> None:
        if re.match(r"\s*(SELECT|UPDATE|WITH)", statement, re.IGNORECASE):
            sent.append((statement, parameters))

    with app.app_context():
        sa.event.listen(db.engine, "before_cursor_execute", catch)
        try:
            run_sweep(app, sweep)
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", catch)
    return sent


def nodes(plan: dict) -> Iterator[dict]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from nodes(child)


def explain(app: Flask, statement: str, parameters) -> tuple[str, bool]:
    """How the database reads the tables for one statement, and whether it reads a big one whole."""
    with app.app_context(), db.engine.connect() as connection:
        if db.engine.dialect.name == "postgresql":
            with connection.begin() as transaction:
                (raw,) = connection.exec_driver_sql(
                    "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, parameters
                ).one()
                transaction.rollback()
            tree = raw[0]
            reads = [n for n in nodes(tree["Plan"]) if n.get("Relation Name") or n.get("Index Name")]
            whole = any(n["Node Type"] == "Seq Scan" and n.get("Relation Name") in BIG_TABLES for n in reads)
            described = "; ".join(
                n["Node Type"]
                + (f" on {n['Relation Name']}" if n.get("Relation Name") else "")
                + (f" using {n['Index Name']}" if n.get("Index Name") else "")
                + f" ({n['Actual Rows']} rows)"
                for n in reads
            )
            return f"{tree['Execution Time']:.2f} ms: {described}", whole
        rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
        details = [row[3] for row in rows]
        whole = any(
            re.match(rf"SCAN {table}\b", d) and "INDEX" not in d for d in details for table in BIG_TABLES
        )
        return "; ".join(details), whole


def explain_sweeps(app: Flask) -> list[tuple[str, list[tuple[str, bool]]]]:
    return [
        (sweep.__name__, [explain(app, s, p) for s, p in statements_of(app, sweep)]) for sweep in SWEEPS
    ]


# The run --------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--large", type=int, default=MAX_LARGE, help="bookings in the large data (1,000,000)")
    parser.add_argument("--repeat", type=int, default=15, help="timed runs of each sweep on each size (15)")
    parser.add_argument("--sqlite", action="store_true", help="on temporary SQLite files, not PostgreSQL")
    args = parser.parse_args(argv)
    if not SMALL < args.large <= MAX_LARGE:
        parser.error(f"--large must lie between {SMALL + 1:,} and {MAX_LARGE:,}")
    if not 3 <= args.repeat <= 50:
        parser.error("--repeat must lie between 3 and 50")
    return args


def report(where: str, loaded: dict[str, str], timings: dict[str, Timings], plans, large: int) -> None:
    small, big = timings["small"], timings["large"]
    print()
    print(f"Sweeps with nothing due, {where}; clock {NOW:%d %B %Y %H:%M} UTC; {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.1f}")
    for label, text in loaded.items():
        print(f"  {label}: {text}")
    print(f"  {'':24} {'1k ms':>9} {f'{large // 1000:,}k ms':>10} {'ratio':>7}  found due")
    for sweep in SWEEPS:
        name = sweep.__name__
        ratio = big.median_ms(name) / small.median_ms(name)
        found = sorted(small.found[name] | big.found[name])
        print(f"  {name:24} {small.median_ms(name):9.2f} {big.median_ms(name):10.2f} {ratio:7.2f}  {found}")
    how = "EXPLAIN QUERY PLAN" if "SQLite" in where else "EXPLAIN ANALYZE"
    print(f"  What each sweep asks the large database ({how}):")
    for name, explained in plans:
        for text, whole in explained:
            print(f"    {name}: {'READS A BIG TABLE WHOLE: ' if whole else ''}{text}")
    for sweep in SWEEPS:
        name = sweep.__name__
        ratio = big.median_ms(name) / small.median_ms(name)
        print(f"RATIO sweep_{name}_{large // 1000}k_over_1k {ratio:.2f} goal <= {GOAL:g}")


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    clock.freeze(NOW)
    where = "SQLite (temporary files)" if args.sqlite else "PostgreSQL"
    database = sqlite_database if args.sqlite else postgresql_database
    sizes = {"small": SMALL, "large": args.large}
    with ExitStack() as stack:
        apps, loaded = {}, {}
        for label, count in sizes.items():
            uri = stack.enter_context(database(label))
            say(f"{where}: {count:,} bookings")
            apps[label] = bench_app(uri)
            loaded[label] = load(apps[label], count)
        say("Timing the sweeps")
        timings = measure(apps, args.repeat)
        say("Explaining the large data's statements")
        plans = explain_sweeps(apps["large"])
        for app in apps.values():
            with app.app_context():
                db.engine.dispose()
    report(where, loaded, timings, plans, args.large)


if __name__ == "__main__":
    main()
