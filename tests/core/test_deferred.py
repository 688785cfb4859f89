"""Audit entries and webhook deliveries are written once the work is done, yet read as if written
at once, and undone with the work they describe."""

from __future__ import annotations

import sqlalchemy as sa

from lms.core import deferred
from lms.core.audit import AuditEntry, log_action
from lms.extensions import db
from tests.factories import NOW, create_session, create_user


def entries(name: str) -> list[AuditEntry]:
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.name == name)))


def test_an_entry_is_found_by_a_read_in_the_transaction_that_logged_it(app_context):
    session, person = create_session(), create_user()
    log_action("lms.session.updated", subject=session, actor=person, now=NOW, fields=["room"])

    [entry] = entries("lms.session.updated")

    assert (entry.subject_type, entry.subject_id, entry.actor_id) == ("course_session", session.id, person.id)
    assert entry.data == {"fields": ["room"]} and entry.created_at == NOW


def test_entries_wait_and_go_in_one_statement_when_the_transaction_commits(app_context):
    session, person = create_session(), create_user()
    db.session.commit()
    sent = []

    def catch(connection, cursor, statement, parameters, context, executemany) -> None:
        sent.append(statement)

    for number in range(3):
        log_action("lms.session.updated", subject=session, actor=person, now=NOW, number=number)
    sa.event.listen(db.engine, "before_cursor_execute", catch)
    try:
        db.session.commit()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", catch)

    assert [s for s in sent if "audit_entry" in s] == [sent[0]] and len(sent) >= 1
    assert sorted(e.data["number"] for e in entries("lms.session.updated")) == [0, 1, 2]


def test_an_entry_logged_in_a_savepoint_that_is_rolled_back_is_never_written(app_context):
    session, person = create_session(), create_user()
    log_action("lms.session.created", subject=session, actor=person, now=NOW)
    savepoint = db.session.begin_nested()
    log_action("lms.session.cancelled", subject=session, actor=person, now=NOW)
    inner = db.session.begin_nested()
    log_action("lms.session.places_changed", subject=session, actor=person, now=NOW)
    inner.commit()
    assert len(entries("lms.session.created")) == 1  # the read writes all three, in the savepoint
    savepoint.rollback()
    log_action("lms.session.updated", subject=session, actor=person, now=NOW)
    db.session.commit()

    written = set(db.session.scalars(sa.select(AuditEntry.name).where(AuditEntry.subject_id == session.id)))

    assert written == {"lms.session.created", "lms.session.updated"}


def test_nothing_waits_after_a_rollback(app_context):
    session, person = create_session(), create_user()
    db.session.commit()
    log_action("lms.session.cancelled", subject=session, actor=person, now=NOW)
    db.session.rollback()

    assert db.session.info.get(deferred.PENDING) is None
    assert entries("lms.session.cancelled") == []


def test_a_person_created_in_the_same_transaction_can_be_the_actor(app_context):
    session = create_session()
    newcomer = create_user()
    db.session.expire(newcomer)
    log_action("lms.session.updated", subject=session, actor=newcomer, now=NOW)

    [entry] = entries("lms.session.updated")

    assert entry.actor_id == newcomer.id
