"""Webhook events: what they are called, what they carry, how they are signed, and emitting one.

`emit` is called by the service that made the change, inside its transaction: one INSERT ... SELECT
writes a delivery for every active subscription that wants the event (none, at the same cost, when
nobody does). The payload is fixed then, so a later change does not alter what is sent. The
dispatcher (lms.integrations.webhook_delivery) sends deliveries later, outside any request.

Signatures follow the Standard Webhooks specification (docs/webhooks.md shows a receiver).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from lms.accounts.contacts import organisations_covering
from lms.accounts.models import Agency, Role, User
from lms.bookings.models import Booking
from lms.core import deferred
from lms.core.audit import log_action
from lms.core.db import UTCDateTime
from lms.core.errors import DomainError
from lms.core.permissions import require_role
from lms.evaluations.models import Certificate
from lms.extensions import db
from lms.finance.models import CreditNote, Invoice
from lms.integrations.models import Integration, integration_may_act
from lms.integrations.webhook_models import (
    DeliveryStatus,
    WebhookDelivery,
    WebhookSubscription,
    WebhookSubscriptionEvent,
)
from lms.messages.services import outbox_rows_added

# Event types, with what L&D read when choosing them.
EVENT_TYPES: dict[str, str] = {
    "booking.confirmed": "A place is confirmed",
    "booking.waitlisted": "Someone joins a waiting list",
    "booking.promoted": "A place is confirmed from the waiting list",
    "booking.cancelled": "A booking is cancelled (by the delegate, L&D, or with its session)",
    "booking.substituted": "A place is passed to a colleague",
    "booking.declined": "A booking is not approved, or not in time",
    "attendance.recorded": "Attendance is recorded (the register closes, or is corrected)",
    "certificate.issued": "A certificate is issued",
    "invoice.issued": "An invoice is issued",
    "invoice.paid": "An invoice is paid",
    "credit_note.issued": "A credit note is issued",
}
PING = "webhook.ping"  # the test event L&D send from the subscription's page; nobody subscribes to it
SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix secrets are written with, not a secret


def new_event_id() -> str:
    return f"evt_{uuid.uuid4().hex}"


def new_secret() -> str:
    """A signing secret as Standard Webhooks writes one: whsec_ and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, event_id: str, timestamp: int, body: str) -> str:
    """The signature of one attempt: v1, then base64 HMAC-SHA256 of "id.timestamp.body"."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{event_id}.{timestamp}.{body}".encode()
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def signed_headers(signing_secrets: list[str], event_id: str, timestamp: int, body: str) -> dict[str, str]:
    """The Standard Webhooks headers; after a rotation both secrets sign (separated by a space)."""
    return {
        "content-type": "application/json",
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(secret, event_id, timestamp, body) for secret in signing_secrets),
    }


# Payloads ---------------------------------------------------------------------------------------


def _when(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _value(member) -> str | None:
    return None if member is None else member.value


# Stands in the payload for the organisation's name, which the INSERT writes as it is in the database
# at that moment: the booking's agency is seldom loaded, and reading it would cost a trip per event.
_ORGANISATION_NAME = "\x00organisation name\x00"


def _booking_data(booking: Booking) -> dict:
    session, person = booking.session, booking.user
    return {
        "booking": {
            "id": booking.id,
            "status": _value(booking.status),
            "booked_at": _when(booking.booked_at),
            "confirmed_at": _when(booking.confirmed_at),
            "waitlisted_at": _when(booking.waitlisted_at),
            "promoted_at": _when(booking.promoted_at),
            "cancelled_at": _when(booking.cancelled_at),
            "cancellation_reason": _value(booking.cancellation_reason),
            "late_cancellation": booking.is_late_cancellation,
            "substitute_of": booking.substitute_of_id,
            "attendance": _value(booking.attendance),
        },
        "session": {
            "id": session.id,
            "starts_at": _when(session.starts_at),
            "ends_at": _when(session.ends_at),
            "course": {"id": session.course.id, "title": session.course.title},
        },
        "person": {
            "id": person.id,
            "name": person.full_name,
            "email": person.email,
            "organisation": (
                None if booking.agency_id is None else {"id": booking.agency_id, "name": _ORGANISATION_NAME}
            ),
            "other_organisation": booking.other_organisation,
        },
    }


def _invoice_data(invoice: Invoice) -> dict:
    return {
        "invoice": {
            "id": invoice.id,
            "number": invoice.number,
            "status": _value(invoice.status),
            "issued_on": invoice.issued_on.isoformat(),
            "due_on": invoice.due_on.isoformat(),
            "period_start": invoice.period_start.isoformat(),
            "period_end": invoice.period_end.isoformat(),
            "paid_at": _when(invoice.paid_at),
            "purchase_order": invoice.purchase_order,
            "net_pence": invoice.net_pence,
            "vat_pence": invoice.vat_pence,
            "total_pence": invoice.total_pence,
        },
        "organisation": {"id": invoice.agency_id, "name": invoice.bill_to_name},
    }


def _credit_note_data(note: CreditNote) -> dict:
    invoice = note.invoice
    return {
        "credit_note": {
            "id": note.id,
            "number": note.number,
            "issued_on": note.issued_on.isoformat(),
            "reason": note.reason,
            "net_pence": note.net_pence,
            "vat_pence": note.vat_pence,
            "total_pence": note.total_pence,
        },
        "invoice": {"id": invoice.id, "number": invoice.number, "status": _value(invoice.status)},
        "organisation": {"id": invoice.agency_id, "name": invoice.bill_to_name},
    }


def _certificate_data(certificate: Certificate) -> dict:
    data = _booking_data(certificate.booking)
    data["certificate"] = {
        "id": certificate.id,
        "number": certificate.number,
        "issued_at": _when(certificate.issued_at),
    }
    return data


def subject_data(subject: Booking | Certificate | Invoice | CreditNote) -> tuple[dict, int | None]:
    """What an event about `subject` carries, and the organisation it is about (whose integrations
    may receive it)."""
    if isinstance(subject, Booking):
        return _booking_data(subject), subject.agency_id
    if isinstance(subject, Certificate):
        return _certificate_data(subject), subject.booking.agency_id
    if isinstance(subject, Invoice):
        return _invoice_data(subject), subject.agency_id
    if isinstance(subject, CreditNote):
        return _credit_note_data(subject), subject.invoice.agency_id
    raise TypeError(f"No webhook payload for {type(subject).__name__}")


def event_body(event_id: str, event_type: str, data: dict, now: datetime) -> dict:
    return {"id": event_id, "type": event_type, "occurred_at": _when(now), "data": data}


def to_json(body: dict) -> str:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


class _json_string(FunctionElement):  # noqa: N801 - a SQL function, named as one
    """The text as a JSON string, quoted and escaped by the database."""

    type = sa.Text()
    inherit_cache = True


@compiles(_json_string, "sqlite")
def _json_string_sqlite(element, compiler, **kw) -> str:
    return f"json_quote({compiler.process(element.clauses, **kw)})"


@compiles(_json_string, "postgresql")
def _json_string_postgresql(element, compiler, **kw) -> str:
    return f"CAST(to_json(CAST({compiler.process(element.clauses, **kw)} AS TEXT)) AS TEXT)"


def _payload_column(named: bool) -> sa.ColumnElement:
    """The payload: the text as given, or with the organisation's name, as the database has it,
    set between its two halves (`named`)."""
    if not named:
        return sa.bindparam("payload", type_=sa.Text())
    name = sa.select(Agency.name).where(Agency.id == sa.bindparam("agency_id")).scalar_subquery()
    return (
        sa.bindparam("payload", type_=sa.Text())
        + sa.func.coalesce(_json_string(name), "null")
        + sa.bindparam("payload_after", type_=sa.Text())
    )


def _receives(scoped: bool) -> sa.ColumnElement[bool]:
    """Integrations for no organisation receive every event; one for an organisation receives
    events about the staff its training contact would follow (`scoped`: the event is about one)."""
    if not scoped:
        return Integration.agency_id.is_(None)
    covering = organisations_covering(sa.bindparam("agency_id", type_=sa.Integer()))
    return sa.or_(Integration.agency_id.is_(None), Integration.agency_id.in_(covering))


_DELIVERY_COLUMNS = [
    "subscription_id",
    "event_id",
    "event_type",
    "payload",
    "created_at",
    "status",
    "attempts",
    "next_attempt_at",
]


@functools.cache
def _insert_deliveries(named: bool, scoped: bool) -> sa.Insert:
    """The deliveries one event needs, a row for each subscription that wants it: built once for
    each shape of event, its values given as parameters."""
    now = sa.bindparam("now", type_=UTCDateTime())
    event_type = sa.bindparam("event_type", type_=sa.String())
    wanted = (
        sa.select(
            WebhookSubscription.id,
            sa.bindparam("event_id", type_=sa.String()),
            event_type,
            _payload_column(named),
            now,
            sa.literal(DeliveryStatus.PENDING.value, sa.String()),
            sa.literal(0, sa.Integer()),
            now,
        )
        .join(Integration, Integration.id == WebhookSubscription.integration_id)
        .join(
            WebhookSubscriptionEvent,
            sa.and_(
                WebhookSubscriptionEvent.subscription_id == WebhookSubscription.id,
                WebhookSubscriptionEvent.event_type == event_type,
            ),
        )
        .where(WebhookSubscription.active, integration_may_act(), _receives(scoped))
    )
    return sa.insert(WebhookDelivery.__table__).from_select(_DELIVERY_COLUMNS, wanted)


def _event(event_type: str, subject, now: datetime) -> tuple[tuple[bool, bool], dict]:
    """The shape of one event about `subject` and its parameters."""
    data, agency_id = subject_data(subject)
    event_id = new_event_id()
    text = to_json(event_body(event_id, event_type, data, now))
    marker = to_json(_ORGANISATION_NAME)
    params = {"event_id": event_id, "event_type": event_type, "now": now, "agency_id": agency_id}
    named = marker in text
    if named:
        params["payload"], params["payload_after"] = text.split(marker, 1)
    else:
        params["payload"] = text
    return (named, agency_id is not None), params


def emit(event_type: str, *subjects, now: datetime) -> None:
    """Write a delivery of the event, one event per subject, for every active subscription that
    wants it, in the caller's transaction; with the transaction's other late rows
    (lms/core/deferred.py), so in one statement at the end of a request on PostgreSQL."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"Unknown webhook event {event_type!r}")
    if not subjects:
        return
    session = db.session()
    session.flush()  # what the event says is the state the caller has made, flushed or not
    by_shape: dict[tuple[bool, bool], list[dict]] = {}
    for subject in subjects:
        shape, params = _event(event_type, subject, now)
        by_shape.setdefault(shape, []).append(params)
    for shape, events in by_shape.items():
        deferred.defer(session, _insert_deliveries(*shape), events)
    outbox_rows_added(session)


