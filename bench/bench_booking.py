"""How fast places are booked: gunicorn + PostgreSQL, against a trivial endpoint and bare SQL.

Run on demand (pytest never collects it):

    .venv/bin/python -m bench.bench_booking [--clients 8] [--bookings 300] [--workers 4] [--rounds 5]
    .venv/bin/python -m bench.bench_booking --round-trips-only    # the counts alone, in seconds

It builds a schema of its own in DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/test),
runs the migrations there, and first counts the round trips to the database (every message the
driver waits on: BEGIN, COMMIT, each statement) of one booking through the app, of GET /healthz and
of the bare SQL transaction, through a relay that counts them. Then it serves the app with gunicorn
on 127.0.0.1, signs every delegate in, and times, in rounds that take turns so that the machine's
drift falls on all alike: GET /healthz; POST /sessions/<id>/book with all load on one session
(every booking waits for the same row lock) and spread over 100 sessions; and the same booking
transaction in bare SQL. It ends with RATIO lines, and drops its schema when it ends, however it
ends.
"""

from __future__ import annotations

import argparse
import http.client
import os
import queue
import secrets
import socket
import statistics
import sys
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
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
from tests.live import CSRF_TOKEN, Browser, serve_with_gunicorn

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
SPREAD = 100  # sessions the spread load goes to
MAX_REQUESTS = 5000
COUNTED = 5  # bookings whose round trips are counted
GOAL_RATIO = 0.6  # booking / healthz, spread over sessions
GOAL_ROUND_TRIPS = 9


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

    def add(self, other: Result) -> None:
        """Another round of the same load."""
        self.latencies += other.latencies
        self.seconds += other.seconds
        self.errors += other.errors


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


# Counting round trips -------------------------------------------------------------------------

SSL_REQUEST, GSS_REQUEST = 80877103, 80877104  # a client's first message may ask for these; no type byte


class RoundTripCounter:
    """A relay on 127.0.0.1 to PostgreSQL that counts what the client sends and then waits on: each
    simple query ('Q': BEGIN, COMMIT, NOTIFY, a ping) and each Sync ('S') that ends a statement sent
    with the extended protocol (Parse, Bind, Execute), as the driver sends it."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.counts: Counter = Counter()
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def take(self) -> Counter:
        """The round trips since the last call, by what was sent."""
        with self.lock:
            counts, self.counts = self.counts, Counter()
        return counts

    def close(self) -> None:
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            for end in (client, server):
                end.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._relay_client, args=(client, server), daemon=True).start()
            threading.Thread(target=self._relay, args=(server, client), daemon=True).start()

    @staticmethod
    def _relay(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            RoundTripCounter._shut(source, target)

    @staticmethod
    def _shut(*ends: socket.socket) -> None:
        for end in ends:
            with suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def _relay_client(self, client: socket.socket, server: socket.socket) -> None:
        pending, started, parsed = b"", False, None
        try:
            while data := client.recv(65536):
                server.sendall(data)
                pending += data
                while True:
                    if not started:  # the start-up messages have a length and a code, no type byte
                        if len(pending) < 8 or len(pending) < int.from_bytes(pending[:4], "big"):
                            break
                        length, code = int.from_bytes(pending[:4], "big"), int.from_bytes(pending[4:8], "big")
                        pending = pending[length:]
                        started = code not in (SSL_REQUEST, GSS_REQUEST)
                        continue
                    if len(pending) < 5 or len(pending) < 1 + int.from_bytes(pending[1:5], "big"):
                        break
                    kind, length = pending[:1], int.from_bytes(pending[1:5], "big")
                    body, pending = pending[5 : 1 + length], pending[1 + length :]
                    if kind == b"Q":
                        self._count(body.rstrip(b"\0").decode(errors="replace"))
                    elif kind == b"P":  # Parse: statement name, then the SQL
                        parsed = body.split(b"\0")[1].decode(errors="replace")
                    elif kind == b"S":
                        self._count(parsed or "(a prepared statement)")
                        parsed = None
        except OSError:
            pass
        finally:
            self._shut(client, server)

    def _count(self, sql: str) -> None:
        words = " ".join(sql.split())
        with self.lock:
            self.counts[words[:70]] += 1


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
    counted: list[int]  # sessions for the bookings whose round trips are counted


def create_plan(people: int) -> Plan:
    """Delegates and sessions in the real future, so the live workers take bookings."""
    starts_at = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=60)
    agency = create_agency()
    course = create_course()

    def session(places: int) -> int:
        return create_session(course=course, starts_at=starts_at, places=places).id

    say(f"  creating {people} delegates and {2 * SPREAD + 3 + COUNTED} sessions")
    users = [create_user(agency=agency) for _ in range(people)]
    plan = Plan(
        delegates=[Delegate(u.id, agency.id, u.email) for u in users],
        warm_up=session(people),
        app_one=session(people),
        app_spread=[session(20) for _ in range(SPREAD)],
        sql_one=session(people),
        sql_spread=[session(20) for _ in range(SPREAD)],
        counted=[session(20) for _ in range(COUNTED)],
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
    parser.add_argument("--bookings", type=int, default=300, help="bookings of each kind in the run (300)")
    parser.add_argument("--health", type=int, default=1000, help="GET /healthz requests in the run (1000)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers (4)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds the requests are split into (5)")
    parser.add_argument(
        "--round-trips-only", action="store_true", help="count one booking's round trips and stop (no load)"
    )
    args = parser.parse_args(argv)
    if not (1 <= args.clients <= 64 and 1 <= args.workers <= 16 and 1 <= args.rounds <= 20):
        parser.error("use 1-64 clients, 1-16 workers and 1-20 rounds")
    least = args.clients * args.rounds
    if not (least <= args.bookings <= MAX_REQUESTS and least <= args.health <= MAX_REQUESTS):
        parser.error(f"request counts must lie between --clients times --rounds and {MAX_REQUESTS}")
    return args


def serve_env() -> dict[str, str]:
    """The production settings, mail included: a booking writes its message to the outbox, and the
    scheduler's process sends it (no mail server is reached from a request)."""
    return {
        "LMS_ENV": "production",
        "SECRET_KEY": secrets.token_hex(32),
        "SESSION_COOKIE_SECURE": "0",  # plain HTTP on loopback
        "MAIL_BACKEND": "log",  # nothing here reaches a mail server, whatever a request does
        "PARTNERSHIP_NAME": "Benchmark Safeguarding Children Partnership",
        "PARTNERSHIP_ADDRESS": "1 Benchmark Street, Testtown TT1 1TT",
        # Every delegate signs in from this one address before the timing starts.
        "SIGN_IN_LIMIT": "100000 per minute",
        "SIGN_IN_ACCOUNT_ADDRESS_LIMIT": "100000 per minute",
    }


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# Round trips of one request -------------------------------------------------------------------


