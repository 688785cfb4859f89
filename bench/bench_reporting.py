"""How long the utilisation report takes on a million bookings, beside one bare GROUP BY.

Run on demand (pytest never collects it):

    .venv/bin/python -m bench.bench_reporting [--count 1000000] [--repeat 5] [--no-sqlite]

It builds a schema of its own in DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/test),
runs the migrations there and fills it with `flask lms generate-bookings` (lms/datasets/generate.py):
COUNT bookings over the financial years 2023/24 to 2025/26. It then times utilisation by agency for
2025/26, as the utilisation page asks for it, and one hand-written GROUP BY over booking joined to
course_session, filtered the same way, in the same run; on PostgreSQL also the report with the
planner kept off sequential scans, so that it reads booking through its index on session_id. Last,
it explains the report's queries (PostgreSQL: EXPLAIN ANALYZE; SQLite: EXPLAIN QUERY PLAN) and says
which indexes they use and how much of each query a scan of the whole booking table takes. Then the
same on a temporary SQLite file. It drops its schema when it ends, however it ends.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade

from bench.common import bench_app, database_url, in_schema, run_ddl, say
from config import BASE_DIR
from lms.core.db import UTCDateTime, write_intent
from lms.core.timezones import end_of_london_day, start_of_london_day
from lms.datasets.generate import generate, summary
from lms.extensions import db
from lms.reporting.utilisation import Dimension, Figures, utilisation

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)  # the data are the three financial years before this
YEAR = (date(2025, 4, 1), date(2026, 3, 31))  # the one the report is timed for
MAX_COUNT = 1_000_000
MIN_COUNT = 1_000
MAX_REPEAT = 10
DOMINATES = 0.5  # of a query's time, for a scan of the whole booking table


# Where it runs --------------------------------------------------------------------------------


# The data (timed, but apart from the report) ---------------------------------------------------


@dataclass
class Loaded:
    summary: str
    seconds: float  # generate-bookings
    tidy_seconds: float  # VACUUM ANALYZE or ANALYZE afterwards


def load(app: Flask, count: int) -> Loaded:
    """Migrations, then what `flask lms generate-bookings --count COUNT` does, then fresh statistics."""
    with app.app_context():
        say("  running the migrations")
        upgrade(directory=str(BASE_DIR / "migrations"))
        say(f"  generating {count:,} bookings")
        started = time.perf_counter()
        with write_intent():
            dataset = generate(count, now=NOW)
        seconds = time.perf_counter() - started
        db.session.remove()
        say("  refreshing the planner's statistics")
        started = time.perf_counter()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            if db.engine.dialect.name == "postgresql":
                connection.exec_driver_sql('VACUUM (ANALYZE) booking, course_session, agency, "user"')
            else:
                connection.exec_driver_sql("ANALYZE")
        tidy_seconds = time.perf_counter() - started
        db.engine.dispose()
    return Loaded(summary(dataset, count, seconds), seconds, tidy_seconds)


# What is timed --------------------------------------------------------------------------------

BARE_SQL = """
SELECT b.agency_id, lower(b.other_organisation) AS typed,
       SUM(CASE WHEN b.status = 'confirmed' AND b.is_walk_in = :no THEN 1 ELSE 0 END) AS booked,
       SUM(CASE WHEN b.status = 'confirmed' AND b.attendance = 'attended' THEN 1 ELSE 0 END) AS attended,
       SUM(CASE WHEN b.status = 'confirmed' AND b.attendance = 'partial' THEN 1 ELSE 0 END) AS partial,
       SUM(CASE WHEN b.status = 'confirmed' AND b.attendance = 'no_show' THEN 1 ELSE 0 END) AS no_shows,
       SUM(CASE WHEN b.status = 'cancelled' AND b.is_late_cancellation = :yes THEN 1 ELSE 0 END)
           AS late_cancellations,
       SUM(CASE WHEN b.status = 'cancelled' AND b.is_late_cancellation = :no
                 AND b.cancellation_reason = 'delegate' THEN 1 ELSE 0 END) AS on_time_cancellations,
       SUM(CASE WHEN b.waitlisted_at IS NOT NULL THEN 1 ELSE 0 END) AS waiting
