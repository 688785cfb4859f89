"""Sending webhook deliveries: a bounded pass of the outbox's dispatcher, never a request.

Deliveries are claimed as the outbox's messages are (a short transaction, SKIP LOCKED on
PostgreSQL, the next attempt pushed past a lease), then posted with no lock held, a short timeout
and a deadline on the whole exchange, each attempt recorded. A receiver that fails is tried again
with exponential back-off until WEBHOOK_MAX_ATTEMPTS, then the delivery is failed (L&D can send
it again). A pass takes at most WEBHOOK_BATCH deliveries and stops starting new ones after
PASS_SECONDS, so a slow receiver never holds the mail up for long: the dispatcher sends mail first
on every sweep.

Targets are checked before every attempt as well as when saved (a name can start resolving to
another address): https only, and no loopback, private, link-local or reserved address, unless
WEBHOOK_ALLOW_INSECURE_TARGETS is on (development and tests, where the receiver runs locally).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import requests
import sqlalchemy as sa
from flask import current_app

from lms.core.audit import log_action
from lms.core.db import write_intent
from lms.extensions import db
from lms.integrations.models import Integration, integration_may_act
from lms.integrations.webhook_models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
    signing_secrets,
)
from lms.integrations.webhooks import signed_headers
from lms.messages.delivery import backoff

log = logging.getLogger(__name__)

CLAIM_LEASE = timedelta(minutes=10)
PASS_SECONDS = 10.0
USER_AGENT = "lms-webhooks/1"
GONE = 410
GONE_ERROR = "Not sent: the receiver answered 410 Gone, so the webhook was turned off"


# Targets ----------------------------------------------------------------------------------------


class TargetRefused(Exception):
    """The target address is one the app will not post to."""


def check_target(url: str, *, allow_private: bool) -> None:
    """Refuse a target that is not https, or whose host is (or resolves to) a loopback, private,
    link-local or otherwise internal address, unless `allow_private` is set."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError as exc:  # a malformed IPv6 address, or a port that is not a number up to 65535
        raise TargetRefused("The address is not one a webhook can be sent to.") from exc
    if parts.scheme not in ("https", "http") or not host or any(c.isspace() for c in url):
        raise TargetRefused("The address must start with https:// and name a host.")
    if parts.username or parts.password:
        raise TargetRefused("The address must not carry a user name or password.")
    if allow_private:
        return
    if parts.scheme != "https":
        raise TargetRefused("The address must start with https://.")
    try:
        found = socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError, ValueError) as exc:
        raise TargetRefused(f"The host {host} cannot be found.") from exc
    for *_, sockaddr in found:
        address = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
        if not address.is_global or address.is_multicast:
            raise TargetRefused(
                f"The host {host} is on an internal address ({address}); "
                "webhooks go to systems on the internet only."
            )


# A pass -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    id: int
    subscription_id: int
    event_id: str
    payload: str
    url: str
    secrets: list[str]


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None
    duration_ms: int
    refused: bool = False  # the target is one the app will not post to: trying again will not help

    @property
    def succeeded(self) -> bool:
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300

    @property
    def gone(self) -> bool:
        """The receiver answered 410 Gone: it wants no more events at this address."""
        return self.status_code == GONE