def queue_ping(subscription: WebhookSubscription, *, now: datetime) -> WebhookDelivery:
    """A test event for one subscription, sent by the dispatcher like any other."""
    event_id = new_event_id()
    body = event_body(event_id, PING, {"integration": subscription.integration.name}, now)
    delivery = WebhookDelivery(
        subscription_id=subscription.id,
        event_id=event_id,
        event_type=PING,
        payload=to_json(body),
        created_at=now,
        status=DeliveryStatus.PENDING,
        attempts=0,
        next_attempt_at=now,
    )
    db.session.add(delivery)
    db.session.flush()
    db.session.info["outbox_written"] = True
    return delivery


# Subscriptions (L&D) ------------------------------------------------------------------------------

ONLY_LND = "Only the L&D team can manage webhooks."
# How long the previous secret still signs after a rotation, so the receiver can switch over.
PREVIOUS_SECRET_HOURS = 24


class WebhookError(DomainError):
    pass


def shown_in_audit(url: str) -> str:
    """The address as the audit trail keeps it: without its query string, where receivers often
    carry a key of their own (the signing secret is never written there at all)."""
    base, _, query = url.partition("?")
    base = base.partition("#")[0]
    return f"{base}?…" if query else base


def _checked(url: str, event_types: Iterable[str]) -> tuple[str, list[str]]:
    from lms.integrations.webhook_delivery import TargetRefused, check_target

    url = url.strip()
    if len(url) > 2000:
        raise WebhookError("Keep the address to 2,000 characters.", field="url")
    try:
        check_target(url, allow_private=current_app.config["WEBHOOK_ALLOW_INSECURE_TARGETS"])
    except TargetRefused as exc:
        raise WebhookError(str(exc), field="url") from exc
    chosen = sorted(set(event_types))
    if not chosen:
        raise WebhookError("Choose at least one event to send.", field="event_types")
    unknown = [name for name in chosen if name not in EVENT_TYPES]
    if unknown:
        raise WebhookError(f"Unknown event: {', '.join(unknown)}.", field="event_types")
    return url, chosen


