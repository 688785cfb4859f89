"""What a signed-in request costs beyond a plain one: GET /healthz with and without a sign-in cookie.

Run on demand (pytest never collects it):

    .venv/bin/python -m bench.profile_signed_in [--requests 3000] [--sqlite] [--profile 25]

Everything runs in this process, through Flask's test client, with the production settings: no
server, no network but the database's. On PostgreSQL (DATABASE_URL, default
postgresql://postgres@127.0.0.1:5432/test) it builds a schema of its own, runs the migrations and
drops the schema at the end; with --sqlite, a SQLite file in a temporary directory. One delegate
signs in through the pages; then, taking turns in rounds, it times GET /healthz without a cookie
and with the delegate's, and counts the statements and Set-Cookie headers of each. With
--profile N it runs the signed-in requests again under cProfile and prints the N functions with
the most time of their own, and the N with the most time inside them.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from flask_migrate import upgrade

from bench.bench_booking import environment, serve_env
from bench.common import database_url, in_schema, run_ddl, say
from config import BASE_DIR, Config
from lms import create_app
from lms.extensions import db
from tests.factories import PASSWORD, create_user
from tests.live import CSRF_TOKEN

ROUNDS = 5


def build_app(database_uri: str):
    with environment({**serve_env(), "RATELIMIT_STORAGE_URI": "memory://"}):
        config = Config()
    config.SQLALCHEMY_DATABASE_URI = database_uri
    app = create_app(config)
    with app.app_context():
        upgrade(directory=str(BASE_DIR / "migrations"))
        email = create_user().email
        db.session.commit()
    return app, email


def signed_in_client(app, email: str):
    client = app.test_client()
    token = CSRF_TOKEN.search(client.get("/sign-in").get_data(as_text=True)).group(1)
    response = client.post("/sign-in", data={"email": email, "password": PASSWORD, "csrf_token": token})
    if response.status_code != 302:
        raise RuntimeError(f"signing in answered {response.status_code}")
    return client


def counted(app, get: Callable[[], object]) -> tuple[int, int]:
    """Statements sent and Set-Cookie headers of one request."""
    sent = []
    with app.app_context():
        engine = db.engine

    def catch(*args) -> None:
        sent.append(args[2])

    sa.event.listen(engine, "before_cursor_execute", catch)
    try:
        response = get()
    finally:
        sa.event.remove(engine, "before_cursor_execute", catch)
    return len(sent), len(response.headers.getlist("Set-Cookie"))


def timed(get: Callable[[], object], count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        get()
    return (time.perf_counter() - started) / count


def run(app, email: str, args, label: str) -> None:
    plain_client, signed = app.test_client(), signed_in_client(app, email)

    def plain():
        return plain_client.get("/healthz")

    def signed_in():
        return signed.get("/healthz")

    for get in (plain, signed_in):
        timed(get, 200)  # warm up
    times: dict[str, list[float]] = {"plain": [], "signed in": []}
    per_round = max(1, args.requests // ROUNDS)
    for _ in range(ROUNDS):
        times["plain"].append(timed(plain, per_round))
        times["signed in"].append(timed(signed_in, per_round))
    load = os.getloadavg()[0]
    print(f"\n{label}: {args.requests} requests of each, {ROUNDS} rounds taking turns, load {load:.1f}")
    for name, get in (("plain", plain), ("signed in", signed_in)):
        statements, cookies = counted(app, get)
        median = statistics.median(times[name]) * 1000
        print(f"  GET /healthz {name:10} {median:7.3f} ms, {statements} statements, {cookies} Set-Cookie")
    ratio = statistics.median(times["plain"]) / statistics.median(times["signed in"])
    print(f"  signed in / plain, requests per second: {ratio:.2f}")
    if args.profile:
        profile = cProfile.Profile()
        profile.runcall(timed, signed_in, args.requests)
        stats = pstats.Stats(profile)
        stats.sort_stats("tottime").print_stats(args.profile)
        stats.sort_stats("cumulative").print_stats(args.profile)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests of each kind (3000)")
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file instead of PostgreSQL")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="print a profile's top N")
    args = parser.parse_args()
    if not 100 <= args.requests <= 100_000:
        parser.error("use 100 to 100,000 requests")
    if args.sqlite:
        with tempfile.TemporaryDirectory() as directory:
            app, email = build_app(f"sqlite:///{Path(directory) / 'profile.sqlite3'}")
            run(app, email, args, "SQLite")
            with app.app_context():
                db.engine.dispose()
        return
    url = database_url()
    schema = f"bench_prof_{os.getpid()}_{secrets.token_hex(3)}"
    say(f"Creating schema {schema}")
    run_ddl(url, f"CREATE SCHEMA {schema}")
    try:
        app, email = build_app(in_schema(url, schema))
        run(app, email, args, "PostgreSQL")
        with app.app_context():
            db.engine.dispose()
    finally:
        say(f"Dropping schema {schema}")
        run_ddl(url, f"DROP SCHEMA IF EXISTS {schema} CASCADE")


if __name__ == "__main__":
    main()
