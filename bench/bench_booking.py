"""How fast places are booked: gunicorn + PostgreSQL, against a trivial endpoint and bare SQL.

Run on demand (pytest never collects it):

    .venv/bin/python -m bench.bench_booking [--clients 8] [--bookings 300] [--workers 4]

It builds a schema of its own in DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/test),
runs the migrations there, serves the app with gunicorn on 127.0.0.1, signs every delegate in
first, then times POST /sessions/<id>/book with all load on one session (every booking waits
for the same row lock) and with load spread over 100 sessions; GET /healthz on the same server;
and the same transaction in bare SQL. It drops its schema when it ends, however it ends.
"""

from __future__ import annotations

import argparse
import http.client
import os
import queue
import secrets
import statistics
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import sqlalchemy as sa
from flask_migrate import upgrade
from psycopg.types.json import Json

from config import BASE_DIR, Config, normalise_database_url
from lms import create_app
from lms.bookings.models import Booking, BookingStatus
from lms.extensions import db
from tests.factories import PASSWORD, create_agency, create_course, create_session, create_user
from tests.live import Browser, serve_with_gunicorn

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
SPREAD = 100  # sessions the spread load goes to
MAX_REQUESTS = 5000


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# Where it runs --------------------------------------------------------------------------------


def database_url() -> str:
    url = normalise_database_url(os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    parts = sa.engine.make_url(url)
    if parts.get_backend_name() != "postgresql":
        raise SystemExit(f"The benchmark needs PostgreSQL; DATABASE_URL is {parts.get_backend_name()}.")
    if (parts.host or "127.0.0.1") not in LOOPBACK:
        raise SystemExit(f"The benchmark only talks to this machine; DATABASE_URL points at {parts.host}.")
    return url


def in_schema(url: str, schema: str) -> str:
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}options=-csearch_path%3D{schema}"


def libpq_url(url: str) -> str:
    """The same address for psycopg itself, which does not know SQLAlchemy's driver suffix."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def run_ddl(url: str, statement: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql(statement)
    engine.dispose()


# Timing a load --------------------------------------------------------------------------------


@dataclass
class Result:
    label: str
    latencies: list[float]
    seconds: float
    errors: int

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def ms(self, percent: int) -> float:
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[percent - 1] * 1000


class Progress:
    """A line on stderr every second while a load runs."""

    def __init__(self, label: str, total: int) -> None:
        self.label, self.total, self.done = label, total, 0
        self.lock = threading.Lock()
        self.finished = threading.Event()
        self.started = time.perf_counter()
        threading.Thread(target=self._report, daemon=True).start()

    def tick(self) -> None:
        with self.lock:
            self.done += 1

    def _report(self) -> None:
        while not self.finished.wait(1):
            say(f"  {self.label}: {self.done}/{self.total} ({time.perf_counter() - self.started:.0f} s)")

    def close(self) -> None:
        self.finished.set()
        say(f"  {self.label}: {self.done}/{self.total} done")


def run_load(
    label: str,
    jobs: Sequence[Callable[[Any], bool]],
    clients: int,
    connect: Callable[[], AbstractContextManager] = nullcontext,
) -> Result:
    """Run `jobs` from `clients` threads at once; each job gets its thread's connection."""
    work: queue.SimpleQueue = queue.SimpleQueue()
    for job in jobs:
        work.put(job)
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    ready = threading.Barrier(clients + 1, timeout=60)
    progress = Progress(label, len(jobs))

    def client() -> None:
        with connect() as connection:
            ready.wait()
            while True:
                try:
                    job = work.get_nowait()
                except queue.Empty:
                    return
                start = time.perf_counter()
                try:
                    ok = job(connection)
                except Exception:  # noqa: BLE001 - counted as an error, the run goes on
                    ok = False
                elapsed = time.perf_counter() - start
                with lock:
                    latencies.append(elapsed)
                    errors[0] += not ok
                progress.tick()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    ready.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    progress.close()
    return Result(label, latencies, seconds, errors[0])


# Over HTTP ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delegate:
    user_id: int
    agency_id: int
    email: str
    cookie: str = ""
    token: str = ""


