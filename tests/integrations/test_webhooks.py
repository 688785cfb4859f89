"""Webhooks: each event reaches a real receiver once, signed, with the documented payload; retries
back off and keep the event id; organisations' integrations see their staff only; no request waits
for a receiver; emitting costs one statement."""

from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from datetime import timedelta

import pytest
import sqlalchemy as sa

from lms.accounts.models import Role
from lms.bookings.services import book_place, cancel_booking
from lms.core import clock, deferred
from lms.core.db import write_intent
from lms.evaluations.services import current_question_set, submit_evaluation
from lms.extensions import db
from lms.finance.payments import record_payment
from lms.finance.services import issue_credit_note
from lms.integrations.models import Integration
from lms.integrations.webhook_delivery import TargetRefused, check_target, deliver_webhooks
from lms.integrations.webhook_models import DeliveryStatus, WebhookAttempt, WebhookDelivery
from lms.integrations.webhooks import (
    EVENT_TYPES,
    change_subscription,
    create_subscription,
    emit,
    rotate_secret,
    set_active,
)
from tests.conftest import csrf_token, empty_all_tables, sign_in
from tests.evaluations.test_evaluations import attended, full_answers
from tests.factories import NOW, create_agency, create_session, create_user
from tests.finance.test_finance import finance_user
from tests.finance.test_payments import ISSUED_ON, invoice_of
from tests.integrations.receiver import verify


def lnd():
    return create_user(roles=(Role.LND_ADMIN,))


def integration(name="HR system", agency=None) -> Integration:
    made = Integration(name=name, agency_id=agency.id if agency else None, created_at=NOW)
    db.session.add(made)
    db.session.flush()
    return made


def subscribe(receiver, *, to=None, events=tuple(EVENT_TYPES), agency=None):
    subscription = create_subscription(
        to or integration(f"System {time.monotonic_ns()}", agency), receiver.url, events, by=lnd(), now=NOW
    )
    receiver.secret = subscription.secret
    return subscription


def deliver(now=NOW) -> int:
    with write_intent():
        return deliver_webhooks(now)


def deliveries(**where) -> list[WebhookDelivery]:
    query = sa.select(WebhookDelivery).filter_by(**where).order_by(WebhookDelivery.id)
    return list(db.session.scalars(query))


@contextmanager
def statements():
    sent: list[str] = []

    def catch(connection, cursor, statement, parameters, context, executemany) -> None:
        sent.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", catch)
    try:
        yield sent
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", catch)


# Every event, once, signed ----------------------------------------------------------------------


