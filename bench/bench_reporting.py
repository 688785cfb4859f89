"""How long the utilisation report and the utilisation page take on a million bookings, beside bare SQL.

Run on demand (pytest never collects it):

    .venv/bin/python -m bench.bench_reporting [--count 1000000] [--repeat 5] [--no-sqlite]

It builds a schema of its own in DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/test),
runs the migrations there and fills it with `flask lms generate-bookings` (lms/datasets/generate.py):
COUNT bookings over the financial years 2023/24 to 2025/26. Then, taking turns, it times:

- the report: utilisation by agency for 2025/26, and the bare SQL for the same figures (one GROUP BY
  over booking joined to course_session, and the places offered); the GROUP BY is also timed alone;
- the page: what the utilisation page asks for (2025/26 by agency, 2024/25 beside it, 2025/26 by
  month), and the bare SQL for it written two ways: the fewest statements (one GROUP BY over both
  years, by month for this one, and the places offered the same way), and one statement per figure.

Last, it explains the app's statements (PostgreSQL: EXPLAIN ANALYZE; SQLite: EXPLAIN QUERY PLAN) and
says which indexes they use and how much of each a scan of the whole booking table takes. Then the
same on a temporary SQLite file. It drops its schema when it ends, however it ends. The last lines
say what holds: `RATIO <name> <value> goal <op> <value>`.
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
from contextlib import contextmanager
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
from lms.reporting.utilisation import Dimension, Figures, utilisation, utilisation_compared

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)  # the data are the three financial years before this
YEAR = (date(2025, 4, 1), date(2026, 3, 31))  # the one the report is timed for
PREVIOUS = (date(2024, 4, 1), date(2025, 3, 31))  # beside it on the page
MAX_COUNT = 1_000_000
MIN_COUNT = 1_000
MAX_REPEAT = 10
DOMINATES = 0.5  # of a query's time, for a scan of the whole booking table
REPORT_GOAL = 1.15  # the report at most this many times the bare SQL
PAGE_GOAL = 1.5  # the page at most this many times the bare SQL it needs


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

COUNTS = """
       SUM(CASE WHEN b.status = 'confirmed' AND b.is_walk_in = :no THEN 1 ELSE 0 END) AS booked,
       SUM(CASE WHEN b.status = 'confirmed' AND b.attendance = 'attended' THEN 1 ELSE 0 END) AS attended,
       SUM(CASE WHEN b.status = 'confirmed' AND b.attendance = 'partial' THEN 1 ELSE 0 END) AS partial,
       SUM(CASE WHEN b.status = 'confirmed' AND b.attendance = 'no_show' THEN 1 ELSE 0 END) AS no_shows,
       SUM(CASE WHEN b.status = 'cancelled' AND b.is_late_cancellation = :yes THEN 1 ELSE 0 END)
           AS late_cancellations,
       SUM(CASE WHEN b.status = 'cancelled' AND b.is_late_cancellation = :no
                 AND b.cancellation_reason = 'delegate' THEN 1 ELSE 0 END) AS on_time_cancellations,
       SUM(CASE WHEN b.waitlisted_at IS NOT NULL THEN 1 ELSE 0 END) AS waiting"""
RAN = "s.status <> 'cancelled' AND s.starts_at <= :now"
IN_YEAR = "s.starts_at >= :start AND s.starts_at < :end"
BY_AGENCY = f"""
SELECT b.agency_id, lower(b.other_organisation) AS typed,{COUNTS}
FROM booking b
JOIN course_session s ON s.id = b.session_id
WHERE {RAN} AND {IN_YEAR}
GROUP BY b.agency_id, lower(b.other_organisation)
"""
BY_MONTH = f"""
SELECT s.local_month,{COUNTS}
FROM booking b
JOIN course_session s ON s.id = b.session_id
WHERE {RAN} AND {IN_YEAR}
GROUP BY s.local_month
"""
PLACES = f"""
SELECT count(s.id) AS sessions, sum(s.places) AS places
FROM course_session s WHERE {RAN} AND {IN_YEAR}
"""
PLACES_BY_MONTH = f"""
SELECT s.local_month, count(s.id) AS sessions, sum(s.places) AS places
FROM course_session s WHERE {RAN} AND {IN_YEAR} GROUP BY s.local_month
"""
# The page in the fewest statements: each booking of either year is read once, and counted in its
# "slice": a month of this year, or last year whole.
SLICED = """
SELECT p.slice, b.agency_id, lower(b.other_organisation) AS typed,{counts}
FROM booking b
JOIN course_session s ON s.id = b.session_id
JOIN ({slices}) p ON s.starts_at >= p.starts AND s.starts_at < p.ends
WHERE {ran}
GROUP BY p.slice, b.agency_id, lower(b.other_organisation)
"""
PLACES_SLICED = """
SELECT p.slice, count(s.id) AS sessions, sum(s.places) AS places
FROM course_session s
JOIN ({slices}) p ON s.starts_at >= p.starts AND s.starts_at < p.ends
WHERE {ran}
GROUP BY p.slice
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
TIMES = ("start", "end", "now")


