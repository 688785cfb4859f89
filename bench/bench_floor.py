"""The floor under the page and booking goals: a minimal Flask app against its own GET /healthz.

Run on demand (pytest never collects it):

    .venv/bin/python -m bench.bench_floor [--clients 8] [--requests 600] [--workers 4] [--rounds 5]

The goals of the booking, page and certificate benchmarks are ratios to `GET /healthz` on the same
server. This asks what those ratios can be at best on the stack the project is built on (Flask,
SQLAlchemy, psycopg, PostgreSQL, gunicorn sync workers), whatever the project does:
bench/floor_app.py is a minimal app with nothing of the project's (no ORM, layout, forms library,
rate limits, security headers or request keys). It serves that app the way bench_booking serves
the project's (the same workers and clients, a new connection per request, rounds taking turns)
and times its `GET /healthz` with and without a sign-in cookie; a page of 20 sessions (one
statement, a plain Jinja template); a stored PDF of the person's (about 46 kB); and a booking in
bare SQL behind a sign-in and a CSRF check, spread over 100 sessions. It builds its tables in a
schema of its own in DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/test) and drops it
at the end, however the run ends.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.bench_booking import Result, in_rounds, request, run_load
from bench.common import add_load_arguments, check_load_arguments, database_url, in_schema, own_schema, say
from config import BASE_DIR
from tests.live import free_port

SESSIONS = 100
DOCUMENT_BYTES = 46_000
MAX_REQUESTS = 5000
# The project's goals these ratios bound from above (bench_booking, bench_pages).
BOOKING_GOAL, PAGE_GOAL, DOWNLOAD_GOAL = 0.6, 0.5, 0.8

TABLES = """
CREATE TABLE floor_person (id serial PRIMARY KEY, token text NOT NULL UNIQUE, email text NOT NULL);
CREATE TABLE floor_role (person_id int NOT NULL REFERENCES floor_person, role text NOT NULL,
                         PRIMARY KEY (person_id, role));
CREATE TABLE floor_session (id serial PRIMARY KEY, capacity int NOT NULL);
CREATE TABLE floor_booking (id serial PRIMARY KEY, session_id int NOT NULL REFERENCES floor_session,
                            person_id int NOT NULL REFERENCES floor_person, status text NOT NULL);
CREATE INDEX ix_floor_booking_session ON floor_booking (session_id);
CREATE TABLE floor_document (id serial PRIMARY KEY, person_id int NOT NULL REFERENCES floor_person,
                             pdf bytea NOT NULL);
CREATE TABLE floor_audit (id serial PRIMARY KEY, booking_id int NOT NULL, action text NOT NULL);
CREATE TABLE floor_outbox (id serial PRIMARY KEY, recipient text NOT NULL, body text NOT NULL);
"""


def create_tables(url: str, people: int) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        for statement in filter(str.strip, TABLES.split(";")):
            connection.exec_driver_sql(statement)
        connection.execute(
            sa.text("INSERT INTO floor_person (token, email) VALUES (:token, :email)"),
            [{"token": f"person-{n}", "email": f"person-{n}@floor.example"} for n in range(people)],
        )
        connection.execute(sa.text("INSERT INTO floor_role SELECT id, 'practitioner' FROM floor_person"))
        # A stored certificate each, as large as the project's (about 46 kB, not compressible).
        connection.execute(
            sa.text(
                "INSERT INTO floor_document (person_id, pdf) SELECT id, :pdf FROM floor_person ORDER BY id"
            ),
            {"pdf": os.urandom(DOCUMENT_BYTES)},
        )
        connection.execute(
            sa.text("INSERT INTO floor_session (capacity) SELECT 20 FROM generate_series(1, :n)"),
            {"n": SESSIONS},
        )
        connection.exec_driver_sql("ANALYZE")
    engine.dispose()


@contextmanager
def serve(url: str, workers: int) -> Iterator[int]:
    """gunicorn serving bench/floor_app.py on 127.0.0.1 until the block ends; its port."""
    port = free_port()
    env = {**os.environ, "FLOOR_DATABASE_URL": url, "FLOOR_SECRET_KEY": secrets.token_hex(32)}
    command = [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--bind", f"127.0.0.1:{port}"]
    with tempfile.TemporaryDirectory(prefix="floor-") as folder:
        log_path = Path(folder) / "gunicorn.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [*command, "bench.floor_app:app"], cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            deadline = time.monotonic() + 30
            while not request_ok(port):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"gunicorn did not start:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.2)
            yield port
            if "Traceback" in log_path.read_text():
                say(log_path.read_text()[-3000:])
        finally:
            process.terminate()
            process.wait(timeout=15)


def request_ok(port: int) -> bool:
    try:
        return request(port, "GET", "/healthz", expect=200)
    except OSError:
        return False


def sign_in(port: int, person: int) -> tuple[str, str]:
    """The person's session cookie and CSRF token."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/sign-in/person-{person}", timeout=30) as answer:
        cookie = answer.headers["Set-Cookie"].split(";", 1)[0]
        return cookie, json.load(answer)["csrf"]