def test_each_event_arrives_once_signed_with_the_documented_payload(app_context, receiver):
    agency = create_agency("Northshire Police")
    subscribe(receiver)
    admin = lnd()
    session = create_session(places=1, overbook_percent=0)
    first = book_place(session, create_user(first_name="Ada", agency=agency), by=admin, now=NOW)
    second = book_place(session, create_user(), by=admin, now=NOW)
    cancel_booking(first, by=first.user, now=NOW)  # the place goes to the second, waiting
    _, [booking] = attended()
    question_set = current_question_set(booking.session.course, now=NOW)
    submit_evaluation(booking, question_set, full_answers(question_set), by=booking.user, now=NOW)
    invoice = invoice_of(create_agency("Health"))
    record_payment(invoice, invoice.balance_pence, ISSUED_ON, None, by=finance_user(), now=NOW)
    other = invoice_of(create_agency("Schools"))
    note = issue_credit_note(other, [other.lines[0].id], "Booked in error", by=finance_user(), now=NOW)

    deliver()

    assert all(r.verified for r in receiver.received)
    ids = [r.headers["webhook-id"] for r in receiver.received]
    assert len(ids) == len(set(ids)) == len(deliveries())
    assert all(r.headers["webhook-id"] == r.event["id"] for r in receiver.received)
    assert all(r.headers["webhook-timestamp"] == str(int(NOW.timestamp())) for r in receiver.received)

    def about(kind, key, ident):
        return [e for e in receiver.events(kind) if e["data"][key]["id"] == ident]

    [confirmed] = about("booking.confirmed", "booking", first.id)
    assert confirmed["occurred_at"] == "2026-05-04T09:00:00Z"
    assert confirmed["data"]["person"] == {
        "id": first.user.id,
        "name": first.user.full_name,
        "email": first.user.email,
        "organisation": {"id": agency.id, "name": "Northshire Police"},
        "other_organisation": None,
    }
    assert confirmed["data"]["session"]["course"] == {"id": session.course.id, "title": session.course.title}
    assert confirmed["data"]["booking"]["status"] == "confirmed"
    [waiting] = about("booking.waitlisted", "booking", second.id)
    assert waiting["data"]["booking"]["status"] == "waiting"
    [cancelled] = about("booking.cancelled", "booking", first.id)
    assert cancelled["data"]["booking"]["cancellation_reason"] == "delegate"
    [promoted] = about("booking.promoted", "booking", second.id)
    assert promoted["data"]["booking"]["status"] == "confirmed"
    [attendance] = about("attendance.recorded", "booking", booking.id)
    assert attendance["data"]["booking"]["attendance"] == "attended"
    [certificate] = receiver.events("certificate.issued")
    assert certificate["data"]["booking"]["id"] == booking.id
    assert certificate["data"]["certificate"]["number"].startswith("SCP")
    [issued] = about("invoice.issued", "invoice", invoice.id)
    assert issued["data"]["invoice"]["number"] == invoice.number
    assert issued["data"]["invoice"]["total_pence"] == invoice.total_pence == 2500
    assert issued["data"]["organisation"] == {"id": invoice.agency_id, "name": "Health"}
    [paid] = about("invoice.paid", "invoice", invoice.id)
    assert paid["data"]["invoice"]["status"] == "paid"
    [credit] = receiver.events("credit_note.issued")
    assert credit["data"]["credit_note"]["number"] == note.number
    assert credit["data"]["credit_note"]["total_pence"] == 2500
    assert credit["data"]["invoice"]["number"] == other.number

    # Sent is sent: a second pass sends nothing again.
    before = len(receiver.received)
    deliver(NOW + timedelta(hours=2))
    assert len(receiver.received) == before
    assert {d.status for d in deliveries()} == {DeliveryStatus.DELIVERED}


def test_a_subscription_receives_only_the_events_it_chose(app_context, receiver):
    subscribe(receiver, events=["booking.cancelled"])
    booking = book_place(create_session(), create_user(), by=lnd(), now=NOW)
    cancel_booking(booking, by=booking.user, now=NOW)

    deliver()

    assert [e["type"] for e in receiver.events()] == ["booking.cancelled"]


def test_the_payload_is_what_it_was_when_the_event_happened(app_context, receiver):
    subscribe(receiver, events=["booking.confirmed"])
    person = create_user(first_name="Ada")
    book_place(create_session(), person, by=person, now=NOW)
    person.first_name = "Grace"
    person.agency.name = "Renamed"
    db.session.flush()

    deliver()

    [event] = receiver.events()
    assert event["data"]["person"]["name"].startswith("Ada ")
    assert event["data"]["person"]["organisation"]["name"] != "Renamed"


# Failures, retries, the log ---------------------------------------------------------------------


def test_a_failing_receiver_is_tried_again_with_back_off_and_the_same_event_id(app_context, receiver):
    subscribe(receiver, events=["booking.confirmed"])
    person = create_user()
    book_place(create_session(), person, by=person, now=NOW)
    receiver.script[:] = [500, "hang"]

    assert deliver(NOW) == 0  # 500
    [delivery] = deliveries()
    assert delivery.is_pending and delivery.next_attempt_at == NOW + timedelta(minutes=1)
    assert deliver(NOW + timedelta(seconds=30)) == 0  # not due yet: nothing is tried
    assert deliver(NOW + timedelta(minutes=1)) == 0  # no answer within the timeout
    db.session.refresh(delivery)
    assert delivery.next_attempt_at == NOW + timedelta(minutes=3)  # 1 minute, then 2
    assert deliver(NOW + timedelta(minutes=3)) == 1

    db.session.refresh(delivery)
    assert delivery.is_delivered and delivery.attempts == 3
    assert [(a.status_code, a.succeeded) for a in delivery.attempt_log] == [
        (500, False),
        (None, False),
        (200, True),
    ]
    assert "No answer within 1 seconds" in delivery.attempt_log[1].error
    assert all(a.duration_ms >= 0 for a in delivery.attempt_log)
    # The 500 and the success reached the receiver, with the same event id and body.
    assert {r.headers["webhook-id"] for r in receiver.received} == {delivery.event_id}
    assert len({r.body for r in receiver.received}) == 1


