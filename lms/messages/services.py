"""Writing messages to the outbox; subjects; each person's calendar feed address."""

from __future__ import annotations

import ipaddress
import re
import secrets
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import current_app, render_template

from lms.core import deferred
from lms.core.audit import log_action
from lms.core.errors import PermissionDenied
from lms.core.formatting import format_compact_date
from lms.extensions import db
from lms.messages.models import CalendarFeed, OutboxMessage

# Mail programs show about this much of a subject in a list, and RFC 5322 asks header lines to
# stay within 78 characters.
MAX_SUBJECT = 78
ELLIPSIS = "…"
FEED_TOKEN = re.compile(r"[A-Za-z0-9_-]{32,64}")


def absolute_url(endpoint: str, **values: Any) -> str:
    """A full link to a page, built without a request (jobs and commands send mail too)."""
    path = current_app.url_map.bind("localhost").build(endpoint, values)
    return current_app.config["BASE_URL"] + path


def site_domain() -> str:
    """The site's own host name (from BASE_URL), for Message-IDs and calendar UIDs."""
    host = urlsplit(current_app.config["BASE_URL"]).hostname or "localhost"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host
    return f"[{host}]"  # an address, written as a domain literal


# Subjects -------------------------------------------------------------------------------------


def shorten(text: str, limit: int) -> str:
    """`text` in at most `limit` characters: cut at a word boundary, with an ellipsis, when too long."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    kept = text[: limit - len(ELLIPSIS)]
    if text[len(kept)] != " " and " " in kept:
        kept = kept[: kept.rindex(" ")]
    return kept.rstrip(" ,;:.-–—") + ELLIPSIS


def session_subject(lead: str, session: Any) -> str:
    """A subject about one session that reads in a list: "Place confirmed: 3 Jun 2026, Neglect…"."""
    start = f"{lead}: {format_compact_date(session.starts_at)}, "
    room = MAX_SUBJECT - len(start)
    if room < 12:  # a lead so long that the title would be a stub
        return shorten(f"{start}{session.course.title}", MAX_SUBJECT)
    return start + shorten(session.course.title, room)


# The outbox -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueuedMessage:
    """A message as it goes to the outbox: what it says and to whom."""

    kind: str
    recipient: str
    user_id: int | None
    subject: str
    body: str
    attachments: list[dict[str, Any]]
    dedupe_key: str | None


def queue_message(
    kind: str,
    *,
    to: str,
    subject: str,
    template: str,
    now: datetime,
    user: Any | None = None,
    attachments: list[dict[str, Any]] | None = None,
    dedupe_key: str | None = None,
    **context: Any,
) -> QueuedMessage:
    """Render a message's text and add it to the outbox; sent after the transaction commits.

    The text is the message: delivery sends it as the plain part and sets the same words out as
    the HTML part (lms/messages/html.py), so the two cannot say different things.

    Nothing reads a message back in the transaction that writes it, so its row waits with the
    audit entries (lms/core/deferred.py) and goes with them when the work is done. One with a
    dedupe key is added at once: the database refusing a twin must stop the work that sent it.
    """
    row = _row(kind, to, subject, template, now, user, attachments, context) | {"dedupe_key": dedupe_key}
    if dedupe_key is None:
        deferred.defer_row(db.session(), OutboxMessage.__table__, row)
        outbox_rows_added(db.session())
    else:
        db.session.add(OutboxMessage(**row))
    return QueuedMessage(**{part.name: row[part.name] for part in fields(QueuedMessage)})


def outbox_rows_added(session) -> None:
    """Rows were added to the outbox (or webhook deliveries) without an object in the session: the
    dispatcher is woken on commit as for an added message; on PostgreSQL the table's trigger does."""
    session.info["outbox_written"] = True
    session.info["outbox_inserted"] = True


def queue_messages(kind: str, messages: list[dict[str, Any]], *, template: str, now: datetime) -> int:
    """Many messages of one kind written in one statement, however many there are (an invoice run's).

    Each item gives `to`, `subject`, optionally `user` and `attachments`, and the rest is the
    template's context. Returns how many were queued."""
    rows = []
    for item in messages:
        context = dict(item)
        to, subject = context.pop("to"), context.pop("subject")
        user, attachments = context.pop("user", None), context.pop("attachments", None)
        rows.append(_row(kind, to, subject, template, now, user, attachments, context) | {"dedupe_key": None})
    if rows:
        db.session.execute(sa.insert(OutboxMessage.__table__), rows)
        outbox_rows_added(db.session())
    return len(rows)


def _row(kind, to, subject, template, now, user, attachments, context) -> dict[str, Any]:
    body = render_template(
        f"messages/{template}",
        config=current_app.config,
        link=absolute_url,
        recipient=user,
        now=now,
        **context,
    )
    return {
        "kind": kind,
        "recipient": to,
        "user_id": user.id if user is not None else None,
        "subject": shorten(subject, MAX_SUBJECT),
        "body": body,
        "attachments": attachments or [],
        "created_at": now,
        "next_attempt_at": now,
        "attempts": 0,
    }


# Calendar feeds -------------------------------------------------------------------------------


def calendar_feed_of(person: Any) -> CalendarFeed | None:
    return db.session.get(CalendarFeed, person.id)


def reset_calendar_feed(person: Any, *, by: Any, now: datetime) -> CalendarFeed:
    """Give `person` a new secret feed address; the old one, if any, stops working at once."""
    if by is None or by.id != person.id:
        raise PermissionDenied("Only you can change your calendar address.")
    feed = calendar_feed_of(person)
    replaced = feed is not None
    if feed is None:
        feed = CalendarFeed(user_id=person.id)
        db.session.add(feed)
    feed.token = secrets.token_urlsafe(32)
    feed.created_at = now
    db.session.flush()
    name = "lms.calendar_feed.reset" if replaced else "lms.calendar_feed.created"
    log_action(name, subject=person, actor=by, now=now)
    return feed


def feed_owner(token: str) -> Any | None:
    """Whose feed this token opens: an enabled person, or None (the caller answers 404)."""
    if not FEED_TOKEN.fullmatch(token):
        return None
    feed = db.session.scalar(sa.select(CalendarFeed).where(CalendarFeed.token == token))
    if feed is None or not feed.user.is_enabled:
        return None
    return feed.user