def year_params(period: tuple[date, date]) -> dict:
    return {
        "start": start_of_london_day(period[0]),
        "end": end_of_london_day(period[1]),
        "now": NOW,
        "yes": True,
        "no": False,
    }


def bare(sql: str, times: Sequence[str] = TIMES) -> sa.TextClause:
    # The same binding as the app's, so SQLite compares its stored naive-UTC text with the like.
    return sa.text(sql).bindparams(*(sa.bindparam(n, type_=UTCDateTime()) for n in times))


def slices() -> list[tuple[datetime, datetime, int]]:
    """This year's months, then last year whole: (starts, ends, period)."""
    first = YEAR[0]
    months = [(first.month + n - 1) for n in range(13)]
    bounds = [start_of_london_day(date(first.year + m // 12, m % 12 + 1, 1)) for m in months]
    this_year = [(starts, ends, 0) for starts, ends in zip(bounds, bounds[1:], strict=False)]
    return [*this_year, (start_of_london_day(PREVIOUS[0]), end_of_london_day(PREVIOUS[1]), 1)]


def sliced(template: str, dialect: str) -> tuple[sa.TextClause, dict]:
    # PostgreSQL needs the type of a bound value in a SELECT list; SQLite stores times as text.
    typed = "CAST(:{} AS timestamptz)" if dialect == "postgresql" else ":{}"
    rows = " UNION ALL ".join(
        f"SELECT {n} AS slice, {typed.format(f's{n}')} AS starts, {typed.format(f'e{n}')} AS ends"
        for n in range(len(slices()))
    )
    params = {"now": NOW, "yes": True, "no": False}
    for n, (starts, ends, _) in enumerate(slices()):
        params |= {f"s{n}": starts, f"e{n}": ends}
    sql = template.format(counts=COUNTS, slices=rows, ran=RAN)
    return bare(sql, ["now", *(name for name in params if name[0] in "se")]), params


def add_counts(figures: Figures, row) -> None:
    figures.add(Figures("", "", **{name: int(getattr(row, name) or 0) for name in FIELDS}))


def add_places(figures: Figures, row) -> None:
    figures.add(Figures("", "", sessions=int(row.sessions or 0), places=int(row.places or 0)))


@dataclass
class Outcome:
    """What one run of one kind found: its rows and totals, to check every kind agrees."""

    rows: int
    totals: tuple  # this year's (and last year's) totals
    months: tuple = ()  # this year's attended by month, where it gives them


@dataclass
class Sample:
    seconds: float
    statements: int
    outcome: Outcome


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

    @property
    def statements(self) -> int:
        return self.samples[-1].statements


def figures_of(total: Figures) -> tuple:
    return (total.sessions, total.places, *(getattr(total, name) for name in FIELDS))


@dataclass
class Statements:
    count: int = 0

    def __call__(self, *args) -> None:
        self.count += 1


@contextmanager
def counting() -> Iterator[Statements]:
    statements = Statements()
    sa.event.listen(db.engine, "before_cursor_execute", statements)
    try:
        yield statements
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", statements)


def timed(run: Callable[[], Outcome]) -> Sample:
    with counting() as statements:
        started = time.perf_counter()
        outcome = run()
        seconds = time.perf_counter() - started
    return Sample(seconds, statements.count, outcome)


def app_report() -> Outcome:
    try:
        report = utilisation(Dimension.AGENCY, *YEAR, now=NOW)
    finally:
        db.session.remove()  # a new session each time, as a new request has
    return Outcome(len(report.rows), figures_of(report.total))


def app_page() -> Outcome:
    try:
        page = utilisation_compared(Dimension.AGENCY, YEAR, PREVIOUS, now=NOW, by_month=True)
    finally:
        db.session.remove()
    totals = figures_of(page.current.total) + figures_of(page.previous.total)
    months = tuple(row.attended_total for row in page.by_month.rows)
    return Outcome(len(page.current.rows), totals, months)


def bare_report(*, with_places: bool) -> Callable[[], Outcome]:
    def run() -> Outcome:
        total = Figures("total", "Total")
        with db.engine.connect() as connection:
            rows = connection.execute(bare(BY_AGENCY), year_params(YEAR)).all()
            if with_places:
                add_places(total, connection.execute(bare(PLACES), year_params(YEAR)).one())
        for row in rows:
            add_counts(total, row)
        return Outcome(len(rows), figures_of(total) if with_places else ())

    return run


def bare_page_fewest() -> Outcome:
    dialect = db.engine.dialect.name
    parts = slices()
    this, last = Figures("total", "Total"), Figures("total", "Total")
    months = [Figures("", "") for _ in parts[:-1]]
    agencies = set()
    with db.engine.connect() as connection:
        for row in connection.execute(*sliced(SLICED, dialect)):
            add_counts(this if parts[row.slice][2] == 0 else last, row)
            if parts[row.slice][2] == 0:
                add_counts(months[row.slice], row)
                agencies.add((row.agency_id, row.typed))
        for row in connection.execute(*sliced(PLACES_SLICED, dialect)):
            add_places(this if parts[row.slice][2] == 0 else last, row)
    attended = tuple(m.attended_total for m in months if m.attended_total)
    return Outcome(len(agencies), figures_of(this) + figures_of(last), attended)


def bare_page_each() -> Outcome:
    this, last = Figures("total", "Total"), Figures("total", "Total")
    with db.engine.connect() as connection:
        rows = connection.execute(bare(BY_AGENCY), year_params(YEAR)).all()
        for row in connection.execute(bare(BY_AGENCY), year_params(PREVIOUS)):
            add_counts(last, row)
        months = connection.execute(bare(BY_MONTH), year_params(YEAR)).all()
        for row in connection.execute(bare(PLACES_BY_MONTH), year_params(YEAR)):
            add_places(this, row)
        add_places(last, connection.execute(bare(PLACES), year_params(PREVIOUS)).one())
    for row in rows:
        add_counts(this, row)
    attended = tuple(int(row.attended) + int(row.partial) for row in sorted(months))
    return Outcome(len(rows), figures_of(this) + figures_of(last), attended)


REPORT, REPORT_BARE, REPORT_GROUP_BY = (
    "report: app, utilisation()",
    "report: bare SQL, same figures",
    "report: bare GROUP BY alone",
)
PAGE, PAGE_BARE, PAGE_EACH = (
    "page: app, utilisation_compared()",
    "page: bare SQL, fewest statements",
    "page: bare SQL, one per figure",
)


def measure(app: Flask, repeat: int) -> dict[str, Result]:
    """A warm-up of each, then `repeat` of each, taking turns."""
    runs = {
        REPORT: app_report,
        REPORT_BARE: bare_report(with_places=True),
        REPORT_GROUP_BY: bare_report(with_places=False),
        PAGE: app_page,
        PAGE_BARE: bare_page_fewest,
        PAGE_EACH: bare_page_each,
    }
    results = {label: Result(label) for label in runs}
    with app.app_context():
        for n in range(repeat + 1):
            for label, run in runs.items():
                taken = timed(run)
                what = "warm-up" if n == 0 else f"{n}/{repeat}"
                say(f"  {label}, {what}: {taken.seconds:.3f} s, {taken.statements} statements")
                if n:
                    results[label].samples.append(taken)
        db.engine.dispose()
    return results


# The plans ------------------------------------------------------------------------------------


@dataclass
class Plan:
    """One of the app's statements: how long it takes and how it reads booking."""

    what: str
    milliseconds: float
    indexes: list[str]
    booking_access: str  # how booking is read
    full_scan_ms: float | None  # time in a scan of the whole booking table, where known
    full_scan: bool


def statements_of(run: Callable[[], object]) -> list[tuple[str, object]]:
    """The SQL a call sends, as the driver receives it, caught on the way out."""
    sent: list[tuple[str, object]] = []

    def catch(connection, cursor, statement, parameters, context, executemany) -> None:
        sent.append((statement, parameters))

    sa.event.listen(db.engine, "before_cursor_execute", catch)
    try:
        run()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", catch)
        db.session.remove()
    return [(s, p) for s, p in sent if s.lstrip().upper().startswith("SELECT")]


def describe(statement: str) -> str:
    return "bookings" if re.search(r"\bFROM booking\b", statement) else "places offered"


def nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", ()):
        yield from nodes(child)


def explain_postgresql(connection, what: str, statement: str, parameters) -> Plan:
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
        what=what,
        milliseconds=tree["Execution Time"],
        indexes=sorted({n["Index Name"] for n in every if n.get("Index Name")}),
        booking_access=access or "not read",
        # A parallel node's time is per worker; the workers run side by side.
        full_scan_ms=sum(n["Actual Total Time"] for n in scans) if scans else None,
        full_scan=bool(scans),
    )


def explain_sqlite(connection, what: str, statement: str, parameters) -> Plan:
    details = [row[3] for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)]
    started = time.perf_counter()
    connection.exec_driver_sql(statement, parameters).all()
    milliseconds = (time.perf_counter() - started) * 1000
    on_booking = [d for d in details if re.match(r"(SCAN|SEARCH) booking\b", d)]
    full_scan = any(d.startswith("SCAN booking") and "INDEX" not in d for d in on_booking)
    indexes = {m for d in details for m in re.findall(r"USING (?:COVERING )?INDEX (\w+)", d)}
    return Plan(
        what=what,
        milliseconds=milliseconds,
        indexes=sorted(indexes),
        booking_access="; ".join(on_booking) or "not read",
        full_scan_ms=None,
        full_scan=full_scan,
    )


def explain(app: Flask) -> list[Plan]:
    with app.app_context():
        sent = [
            (f"{kind}: {describe(statement)}", statement, parameters)
            for kind, run in (("report", app_report), ("page", app_page))
            for statement, parameters in statements_of(run)
        ]
        explain_one = explain_postgresql if db.engine.dialect.name == "postgresql" else explain_sqlite
        with db.engine.connect() as connection:
            plans = [explain_one(connection, *one) for one in sent]
        db.engine.dispose()
    return plans


# The run --------------------------------------------------------------------------------------


@dataclass
class Measured:
    database: str  # postgresql or sqlite
    where: str
    loaded: Loaded
    results: dict[str, Result]
    plans: list[Plan]


def on_postgresql(count: int, repeat: int) -> Measured:
    url = database_url()
    schema = f"bench_rep_{os.getpid()}_{secrets.token_hex(3)}"
    say(f"PostgreSQL: creating schema {schema}")
    run_ddl(url, f"CREATE SCHEMA {schema}")
    try:
        app = bench_app(in_schema(url, schema))
        loaded = load(app, count)
        where = f"PostgreSQL (schema {schema})"
        return Measured("postgresql", where, loaded, measure(app, repeat), explain(app))
    finally:
        say(f"  dropping schema {schema}")
        run_ddl(url, f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def on_sqlite(count: int, repeat: int) -> Measured:
    with tempfile.TemporaryDirectory(prefix="bench_rep_") as folder:
        path = Path(folder) / "bench.sqlite3"
        say(f"SQLite: {path}")
        app = bench_app(f"sqlite:///{path}")
        loaded = load(app, count)
        return Measured("sqlite", "SQLite (temporary file)", loaded, measure(app, repeat), explain(app))


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


def ratio(results: dict[str, Result], app: str, baseline: str) -> float:
    return results[app].median / results[baseline].median


def report(measured: Measured) -> None:
    results = measured.results
    print()
    print(f"{measured.where}")
    for line in measured.loaded.summary.splitlines():
        print(f"  {line.strip()}")
    print(f"  then fresh planner statistics in {measured.loaded.tidy_seconds:.1f} s")
    print(f"  {'':35} {'median s':>9} {'min s':>9} {'statements':>10}")
    for r in results.values():
        print(f"  {r.label:35} {r.median:9.3f} {r.best:9.3f} {r.statements:10}")
    print(
        f"  report / bare SQL for its figures: {ratio(results, REPORT, REPORT_BARE):.2f}; "
        f"/ the GROUP BY alone: {ratio(results, REPORT, REPORT_GROUP_BY):.2f}"
    )
    print(
        f"  page / bare SQL in the fewest statements: {ratio(results, PAGE, PAGE_BARE):.2f}; "
        f"/ one statement per figure: {ratio(results, PAGE, PAGE_EACH):.2f}"
    )
    check(results)
    print("  The app's statements:")
    for n, plan in enumerate(measured.plans, 1):
        share = ""
        if plan.full_scan_ms is not None:
            part = plan.full_scan_ms / plan.milliseconds
            share = f"; whole-table scan of booking {plan.full_scan_ms:.0f} ms = {part:.0%}"
        print(f"    {n}. {plan.what:24} {plan.milliseconds:8.1f} ms{share}")
        print(f"       booking: {plan.booking_access}")
        print(f"       indexes used: {', '.join(plan.indexes) or 'none'}")
    print(f"  {verdict(measured.plans)}")


def check(results: dict[str, Result]) -> None:
    """Every way of counting must agree on the figures."""
    kinds = {
        "report": [results[REPORT], results[REPORT_BARE]],
        "page": [results[PAGE], results[PAGE_BARE], results[PAGE_EACH]],
    }
    for kind, compared in kinds.items():
        outcomes = {(s.outcome.rows, s.outcome.totals, s.outcome.months) for r in compared for s in r.samples}
        if len(outcomes) != 1:
            print(f"  WARNING: the {kind} runs disagree: {sorted(outcomes)}")
    group_by = {s.outcome.rows for s in results[REPORT_GROUP_BY].samples}
    if group_by != {s.outcome.rows for s in results[REPORT].samples}:
        print(f"  WARNING: the GROUP BY gave {sorted(group_by)} rows")


def verdict(plans: list[Plan]) -> str:
    scanned = [p for p in plans if p.full_scan]
    if not scanned:
        return "Verdict: no statement scans the whole booking table; booking is read through an index."
    timed_plans = [p for p in scanned if p.full_scan_ms is not None]
    if timed_plans and any(p.full_scan_ms / p.milliseconds > DOMINATES for p in timed_plans):
        return "Verdict: a scan of the whole booking table dominates a statement; an index would help."
    if timed_plans:
        worst = max(p.full_scan_ms / p.milliseconds for p in timed_plans)
        return (
            f"Verdict: booking is scanned whole, but the scan is at most {worst:.0%} of a statement's "
            "time; the rest is joining and grouping."
        )
    return "Verdict: booking is scanned whole (SQLite gives no timing per step)."


def ratio_lines(measured: Measured) -> list[str]:
    """`RATIO <name> <value> goal <op> <value>`: what holds, at a glance."""
    results, database = measured.results, measured.database
    return [
        f"RATIO report_over_bare_{database} {ratio(results, REPORT, REPORT_BARE):.2f} "
        f"goal <= {REPORT_GOAL:.2f}",
        f"RATIO report_over_group_by_{database} {ratio(results, REPORT, REPORT_GROUP_BY):.2f} "
        f"goal <= {REPORT_GOAL:.2f}",
        f"RATIO page_over_bare_{database} {ratio(results, PAGE, PAGE_BARE):.2f} goal <= {PAGE_GOAL:.2f}",
    ]


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.perf_counter()
    measured = [on_postgresql(args.count, args.repeat)]
    if not args.no_sqlite:
        measured.append(on_sqlite(args.count, args.repeat))
    print(
        f"Utilisation for 2025/26 by agency (the report), and with 2024/25 and months (the page), on "
        f"{args.count:,} generated bookings over 2023/24 to 2025/26; {args.repeat} timed runs of each "
        f"after a warm-up, taking turns; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; "
        f"whole run {time.perf_counter() - started:.0f} s"
    )
    for one in measured:
        report(one)
    print()
    for one in measured:
        for line in ratio_lines(one):
            print(line)


if __name__ == "__main__":
    main()