FROM booking b
JOIN course_session s ON s.id = b.session_id
WHERE s.status <> 'cancelled' AND s.starts_at >= :start AND s.starts_at < :end AND s.starts_at <= :now
GROUP BY b.agency_id, lower(b.other_organisation)
"""
FIELDS = (
    "booked",
    "attended",
    "partial",
    "no_shows",
    "late_cancellations",
    "on_time_cancellations",
    "waiting",
)


def bare_query() -> sa.TextClause:
    # The same binding as the app's, so SQLite compares its stored naive-UTC text with the like.
    return sa.text(BARE_SQL).bindparams(
        *(sa.bindparam(n, type_=UTCDateTime()) for n in ("start", "end", "now"))
    )


BARE_PARAMS = {
    "start": start_of_london_day(YEAR[0]),
    "end": end_of_london_day(YEAR[1]),
    "now": NOW,
    "yes": True,
    "no": False,
}


@dataclass
class Sample:
    seconds: float
    rows: int
    total: Figures


@dataclass
class Result:
    label: str
    samples: list[Sample] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(s.seconds for s in self.samples)

    @property
    def best(self) -> float:
        return min(s.seconds for s in self.samples)


def by_the_app(*, no_seq_scans: bool = False) -> Callable[[], Sample]:
    def run() -> Sample:
        try:
            if no_seq_scans:
                db.session.execute(sa.text("SET LOCAL enable_seqscan = off"))
            started = time.perf_counter()
            report = utilisation(Dimension.AGENCY, *YEAR, now=NOW)
            seconds = time.perf_counter() - started
        finally:
            db.session.remove()  # a new session each time, as a new request has
        return Sample(seconds, len(report.rows), report.total)

    return run


def in_bare_sql() -> Sample:
    query = bare_query()
    with db.engine.connect() as connection:
        started = time.perf_counter()
        rows = connection.execute(query, BARE_PARAMS).all()
        seconds = time.perf_counter() - started
    total = Figures("total", "Total")
    for row in rows:
        total.add(Figures("", "", **{name: int(getattr(row, name)) for name in FIELDS}))
    return Sample(seconds, len(rows), total)


def measure(app: Flask, repeat: int) -> list[Result]:
    """A warm-up of each, then `repeat` of each, taking turns."""
    runs = [("app: utilisation by agency", by_the_app()), ("bare SQL: one GROUP BY", in_bare_sql)]
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        runs.append(("app, index path (seqscan off)", by_the_app(no_seq_scans=True)))
    results = [Result(label) for label, _ in runs]
    with app.app_context():
        for n in range(repeat + 1):
            for result, (_, run) in zip(results, runs, strict=True):
                taken = run()
                what = "warm-up" if n == 0 else f"{n}/{repeat}"
                say(f"  {result.label}, {what}: {taken.seconds:.3f} s, {taken.rows} rows")
                if n:
                    result.samples.append(taken)
        db.engine.dispose()
    return results


# The plans ------------------------------------------------------------------------------------


@dataclass
class Plan:
    """One of the report's statements: how long it takes and how it reads booking."""

    what: str
    milliseconds: float
    indexes: list[str]
    booking_access: str  # how booking is read
    full_scan_ms: float | None  # time in a scan of the whole booking table, where known
    full_scan: bool


def report_statements() -> list[tuple[str, object]]:
    """The SQL the report sends, as the driver receives it, caught on the way out."""
    sent: list[tuple[str, object]] = []

    def catch(connection, cursor, statement, parameters, context, executemany) -> None:
        sent.append((statement, parameters))

    sa.event.listen(db.engine, "before_cursor_execute", catch)
    try:
        utilisation(Dimension.AGENCY, *YEAR, now=NOW)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", catch)
        db.session.remove()
    return [(s, p) for s, p in sent if s.lstrip().upper().startswith("SELECT")]


