"""Rows written once the work is done: audit entries, webhook deliveries and outbox messages.

A change writes its audit entry, its messages and its webhook deliveries beside it, and nothing
the change does next reads them. Instead of a statement each as they happen, they wait in the
session and go to the database together: at the end of a request with its request key, in one
statement on PostgreSQL (``idempotency.record``); otherwise before the transaction commits, the
rows of a table and the uses of an insert one after the other in one executemany. They are written
at once when a statement is about to read or change their tables, so a reader in the same
transaction always finds them; and they are forgotten with the work when it is rolled back, to a
savepoint or entirely.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.util import find_tables
from sqlalchemy.sql.visitors import replacement_traverse

PENDING = "deferred_rows"
# The tables the waiting rows go to, and those and the tables they read: kept as rows are added.
WRITES, TOUCHES = "deferred_rows_tables", "deferred_rows_tables_read"
WRITTEN = "deferred_rows_written_in_savepoints"


# No more than this many wait: a long job (an import, the demo data) writes them as it goes.
MAX_WAITING = 500
# At most this many parts in the WITH of a request's last statement; more go in statements of their own.
MAX_PARTS = 50


@dataclass(frozen=True)
class Pending:
    """One row (or one ``INSERT ... SELECT``) waiting, and the (sub)transaction it belongs to."""

    table: sa.Table
    row: dict[str, Any] | None
    insert: sa.Insert | None
    params: list[dict[str, Any]]
    transaction: SessionTransaction | None


def defer_row(session: Session, table: sa.Table, row: dict[str, Any]) -> None:
    """Insert `row` into `table` later: for rows whose ids nobody asks for."""
    _add(session, Pending(table, row, None, [], _innermost(session)))


def defer(session: Session, insert: sa.Insert, params: list[dict[str, Any]]) -> None:
    """Run `insert` (an ``INSERT ... SELECT`` whose result nobody reads) later, once for each set
    of parameters."""
    _add(session, Pending(insert.table, None, insert, params, _innermost(session)))


def _innermost(session: Session) -> SessionTransaction | None:
    return session.get_nested_transaction() or session.get_transaction()


def _add(session: Session, pending: Pending) -> None:
    waiting = session.info.setdefault(PENDING, [])
    waiting.append(pending)
    _note_tables(session, [pending])
    if len(waiting) >= MAX_WAITING:  # a long job: write as it goes
        write(session)


def take(session: Session) -> list[tuple[sa.Insert, list[dict[str, Any]]]]:
    """What is waiting, in order, each as an insert and its parameters (the rows of a table
    together, in their order); the session lets go of it."""
    taken = session.info.pop(PENDING, [])
    session.info.pop(WRITES, None)
    session.info.pop(TOUCHES, None)
    savepoint = session.get_nested_transaction()
    if savepoint is not None:
        # Written inside a savepoint: if it is rolled back, what belongs outside it waits again.
        session.info.setdefault(WRITTEN, []).extend((pending, savepoint) for pending in taken)
    steps: list[tuple[sa.Insert, list[dict[str, Any]]]] = []
    rows_of: dict[sa.Table, list[dict[str, Any]]] = {}  # a table's rows, in order, in one step
    for pending in taken:
        if pending.insert is not None:
            if steps and steps[-1][0] is pending.insert:
                steps[-1][1].extend(pending.params)  # the same insert again: one executemany
            else:
                steps.append((pending.insert, list(pending.params)))
        elif pending.table in rows_of:
            rows_of[pending.table].append(pending.row)
        else:
            rows_of[pending.table] = [pending.row]
            steps.append((sa.insert(pending.table), rows_of[pending.table]))
    return steps


def write(session: Session) -> None:
    """Write whatever is waiting: each insert once, for all its rows or parameters."""
    for insert, params in take(session):
        session.execute(insert, params if len(params) > 1 else params[0])


def as_ctes(session: Session) -> tuple[list[sa.CTE], dict[str, Any]]:
    """Whatever is waiting as the parts of a ``WITH`` (PostgreSQL), so that one statement carries it
    all, and the parameters they need; a run of rows too long for that is written now instead."""
    ctes: list[sa.CTE] = []
    values: dict[str, Any] = {}
    for insert, params in take(session):
        if len(ctes) + len(params) > MAX_PARTS:
            session.execute(insert, params)
            continue
        for one in params:
            # Rows as parameters too, so that SQLAlchemy compiles a statement of this shape once.
            one_insert = insert if insert.select is not None else _row_insert(insert.table, tuple(one))
            suffix = f"_{len(ctes) + 1}"
            ctes.append(_renamed(one_insert, suffix).cte(f"deferred{suffix}"))
            values.update({f"{key}{suffix}": value for key, value in one.items()})
    return ctes, values


@functools.cache
def _row_insert(table: sa.Table, columns: tuple[str, ...]) -> sa.Insert:
    return sa.insert(table).values({name: sa.bindparam(name, type_=table.c[name].type) for name in columns})


def _renamed(insert: sa.Insert, suffix: str) -> sa.Insert:
    """`insert` with its parameters named apart (`suffix`), so that several copies can sit in one
    statement: made once for each insert and suffix."""
    key = (insert, suffix)
    renamed = _RENAMED.get(key)
    if renamed is None:

        def rename(element):
            if isinstance(element, BindParameter) and element.value is None and element.callable is None:
                return sa.bindparam(f"{element.key}{suffix}", type_=element.type)
            return None

        if len(_RENAMED) >= 5000:
            _RENAMED.clear()
        renamed = _RENAMED[key] = replacement_traverse(insert, {}, rename)
    return renamed


_RENAMED: dict[tuple[sa.Insert, str], sa.Insert] = {}


@event.listens_for(Session, "do_orm_execute")
def _write_before_a_statement_that_touches_them(state) -> None:
    pending = state.session.info.get(PENDING)
    if not pending:
        return
    statement = state.statement
    if not isinstance(statement, sa.sql.ClauseElement) or isinstance(statement, sa.TextClause):
        write(state.session)  # text: what it reads cannot be told
        return
    touched = _tables_of(statement)
    # A read must find the rows waiting; a change must not alter what they were to read.
    waiting = state.session.info.get(WRITES if state.is_select else TOUCHES) or set()
    if waiting & touched:
        write(state.session)


@event.listens_for(Session, "before_flush")
def _write_before_a_flush_that_changes_what_they_read(session, flush_context, instances) -> None:
    pending = session.info.get(PENDING)
    if not pending:
        return
    changed = {
        table
        for item in (*session.new, *session.dirty, *session.deleted)
        for table in sa.inspect(item).mapper.tables
    }
    if changed & (session.info.get(TOUCHES) or set()):
        write(session)  # before the flush: they read the rows as they were when they were made


def _tables_of(statement: sa.sql.ClauseElement) -> frozenset[sa.Table]:
    """The tables a statement reads or writes, found once for each shape of statement."""
    key = statement._generate_cache_key()  # noqa: SLF001 - memoised: SQLAlchemy's own cache uses it
    if key is None:
        return frozenset(find_tables(statement, include_crud=True, include_joins=True))
    found = _TABLES_OF.get(key.key)
    if found is None:
        if len(_TABLES_OF) >= 2000:
            _TABLES_OF.clear()
        found = _TABLES_OF[key.key] = frozenset(find_tables(statement, include_crud=True, include_joins=True))
    return found


_TABLES_OF: dict = {}


def _note_tables(session: Session, added: list[Pending]) -> None:
    writes, touches = session.info.setdefault(WRITES, set()), session.info.setdefault(TOUCHES, set())
    for item in added:
        writes.add(item.table)
        touches.add(item.table)
        if item.insert is not None:
            touches.update(_tables_of(item.insert))


@event.listens_for(Session, "before_commit")
def _write_before_commit(session) -> None:
    if session.info.get(PENDING) and session.get_nested_transaction() is None:
        write(session)


@event.listens_for(Session, "after_soft_rollback")
def _forget_what_was_rolled_back(session, previous_transaction) -> None:
    if not previous_transaction.nested:
        for key in (PENDING, WRITES, TOUCHES, WRITTEN):
            session.info.pop(key, None)
        return
    undone = [
        pending for pending, where in session.info.get(WRITTEN, []) if _within(where, previous_transaction)
    ]
    if undone:
        session.info[WRITTEN] = [
            (pending, where)
            for pending, where in session.info[WRITTEN]
            if not _within(where, previous_transaction)
        ]
    waiting = [*undone, *session.info.get(PENDING, [])]
    kept = [p for p in waiting if not _within(p.transaction, previous_transaction)]
    for key in (PENDING, WRITES, TOUCHES):
        session.info.pop(key, None)
    if kept:
        session.info[PENDING] = kept
        _note_tables(session, kept)


@event.listens_for(Session, "after_commit")
def _forget_savepoints(session) -> None:
    session.info.pop(WRITTEN, None)


def _within(transaction: SessionTransaction | None, ended: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is ended:
            return True
        transaction = transaction.parent
    return False