def test_after_the_last_attempt_the_delivery_fails_shows_in_the_log_and_can_be_sent_again(
    app, client, receiver, monkeypatch
):
    monkeypatch.setitem(app.config, "WEBHOOK_MAX_ATTEMPTS", 2)
    subscription = subscribe(receiver, events=["booking.confirmed"])
    person = create_user()
    book_place(create_session(), person, by=person, now=NOW)
    receiver.script[:] = [503, 503]
    deliver(NOW)
    deliver(NOW + timedelta(minutes=1))
    [delivery] = deliveries()
    assert delivery.has_failed and delivery.attempts == 2
    subscription_id, delivery_id, event_id = subscription.id, delivery.id, delivery.event_id
    admin = lnd()
    sign_in(client, admin)

    page = client.get(f"/admin/webhooks/{subscription_id}").get_data(as_text=True)
    assert "Failed" in page and "HTTP 503" in page and receiver.secret in page
    detail = client.get(f"/admin/webhooks/deliveries/{delivery_id}").get_data(as_text=True)
    assert detail.count("HTTP 503") == 2 and "Send again" in detail and event_id in detail

    token = csrf_token(client, f"/admin/webhooks/deliveries/{delivery_id}")
    response = client.post(f"/admin/webhooks/deliveries/{delivery_id}/send-again", data={"csrf_token": token})
    assert response.status_code == 302
    deliver(NOW + timedelta(minutes=5))
    assert db.session.get(WebhookDelivery, delivery_id).is_delivered
    assert [r.headers["webhook-id"] for r in receiver.received] == [event_id] * 3


def test_a_test_event_is_sent_from_the_page(app, client, receiver):
    subscription = subscribe(receiver, events=["invoice.issued"])
    admin = lnd()
    sign_in(client, admin)
    token = csrf_token(client, f"/admin/webhooks/{subscription.id}")

    assert (
        client.post(f"/admin/webhooks/{subscription.id}/test", data={"csrf_token": token}).status_code == 302
    )
    deliver()

    [ping] = receiver.received
    assert ping.verified and ping.event["type"] == "webhook.ping"


def test_after_a_new_secret_both_sign_for_a_day(app_context, receiver):
    subscription = subscribe(receiver, events=["booking.confirmed"])
    old = subscription.secret
    rotate_secret(subscription, by=lnd(), now=NOW)
    person = create_user()
    book_place(create_session(), person, by=person, now=NOW)
    deliver()

    [received] = receiver.received
    assert verify(old, received.headers, received.body)
    assert verify(subscription.secret, received.headers, received.body)
    assert len(received.headers["webhook-signature"].split()) == 2
    assert subscription.secrets(NOW + timedelta(hours=25)) == [subscription.secret]


# Who receives what ------------------------------------------------------------------------------


def test_an_organisations_integration_receives_its_staffs_events_only(app_context, receiver):
    trust = create_agency("Oak Trust")
    school = create_agency("Oak Primary", parent_id=trust.id)
    elsewhere = create_agency("Fire Service")
    trust_hook = subscribe(receiver, events=["booking.confirmed"], agency=trust)
    school_hook = subscribe(receiver, events=["booking.confirmed"], agency=school)
    everyone_hook = subscribe(receiver, events=["booking.confirmed"])
    admin, session = lnd(), create_session()
    bookings = {
        name: book_place(session, create_user(**who), by=admin, now=NOW)
        for name, who in {
            "trust": {"agency": trust},
            "school": {"agency": school},
            "elsewhere": {"agency": elsewhere},
            "unlisted": {"other_organisation": "A charity"},
        }.items()
    }

    def received_by(hook):
        return {d.event_id for d in deliveries(subscription_id=hook.id)}

    def event_of(name):
        return {
            json.loads(d.payload)["id"]
            for d in deliveries()
            if json.loads(d.payload)["data"]["booking"]["id"] == bookings[name].id
        }

    assert received_by(trust_hook) == event_of("trust") | event_of("school")
    assert received_by(school_hook) == event_of("school")
    assert received_by(everyone_hook) == set().union(*(event_of(name) for name in bookings))


