"""Delivering the outbox over SMTP, with retries and back-off, by a dispatcher outside requests.

A message is claimed with a row lock (SKIP LOCKED on PostgreSQL) so two senders never
take the same one; it is marked sent in the same transaction that claimed it.

No request talks to the mail server: it writes its messages to the outbox and answers. A
dispatcher sends them within seconds: in production the scheduler process, woken at once on
PostgreSQL by the NOTIFY the writing transaction issues (so it fires only when that commits);
on the development server a thread of the web process, woken by an in-process event. Either
also sweeps every few seconds, for retries and for anything a wake-up missed.
"""

from __future__ import annotations

import base64
import logging
import smtplib
import ssl
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

from lms.core.clock import now as clock_now
from lms.core.db import write_intent
from lms.extensions import db
from lms.messages.documents import render_document
from lms.messages.html import html_body
from lms.messages.models import OutboxMessage
from lms.messages.services import outbox_rows_added, site_domain

log = logging.getLogger(__name__)

MAX_BACKOFF = timedelta(hours=1)


def build_email(message: OutboxMessage, sender: str) -> EmailMessage:
    """The message as sent: its text, the same words as HTML, and a calendar invitation both as an
    alternative with its method (the part Outlook and Gmail act on) and as an .ics file."""
    config = current_app.config
    # Non-ASCII text goes quoted-printable, for mail servers that do not take 8-bit bodies.
    email = EmailMessage(policy=policy.default.clone(cte_type="7bit"))
    email["From"] = sender
    email["To"] = message.recipient
    if config["PARTNERSHIP_EMAIL"]:
        email["Reply-To"] = formataddr((config["PARTNERSHIP_NAME"], config["PARTNERSHIP_EMAIL"]))
    email["Subject"] = message.subject
    email["Date"] = format_datetime(message.created_at)
    # The same id on every attempt: a server that took the message before the connection dropped
    # can tell that the retry is the same message.
    email["Message-ID"] = f"<outbox.{message.id}.{message.created_at:%Y%m%d%H%M%S}@{site_domain()}>"
    email.set_content(message.body)
    email.add_alternative(html_body(message.body, message.subject), subtype="html")
    attachments = message.attachments or []
    invitations = [a for a in attachments if a.get("method")]
    for attachment in invitations:
        text = base64.b64decode(attachment["content_b64"]).decode()
        email.add_alternative(text, subtype="calendar", params={"method": attachment["method"]})
    for attachment in attachments:
        if "document" in attachment:
            data = render_document(attachment["document"], attachment["id"])
        else:
            data = base64.b64decode(attachment["content_b64"])
        if attachment in invitations:
            email.add_attachment(
                data.decode(),
                subtype="calendar",
                filename=attachment["filename"],
                params={"method": attachment["method"]},
            )
            continue
        maintype, _, subtype = attachment["content_type"].partition("/")
        email.add_attachment(data, maintype=maintype, subtype=subtype, filename=attachment["filename"])
    # Header lines are written whole: Python folds a long subject with a space too many before an
    # encoded word (an ellipsis, a curly apostrophe). A subject of at most 78 characters stays far
    # within the 998 that RFC 5322 allows on a line. The parts above are already encoded.
    email.policy = email.policy.clone(max_line_length=998)
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
            try:
                self.connection = self._connect()
            except (smtplib.SMTPException, OSError) as exc:
                raise ServerUnavailable(f"{type(exc).__name__}: {exc}") from exc
        self.connection.send_message(email)

    def __exit__(self, *exc) -> None:
        if self.connection is not None:
            try:
                self.connection.quit()
            except smtplib.SMTPException:
                pass
            except OSError:
                pass


class ServerUnavailable(Exception):
    """The mail server could not be reached or would not talk: no message is to blame."""


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
            try:
                email = build_email(message, sender)
            except Exception as error:  # noqa: BLE001 - one message that cannot be built stops no other
                log.exception("Message %s cannot be built; giving up on it", message.id)
                message.attempts += 1
                message.failed_at = now
                message.last_error = f"{type(error).__name__}: {error}"[:2000]
                continue
            claimed.append((message.id, email))
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
                except ServerUnavailable as exc:
                    # Nothing was sent, so no message uses up an attempt: an outage delays mail but
                    # never makes it give up. The next sweep tries the server again.
                    _server_unavailable(exc)
                    _release([message_id for message_id, _ in claimed[position:]], now, error=exc)
                    return sent
                except (smtplib.SMTPException, OSError) as exc:
                    _record(message_id, now, exc, config["MAIL_MAX_ATTEMPTS"])
                    # The server is refusing or unreachable: release the rest of the batch.
                    _release([message_id for message_id, _ in claimed[position + 1 :]], now)
                    return sent
                _record(message_id, now, None, config["MAIL_MAX_ATTEMPTS"])
                _server_available()
                sent += 1
    return sent


def _release(message_ids: list[int], now: datetime, error: Exception | None = None) -> None:
    if not message_ids:
        return
    db.session.rollback()
    values: dict = {"next_attempt_at": now}
    if error is not None:
        values["last_error"] = f"{type(error).__name__}: {error}"[:2000]
    with write_intent():
        db.session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.id.in_(message_ids), OutboxMessage.sent_at.is_(None))
            .values(**values)
        )
        db.session.commit()


_server_down = threading.Event()


def _server_unavailable(error: Exception) -> None:
    # Said once when the server goes away, not at every sweep while it stays away.
    if not _server_down.is_set():
        _server_down.set()
        log.warning("The mail server cannot be reached (%s); mail waits in the outbox", error)


def _server_available() -> None:
    if _server_down.is_set():
        _server_down.clear()
        log.warning("The mail server answers again; sending the outbox")