def _claim(now: datetime, batch: int, ids: list[int] | None) -> list[Claimed]:
    """Take due deliveries of subscriptions still sending, pushing their next attempt past a lease."""
    query = (
        sa.select(
            WebhookDelivery.id,
            WebhookDelivery.subscription_id,
            WebhookDelivery.event_id,
            WebhookDelivery.payload,
            WebhookSubscription.url,
            WebhookSubscription.secret,
            WebhookSubscription.previous_secret,
            WebhookSubscription.previous_secret_until,
        )
        .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
        .join(Integration, Integration.id == WebhookSubscription.integration_id)
        .where(
            WebhookDelivery.status == DeliveryStatus.PENDING,
            WebhookDelivery.next_attempt_at <= now,
            WebhookSubscription.active,
            integration_may_act(),
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(batch)
        .with_for_update(of=WebhookDelivery, skip_locked=True)
    )
    if ids is not None:
        query = query.where(WebhookDelivery.id.in_(ids))
    with write_intent():
        db.session.commit()
        rows = db.session.execute(query).all()
        if rows:
            db.session.execute(
                sa.update(WebhookDelivery)
                .where(WebhookDelivery.id.in_([row.id for row in rows]))
                .values(next_attempt_at=now + CLAIM_LEASE)
            )
        db.session.commit()
    return [
        Claimed(
            row.id,
            row.subscription_id,
            row.event_id,
            row.payload,
            row.url,
            signing_secrets(row.secret, row.previous_secret, row.previous_secret_until, now),
        )
        for row in rows
    ]


def _post(item: Claimed, now: datetime, config) -> Outcome:
    started = time.monotonic()

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        check_target(item.url, allow_private=config["WEBHOOK_ALLOW_INSECURE_TARGETS"])
        headers = signed_headers(item.secrets, item.event_id, int(now.timestamp()), item.payload)
        headers["user-agent"] = USER_AGENT
        response = requests.post(
            item.url,
            data=item.payload.encode(),
            headers=headers,
            timeout=config["WEBHOOK_TIMEOUT_SECONDS"],
            allow_redirects=False,  # a redirect could lead anywhere, an internal address included
            stream=True,  # the status is the answer: the body is never read
        )
        response.close()
    except TargetRefused as exc:
        return Outcome(None, f"Not sent: {exc}", took(), refused=True)
    except requests.Timeout:
        return Outcome(None, f"No answer within {config['WEBHOOK_TIMEOUT_SECONDS']} seconds", took())
    except requests.RequestException as exc:
        return Outcome(None, f"{type(exc).__name__}: {exc}"[:500], took())
    return Outcome(response.status_code, _error_of(response), took())


def _post_within_deadline(item: Claimed, now: datetime, config) -> Outcome:
    """`_post`, given the timeout plus a second for the whole exchange, name lookup included. The
    timeout alone bounds each read, so a receiver that answers a byte at a time (or a name server
    that never answers) would otherwise hold the dispatcher, and the mail behind it, for ever; the
    post is left to finish on its own thread, and its answer, if any, is ignored."""
    deadline = config["WEBHOOK_TIMEOUT_SECONDS"] + 1
    answers: list[Outcome] = []
    worker = threading.Thread(
        target=lambda: answers.append(_post(item, now, config)), name=f"webhook-{item.id}", daemon=True
    )
    worker.start()
    worker.join(deadline)
    if answers:
        return answers[0]
    return Outcome(None, f"No complete answer within {deadline} seconds", deadline * 1000)


def _error_of(response: requests.Response) -> str | None:
    code = response.status_code
    if 200 <= code < 300:
        return None
    if response.is_redirect or 300 <= code < 400:
        where = (response.headers.get("location") or "").strip()[:300]
        return (
            f"The receiver answered {code}, a redirect{f' to {where}' if where else ''}, which is not "
            "followed: change the webhook's address if the receiver has moved"
        )
    if code == GONE:
        return "The receiver answered 410 Gone: it wants no more events, so the webhook was turned off"
    return f"The receiver answered {code}"


def _record(item: Claimed, now: datetime, outcome: Outcome, max_attempts: int) -> None:
    db.session.rollback()  # nothing is pending; the write below begins its own transaction
    with write_intent():
        delivery = db.session.get(WebhookDelivery, item.id, populate_existing=True)
        delivery.attempts += 1
        db.session.add(
            WebhookAttempt(
                delivery_id=delivery.id,
                attempted_at=now,
                duration_ms=outcome.duration_ms,
                status_code=outcome.status_code,
                error=outcome.error,
                succeeded=outcome.succeeded,
            )
        )
        delivery.last_status_code = outcome.status_code
        delivery.last_error = outcome.error
        if outcome.succeeded:
            delivery.status = DeliveryStatus.DELIVERED
            delivery.delivered_at = now
        elif outcome.gone:
            delivery.status = DeliveryStatus.FAILED
            delivery.failed_at = now
            _turn_off_gone(delivery, now)
        elif delivery.attempts >= max_attempts or outcome.refused:
            delivery.status = DeliveryStatus.FAILED
            delivery.failed_at = now
            log.warning("Gave up on webhook delivery %s to %s: %s", delivery.id, item.url, outcome.error)
        else:
            delivery.next_attempt_at = now + backoff(delivery.attempts)
        db.session.commit()


def _turn_off_gone(delivery: WebhookDelivery, now: datetime) -> None:
    """The receiver said 410 Gone: its webhook is turned off and its other waiting deliveries fail,
    as if L&D had turned it off (they can turn it on and send them again)."""
    subscription = delivery.subscription
    if not subscription.active:
        return
    subscription.active = False
    db.session.execute(
        sa.update(WebhookDelivery)
        .where(
            WebhookDelivery.subscription_id == subscription.id,
            WebhookDelivery.status == DeliveryStatus.PENDING,
            WebhookDelivery.id != delivery.id,
        )
        .values(status=DeliveryStatus.FAILED, failed_at=now, last_error=GONE_ERROR)
    )
    log.warning("Webhook %s turned off: its receiver answered 410 Gone", subscription.id)
    log_action(
        "lms.webhook.turned_off",
        subject=subscription,
        actor=None,
        now=now,
        reason="the receiver answered 410 Gone",
    )


def _release(ids: list[int], now: datetime) -> None:
    if not ids:
        return
    db.session.rollback()
    with write_intent():
        db.session.execute(
            sa.update(WebhookDelivery)
            .where(WebhookDelivery.id.in_(ids), WebhookDelivery.status == DeliveryStatus.PENDING)
            .values(next_attempt_at=now)
        )
        db.session.commit()


def deliver_webhooks(now: datetime, *, ids: Iterable[int] | None = None) -> int:
    """One bounded pass: post the deliveries that are due. Returns how many were delivered."""
    config = current_app.config
    claimed = _claim(now, config["WEBHOOK_BATCH"], list(ids) if ids is not None else None)
    started = time.monotonic()
    delivered = 0
    gone: set[int] = set()  # subscriptions whose receiver answered 410 in this pass
    for position, item in enumerate(claimed):
        if time.monotonic() - started > PASS_SECONDS:
            # The rest wait for the next sweep, after the mail.
            _release([rest.id for rest in claimed[position:]], now)
            break
        if item.subscription_id in gone:
            continue  # already failed with the rest of its webhook's deliveries
        outcome = _post_within_deadline(item, now, config)
        _record(item, now, outcome, config["WEBHOOK_MAX_ATTEMPTS"])
        if outcome.gone:
            gone.add(item.subscription_id)
        delivered += outcome.succeeded
    return delivered
