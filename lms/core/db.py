"""Database helpers: UTC datetimes, enum columns, and SQLite transaction handling."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from enum import Enum

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.types import TypeDecorator

_write_intent: ContextVar[bool] = ContextVar("lms_write_intent", default=False)


class UTCDateTime(TypeDecorator):
    """An aware datetime, stored as UTC on every database and read back aware."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):  # type: ignore[override]
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("Refusing to store a naive datetime; pass an aware UTC time")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect):  # type: ignore[override]
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def enum_column(enum_cls: type[Enum], length: int = 32) -> sa.Enum:
    """Store an enum as its value in a VARCHAR, with a CHECK that the value is one of the enum's.

    The CHECK joins the table of whichever column uses this type, named ck_<table>_<column>_known,
    so the database refuses a value the application does not know. Adding or removing a member
    therefore needs a migration that replaces that CHECK.
    """
    enum_type = sa.Enum(
        enum_cls,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )
    event.listen(enum_type, "after_parent_attach", _check_values_when_on_a_table)
    return enum_type


def known_values_check(column_name: str, values: Iterable[str]) -> sa.CheckConstraint:
    """CHECK (column IN ('a', 'b', ...)), named "<column>_known" (ck_<table>_<column>_known).

    A NULL passes, so nullable columns stay nullable.
    """
    listed = ", ".join("'{}'".format(value.replace("'", "''")) for value in values)
    return sa.CheckConstraint(f"{column_name} IN ({listed})", name=f"{column_name}_known")


def _check_values_when_on_a_table(enum_type: sa.Enum, column: sa.Column) -> None:
    def add_check(column: sa.Column, table: sa.Table) -> None:
        table.append_constraint(known_values_check(column.name, enum_type.enums))

    event.listen(column, "after_parent_attach", add_check)


def set_write_intent(value: bool) -> None:
    """Mark the work that follows as writing, so SQLite starts with BEGIN IMMEDIATE."""
    _write_intent.set(value)


@contextmanager
def write_intent():
    token = _write_intent.set(True)
    try:
        yield
    finally:
        _write_intent.reset(token)


@event.listens_for(Engine, "connect")
def _configure_sqlite(dbapi_connection, connection_record) -> None:
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    # Let SQLAlchemy, not the sqlite3 module, decide when a transaction begins.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@event.listens_for(Engine, "begin")
def _begin_sqlite(connection) -> None:
    if connection.dialect.name != "sqlite":
        return
    # A writer takes the write lock up front; otherwise two writers can both read
    # the same state and one fails on upgrade. Readers stay deferred and unblocked.
    connection.exec_driver_sql("BEGIN IMMEDIATE" if _write_intent.get() else "BEGIN")


@contextmanager
def unit_of_work():
    """Commit what the block did, or roll all of it back: how commands end their work, as the
    request boundary does for pages."""
    from lms.extensions import db

    with write_intent():
        try:
            yield db.session
            db.session.commit()
        except BaseException:
            db.session.rollback()
            raise


def refresh_statistics() -> None:
    """Have PostgreSQL read the tables' statistics again after a bulk load (demo data, an import),
    so its planner does not pick joins for empty tables until autovacuum gets round to them. SQLite
    plans without statistics, so there is nothing to do there."""
    from lms.extensions import db

    with unit_of_work():
        connection = db.session.connection()
        if connection.dialect.name != "postgresql":
            return
        # The app's own tables only (found through its search path), not every schema's.
        quote = connection.dialect.identifier_preparer.quote
        tables = ", ".join(quote(table.name) for table in db.metadata.sorted_tables)
        db.session.execute(sa.text(f"ANALYZE {tables}"))
