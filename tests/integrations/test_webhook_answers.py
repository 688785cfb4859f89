"""What the dispatcher makes of a receiver's redirect and of 410 Gone."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import sqlalchemy as sa

from lms.accounts.models import Role
from lms.bookings.services import book_place
from lms.core.audit import AuditEntry
from lms.extensions import db
from lms.integrations.webhook_models import DeliveryStatus, WebhookDelivery
from lms.integrations.webhooks import change_subscription, rotate_secret
from tests.conftest import sign_in
from tests.factories import NOW, create_agency, create_session, create_user
from tests.integrations.receiver import Receiver
from tests.integrations.test_webhooks import deliver, deliveries, statements, subscribe


def book_twice() -> None:
    for _ in range(2):
        person = create_user()
        book_place(create_session(), person, by=person, now=NOW)


def test_a_redirect_is_not_followed_and_the_log_says_where_it_pointed(app_context, receiver):
    subscribe(receiver, events=["booking.confirmed"])
    person = create_user()
    book_place(create_session(), person, by=person, now=NOW)
    receiver.script[:] = [302]

    assert deliver(NOW) == 0

    [delivery] = deliveries()
    db.session.refresh(delivery)
    assert delivery.is_pending and delivery.last_status_code == 302
    assert "a redirect" in delivery.last_error and "not followed" in delivery.last_error
    assert len(receiver.received) == 1  # the one post; nothing went anywhere else


def test_410_gone_turns_the_webhook_off_and_fails_what_was_waiting(app_context, receiver):
    subscription = subscribe(receiver, events=["booking.confirmed"])
    book_twice()
    receiver.script[:] = [410]
    db.session.commit()

    assert deliver(NOW) == 0

    db.session.expire_all()
    assert not subscription.active and not subscription.is_sending
    first, second = deliveries()
    assert first.status is DeliveryStatus.FAILED and "410 Gone" in first.last_error and first.can_send_again
    assert second.status is DeliveryStatus.FAILED and "turned off" in second.last_error
    assert len(receiver.received) == 1
    entry = db.session.scalar(
        sa.select(AuditEntry)
        .where(AuditEntry.name == "lms.webhook.turned_off")
        .order_by(AuditEntry.id.desc())
    )
    assert entry.actor_id is None and entry.data["reason"] == "the receiver answered 410 Gone"
    # Nothing more is posted to it.
    book_twice()
    assert deliver(NOW) == 0 and len(receiver.received) == 1


@pytest.fixture
def dripping():
    """A receiver that starts to answer, then sends a byte of its headers every half second for ten
    seconds: each read gets something within the timeout, the whole answer never comes."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            with connection:
                connection.recv(65536)
                connection.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                for _ in range(20):
                    if stop.wait(0.5):
                        break
                    try:
                        connection.sendall(b"a")
                    except OSError:
                        break

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/hooks"
    stop.set()
    thread.join(5)
    server.close()


def test_a_receiver_answering_a_byte_at_a_time_is_given_up_on_at_the_deadline(app, app_context, dripping):
    subscription = subscribe(Receiver(url=dripping), events=["booking.confirmed"])
    person = create_user()
    book_place(create_session(), person, by=person, now=NOW)
    db.session.commit()
    timeout = app.config["WEBHOOK_TIMEOUT_SECONDS"]

    started = time.monotonic()
    assert deliver(NOW) == 0
    took = time.monotonic() - started

    assert took < timeout + 2.5
    [delivery] = deliveries(subscription_id=subscription.id)
    db.session.refresh(delivery)
    assert delivery.is_pending and delivery.attempts == 1
    assert delivery.last_error == f"No complete answer within {timeout + 1} seconds"


def test_the_audit_trail_keeps_no_secret_nor_the_key_in_an_address(app_context, receiver):
    subscription = subscribe(receiver, events=["booking.confirmed"])
    admin = create_user(roles=(Role.LND_ADMIN,))
    change_subscription(
        subscription, receiver.url + "?key=s3cr3t-of-theirs", ["booking.confirmed"], by=admin, now=NOW
    )
    old = subscription.secret
    rotate_secret(subscription, by=admin, now=NOW)
    db.session.flush()

    written = " ".join(
        str(data)
        for data in db.session.scalars(
            sa.select(AuditEntry.data).where(AuditEntry.name.like("lms.webhook.%"))
        )
    )
    assert receiver.url in written and "?…" in written
    assert "s3cr3t-of-theirs" not in written and old not in written and subscription.secret not in written


def test_the_delivery_log_pages_through_thousands_in_a_few_statements(app_context, client, receiver):
    subscription = subscribe(receiver, events=["booking.confirmed"])
    db.session.execute(
        sa.insert(WebhookDelivery),
        [
            {
                "subscription_id": subscription.id,
                "event_id": f"evt_{n:06d}",
                "event_type": "booking.confirmed",
                "payload": "{}",
                "created_at": NOW,
                "status": DeliveryStatus.DELIVERED,
                "attempts": 1,
                "next_attempt_at": NOW,
                "delivered_at": NOW,
                "last_status_code": 200,
            }
            for n in range(3000)
        ],
    )
    db.session.flush()
    sign_in(client, create_user(roles=(Role.LND_ADMIN,)))
    path = f"/admin/webhooks/{subscription.id}"

    with statements() as first:
        page = client.get(path).get_data(as_text=True)
    assert "3,000 deliveries" in page and "evt_" not in page  # event ids are on each delivery's page
    with statements() as last:
        assert client.get(f"{path}?page=120").status_code == 200
    assert len(last) == len(first) <= 12
    past = client.get(f"{path}?page=500")
    assert past.status_code == 200 and "3,000 deliveries" in past.get_data(as_text=True)


def test_an_organisation_made_inactive_hears_of_nothing_more(app_context, receiver):
    police = create_agency("Police")
    subscription = subscribe(receiver, events=["booking.confirmed"], agency=police)
    person = create_user(agency=police)
    book_place(create_session(), person, by=person, now=NOW)
    assert len(deliveries(subscription_id=subscription.id)) == 1
    police.is_active = False
    db.session.commit()

    assert deliver(NOW) == 0 and receiver.received == []
    other = create_user(agency=police)
    book_place(create_session(), other, by=other, now=NOW)
    assert len(deliveries(subscription_id=subscription.id)) == 1
    assert not subscription.is_sending