def deliver_after_commit(messages: Iterable[OutboxMessage], now: datetime) -> None:
    """A command's messages go as soon as it has committed; failures wait for the sweep.

    Commands only: a request never calls this (nor any other mail server); its dispatcher sends."""
    # A message whose transaction rolled back has no identity: it was never written.
    ids = [identity[0] for m in messages if (identity := sa.inspect(m).identity) is not None]
    if not ids:
        return
    try:
        deliver_pending(now, ids=ids)
    except Exception:  # noqa: BLE001 - the scheduler's sweep retries; the command must not fail
        log.exception("Immediate delivery failed; the outbox sweep will retry")
        db.session.rollback()


# Dispatching --------------------------------------------------------------------------------

CHANNEL = "lms_outbox"
SWEEP_SECONDS = 5.0
# Set when a commit in this process wrote to the outbox: wakes a dispatcher thread here.
_outbox_written = threading.Event()


@event.listens_for(Session, "after_flush")
def _note_new_messages(session, flush_context) -> None:
    if any(isinstance(item, OutboxMessage) for item in session.new):
        outbox_rows_added(session)


@event.listens_for(Session, "before_commit")
def _notify_dispatchers(session) -> None:
    """NOTIFY inside the transaction that wrote messages: PostgreSQL delivers it only on commit.
    A transaction that added a message through the session needs none of its own: on PostgreSQL
    the outbox's trigger (migration 0024) has notified already, or will as the commit flushes it."""
    if not (session.info.get("outbox_written") or any(isinstance(i, OutboxMessage) for i in session.new)):
        return
    session.info["outbox_written"] = True
    if session.info.get("outbox_inserted") or any(isinstance(i, OutboxMessage) for i in session.new):
        return
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"NOTIFY {CHANNEL}")


@event.listens_for(Session, "after_commit")
def _wake_dispatcher(session) -> None:
    session.info.pop("outbox_inserted", None)
    if session.info.pop("outbox_written", False):
        _outbox_written.set()


@event.listens_for(Session, "after_rollback")
def _forget_new_messages(session) -> None:
    session.info.pop("outbox_written", None)
    session.info.pop("outbox_inserted", None)


class Dispatcher:
    """Sends the outbox from a thread: at once when a commit wrote to it, and every `interval`
    seconds for retries. Waits on LISTEN on PostgreSQL (commits in any process wake it), on an
    in-process event otherwise. Several dispatchers at once send each message once."""

    def __init__(self, app: Flask, *, interval: float = SWEEP_SECONDS) -> None:
        self.app = app
        self.interval = interval
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        self._listener = None
        with app.app_context():
            self.engine = db.engine

    @property
    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def start(self) -> Dispatcher:
        self.thread = threading.Thread(target=self.run, name="outbox-dispatcher", daemon=True)
        self.thread.start()
        return self

    def stop(self, timeout: float = 30) -> None:
        self.stopping.set()
        _outbox_written.set()
        if self._listens():
            with self.engine.begin() as connection:
                connection.exec_driver_sql(f"NOTIFY {CHANNEL}")
        if self.thread is not None:
            self.thread.join(timeout)

    def run(self) -> None:
        try:
            if self._listens():
                self.wait(0)  # listen before the first sweep, so no commit falls between the two
            while not self.stopping.is_set():
                _outbox_written.clear()
                self.sweep()
                self.wait()
        finally:
            self._close_listener()

    def sweep(self) -> int:
        """Send what is due now: the mail, then a bounded pass of webhook deliveries (so a slow
        receiver never holds the mail up); a failure is logged and tried again at the next sweep."""
        from lms.integrations.webhook_delivery import deliver_webhooks

        sent = 0
        with self.app.app_context(), write_intent():
            try:
                senders = (("deliver_outbox", deliver_pending), ("deliver_webhooks", deliver_webhooks))
                for name, send in senders:
                    try:
                        done = send(clock_now())
                        if done:
                            log.info("%s: %s", name, done)
                        sent += done
                    except Exception:
                        log.exception("%s failed; trying again shortly", name)
                        db.session.rollback()
                return sent
            finally:
                db.session.remove()

    def wait(self, seconds: float | None = None) -> None:
        """Until a commit wrote to the outbox, or `seconds` (the interval) have passed."""
        seconds = self.interval if seconds is None else seconds
        if not self._listens():
            _outbox_written.wait(seconds)
            return
        import psycopg

        try:
            if self._listener is None:
                self._listener = self._listen()
            for _ in self._listener.notifies(timeout=seconds, stop_after=1):
                pass
            for _ in self._listener.notifies(timeout=0):
                pass  # commits that came together are all served by one sweep
        except psycopg.Error as error:
            log.warning("Outbox LISTEN connection lost (%s); sweeping every %ss", error, self.interval)
            self._close_listener()
            self.stopping.wait(seconds)

    def _listens(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def _listen(self):
        cargs, cparams = self.engine.dialect.create_connect_args(self.engine.url)
        connection = self.engine.dialect.connect(*cargs, **cparams)
        connection.autocommit = True
        connection.execute(f"LISTEN {CHANNEL}")
        return connection

    def _close_listener(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None


_start_lock = threading.Lock()


def start_dispatcher(app: Flask, *, interval: float = SWEEP_SECONDS) -> Dispatcher:
    """The app's dispatcher thread in this process, started the first time it is asked for."""
    with _start_lock:
        dispatcher = app.extensions.get("outbox_dispatcher")
        if dispatcher is None or not dispatcher.alive:
            dispatcher = app.extensions["outbox_dispatcher"] = Dispatcher(app, interval=interval).start()
    return dispatcher
