"""Delivering the outbox over SMTP, with retries and back-off.

A message is claimed with a row lock (SKIP LOCKED on PostgreSQL) so two senders never
take the same one; it is marked sent in the same transaction that claimed it.
"""

from __future__ import annotations

import base64
import logging
import smtplib
import ssl
from collections.abc import Iterable
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid

import sqlalchemy as sa
from flask import current_app

from lms.core.db import write_intent
from lms.extensions import db
from lms.messages.models import OutboxMessage

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=1)


def build_email(message: OutboxMessage, sender: str) -> EmailMessage:
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message.recipient
    email["Subject"] = message.subject
    email["Message-ID"] = make_msgid(idstring=f"lms-{message.id}")
    email.set_content(message.body)
    for attachment in message.attachments or []:
        maintype, _, subtype = attachment["content_type"].partition("/")
        data = base64.b64decode(attachment["content_b64"])
        email.add_attachment(data, maintype=maintype, subtype=subtype, filename=attachment["filename"])
    return email


class SmtpSender:
    def __init__(self, config) -> None:
        self.config = config
        self.connection: smtplib.SMTP | None = None

    def __enter__(self) -> SmtpSender:
        return self

    def _connect(self) -> smtplib.SMTP:
        cfg = self.config
        timeout = cfg["MAIL_TIMEOUT_SECONDS"]
        if cfg["MAIL_USE_SSL"]:
            connection = smtplib.SMTP_SSL(
                cfg["MAIL_SERVER"],
                cfg["MAIL_PORT"],
                timeout=timeout,
                context=ssl.create_default_context(),
            )
        else:
            connection = smtplib.SMTP(cfg["MAIL_SERVER"], cfg["MAIL_PORT"], timeout=timeout)
            if cfg["MAIL_USE_TLS"]:
                connection.starttls(context=ssl.create_default_context())
        if cfg["MAIL_USERNAME"]:
            connection.login(cfg["MAIL_USERNAME"], cfg["MAIL_PASSWORD"])
        return connection

    def send(self, email: EmailMessage) -> None:
        if self.connection is None:
            self.connection = self._connect()
        self.connection.send_message(email)

    def __exit__(self, *exc) -> None:
        if self.connection is not None:
            try:
                self.connection.quit()
            except smtplib.SMTPException:
                pass
            except OSError:
                pass


class LogSender(SmtpSender):
    """Development: write the message to the log instead of sending it."""

    def send(self, email: EmailMessage) -> None:
        body = email.get_body(preferencelist=("plain",))
        log.warning("Mail to %s: %s\n%s", email["To"], email["Subject"], body.get_content() if body else "")


def backoff(attempts: int) -> timedelta:
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def _claim_next(now: datetime, ids: Iterable[int] | None) -> OutboxMessage | None:
    query = (
        sa.select(OutboxMessage)
        .where(
            OutboxMessage.sent_at.is_(None),
            OutboxMessage.failed_at.is_(None),
            OutboxMessage.next_attempt_at <= now,
        )
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if ids is not None:
        query = query.where(OutboxMessage.id.in_(list(ids)))
    return db.session.scalars(query).first()


def deliver_pending(now: datetime, *, ids: Iterable[int] | None = None, limit: int = 500) -> int:
    """Send messages that are due; commits after each. Returns how many were sent."""
    config = current_app.config
    sender_cls = LogSender if config["MAIL_BACKEND"] == "log" else SmtpSender
    sent = 0
    ids = list(ids) if ids is not None else None
    with sender_cls(config) as sender, write_intent():
        db.session.commit()  # start a fresh write transaction for each claim
        for _ in range(limit):
            message = _claim_next(now, ids)
            if message is None:
                db.session.rollback()
                break
            try:
                sender.send(build_email(message, config["MAIL_FROM"]))
            except (smtplib.SMTPException, OSError) as exc:
                message.attempts += 1
                message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                if message.attempts >= config["MAIL_MAX_ATTEMPTS"]:
                    message.failed_at = now
                    log.error("Gave up on message %s to %s: %s", message.id, message.recipient, exc)
                else:
                    message.next_attempt_at = now + backoff(message.attempts)
                db.session.commit()
                # The server is unreachable or refusing: leave the rest for the next sweep.
                sender.connection = None
                break
            message.attempts += 1
            message.sent_at = now
            db.session.commit()
            sent += 1
    return sent


def deliver_after_commit(messages: Iterable[OutboxMessage], now: datetime) -> None:
    """Try at once to send messages a request just committed; failures wait for the sweep."""
    # A message whose transaction rolled back has no identity: it was never written.
    ids = [identity[0] for m in messages if (identity := sa.inspect(m).identity) is not None]
    if not ids or not current_app.config.get("MAIL_DELIVER_ON_REQUEST", True):
        return
    try:
        deliver_pending(now, ids=ids)
    except Exception:  # noqa: BLE001 - the scheduler's sweep retries; the request must not fail
        log.exception("Immediate delivery failed; the outbox sweep will retry")
        db.session.rollback()
