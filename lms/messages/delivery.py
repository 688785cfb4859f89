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


CLAIM_LEASE = timedelta(minutes=10)
BATCH = 50


def _claim_batch(now: datetime, ids: list[int] | None, sender: str) -> list[tuple[int, EmailMessage]]:
    """Take due messages in a short transaction, pushing their next attempt past a lease.

    No lock is held while talking to the mail server; SKIP LOCKED keeps two senders on
    PostgreSQL apart, and SQLite's write lock does the same. A sender that dies mid-batch
    leaves its messages to be retried when the lease runs out.
    """
    query = (
        sa.select(OutboxMessage)
        .where(
            OutboxMessage.sent_at.is_(None),
            OutboxMessage.failed_at.is_(None),
            OutboxMessage.next_attempt_at <= now,
        )
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(BATCH)
        .with_for_update(skip_locked=True)
    )
    if ids is not None:
        query = query.where(OutboxMessage.id.in_(ids))
    with write_intent():
        db.session.commit()
        messages = db.session.scalars(query).all()
        claimed = []
        for message in messages:
            message.next_attempt_at = now + CLAIM_LEASE
            claimed.append((message.id, build_email(message, sender)))
        db.session.commit()
    return claimed


def _record(message_id: int, now: datetime, error: Exception | None, max_attempts: int) -> None:
    db.session.rollback()  # nothing is pending; the write below must begin its own transaction
    with write_intent():
        message = db.session.get(OutboxMessage, message_id, populate_existing=True)
        message.attempts += 1
        if error is None:
            message.sent_at = now
            message.last_error = None
        else:
            message.last_error = f"{type(error).__name__}: {error}"[:2000]
            if message.attempts >= max_attempts:
                message.failed_at = now
                log.error("Gave up on message %s to %s: %s", message.id, message.recipient, error)
            else:
                message.next_attempt_at = now + backoff(message.attempts)
        db.session.commit()


def deliver_pending(now: datetime, *, ids: Iterable[int] | None = None, limit: int = 500) -> int:
    """Send messages that are due, in batches. Returns how many were sent."""
    config = current_app.config
    sender_cls = LogSender if config["MAIL_BACKEND"] == "log" else SmtpSender
    ids = list(ids) if ids is not None else None
    sent = attempted = 0
    with sender_cls(config) as sender:
        while attempted < limit:
            claimed = _claim_batch(now, ids, config["MAIL_FROM"])
            if not claimed:
                break
            for position, (message_id, email) in enumerate(claimed):
                attempted += 1
                try:
                    sender.send(email)
                except (smtplib.SMTPException, OSError) as exc:
                    _record(message_id, now, exc, config["MAIL_MAX_ATTEMPTS"])
                    # The server is refusing or unreachable: release the rest of the batch.
                    _release([message_id for message_id, _ in claimed[position + 1 :]], now)
                    return sent
                _record(message_id, now, None, config["MAIL_MAX_ATTEMPTS"])
                sent += 1
    return sent


def _release(message_ids: list[int], now: datetime) -> None:
    if not message_ids:
        return
    db.session.rollback()
    with write_intent():
        db.session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.id.in_(message_ids), OutboxMessage.sent_at.is_(None))
            .values(next_attempt_at=now)
        )
        db.session.commit()


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