def test_a_revoked_integration_or_a_webhook_turned_off_receives_nothing(app_context, receiver):
    revoked = subscribe(receiver, events=["booking.confirmed"])
    off = subscribe(receiver, events=["booking.confirmed"])
    person = create_user()
    book_place(create_session(), person, by=person, now=NOW)  # written for both, not yet sent
    revoked.integration.revoked_at = NOW
    set_active(off, False, by=lnd(), now=NOW)
    book_place(create_session(), create_user(), by=lnd(), now=NOW)

    deliver(NOW + timedelta(hours=1))

    assert receiver.received == []
    assert len(deliveries(subscription_id=revoked.id)) == 1  # the one written before it was revoked
    assert [d.status for d in deliveries(subscription_id=off.id)] == [DeliveryStatus.FAILED]


def test_targets_must_be_https_on_public_addresses_unless_allowed():
    for refused in (
        "http://93.184.216.34/hooks",
        "https://127.0.0.1/hooks",
        "https://10.1.2.3/hooks",
        "https://169.254.169.254/latest",
        "https://[::1]/hooks",
        "https://user:pw@93.184.216.34/",
        "ftp://93.184.216.34/",
    ):
        with pytest.raises(TargetRefused):
            check_target(refused, allow_private=False)
    check_target("https://93.184.216.34/hooks", allow_private=False)
    check_target("http://127.0.0.1:8000/hooks", allow_private=True)


def test_a_private_address_is_refused_when_saved_and_when_sent(app, app_context, receiver, monkeypatch):
    subscription = subscribe(receiver, events=["booking.confirmed"])
    person = create_user()
    book_place(create_session(), person, by=person, now=NOW)
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_INSECURE_TARGETS", False)

    deliver()

    [delivery] = deliveries()
    assert delivery.has_failed and "Not sent" in delivery.last_error
    assert receiver.received == []
    from lms.integrations.webhooks import WebhookError

    with pytest.raises(WebhookError):
        create_subscription(subscription.integration, receiver.url, ["booking.confirmed"], by=lnd(), now=NOW)


def test_only_lnd_open_the_webhook_pages(app, client, receiver):
    subscription = subscribe(receiver, events=["booking.confirmed"])
    paths = [
        f"/admin/webhooks/{subscription.id}",
        f"/admin/integrations/{subscription.integration_id}/webhooks",
    ]
    practitioner, money = create_user(), finance_user()
    for person in (practitioner, money):
        sign_in(client, person)
        assert [client.get(path).status_code for path in paths] == [403, 403]
        client.post("/sign-out", data={"csrf_token": csrf_token(client, "/dashboard")})


