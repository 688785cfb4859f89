"""Audit entries, outbox messages and webhook deliveries are written once the work is done, yet read
as if written at once, and undone with the work they describe."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from lms.accounts.models import Role
from lms.bookings.services import book_place
from lms.core import deferred
from lms.core.audit import AuditEntry, log_action
from lms.extensions import db
from lms.integrations.webhook_models import WebhookDelivery
from lms.integrations.webhooks import emit
from lms.messages.models import OutboxMessage
from lms.messages.services import queue_message
from tests.factories import (
    NOW,
    create_agency,
    create_integration_with_tokens,
    create_session,
    create_user,
    create_webhook,
)


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


@contextmanager
def statements():
    sent: list[tuple[str, bool]] = []

    def catch(connection, cursor, statement, parameters, context, executemany) -> None:
        sent.append((statement, executemany))

    sa.event.listen(db.engine, "before_cursor_execute", catch)
    try:
        yield sent
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", catch)


def message_to(person, subject: str, **extra):
    return queue_message(
        "test.message",
        to=person.email,
        user=person,
        subject=subject,
        template="password_reset.txt",
        now=NOW,
        token="t",
        minutes=60,
        **extra,
    )


def outbox_of(person) -> list[OutboxMessage]:
    query = sa.select(OutboxMessage).where(OutboxMessage.recipient == person.email).order_by(OutboxMessage.id)
    return list(db.session.scalars(query))


def test_a_message_waits_and_a_read_in_the_same_transaction_finds_it(app_context):
    person = create_user()
    db.session.flush()
    with statements() as sent:
        queued = [message_to(person, "First"), message_to(person, "Second")]
        db.session.flush()
    assert sent == []  # nothing reads a message back, so nothing is written yet

    found = outbox_of(person)

    assert [(m.subject, m.body, m.user_id) for m in found] == [(q.subject, q.body, person.id) for q in queued]
    assert all(m.is_pending and m.attempts == 0 and m.next_attempt_at == NOW for m in found)


def test_a_message_queued_in_a_savepoint_that_is_rolled_back_is_never_written(app_context):
    person = create_user()
    message_to(person, "Kept")
    savepoint = db.session.begin_nested()
    message_to(person, "Undone")
    savepoint.rollback()
    db.session.commit()

    assert [m.subject for m in outbox_of(person)] == ["Kept"]


def test_a_message_with_a_dedupe_key_is_refused_at_once_the_second_time(app_context):
    person = create_user()
    message_to(person, "Reminder", dedupe_key="test.reminder:1")
    db.session.flush()
    with pytest.raises(IntegrityError), db.session.begin_nested():
        message_to(person, "Reminder again", dedupe_key="test.reminder:1")
        db.session.flush()

    assert [m.subject for m in outbox_of(person)] == ["Reminder"]


def test_the_same_kind_of_event_emitted_again_and_again_is_written_in_one_executemany(app_context):
    agency = create_agency()
    lnd = create_user(roles=(Role.PRACTITIONER, Role.LND_ADMIN))
    people = [create_user(agency=agency) for _ in range(4)]
    create_webhook(create_integration_with_tokens(agency, people[0], lnd), lnd)
    bookings = [book_place(create_session(), person, by=person, now=NOW) for person in people]
    db.session.commit()
    before = db.session.scalar(sa.select(sa.func.count()).select_from(WebhookDelivery))

    for booking in bookings:  # one call each, as four requests of a long job would
        emit("booking.confirmed", booking, now=NOW)
    with statements() as sent:
        db.session.commit()

    deliveries = [(s, many) for s, many in sent if "webhook_delivery" in s]
    assert deliveries == [(deliveries[0][0], True)]
    after = db.session.scalar(sa.select(sa.func.count()).select_from(WebhookDelivery))
    assert after - before == len(bookings)
