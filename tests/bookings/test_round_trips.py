"""The booking request's trips to the database: the session read once, with its lock; the person,
roles and authenticator app in one statement; no ping before each use of a pooled connection."""

from __future__ import annotations

import re
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from lms import create_app
from lms.accounts.models import Role
from lms.bookings.services import book_place, lock_session, session_for_booking
from lms.core.audit import AuditEntry
from lms.extensions import db, login_manager
from tests.conftest import csrf_token, empty_all_tables, make_config, sign_in
from tests.factories import NOW, create_session, create_user


@contextmanager
def statements():
    sent: list[str] = []

    def catch(connection, cursor, statement, parameters, context, executemany) -> None:
        sent.append(" ".join(statement.split()))

    sa.event.listen(db.engine, "before_cursor_execute", catch)
    try:
        yield sent
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", catch)


def reads_of(sent: list[str], table: str) -> list[str]:
    read = re.compile(r"SELECT .* FROM (\w+)")
    return [s for s in sent if (m := read.match(s)) is not None and m.group(1) == table]


def test_a_booking_reads_its_session_once_taking_the_lock(app_context):
    session_id = create_session(places=20).id
    person = create_user()
    db.session.expire_all()

    with statements() as sent:
        session = session_for_booking(session_id)
        booking = book_place(session, person, by=person, now=NOW)

    assert booking.is_confirmed
    [read] = reads_of(sent, "course_session")
    if db.engine.dialect.name == "postgresql":
        assert read.endswith("FOR NO KEY UPDATE OF course_session")


def test_a_session_is_read_again_for_its_lock_once_the_transaction_that_held_it_ends(app_context):
    session_id = create_session().id
    session = session_for_booking(session_id)
    db.session.commit()
    db.session.refresh(session)  # the commit expired it

    with statements() as sent:
        lock_session(session)
        lock_session(session)

    assert len(reads_of(sent, "course_session")) == 1


def test_a_lock_taken_inside_a_savepoint_that_was_rolled_back_is_taken_again(app_context):
    session = create_session()
    db.session.flush()
    nested = db.session.begin_nested()
    lock_session(session)
    nested.rollback()

    with statements() as sent:
        lock_session(session)

    assert len(reads_of(sent, "course_session")) == 1


def test_a_missing_session_is_none(app_context):
    assert session_for_booking(2**31 - 1) is None


def test_the_person_their_roles_and_their_authenticator_app_are_loaded_in_one_statement(app_context):
    user = create_user(roles=(Role.PRACTITIONER, Role.TRAINER))
    token = user.session_token
    db.session.expunge_all()

    with statements() as sent:
        loaded = login_manager._user_callback(token)
        roles, factor = loaded.roles, loaded.second_factor

    assert roles == {Role.PRACTITIONER, Role.TRAINER} and factor is None
    assert len(sent) == 1


def test_pooled_connections_are_recycled_rather_than_pinged(app):
    with app.app_context():
        pool = db.engine.pool
        assert pool._pre_ping is False
        assert pool._recycle == app.config["DATABASE_POOL_RECYCLE_SECONDS"] == 1800


@pytest.mark.postgresql
@pytest.mark.committing
def test_a_connection_the_database_dropped_is_replaced_without_the_person_noticing(app, smtp_server):
    fresh = create_app(make_config(smtp_server[0].port))
    try:
        with fresh.app_context():
            user = create_user()
            db.session.commit()
            person = db.session.get(type(user), user.id)
        client = fresh.test_client()
        sign_in(client, person)
        assert client.get("/bookings").status_code == 200
        with fresh.app_context(), db.engine.connect() as connection:
            # The pooled connection the next request will use, ended by the server (a restart).
            pid = connection.connection.dbapi_connection.info.backend_pid
        admin = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"], isolation_level="AUTOCOMMIT")
        with admin.connect() as other:
            other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        admin.dispose()

        response = client.get("/bookings")

        assert response.status_code == 200
    finally:
        with fresh.app_context():
            empty_all_tables()
            db.session.remove()
            db.engine.dispose()


def kinds(sent: list[str]) -> list[str]:
    """Each statement as its verb and table: "SELECT user", "INSERT booking"."""
    named = []
    for statement in sent:
        if statement.startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")):
            continue  # the tests' own transaction turns each commit into a savepoint
        verb = statement.split()[0]
        if verb == "SELECT":  # the FROM outside any subquery
            table = next(
                (
                    m.group(1)
                    for m in re.finditer(r'\sFROM\s+"?(\w+)"?', statement)
                    if statement.count("(", 0, m.start()) == statement.count(")", 0, m.start())
                ),
                " ".join(statement.split()[1:]),  # SELECT 1
            )
        elif verb == "WITH":  # inserts carried by the last one: "INSERT request_key with audit_entry"
            *carried, table = [t.strip('"') for t in re.findall(r"INSERT INTO (\S+)", statement)]
            table = f"{table} with {', '.join(carried)}"
            verb = "INSERT"
        elif verb == "INSERT":
            table = statement.split()[2].strip('"')
        elif verb == "UPDATE":
            table = statement.split()[1].strip('"')
        else:
            table = statement
        named.append(f"{verb} {table}")
    return named