def describe(statement: str) -> str:
    if "GROUP BY" not in statement.upper():
        return "totals" if "booking" in statement else "places offered"
    return "rows by agency"


def nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", ()):
        yield from nodes(child)


def explain_postgresql(connection, statement: str, parameters) -> Plan:
    (raw,) = connection.exec_driver_sql(
        "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, parameters
    ).one()
    tree = raw[0]
    every = list(nodes(tree["Plan"]))
    on_booking = [n for n in every if n.get("Relation Name") == "booking"]
    scans = [n for n in on_booking if n["Node Type"] == "Seq Scan"]
    access = ", ".join(
        ("Parallel " if n.get("Parallel Aware") else "")
        + n["Node Type"]
        + (f" ({n['Index Name']})" if n.get("Index Name") else "")
        for n in on_booking
    )
    return Plan(
        what=describe(statement),
        milliseconds=tree["Execution Time"],
        indexes=sorted({n["Index Name"] for n in every if n.get("Index Name")}),
        booking_access=access or "not read",
        # A parallel node's time is per worker; the workers run side by side.
        full_scan_ms=sum(n["Actual Total Time"] for n in scans) if scans else None,
        full_scan=bool(scans),
    )


def explain_sqlite(connection, statement: str, parameters) -> Plan:
    details = [row[3] for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)]
    started = time.perf_counter()
    connection.exec_driver_sql(statement, parameters).all()
    milliseconds = (time.perf_counter() - started) * 1000
    on_booking = [d for d in details if re.match(r"(SCAN|SEARCH) booking\b", d)]
    full_scan = any(d.startswith("SCAN booking") and "INDEX" not in d for d in on_booking)
    indexes = {m for d in details for m in re.findall(r"USING (?:COVERING )?INDEX (\w+)", d)}
    return Plan(
        what=describe(statement),
        milliseconds=milliseconds,
        indexes=sorted(indexes),
        booking_access="; ".join(on_booking) or "not read",
        full_scan_ms=None,
        full_scan=full_scan,
    )


def explain(app: Flask) -> list[Plan]:
    with app.app_context():
        statements = report_statements()
        explain_one = explain_postgresql if db.engine.dialect.name == "postgresql" else explain_sqlite
        with db.engine.connect() as connection:
            plans = [explain_one(connection, statement, parameters) for statement, parameters in statements]
        db.engine.dispose()
    return plans


# The run --------------------------------------------------------------------------------------


@dataclass
class Outcome:
    where: str
    loaded: Loaded
    results: list[Result]
    plans: list[Plan]


def on_postgresql(count: int, repeat: int) -> Outcome:
    url = database_url()
    schema = f"bench_rep_{os.getpid()}_{secrets.token_hex(3)}"
    say(f"PostgreSQL: creating schema {schema}")
    run_ddl(url, f"CREATE SCHEMA {schema}")
    try:
        app = bench_app(in_schema(url, schema))
        loaded = load(app, count)
        return Outcome(f"PostgreSQL (schema {schema})", loaded, measure(app, repeat), explain(app))
    finally:
        say(f"  dropping schema {schema}")
        run_ddl(url, f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def on_sqlite(count: int, repeat: int) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="bench_rep_") as folder:
        path = Path(folder) / "bench.sqlite3"
        say(f"SQLite: {path}")
        app = bench_app(f"sqlite:///{path}")
        loaded = load(app, count)
        return Outcome("SQLite (temporary file)", loaded, measure(app, repeat), explain(app))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--count", type=int, default=MAX_COUNT, help=f"bookings to generate, {MIN_COUNT:,}-{MAX_COUNT:,}"
    )
    parser.add_argument("--repeat", type=int, default=5, help=f"timed runs of each, 1-{MAX_REPEAT} (5)")
    parser.add_argument("--no-sqlite", action="store_true", help="measure on PostgreSQL only")
    args = parser.parse_args(argv)
    if not MIN_COUNT <= args.count <= MAX_COUNT:
        parser.error(f"--count must lie between {MIN_COUNT:,} and {MAX_COUNT:,}")
    if not 1 <= args.repeat <= MAX_REPEAT:
        parser.error(f"--repeat must lie between 1 and {MAX_REPEAT}")
    return args