def request(port: int, method: str, path: str, *, expect: int, cookie: str = "", body: str = "") -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Cookie": cookie} if cookie else {}
    if body:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        connection.request(method, path, body=body or None, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status == expect
    finally:
        connection.close()


def booking_job(port: int, delegate: Delegate, session_id: int) -> Callable[[Any], bool]:
    body = urllib.parse.urlencode({"csrf_token": delegate.token})
    path = f"/sessions/{session_id}/book"
    return lambda _: request(port, "POST", path, expect=302, cookie=delegate.cookie, body=body)


def health_job(port: int) -> Callable[[Any], bool]:
    return lambda _: request(port, "GET", "/healthz", expect=200)


def sign_in_everyone(url: str, delegates: Sequence[Delegate], page: str, workers: int) -> list[Delegate]:
    """Sign each delegate in over HTTP and keep their cookie and CSRF token (not timed)."""
    progress = Progress("signing in", len(delegates))

    def sign_in(delegate: Delegate) -> Delegate:
        browser = Browser(url)
        browser.sign_in(delegate.email, PASSWORD)
        token = browser.csrf_token(page)
        progress.tick()
        return Delegate(delegate.user_id, delegate.agency_id, delegate.email, browser.cookie_header(), token)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        signed = list(pool.map(sign_in, delegates))
    progress.close()
    return signed


# In bare SQL ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """A real outbox row the app wrote, so the bare SQL inserts the same amount of data."""

    kind: str
    subject: str
    body: str
    attachments: list


def sample_message(url: str) -> Message:
    with psycopg.connect(url) as connection:
        row = connection.execute(
            "SELECT kind, subject, body, attachments FROM outbox_message ORDER BY id LIMIT 1"
        ).fetchone()
    return Message(*row)


def book_in_sql(connection: psycopg.Connection, session_id: int, who: Delegate, message: Message) -> bool:
    """The app's booking transaction, statement for statement, without the app."""
    now = datetime.now(UTC)
    with connection.transaction():
        places, overbook = connection.execute(
            "SELECT places, overbook_percent FROM course_session WHERE id = %s FOR NO KEY UPDATE",
            (session_id,),
        ).fetchone()
        live = connection.execute(
            "SELECT id FROM booking WHERE session_id = %s AND user_id = %s"
            " AND status IN ('confirmed', 'waiting')",
            (session_id, who.user_id),
        ).fetchone()
        if live is not None:
            return False
        (confirmed,) = connection.execute(
            "SELECT count(*) FROM booking WHERE session_id = %s AND status = 'confirmed'", (session_id,)
        ).fetchone()
        status = "confirmed" if confirmed < places + places * overbook // 100 else "waiting"
        (booking_id,) = connection.execute(
            "INSERT INTO booking (session_id, user_id, agency_id, status, booked_at, booked_by_id,"
            " confirmed_at, waitlisted_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (session_id, who.user_id, who.agency_id, status, now, who.user_id)
            + ((now, None) if status == "confirmed" else (None, now)),
        ).fetchone()
        connection.execute(
            "INSERT INTO audit_entry (name, actor_id, subject_type, subject_id, data, created_at)"
            " VALUES (%s, %s, 'booking', %s, %s, %s)",
            (f"lms.booking.{status}", who.user_id, booking_id, Json({"session_id": session_id}), now),
        )
        connection.execute(
            "INSERT INTO outbox_message (kind, recipient, user_id, subject, body, attachments,"
            " created_at, next_attempt_at, attempts) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 0)",
            (message.kind, who.email, who.user_id, message.subject, message.body)
            + (Json(message.attachments), now, now),
        )
    return True


def sql_jobs(delegates, session_ids, message) -> list[Callable[[Any], bool]]:
    return [
        lambda connection, who=who, sid=sid: book_in_sql(connection, sid, who, message)
        for who, sid in zip(delegates, session_ids, strict=True)
    ]


# The plan -------------------------------------------------------------------------------------


@dataclass
class Plan:
    delegates: list[Delegate]
    warm_up: int
    app_one: int
    app_spread: list[int]
    sql_one: int
    sql_spread: list[int]


def create_plan(people: int) -> Plan:
    """Delegates and sessions in the real future, so the live workers take bookings."""
    starts_at = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=60)
    agency = create_agency()
    course = create_course()

    def session(places: int) -> int:
        return create_session(course=course, starts_at=starts_at, places=places).id

    say(f"  creating {people} delegates and {2 * SPREAD + 3} sessions")
    users = [create_user(agency=agency) for _ in range(people)]
    plan = Plan(
        delegates=[Delegate(u.id, agency.id, u.email) for u in users],
        warm_up=session(people),
        app_one=session(people),
        app_spread=[session(20) for _ in range(SPREAD)],
        sql_one=session(people),
        sql_spread=[session(20) for _ in range(SPREAD)],
    )
    db.session.commit()
    return plan


def confirmed_on(session_ids: Sequence[int]) -> int:
    return db.session.scalar(
        sa.select(sa.func.count(Booking.id)).where(
            Booking.session_id.in_(session_ids), Booking.status == BookingStatus.CONFIRMED
        )
    )


# The run --------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8, help="concurrent client threads (8)")
    parser.add_argument("--bookings", type=int, default=300, help="bookings in each booking run (300)")
    parser.add_argument("--health", type=int, default=1000, help="GET /healthz requests (1000)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers (4)")
    args = parser.parse_args(argv)
    if not (1 <= args.clients <= 64 and 1 <= args.workers <= 16):
        parser.error("use 1-64 clients and 1-16 workers")
    if not (args.clients <= args.bookings <= MAX_REQUESTS and args.clients <= args.health <= MAX_REQUESTS):
        parser.error(f"request counts must lie between --clients and {MAX_REQUESTS}")
    return args