def create_subscription(
    integration: Integration, url: str, event_types: Iterable[str], *, by: User, now: datetime
) -> WebhookSubscription:
    """Send the chosen events to `url` for the integration, signed with a new secret."""
    require_role(by, Role.LND_ADMIN, message=ONLY_LND)
    if not integration.is_active:
        raise WebhookError.conflict("The integration was revoked, so it cannot receive webhooks.")
    url, chosen = _checked(url, event_types)
    subscription = WebhookSubscription(
        integration=integration,
        url=url,
        secret=new_secret(),
        active=True,
        created_at=now,
        created_by_id=by.id,
        events=[WebhookSubscriptionEvent(event_type=name) for name in chosen],
    )
    db.session.add(subscription)
    db.session.flush()
    log_action(
        "lms.webhook.created",
        subject=subscription,
        actor=by,
        now=now,
        url=shown_in_audit(url),
        events=chosen,
        integration_id=integration.id,
    )
    return subscription


def change_subscription(
    subscription: WebhookSubscription, url: str, event_types: Iterable[str], *, by: User, now: datetime
) -> None:
    """Change where the events go and which ones; deliveries already written keep their address's
    subscription, so they go to the new address."""
    require_role(by, Role.LND_ADMIN, message=ONLY_LND)
    url, chosen = _checked(url, event_types)
    before = {"url": shown_in_audit(subscription.url), "events": subscription.event_types}
    subscription.url = url
    kept = {event.event_type: event for event in subscription.events}
    subscription.events = [kept.get(name) or WebhookSubscriptionEvent(event_type=name) for name in chosen]
    db.session.flush()
    log_action(
        "lms.webhook.changed",
        subject=subscription,
        actor=by,
        now=now,
        before=before,
        after={"url": shown_in_audit(url), "events": chosen},
    )