def report(outcome: Outcome) -> None:
    print()
    print(f"{outcome.where}")
    for line in outcome.loaded.summary.splitlines():
        print(f"  {line.strip()}")
    print(f"  then fresh planner statistics in {outcome.loaded.tidy_seconds:.1f} s")
    print(f"  {'':30} {'median s':>9} {'min s':>9} {'rows':>5} {'attended':>9} {'booked':>8}")
    for r in outcome.results:
        last = r.samples[-1]
        print(
            f"  {r.label:30} {r.median:9.3f} {r.best:9.3f} {last.rows:5} "
            f"{last.total.attended_total:9,} {last.total.booked:8,}"
        )
    app_result, sql_result, *forced = outcome.results
    print(
        f"  app / bare SQL: {app_result.median / sql_result.median:.1f} (median), "
        f"{app_result.best / sql_result.best:.1f} (min)"
    )
    if forced:
        print(f"  seq scans off / app as planned: {forced[0].median / app_result.median:.2f} (median)")
    check(outcome.results)
    print("  The report's queries:")
    for n, plan in enumerate(outcome.plans, 1):
        share = ""
        if plan.full_scan_ms is not None:
            part = plan.full_scan_ms / plan.milliseconds
            share = f"; whole-table scan of booking {plan.full_scan_ms:.0f} ms = {part:.0%}"
        print(f"    {n}. {plan.what:15} {plan.milliseconds:8.1f} ms{share}")
        print(f"       booking: {plan.booking_access}")
        print(f"       indexes used: {', '.join(plan.indexes) or 'none'}")
    print(f"  {verdict(outcome.plans)}")


def check(results: list[Result]) -> None:
    """Every way of counting must agree on the figures."""
    totals = {tuple(getattr(s.total, name) for name in FIELDS) for r in results for s in r.samples}
    rows = {s.rows for r in results for s in r.samples}
    if len(totals) != 1 or len(rows) != 1:
        print(f"  WARNING: the runs disagree: totals {sorted(totals)}, rows {sorted(rows)}")


def verdict(plans: list[Plan]) -> str:
    scanned = [p for p in plans if p.full_scan]
    if not scanned:
        return "Verdict: no query scans the whole booking table; booking is read through an index."
    timed = [p for p in scanned if p.full_scan_ms is not None]
    if timed and any(p.full_scan_ms / p.milliseconds > DOMINATES for p in timed):
        return "Verdict: a scan of the whole booking table dominates a query; an index would help."
    if timed:
        worst = max(p.full_scan_ms / p.milliseconds for p in timed)
        return (
            f"Verdict: booking is scanned whole, but the scan is at most {worst:.0%} of a query's time; "
            "the rest is joining, sorting and grouping."
        )
    return "Verdict: booking is scanned whole (SQLite gives no timing per step)."


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.perf_counter()
    outcomes = [on_postgresql(args.count, args.repeat)]
    if not args.no_sqlite:
        outcomes.append(on_sqlite(args.count, args.repeat))
    print(
        f"Utilisation by agency for 2025/26 on {args.count:,} generated bookings over 2023/24 to "
        f"2025/26; {args.repeat} timed runs of each after a warm-up; {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.1f}; whole run {time.perf_counter() - started:.0f} s"
    )
    for outcome in outcomes:
        report(outcome)


if __name__ == "__main__":
    main()
