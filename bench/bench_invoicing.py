"""How long an invoice run takes: run_invoicing against the same reads and writes in bare SQL.

Run on demand (pytest never collects it):

    .venv/bin/python -m bench.bench_invoicing [--repeat 5] [--sqlite]

It builds a schema of its own in DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/test),
runs the migrations there and fills it, with bulk inserts, with 60 paying agencies (one of them a
trust that also pays for 6 schools) and 2,000 raised charges spread over a financial year. It then
times run_invoicing for that year, committed, as finance's "Run invoicing" page does; and, taking
turns with it, the same work in bare SQL in one transaction: lock the year's counter, read the
charges with their bookings, delegates, sessions, courses, agencies and payers (locked), insert
the 60 invoices, read their ids, insert the 2,000 lines, mark the charges invoiced, move the
counter and write the audit entries. Between runs it puts the charges back to raised and deletes
what the run wrote. It also counts the statements of a run over one quarter, to show that the
count does not grow with the charges. With --sqlite it does the same again on a temporary SQLite
file. It drops its schema when it ends, however it ends.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import cycle
from pathlib import Path

import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade

from bench.common import bench_app, database_url, in_schema, run_ddl, say
from config import BASE_DIR
from lms.accounts.models import Agency, AgencyCategory, Role, User
from lms.bookings.models import Attendance, Booking, BookingStatus, CancellationReason
from lms.core.audit import AuditEntry
from lms.core.db import write_intent
from lms.core.financial_year import financial_year_bounds, financial_year_of
from lms.core.timezones import london_date, london_to_utc
from lms.courses.models import Course, CourseSession, DeliveryMode, SessionStatus
from lms.extensions import db
from lms.finance.models import (
    Charge,
    ChargeReason,
    ChargeStatus,
    DocumentCounter,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
)
from lms.finance.services import document_number, run_invoicing
from lms.finance.vat import vat_on
from tests.factories import create_course, create_user

AGENCIES = 60  # that pay: each gets one invoice
SCHOOLS = 6  # in a trust (the first agency), which pays for them
CHARGES = 2000
COURSES = 12  # every fourth runs all day, so its charge is £50 rather than £25
SESSIONS = 240
BILLED_YEAR = 2025  # 1 April 2025 to 31 March 2026, invoiced a fortnight after it ends
QUARTER = (date(2025, 4, 1), date(2025, 6, 30))  # a run over a quarter of the charges
NOW = datetime(2026, 4, 14, 9, 0, tzinfo=UTC)
MAX_REPEAT = 10


# Where it runs --------------------------------------------------------------------------------


# The data (not timed) -------------------------------------------------------------------------


def insert_rows(model, rows: list[dict]) -> list[int]:
    """Insert many rows in one statement per batch and return their ids, in order."""
    table = model.__table__
    statement = sa.insert(table).returning(table.c.id, sort_by_parameter_order=True)
    return list(db.session.execute(statement, rows).scalars())


def agency_rows() -> list[dict]:
    categories = cycle(c for c in AgencyCategory if c is not AgencyCategory.OTHER)
    return [
        {
            "name": f"Bench Agency {n:02d}",
            "short_name": f"BA{n:02d}",
            "category": next(categories),
            "billing_contact": f"Accounts Payable {n:02d}",
            "billing_email": f"invoices{n:02d}@agency.example.org",
            "billing_address": f"Finance Team\n{n} Corporation Street\nBirmingham\nB{n % 40 + 1} 1AA",
            "purchase_order": f"PO-{40000 + n}",
            "is_active": True,
            "created_at": NOW,
        }
        for n in range(1, AGENCIES + 1)
    ]


def school_rows(trust_id: int) -> list[dict]:
    """Schools whose charges are billed to their trust; their lines name the school."""
    return [
        {
            "name": f"Bench Academy {n}",
            "category": AgencyCategory.EDUCATION_SCHOOL,
            "parent_id": trust_id,
            "is_active": True,
            "created_at": NOW,
        }
        for n in range(1, SCHOOLS + 1)
    ]


def create_sessions(courses: list[Course]) -> list[CourseSession]:
    """Sessions at 09:30 London time, one every day or two through the billed year.

    Built with the ORM, so the model fills in what it derives (a few hundred rows, one flush).
    """
    first, last = financial_year_bounds(BILLED_YEAR)
    sessions = []
    for n in range(SESSIONS):
        course = courses[n % len(courses)]
        day = first + timedelta(days=n * ((last - first).days + 1) // SESSIONS)
        starts_at = london_to_utc(datetime(day.year, day.month, day.day, 9, 30))
        ends_at = starts_at + timedelta(minutes=course.duration_minutes)
        sessions.append(
            CourseSession(
                course=course,
                starts_at=starts_at,
                ends_at=ends_at,
                delivery_mode=DeliveryMode.ONLINE_LIVE,
                online_link="https://meet.example.org/bench",
                places=20,
                overbook_percent=10,
                cost_pence=0,
                status=SessionStatus.COMPLETED,
                register_closed_at=ends_at,
                created_at=NOW,
                updated_at=NOW,
            )
        )
    db.session.add_all(sessions)
    db.session.flush()
    return sessions


def delegate_rows(agency_ids: list[int]) -> list[dict]:
    return [
        {
            "email": f"delegate{n:04d}@bench.example.org",
            "first_name": "Alex",
            "last_name": f"Delegate{n:04d}",
            "job_role": "Family support worker",
            "agency_id": agency_ids[n % len(agency_ids)],
            "line_manager_name": "Lee Manager",
            "line_manager_email": "manager@example.org",
            "session_token": secrets.token_urlsafe(32),
            "is_enabled": True,
            "created_at": NOW,
        }
        for n in range(CHARGES)
    ]


def booking_row(session: CourseSession, user: dict, user_id: int, no_show: bool) -> dict:
    """A no-show on a confirmed place, or a cancellation the day before (every row has every key)."""
    booked_at = session.starts_at - timedelta(days=20)
    return {
        "session_id": session.id,
        "user_id": user_id,
        "agency_id": user["agency_id"],
        "status": BookingStatus.CONFIRMED if no_show else BookingStatus.CANCELLED,
        "booked_at": booked_at,
        "booked_by_id": user_id,
        "confirmed_at": booked_at,
        "attendance": Attendance.NO_SHOW if no_show else None,
        "attendance_marked_at": session.starts_at + timedelta(minutes=10) if no_show else None,
        "cancelled_at": None if no_show else session.starts_at - timedelta(days=1),
        "cancelled_by_id": None if no_show else user_id,
        "cancellation_reason": None if no_show else CancellationReason.DELEGATE,
        "is_late_cancellation": not no_show,
    }


def fill() -> int:
    """Agencies, delegates, sessions, bookings and raised charges; returns the finance user's id."""
    finance = create_user("finance@bench.example.org", roles=(Role.FINANCE,), other_organisation="SCP")
    courses = [
        create_course(f"Bench course {n:02d}", duration_minutes=420 if n % 4 == 0 else 180)
        for n in range(COURSES)
    ]
    agency_ids = insert_rows(Agency, agency_rows())
    agency_ids += insert_rows(Agency, school_rows(agency_ids[0]))
    sessions = create_sessions(courses)
    delegates = delegate_rows(agency_ids)
    user_ids = insert_rows(User, delegates)
    bookings, charges = [], []
    for n in range(CHARGES):
        # Eight or so charges a session, so their dates run through the year.
        session = sessions[n * SESSIONS // CHARGES]
        no_show = n % 5 != 0
        bookings.append(booking_row(session, delegates[n], user_ids[n], no_show))
        all_day = session.ends_at - session.starts_at > timedelta(hours=4)
        charges.append(
            {
                "agency_id": delegates[n]["agency_id"],
                "reason": ChargeReason.NO_SHOW if no_show else ChargeReason.LATE_CANCELLATION,
                "amount_pence": 5000 if all_day else 2500,
                "status": ChargeStatus.RAISED,
                "raised_at": session.ends_at if no_show else bookings[-1]["cancelled_at"],
                "session_date": london_date(session.starts_at),
            }
        )
    for charge, booking_id in zip(charges, insert_rows(Booking, bookings), strict=True):
        charge["booking_id"] = booking_id
    insert_rows(Charge, charges)
    db.session.commit()
    return finance.id


def tidy(engine: sa.Engine) -> None:
    """Fresh statistics, and on PostgreSQL no dead rows left by the run before."""
    tables = "charge, invoice, invoice_line, document_counter, audit_entry, booking, agency"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql(f"VACUUM (ANALYZE) {tables}")
        else:
            connection.exec_driver_sql("ANALYZE")


def reset(engine: sa.Engine) -> None:
    """Undo a run in core SQL: the app refuses to delete an invoice through the ORM, rightly."""
    with write_intent(), engine.begin() as connection:
        connection.execute(sa.delete(InvoiceLine.__table__))
        connection.execute(sa.delete(Invoice.__table__))
        connection.execute(sa.delete(DocumentCounter.__table__))
        connection.execute(sa.delete(AuditEntry.__table__).where(AuditEntry.name.like("lms.invoice.%")))
        connection.execute(
            sa.update(Charge.__table__)
            .where(Charge.status == ChargeStatus.INVOICED)
            .values(status=ChargeStatus.RAISED)
        )
    tidy(engine)


def written(engine: sa.Engine) -> tuple[int, int, int]:
    """Invoices, lines, and charges marked invoiced, as the database holds them."""
    with engine.connect() as connection:
        return tuple(
            connection.scalar(sa.select(sa.func.count()).select_from(table).where(*where))
            for table, where in (
                (Invoice.__table__, ()),
                (InvoiceLine.__table__, ()),
                (Charge.__table__, (Charge.status == ChargeStatus.INVOICED,)),
            )
        )


# What is timed --------------------------------------------------------------------------------


@dataclass
class Statements:
    """Statements sent to the database: an executemany, or one batch of a multi-row INSERT, counts once."""

    count: int = 0

    def __call__(self, *args) -> None:
        self.count += 1


@dataclass
class Sample:
    seconds: float
    statements: int
    invoices: int = 0
    lines: int = 0
    invoiced: int = 0


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


@dataclass(frozen=True)
class Period:
    start: date
    end: date
    year: int  # the financial year the invoices are numbered in


@contextmanager
def counting(engine: sa.Engine) -> Iterator[Statements]:
    statements = Statements()
    sa.event.listen(engine, "before_cursor_execute", statements)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", statements)


def app_run(engine: sa.Engine, period: Period, finance_id: int) -> Sample:
    """What finance's "Run invoicing" does once the form is valid: the service, then commit.

    The finance user is loaded first, as the request loads current_user (which also begins the
    transaction); that is neither timed nor counted."""
    with write_intent():
        try:
            by = db.session.get(User, finance_id)
            with counting(engine) as statements:
                started = time.perf_counter()
                run_invoicing(period.start, period.end, by=by, now=NOW)
                db.session.commit()
                seconds = time.perf_counter() - started
        finally:
            db.session.remove()  # a cold session each time, as a new request has
    return Sample(seconds, statements.count)


@dataclass
class Bill:
    payer: sa.Row
    lines: list[dict] = field(default_factory=list)


def read_bills(connection: sa.Connection, period: Period) -> list[Bill]:
    """The charges to bill with all their lines copy, locked, in one statement; grouped by payer."""
    c, b, u, s, co = (m.__table__ for m in (Charge, Booking, User, CourseSession, Course))
    organisation, payer = Agency.__table__.alias("organisation"), Agency.__table__.alias("payer")
    query = (
        sa.select(
            c.c.id,
            c.c.agency_id,
            c.c.session_date,
            c.c.reason,
            c.c.amount_pence,
            (u.c.first_name + " " + u.c.last_name).label("delegate_name"),
            co.c.title,
            organisation.c.name.label("organisation_name"),
            payer.c.id.label("payer_id"),
            payer.c.name,
            payer.c.billing_contact,
            payer.c.billing_email,
            payer.c.billing_address,
            payer.c.purchase_order,
        )
        .select_from(
            c.join(b, c.c.booking_id == b.c.id)
            .join(u, b.c.user_id == u.c.id)
            .join(s, b.c.session_id == s.c.id)
            .join(co, s.c.course_id == co.c.id)
            .join(organisation, c.c.agency_id == organisation.c.id)
            .join(payer, payer.c.id == sa.func.coalesce(organisation.c.parent_id, organisation.c.id))
        )
        .where(c.c.status == ChargeStatus.RAISED, c.c.session_date.between(period.start, period.end))
        .order_by(c.c.session_date, c.c.id)
        .with_for_update(of=c)
    )
    bills: dict[int, Bill] = {}
    for row in connection.execute(query):
        bills.setdefault(row.payer_id, Bill(row)).lines.append(
            {
                "charge_id": row.id,
                "delegate_name": row.delegate_name,
                "organisation_name": row.organisation_name if row.agency_id != row.payer_id else None,
                "course_title": row.title,
                "session_date": row.session_date,
                "reason": row.reason.title,
                "amount_pence": row.amount_pence,
            }
        )
    return sorted(bills.values(), key=lambda bill: bill.payer.name)


def invoice_row(bill: Bill, sequence: int, period: Period, config, finance_id: int) -> dict:
    net = sum(item["amount_pence"] for item in bill.lines)
    vat = vat_on(net, config["VAT_RATE_PERCENT"])
    payer = bill.payer
    return {
        "number": document_number(config["INVOICE_PREFIX"], period.year, sequence),
        "financial_year": period.year,
        "sequence": sequence,
        "agency_id": payer.payer_id,
        "status": InvoiceStatus.ISSUED,
        "period_start": period.start,
        "period_end": period.end,
        "issued_at": NOW,
        "issued_on": london_date(NOW),
        "due_on": london_date(NOW) + timedelta(days=config["PAYMENT_TERMS_DAYS"]),
        "created_by_id": finance_id,
        "bill_to_name": payer.name,
        "bill_to_contact": payer.billing_contact,
        "bill_to_email": payer.billing_email,
        "bill_to_address": payer.billing_address,
        "purchase_order": payer.purchase_order,
        "net_pence": net,
        "vat_pence": vat,
        "total_pence": net + vat,
        "vat_rate_percent": config["VAT_RATE_PERCENT"],
    }


def sql_run(connection: sa.Connection, period: Period, config, finance_id: int) -> None:
    """The reads and writes of run_invoicing, each one statement (or one executemany)."""
    counter, invoice, line = DocumentCounter.__table__, Invoice.__table__, InvoiceLine.__table__
    charge, audit = Charge.__table__, AuditEntry.__table__
    this_year = (counter.c.kind == "invoice") & (counter.c.financial_year == period.year)
    last = connection.scalar(sa.select(counter.c.last_number).where(this_year).with_for_update())
    if last is None:
        connection.execute(
            sa.insert(counter).values(kind="invoice", financial_year=period.year, last_number=0)
        )
        last = 0
    bills = read_bills(connection, period)
    rows = [invoice_row(bill, last + n, period, config, finance_id) for n, bill in enumerate(bills, 1)]
    connection.execute(sa.insert(invoice), rows)
    sequences = invoice.c.sequence.between(last + 1, last + len(rows))
    issued = (invoice.c.financial_year == period.year) & sequences
    ids = dict(connection.execute(sa.select(invoice.c.sequence, invoice.c.id).where(issued)).all())
    connection.execute(
        sa.insert(line),
        [
            item | {"invoice_id": ids[row["sequence"]]}
            for row, bill in zip(rows, bills, strict=True)
            for item in bill.lines
        ],
    )
    billed = sa.select(line.c.charge_id).join(invoice).where(issued)
    connection.execute(
        sa.update(charge)
        .where(charge.c.id.in_(billed), charge.c.status == ChargeStatus.RAISED)
        .values(status=ChargeStatus.INVOICED)
    )
    connection.execute(sa.update(counter).where(this_year).values(last_number=last + len(rows)))
    entries = [
        {
            "name": "lms.invoice.issued",
            "subject_id": ids[row["sequence"]],
            "data": {"number": row["number"], "total_pence": row["total_pence"]},
        }
        for row in rows
    ]
    run = {"start": period.start.isoformat(), "end": period.end.isoformat(), "invoices": len(rows)}
    entries.append({"name": "lms.invoice.run", "subject_id": ids[last + 1], "data": run})
    connection.execute(
        sa.insert(audit),
        [e | {"actor_id": finance_id, "subject_type": "invoice", "created_at": NOW} for e in entries],
    )


def bare_run(engine: sa.Engine, period: Period, config, finance_id: int) -> Sample:
    """The same transaction in bare SQL; timed and counted from after BEGIN, to after COMMIT."""
    with write_intent():
        connection = engine.connect()
        try:
            transaction = connection.begin()
            with counting(engine) as statements:
                started = time.perf_counter()
                sql_run(connection, period, config, finance_id)
                transaction.commit()
                seconds = time.perf_counter() - started
        finally:
            connection.close()
    return Sample(seconds, statements.count)


@dataclass
class Measured:
    app: Result
    bare: Result
    quarter_charges: int  # in the run over one quarter
    quarter_statements: int  # that run's statements


def measure(app: Flask, repeat: int) -> Measured:
    """A warm-up of each, then `repeat` of each, alternating, from the same starting state."""
    with app.app_context():
        engine = db.engine
        config = app.config
        year = financial_year_of(london_date(NOW), config["FINANCIAL_YEAR_START"])
        period = Period(*financial_year_bounds(BILLED_YEAR, config["FINANCIAL_YEAR_START"]), year)
        say("  adding agencies, delegates, sessions, bookings and charges")
        finance_id = fill()
        db.session.remove()
        tidy(engine)
        runs = (
            (Result("app: run_invoicing + commit"), lambda: app_run(engine, period, finance_id)),
            (Result("bare SQL: same reads and writes"), lambda: bare_run(engine, period, config, finance_id)),
        )
        for n in range(repeat + 1):
            for result, run in runs:
                reset(engine)
                taken = run()
                taken.invoices, taken.lines, taken.invoiced = written(engine)
                what = "warm-up" if n == 0 else f"{n}/{repeat}"
                say(f"  {result.label}, {what}: {taken.seconds:.3f} s, {taken.statements} statements")
                if n:
                    result.samples.append(taken)
        reset(engine)
        quarter = app_run(engine, Period(*QUARTER, year), finance_id)
        quarter_charges = written(engine)[2]
        say(f"  app over one quarter: {quarter_charges} charges, {quarter.statements} statements")
        reset(engine)
        engine.dispose()
    return Measured(runs[0][0], runs[1][0], quarter_charges, quarter.statements)


# The run --------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help=f"timed runs of each, 1-{MAX_REPEAT} (5)")
    parser.add_argument("--sqlite", action="store_true", help="measure on a temporary SQLite file as well")
    args = parser.parse_args(argv)
    if not 1 <= args.repeat <= MAX_REPEAT:
        parser.error(f"--repeat must lie between 1 and {MAX_REPEAT}")
    return args


def on_postgresql(repeat: int) -> tuple[str, str, Measured]:
    url = database_url()
    schema = f"bench_inv_{os.getpid()}_{secrets.token_hex(3)}"
    say(f"PostgreSQL: creating schema {schema}")
    run_ddl(url, f"CREATE SCHEMA {schema}")
    try:
        app = bench_app(in_schema(url, schema))
        with app.app_context():
            say("  running the migrations")
            upgrade(directory=str(BASE_DIR / "migrations"))
            db.engine.dispose()
        return ("postgresql", f"PostgreSQL (schema {schema})", measure(app, repeat))
    finally:
        say(f"  dropping schema {schema}")
        run_ddl(url, f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def on_sqlite(repeat: int) -> tuple[str, str, Measured]:
    with tempfile.TemporaryDirectory(prefix="bench_inv_") as folder:
        path = Path(folder) / "bench.sqlite3"
        say(f"SQLite: {path}")
        app = bench_app(f"sqlite:///{path}")
        with app.app_context():
            say("  running the migrations")
            upgrade(directory=str(BASE_DIR / "migrations"))
            db.engine.dispose()
        return ("sqlite", "SQLite (temporary file)", measure(app, repeat))


GOAL_RATIO = 2.0  # the app at most twice the bare SQL


def report(where: str, measured: Measured, repeat: int) -> None:
    app_result, sql_result = measured.app, measured.bare
    print()
    print(
        f"Invoice run: {AGENCIES} paying agencies ({SCHOOLS} schools billed through a trust), {CHARGES:,} "
        f"charges, {repeat} timed runs of each after a warm-up, taking turns; {where}; "
        f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
    )
    print(f"{'':34} {'median s':>9} {'min s':>9} {'statements':>10} {'invoices':>8} {'lines':>6}", end="")
    print(f" {'invoiced':>8}")
    for r in (app_result, sql_result):
        last = r.samples[-1]
        print(
            f"{r.label:34} {r.median:9.3f} {r.best:9.3f} {r.statements:10} "
            f"{last.invoices:8} {last.lines:6} {last.invoiced:8}"
        )
    print(
        f"app / bare SQL: {app_result.median / sql_result.median:.2f} (median), "
        f"{app_result.best / sql_result.best:.2f} (min)"
    )
    print(
        f"app statements: {measured.quarter_statements} for one quarter "
        f"({measured.quarter_charges} charges), {app_result.statements} for the year ({CHARGES:,} charges)"
    )
    wrong = [
        (r.label, s)
        for r in (app_result, sql_result)
        for s in r.samples
        if (s.invoices, s.lines, s.invoiced) != (AGENCIES, CHARGES, CHARGES)
    ]
    if wrong:
        print(f"WARNING: {len(wrong)} runs did not write {AGENCIES} invoices and {CHARGES} lines: {wrong[0]}")


def ratio_lines(database: str, measured: Measured) -> list[str]:
    """`RATIO <name> <value> goal <op> <value>`: what holds, at a glance."""
    speed = measured.app.median / measured.bare.median
    growth = measured.app.statements / measured.quarter_statements
    return [
        f"RATIO invoice_run_app_over_bare_{database} {speed:.2f} goal <= {GOAL_RATIO:.2f}",
        f"RATIO invoice_run_statements_year_over_quarter_{database} {growth:.2f} goal <= 1.00",
    ]


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    outcomes = [on_postgresql(args.repeat)]
    if args.sqlite:
        outcomes.append(on_sqlite(args.repeat))
    for _, where, measured in outcomes:
        report(where, measured, args.repeat)
    print()
    for database, _, measured in outcomes:
        for line in ratio_lines(database, measured):
            print(line)


if __name__ == "__main__":
    main()