@dataclass
class RoundTrips:
    booking: list[Counter]  # one for each counted booking
    health: Counter
    bare_sql: Counter

    @property
    def per_booking(self) -> int:
        return max(sum(c.values()) for c in self.booking)


def count_round_trips(database_uri: str, plan: Plan) -> RoundTrips:
    """The app in this process, with the production settings, its database reached through the relay:
    one delegate signs in and books COUNTED sessions; then GET /healthz; then one bare SQL booking."""
    address = sa.engine.make_url(database_uri)
    counter = RoundTripCounter(address.host or "127.0.0.1", address.port or 5432)
    relayed = address.set(host="127.0.0.1", port=counter.port).render_as_string(hide_password=False)
    delegate, other = plan.delegates[0], plan.delegates[1]
    try:
        with environment({**serve_env(), "RATELIMIT_STORAGE_URI": "memory://"}):
            config = Config()
        config.SQLALCHEMY_DATABASE_URI = relayed
        app = create_app(config)
        client = app.test_client()
        token = CSRF_TOKEN.search(client.get("/sign-in").get_data(as_text=True)).group(1)
        client.post("/sign-in", data={"email": delegate.email, "password": PASSWORD, "csrf_token": token})
        page = client.get(f"/sessions/{plan.counted[0]}").get_data(as_text=True)
        form = {"csrf_token": CSRF_TOKEN.search(page).group(1)}
        booking = []
        for session_id in plan.counted:
            counter.take()
            response = client.post(f"/sessions/{session_id}/book", data=form)
            booking.append(counter.take())
            if response.status_code != 302:
                raise RuntimeError(f"a counted booking failed with {response.status_code}")
        counter.take()
        app.test_client().get("/healthz")
        health = counter.take()
        with app.app_context():
            db.engine.dispose()
        message = sample_message(libpq_url(database_uri))
        with psycopg.connect(libpq_url(relayed), autocommit=True) as connection:
            counter.take()
            book_in_sql(connection, plan.counted[0], other, message)
            bare_sql = counter.take()
    finally:
        counter.close()
    return RoundTrips(booking, health, bare_sql)


