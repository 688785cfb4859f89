"""What the database benchmarks share: where they may run, and an app pointed at their schema."""

from __future__ import annotations

import os
import sys

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