def test_a_booking_request_sends_one_statement_for_each_step_and_no_notify(app_context, client):
    """Six statements on PostgreSQL, with BEGIN and COMMIT eight round trips (bench_booking counts
    them): the audit entry, the messages and the webhook deliveries go with the request key, in its
    statement.
    The dispatchers are woken by the outbox's trigger, not by a NOTIFY of the request's own."""
    person = create_user()
    session_id = create_session(places=20).id
    sign_in(client, person)
    path = f"/sessions/{session_id}"
    token = csrf_token(client, path)

    with statements() as sent:
        response = client.post(f"{path}/book", data={"csrf_token": token})

    assert response.status_code == 302
    locked = ["SELECT course_session"]
    if db.engine.dialect.name == "sqlite":  # the session's lock is a write there
        locked = ["UPDATE course_session", *locked]
    if db.engine.dialect.name == "postgresql":
        last = ["INSERT request_key with audit_entry, webhook_delivery, outbox_message"]
    else:  # one statement each, in the same process: no round trips to save
        last = [
            "INSERT audit_entry",
            "INSERT webhook_delivery",
            "INSERT outbox_message",
            "INSERT request_key",
        ]
    assert kinds(sent) == [
        "SELECT user",  # with roles, authenticator app and this browser's sign-in
        "SELECT request_key",  # a twin that has answered already
        *locked,
        "SELECT booking",  # live booking, places taken, earlier bookings: one statement
        "INSERT booking",
        *last,
    ]
    written = sa.select(sa.func.count()).where(AuditEntry.name == "lms.booking.confirmed")
    assert db.session.scalar(written) == 1


@pytest.mark.postgresql
@pytest.mark.committing
def test_a_commit_that_adds_to_the_outbox_wakes_the_dispatchers_through_the_trigger(app):
    import psycopg

    from lms.messages.delivery import CHANNEL
    from lms.messages.models import OutboxMessage

    address = sa.engine.make_url(app.config["SQLALCHEMY_DATABASE_URI"]).set(drivername="postgresql")
    try:
        with psycopg.connect(address.render_as_string(hide_password=False), autocommit=True) as listener:
            listener.execute(f"LISTEN {CHANNEL}")
            with app.app_context():
                pid = db.session.connection().connection.dbapi_connection.info.backend_pid
                message = OutboxMessage(
                    kind="test",
                    recipient="someone@example.org",
                    subject="Hello",
                    body="Hello.",
                    created_at=NOW,
                    next_attempt_at=NOW,
                    attempts=0,
                )
                db.session.add(message)
                with statements() as sent:
                    db.session.commit()
            # Other work on the same database may notify too: wait for this commit's own.
            woken = any(note.pid == pid for note in listener.notifies(timeout=5))

        assert not any(s.startswith("NOTIFY") for s in sent)
        assert woken
    finally:
        with app.app_context():
            empty_all_tables()
            db.session.remove()


def test_a_signed_in_request_reads_the_person_and_their_sign_in_in_one_statement(app_context, client):
    sign_in(client, create_user())
    client.get("/healthz")

    with statements() as sent:
        response = client.get("/healthz")

    assert response.status_code == 200
    assert kinds(sent) == ["SELECT user", "SELECT 1"]


def test_an_unchanged_cookie_is_signed_and_sent_again_only_once_it_is_a_minute_old(client, monkeypatch):
    from lms.core import web

    sign_in(client, create_user())
    assert client.get("/healthz").headers.getlist("Set-Cookie") == []

    monkeypatch.setattr(web, "RENEW_COOKIE_AFTER", web.timedelta(0))
    renewed = client.get("/healthz").headers.getlist("Set-Cookie")

    assert len(renewed) == 1 and renewed[0].startswith("session=") and "Expires=" in renewed[0]


def test_every_statement_of_a_booking_request_is_compiled_once_and_reused(app_context, client):
    """Built from cacheable parts (the late rows as parameters, not values), each statement is
    compiled by SQLAlchemy once, not on every booking."""
    from sqlalchemy.engine.default import CACHE_HIT

    person = create_user()
    first, second = create_session(places=20).id, create_session(places=20).id
    sign_in(client, person)
    token = csrf_token(client, f"/sessions/{first}")
    assert client.post(f"/sessions/{first}/book", data={"csrf_token": token}).status_code == 302
    cached = []

    def note(connection, cursor, statement, parameters, context, executemany) -> None:
        if not statement.startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")):
            cached.append((context.cache_hit is CACHE_HIT, " ".join(statement.split())[:60]))

    sa.event.listen(db.engine, "before_cursor_execute", note)
    try:
        response = client.post(f"/sessions/{second}/book", data={"csrf_token": token})
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", note)

    assert response.status_code == 302
    assert len(cached) >= 6
    assert [statement for hit, statement in cached if not hit] == []