def test_addresses_and_events_that_cannot_be_used_are_refused_next_to_the_form(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_INSECURE_TARGETS", False)
    path = f"/admin/integrations/{integration('Ledger').id}/webhooks"
    sign_in(client, lnd())
    token = csrf_token(client, path)

    for url, events in (
        ("https://[::1/hooks", ["invoice.paid"]),
        ("https://93.184.216.34:99999/", ["invoice.paid"]),
        ("https://" + "a" * 2100 + ".org/", ["invoice.paid"]),
        ("https://localhost/hooks", ["invoice.paid"]),
        ("javascript:alert(1)", ["invoice.paid"]),
        ("https://93.184.216.34/hooks", ["nothing.happened"]),
    ):
        response = client.post(path, data={"csrf_token": token, "url": url, "event_types": events})
        assert response.status_code == 422, url
    assert deliveries() == []


def test_lnd_add_a_webhook_from_the_integrations_page(app, client, receiver):
    path = f"/admin/integrations/{integration('Ledger').id}/webhooks"
    admin = lnd()
    sign_in(client, admin)
    token = csrf_token(client, path)

    refused = client.post(path, data={"csrf_token": token, "url": receiver.url})
    assert refused.status_code == 422 and "Choose at least one event" in refused.get_data(as_text=True)
    response = client.post(
        path,
        data={"csrf_token": token, "url": receiver.url, "event_types": ["invoice.issued", "invoice.paid"]},
    )

    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "whsec_" in page and "invoice.paid" in page


# No request waits; one statement per event --------------------------------------------------------


def test_no_request_waits_for_a_receiver(app, client, receiver):
    receiver.hang_seconds = 5
    receiver.script[:] = ["hang"] * 5
    subscribe(receiver, events=["booking.confirmed"])
    session = create_session()
    person = create_user()
    sign_in(client, person)
    token = csrf_token(client, f"/sessions/{session.id}")

    started = time.monotonic()
    response = client.post(f"/sessions/{session.id}/book", data={"csrf_token": token})
    took = time.monotonic() - started

    assert response.status_code == 302 and took < 2
    [delivery] = deliveries()
    assert delivery.is_pending and delivery.attempts == 0


def written_now() -> list[str]:
    """The statements that write what the transaction has left to write at its end."""
    with statements() as sent:
        deferred.write(db.session())
    return sent


def test_emitting_is_one_statement_with_or_without_subscribers(app_context, receiver):
    person = create_user()
    booking = book_place(create_session(), person, by=person, now=NOW)
    db.session.flush()
    written_now()

    emit("booking.confirmed", booking, now=NOW)
    sent = written_now()
    assert len(sent) == 1 and sent[0].lstrip().upper().startswith("INSERT INTO WEBHOOK_DELIVERY")
    assert deliveries() == []

    subscribe(receiver, events=["booking.confirmed"])
    subscribe(receiver, events=["booking.confirmed"])
    db.session.flush()
    written_now()  # the subscriptions' audit entries
    emit("booking.confirmed", booking, now=NOW)
    assert len(written_now()) == 1
    assert len(deliveries()) == 2


def test_many_events_of_one_kind_are_one_statement_each_with_its_own_id(app_context, receiver):
    admin = lnd()
    session = create_session(places=10)
    bookings = [book_place(session, create_user(), by=admin, now=NOW) for _ in range(6)]
    subscribe(receiver, events=["booking.cancelled"])
    db.session.flush()
    written_now()

    emit("booking.cancelled", *bookings, now=NOW)
    assert len(written_now()) == 1
    written = deliveries()
    assert len({d.event_id for d in written}) == 6
    assert sorted(json.loads(d.payload)["data"]["booking"]["id"] for d in written) == sorted(
        b.id for b in bookings
    )


def test_a_booking_costs_one_statement_more_for_its_event(app_context, receiver):
    admin = lnd()

    def statements_for_a_booking() -> int:
        session, person = create_session(), create_user()
        db.session.commit()
        with statements() as sent:
            book_place(session, person, by=admin, now=NOW)
            db.session.commit()
        return sum(1 for s in sent if "webhook" in s.lower())

    assert statements_for_a_booking() == 1
    subscribe(receiver, events=["booking.confirmed"])
    assert statements_for_a_booking() == 1


def test_events_of_one_request_go_in_its_last_statement_each_with_its_own_id(app, client, receiver):
    subscribe(receiver, events=["booking.substituted", "booking.confirmed"])
    agency = create_agency()
    person = create_user(agency=agency)
    colleague = create_user("colleague@example.org", agency=agency)
    booking = book_place(create_session(), person, by=person, now=NOW)
    db.session.commit()
    before = {d.id for d in deliveries()}
    sign_in(client, person)
    path = f"/bookings/{booking.id}/substitute"
    token = csrf_token(client, path)

    with statements() as sent:
        response = client.post(path, data={"csrf_token": token, "email": colleague.email})

    assert response.status_code == 302
    written = [d for d in deliveries() if d.id not in before]
    assert sorted(d.event_type for d in written) == ["booking.confirmed", "booking.substituted"]
    assert len({d.event_id for d in written}) == 2
    bodies = {d.event_type: json.loads(d.payload) for d in written}
    assert all(bodies[d.event_type]["id"] == d.event_id for d in written)
    assert bodies["booking.substituted"]["data"]["booking"]["id"] == booking.id
    assert bodies["booking.confirmed"]["data"]["person"]["email"] == colleague.email
    writes = [s for s in sent if "webhook_delivery" in s.lower() and "insert" in s.lower()]
    if db.engine.dialect.name == "postgresql":  # with the request key, in one statement
        assert len(writes) == 1 and "request_key" in writes[0].lower()


# Two dispatchers --------------------------------------------------------------------------------


@pytest.mark.postgresql
@pytest.mark.committing
def test_two_dispatchers_at_once_deliver_each_event_once(app, receiver):
    try:
        with app.app_context():
            subscribe(receiver, events=["booking.confirmed"])
            admin = lnd()
            session = create_session(places=40)
            for _ in range(30):
                book_place(session, create_user(), by=admin, now=NOW)
            db.session.commit()
        barrier = threading.Barrier(2)
        errors = []

        def dispatcher():
            try:
                barrier.wait()
                with app.app_context():
                    for _ in range(3):
                        with write_intent():
                            deliver_webhooks(clock.now())
                    db.session.remove()
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=dispatcher) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert errors == []
        ids = [r.headers["webhook-id"] for r in receiver.received]
        assert len(ids) == len(set(ids)) == 30
        with app.app_context():
            assert db.session.scalar(sa.select(sa.func.count()).select_from(WebhookAttempt)) == 30
    finally:
        with app.app_context():
            empty_all_tables()
            db.session.remove()