def rotate_secret(subscription: WebhookSubscription, *, by: User, now: datetime) -> None:
    """A new signing secret; the old one also signs for PREVIOUS_SECRET_HOURS, so the receiver can
    take the new one without refusing a delivery."""
    require_role(by, Role.LND_ADMIN, message=ONLY_LND)
    subscription.previous_secret = subscription.secret
    subscription.previous_secret_until = now + timedelta(hours=PREVIOUS_SECRET_HOURS)
    subscription.secret = new_secret()
    subscription.secret_rotated_at = now
    db.session.flush()
    log_action("lms.webhook.secret_rotated", subject=subscription, actor=by, now=now)


def set_active(subscription: WebhookSubscription, active: bool, *, by: User, now: datetime) -> int:
    """Turn the subscription on or off. Turning it off fails the deliveries still waiting (they can
    be sent again later); returns how many."""
    require_role(by, Role.LND_ADMIN, message=ONLY_LND)
    if subscription.active == active:
        return 0
    if active and not subscription.integration.is_active:
        raise WebhookError.conflict("The integration was revoked, so its webhooks cannot be turned on.")
    subscription.active = active
    stopped = 0
    if not active:
        stopped = db.session.execute(
            sa.update(WebhookDelivery)
            .where(
                WebhookDelivery.subscription_id == subscription.id,
                WebhookDelivery.status == DeliveryStatus.PENDING,
            )
            .values(
                status=DeliveryStatus.FAILED, failed_at=now, last_error="Not sent: the webhook was turned off"
            )
        ).rowcount
    db.session.flush()
    log_action(
        "lms.webhook.turned_on" if active else "lms.webhook.turned_off",
        subject=subscription,
        actor=by,
        now=now,
    )
    return stopped


def send_again(delivery: WebhookDelivery, *, by: User, now: datetime) -> None:
    """Send a failed delivery once more, as it was (the same event id, the same body)."""
    require_role(by, Role.LND_ADMIN, message=ONLY_LND)
    if not delivery.can_send_again:
        raise WebhookError.conflict("Only a failed delivery can be sent again.")
    if not delivery.subscription.is_sending:
        raise WebhookError.conflict("Turn the webhook on before sending anything again.")
    delivery.status = DeliveryStatus.PENDING
    delivery.failed_at = None
    delivery.next_attempt_at = now
    db.session.flush()
    db.session.info["outbox_written"] = True
    log_action("lms.webhook.sent_again", subject=delivery, actor=by, now=now, event_id=delivery.event_id)


def send_test_event(subscription: WebhookSubscription, *, by: User, now: datetime) -> WebhookDelivery:
    """Queue a test event (webhook.ping) for the subscription."""
    require_role(by, Role.LND_ADMIN, message=ONLY_LND)
    if not subscription.is_sending:
        raise WebhookError.conflict("Turn the webhook on before sending a test event.")
    delivery = queue_ping(subscription, now=now)
    log_action("lms.webhook.pinged", subject=subscription, actor=by, now=now, event_id=delivery.event_id)
    return delivery


def subscriptions_of(integration: Integration) -> list[WebhookSubscription]:
    return list(
        db.session.scalars(
            sa.select(WebhookSubscription)
            .where(WebhookSubscription.integration_id == integration.id)
            .order_by(WebhookSubscription.id)
        )
    )


def deliveries_of(subscription: WebhookSubscription) -> sa.Select:
    """The subscription's deliveries, newest first (a query, for paging)."""
    return (
        sa.select(WebhookDelivery)
        .where(WebhookDelivery.subscription_id == subscription.id)
        .order_by(WebhookDelivery.id.desc())
    )