def serve_env() -> dict[str, str]:
    return {
        "LMS_ENV": "production",
        "SECRET_KEY": secrets.token_hex(16),
        "SESSION_COOKIE_SECURE": "0",  # plain HTTP on loopback
        "MAIL_BACKEND": "log",
        # The outbox row is written in the booking's transaction, as in the bare SQL; sending it
        # is the outbox sweep's work, not timed here.
        "MAIL_DELIVER_ON_REQUEST": "0",
    }


def measure_app(app, plan: Plan, args) -> tuple[Result, Result, Result]:
    n, clients = args.bookings, args.clients
    with serve_with_gunicorn(app, workers=args.workers, extra_env=serve_env()) as server:
        port = urllib.parse.urlsplit(server.url).port
        say(f"gunicorn: {args.workers} sync workers on {server.url}")
        delegates = sign_in_everyone(server.url, plan.delegates, f"/sessions/{plan.warm_up}", args.workers)
        warm = [booking_job(port, d, plan.warm_up) for d in delegates[: 4 * clients]]
        run_load("warming up", warm + [health_job(port)] * 4 * clients, clients)
        health = run_load("GET /healthz", [health_job(port)] * args.health, clients)
        one = run_load("app, one session", [booking_job(port, d, plan.app_one) for d in delegates], clients)
        spread_jobs = [booking_job(port, d, plan.app_spread[i % SPREAD]) for i, d in enumerate(delegates)]
        spread = run_load(f"app, {SPREAD} sessions", spread_jobs, clients)
        if "Traceback" in server.log():
            say(server.log()[-3000:])
    with app.app_context():
        # A 302 can also carry a refusal in a flash message: count what the database holds.
        one.errors = max(one.errors, n - confirmed_on([plan.app_one]))
        spread.errors = max(spread.errors, n - confirmed_on(plan.app_spread))
    return health, one, spread


def measure_sql(url: str, plan: Plan, delegates: Sequence[Delegate], clients: int) -> tuple[Result, Result]:
    message = sample_message(url)

    def connect():
        return psycopg.connect(url, autocommit=True)

    spread_sessions = [plan.sql_spread[i % SPREAD] for i in range(len(delegates))]
    one = run_load(
        "bare SQL, one session",
        sql_jobs(delegates, [plan.sql_one] * len(delegates), message),
        clients,
        connect,
    )
    spread = run_load(
        f"bare SQL, {SPREAD} sessions", sql_jobs(delegates, spread_sessions, message), clients, connect
    )
    return one, spread


def report(results: Sequence[Result], args, schema: str) -> None:
    health, app_one, app_spread, sql_one, sql_spread = results
    print()
    print(
        f"Booking benchmark: {args.workers} gunicorn sync workers, {args.clients} clients, "
        f"PostgreSQL (schema {schema}), {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
    )
    print(f"{'':28} {'requests':>8} {'errors':>6} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for r in results:
        print(
            f"{r.label:28} {len(r.latencies):8} {r.errors:6} {r.rate:8.1f} "
            f"{r.ms(50):8.1f} {r.ms(95):8.1f} {r.ms(99):8.1f}"
        )
    print("Ratios of throughput (req/s), and of p50 latency in brackets:")
    rows = (
        ("booking / healthz", "one session", (app_one, health), "spread", (app_spread, health)),
        ("app / bare SQL", "one session", (app_one, sql_one), "spread", (app_spread, sql_spread)),
        ("one session / spread", "app", (app_one, app_spread), "bare SQL", (sql_one, sql_spread)),
    )
    for name, left, (a, b), right, (c, d) in rows:
        print(f"  {name:22} {left} {ratio(a, b)}   {right} {ratio(c, d)}")


def ratio(a: Result, b: Result) -> str:
    return f"{a.rate / b.rate:5.2f} ({a.ms(50) / b.ms(50):5.2f})"


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    url = database_url()
    schema = f"bench_{os.getpid()}_{secrets.token_hex(3)}"
    say(f"Creating schema {schema}")
    run_ddl(url, f"CREATE SCHEMA {schema}")
    try:
        config = Config()
        config.SQLALCHEMY_DATABASE_URI = in_schema(url, schema)
        app = create_app(config)
        with app.app_context():
            say("Running the migrations")
            upgrade(directory=str(BASE_DIR / "migrations"))
            plan = create_plan(args.bookings)
            db.engine.dispose()
        health, app_one, app_spread = measure_app(app, plan, args)
        sql_one, sql_spread = measure_sql(
            libpq_url(config.SQLALCHEMY_DATABASE_URI), plan, plan.delegates, args.clients
        )
        with app.app_context():
            db.engine.dispose()
        report([health, app_one, app_spread, sql_one, sql_spread], args, schema)
    finally:
        say(f"Dropping schema {schema}")
        run_ddl(url, f"DROP SCHEMA IF EXISTS {schema} CASCADE")


if __name__ == "__main__":
    main()