def test_changing_a_webhook_keeps_its_secret_and_changes_what_it_receives(app_context, receiver):
    subscription = subscribe(receiver, events=["booking.confirmed", "booking.cancelled"])
    secret = subscription.secret
    change_subscription(subscription, receiver.url + "/v2", ["invoice.paid"], by=lnd(), now=NOW)
    person = create_user()
    book_place(create_session(), person, by=person, now=NOW)

    assert subscription.event_types == ["invoice.paid"] and subscription.secret == secret
    assert subscription.url.endswith("/hooks/v2")
    assert deliveries() == []


# The dispatcher ---------------------------------------------------------------------------------


@pytest.mark.committing
def test_the_dispatcher_posts_webhooks_after_the_mail_woken_by_the_commit(app, mailbox, receiver):
    from lms.messages import delivery as mail

    try:
        with app.app_context():
            subscribe(receiver, events=["booking.cancelled"])
            person = create_user()
            booking = book_place(create_session(), person, by=person, now=NOW)
            db.session.commit()
            mail._outbox_written.clear()
            emit("booking.cancelled", booking, now=NOW)  # an event with no mail of its own
            db.session.commit()
            assert mail._outbox_written.is_set()
            db.session.remove()

        sent = mail.Dispatcher(app).sweep()

        assert sent == 2  # the booking's confirmation email, then the event
        assert len(mailbox.messages) == 1
        assert [e["type"] for e in receiver.events()] == ["booking.cancelled"]
    finally:
        with app.app_context():
            empty_all_tables()
            db.session.remove()


@pytest.mark.no_app_db
def test_production_posts_to_https_public_addresses_only_unless_told_otherwise(monkeypatch):
    from config import Config
    from tests.test_operations import production

    production(monkeypatch)
    assert Config().WEBHOOK_ALLOW_INSECURE_TARGETS is False
    monkeypatch.setenv("WEBHOOK_ALLOW_INSECURE_TARGETS", "true")
    assert Config().WEBHOOK_ALLOW_INSECURE_TARGETS is True
    monkeypatch.setenv("WEBHOOK_TIMEOUT_SECONDS", "120")
    with pytest.raises(RuntimeError, match="WEBHOOK_TIMEOUT_SECONDS"):
        Config()