# Timing, in rounds ----------------------------------------------------------------------------


def in_rounds(jobs: Sequence, rounds: int) -> list[list]:
    size = -(-len(jobs) // rounds)
    return [list(jobs[n * size : (n + 1) * size]) for n in range(rounds)]


def measure(app, url: str, plan: Plan, args) -> list[Result]:
    """Every kind of load in each round, one after the other, round after round."""
    clients = args.clients
    message = sample_message(url)

    def connect():
        return psycopg.connect(url, autocommit=True)

    with serve_with_gunicorn(app, workers=args.workers, extra_env=serve_env()) as server:
        port = urllib.parse.urlsplit(server.url).port
        say(f"gunicorn: {args.workers} sync workers on {server.url}")
        delegates = sign_in_everyone(server.url, plan.delegates, f"/sessions/{plan.warm_up}", args.workers)
        warm = [booking_job(port, d, plan.warm_up) for d in delegates[: 4 * clients]]
        run_load("warming up", warm + [health_job(port)] * 4 * clients, clients)
        spread = [i % SPREAD for i in range(len(delegates))]
        loads = [
            ("GET /healthz", [health_job(port)] * args.health, nullcontext),
            ("app, one session", [booking_job(port, d, plan.app_one) for d in delegates], nullcontext),
            (
                f"app, {SPREAD} sessions",
                [booking_job(port, d, plan.app_spread[i]) for d, i in zip(delegates, spread, strict=True)],
                nullcontext,
            ),
            (
                "bare SQL, one session",
                sql_jobs(plan.delegates, [plan.sql_one] * len(spread), message),
                connect,
            ),
            (
                f"bare SQL, {SPREAD} sessions",
                sql_jobs(plan.delegates, [plan.sql_spread[i] for i in spread], message),
                connect,
            ),
        ]
        results = [Result(label, [], 0.0, 0) for label, _, _ in loads]
        chunks = [in_rounds(jobs, args.rounds) for _, jobs, _ in loads]
        for turn in range(args.rounds):
            say(f"round {turn + 1}/{args.rounds}")
            for result, (label, _, connection), rounds in zip(results, loads, chunks, strict=True):
                result.add(run_load(label, rounds[turn], clients, connection))
        if "Traceback" in server.log():
            say(server.log()[-3000:])
    with app.app_context():
        # A 302 can also carry a refusal in a flash message: count what the database holds.
        n = args.bookings
        for result, sessions in zip(results[1:3], ([plan.app_one], plan.app_spread), strict=True):
            result.errors = max(result.errors, n - confirmed_on(sessions))
        db.engine.dispose()
    return results


# The report -----------------------------------------------------------------------------------


def report(results: Sequence[Result], trips: RoundTrips, args, schema: str) -> None:
    health, app_one, app_spread, sql_one, sql_spread = results
    print()
    print(
        f"Booking benchmark: {args.workers} gunicorn sync workers, {args.clients} clients, "
        f"{args.rounds} rounds taking turns, production settings, PostgreSQL (schema {schema}), "
        f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
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
    report_round_trips(trips)
    print(f"RATIO booking_over_healthz_spread {app_spread.rate / health.rate:.2f} goal >= {GOAL_RATIO}")
    print(f"RATIO round_trips_per_booking {trips.per_booking} goal <= {GOAL_ROUND_TRIPS}")


def report_round_trips(trips: RoundTrips) -> None:
    print("Round trips to the database (each message the driver sends and then waits on):")
    print(
        f"  GET /healthz {sum(trips.health.values())}, bare SQL booking {sum(trips.bare_sql.values())}, "
        f"app booking {' '.join(str(sum(c.values())) for c in trips.booking)} ({COUNTED} counted)"
    )
    print("  One app booking, in order of first use:")
    for sql, times in trips.booking[-1].items():
        print(f"    {times} x {sql}")


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
        say("Counting round trips")
        trips = count_round_trips(config.SQLALCHEMY_DATABASE_URI, plan)
        if args.round_trips_only:
            report_round_trips(trips)
            print(f"RATIO round_trips_per_booking {trips.per_booking} goal <= {GOAL_ROUND_TRIPS}")
            return
        results = measure(app, libpq_url(config.SQLALCHEMY_DATABASE_URI), plan, args)
        report(results, trips, args, schema)
    finally:
        say(f"Dropping schema {schema}")
        run_ddl(url, f"DROP SCHEMA IF EXISTS {schema} CASCADE")


if __name__ == "__main__":
    main()
