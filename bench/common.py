"""What the database benchmarks share: where they may run, and an app pointed at their schema."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from flask import Flask

from config import Config, normalise_database_url
from lms import create_app

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


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


def run_ddl(url: str, statement: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql(statement)
    engine.dispose()


def bench_app(database_uri: str) -> Flask:
    config = Config()
    config.SQLALCHEMY_DATABASE_URI = database_uri
    config.MAIL_BACKEND = "log"  # nothing here sends mail; never reach for an SMTP server
    return create_app(config)


@contextmanager
def own_schema(url: str, prefix: str) -> Iterator[str]:
    """A new schema in `url` for one run, its name; dropped when the block ends, however it ends."""
    schema = f"{prefix}_{os.getpid()}_{secrets.token_hex(3)}"
    say(f"Creating schema {schema}")
    run_ddl(url, f"CREATE SCHEMA {schema}")
    try:
        yield schema
    finally:
        say(f"Dropping schema {schema}")
        run_ddl(url, f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def add_load_arguments(parser: argparse.ArgumentParser, *, requests: int, of: str) -> None:
    """--clients, --requests, --workers and --rounds: a load served by gunicorn, in rounds."""
    parser.add_argument("--clients", type=int, default=8, help="concurrent client threads (8)")
    parser.add_argument(
        "--requests", type=int, default=requests, help=f"requests of each {of} in the run ({requests})"
    )
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers (4)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds the requests are split into (5)")


def check_load_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace, most: int) -> None:
    if not (1 <= args.clients <= 64 and 1 <= args.workers <= 16 and 1 <= args.rounds <= 20):
        parser.error("use 1-64 clients, 1-16 workers and 1-20 rounds")
    if not args.clients * args.rounds <= args.requests <= most:
        parser.error(f"--requests must lie between --clients times --rounds and {most}")
