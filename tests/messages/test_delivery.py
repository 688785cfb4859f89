"""The outbox: mail is never lost when the server is down, and never sent twice."""

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from lms.extensions import db
from lms.messages.delivery import deliver_pending
from lms.messages.models import OutboxMessage
from lms.messages.services import queue_message
from tests.conftest import empty_all_tables
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
    app.config["MAIL_PORT"] = 1
    try:
        assert deliver_pending(NOW) == 0
    finally:
        app.config["MAIL_PORT"] = port
    messages = db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)).all()
    assert [m.attempts for m in messages] == [1, 0, 0]
    assert messages[0].next_attempt_at == NOW + timedelta(minutes=1)
    assert all(m.sent_at is None and m.failed_at is None for m in messages)
    # The server is back: the next sweeps send everything, once.
    assert deliver_pending(NOW) == 2
    assert deliver_pending(NOW + timedelta(minutes=1)) == 1
    assert deliver_pending(NOW + timedelta(hours=1)) == 0
    assert sorted(m["Subject"] for m in mailbox.to("reader@example.org")) == [
        "Message 0",
        "Message 1",
        "Message 2",
    ]


def test_a_message_is_given_up_after_the_last_attempt(app, app_context):
    user = create_user()
    [message] = queue(user)
    db.session.flush()
    port, attempts = app.config["MAIL_PORT"], app.config["MAIL_MAX_ATTEMPTS"]
    app.config.update(MAIL_PORT=1, MAIL_MAX_ATTEMPTS=2)
    try:
        deliver_pending(NOW)
        deliver_pending(NOW + timedelta(hours=2))
    finally:
        app.config.update(MAIL_PORT=port, MAIL_MAX_ATTEMPTS=attempts)
    db.session.refresh(message)
    assert message.failed_at is not None and message.attempts == 2
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
