"""The outbox: mail is never lost when the server is down, and never sent twice."""

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from lms.extensions import db
from lms.messages.delivery import deliver_pending
from lms.messages.models import OutboxMessage
from lms.messages.services import queue_message
from tests.conftest import REFUSED_DOMAIN, empty_all_tables
from tests.factories import NOW, create_user


def queue(user, n: int = 1):
    return [
        queue_message(
            "test.message",
            to=user.email,
            user=user,
            subject=f"Message {i}",
            template="password_reset.txt",
            now=NOW,
            token="t",
            minutes=60,
        )
        for i in range(n)
    ]


def test_an_outage_delays_mail_and_loses_none(app, app_context, mailbox):
    user = create_user("reader@example.org")
    queue(user, 3)
    db.session.flush()
    port = app.config["MAIL_PORT"]
    app.config["MAIL_PORT"] = 1  # nothing listens there
    try:
        assert deliver_pending(NOW) == 0
        assert deliver_pending(NOW + timedelta(seconds=5)) == 0  # the next sweep finds it still down
    finally:
        app.config["MAIL_PORT"] = port
    messages = db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)).all()
    # Nobody could be reached, so no message used up an attempt: sweeping every few seconds
    # through a long outage never makes mail give up. Each says why it is waiting.
    assert [m.attempts for m in messages] == [0, 0, 0]
    assert all(m.sent_at is None and m.failed_at is None and m.last_error for m in messages)
    # The server is back: the next sweep sends everything, once.
    assert deliver_pending(NOW + timedelta(seconds=10)) == 3
    assert deliver_pending(NOW + timedelta(hours=1)) == 0
    for message in messages:
        db.session.refresh(message)
    assert all(m.sent_at is not None and m.last_error is None for m in messages)
    assert sorted(m["Subject"] for m in mailbox.to("reader@example.org")) == [
        "Message 0",
        "Message 1",
        "Message 2",
    ]


def test_a_message_the_server_refuses_is_retried_with_back_off_then_given_up(app, app_context, mailbox):
    queue(create_user(f"gone{REFUSED_DOMAIN}"))
    queue(create_user("here@example.org"))
    message, other = db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)).all()
    attempts = app.config["MAIL_MAX_ATTEMPTS"]
    app.config.update(MAIL_MAX_ATTEMPTS=2)
    try:
        assert deliver_pending(NOW) == 0
        db.session.refresh(message)
        assert message.attempts == 1 and "550" in message.last_error
        assert message.next_attempt_at == NOW + timedelta(minutes=1)
        # The refusal is the message's own: the next sweep sends the others.
        assert deliver_pending(NOW + timedelta(seconds=5)) == 1
        assert deliver_pending(NOW + timedelta(hours=2)) == 0
    finally:
        app.config.update(MAIL_MAX_ATTEMPTS=attempts)
    db.session.refresh(message)
    db.session.refresh(other)
    assert message.failed_at is not None and message.attempts == 2
    assert other.sent_at is not None and [m["To"] for m in mailbox.messages] == ["here@example.org"]
    assert deliver_pending(NOW + timedelta(days=1)) == 0


@pytest.mark.committing
def test_two_senders_at_once_send_each_message_exactly_once(app, mailbox):
    with app.app_context():
        user = create_user("many@example.org")
        queue(user, 60)
        db.session.commit()
    results, errors = [], []
    barrier = threading.Barrier(3)

    def sweep():
        try:
            with app.app_context():
                barrier.wait()
                results.append(deliver_pending(NOW))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=sweep) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert errors == []
        assert sum(results) == 60
        subjects = [m["Subject"] for m in mailbox.to("many@example.org")]
        assert len(subjects) == 60 and len(set(subjects)) == 60
    finally:
        with app.app_context():
            empty_all_tables()