def measure(port: int, args) -> list[Result]:
    people = [sign_in(port, n) for n in range(args.requests)]

    def health(cookie: str) -> Callable[[Any], bool]:
        return lambda _: request(port, "GET", "/healthz", expect=200, cookie=cookie)

    def page(cookie: str) -> Callable[[Any], bool]:
        return lambda _: request(port, "GET", "/sessions/", expect=200, cookie=cookie)

    def download(n: int) -> Callable[[Any], bool]:
        # People were added in order, one document each: person n's is document n + 1.
        return lambda _: request(port, "GET", f"/documents/{n + 1}", expect=200, cookie=people[n][0])

    def book(n: int) -> Callable[[Any], bool]:
        cookie, token = people[n]
        body = urllib.parse.urlencode({"csrf": token})
        path = f"/sessions/{n % SESSIONS + 1}/book"
        return lambda _: request(port, "POST", path, expect=302, cookie=cookie, body=body)

    loads = {
        "GET /healthz": [health("") for _ in range(args.requests)],
        "GET /healthz signed in": [health(people[n % len(people)][0]) for n in range(args.requests)],
        "page of 20 sessions": [page(people[n % len(people)][0]) for n in range(args.requests)],
        "stored PDF download": [download(n % len(people)) for n in range(args.requests)],
        "booking, bare SQL": [book(n) for n in range(args.requests)],
    }
    run_load("warming up", [health("") for _ in range(4 * args.clients)], args.clients)
    results = {label: Result(label, [], 0.0, 0) for label in loads}
    chunks = {label: in_rounds(jobs, args.rounds) for label, jobs in loads.items()}
    for turn in range(args.rounds):
        say(f"round {turn + 1}/{args.rounds}")
        for label in loads:
            results[label].add(run_load(label, chunks[label][turn], args.clients))
    return list(results.values())


def report(results: Sequence[Result], args) -> None:
    health, signed, page, download, booking = results
    print()
    print(
        f"Floor benchmark: a minimal Flask app, {args.workers} gunicorn sync workers, "
        f"{args.clients} clients, "
        f"{args.rounds} rounds taking turns, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
    )
    print(f"{'':24} {'requests':>8} {'errors':>6} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'/healthz':>8}")
    for result in results:
        print(
            f"{result.label:24} {len(result.latencies):8} {result.errors:6} {result.rate:8.1f} "
            f"{result.ms(50):8.1f} {result.ms(95):8.1f} {result.rate / health.rate:8.2f}"
        )
    print(f"FLOOR signed_in_over_healthz {signed.rate / health.rate:.2f} (page goals: >= {PAGE_GOAL})")
    print(f"FLOOR page_over_healthz {page.rate / health.rate:.2f} (page goals: >= {PAGE_GOAL})")
    download_ratio = download.rate / health.rate
    print(f"FLOOR download_over_healthz {download_ratio:.2f} (certificate download goal: >= {DOWNLOAD_GOAL})")
    print(f"FLOOR booking_over_healthz {booking.rate / health.rate:.2f} (booking goal: >= {BOOKING_GOAL})")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_load_arguments(parser, requests=600, of="kind")
    args = parser.parse_args(argv)
    check_load_arguments(parser, args, MAX_REQUESTS)
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    url = database_url()
    with own_schema(url, "bench_floor") as schema:
        create_tables(in_schema(url, schema), args.requests)
        with serve(in_schema(url, schema), args.workers) as port:
            say(f"gunicorn: {args.workers} sync workers on 127.0.0.1:{port}")
            results = measure(port, args)
        report(results, args)


if __name__ == "__main__":
    main()
