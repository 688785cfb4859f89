"""Request keys: a form that changes something is acted on once, however often it arrives.

Every POST form carries a random key (``request_key_field()`` beside its CSRF token). The
boundary claims the key, in the request's own transaction, before the view runs, and stores the
outcome beside the change: the status, the redirect, the messages flashed, or the page itself.
The same form arriving again (the person pressed twice, or the connection was lost while the
first one committed, so nobody knows whether it did) waits for the first to finish and gets its
answer back; nothing is done twice. A POST without a key gets one of its own, which makes the
boundary's own retry after a lost connection just as safe. Keys are forgotten after a day.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from lms.core.db import UTCDateTime
from lms.extensions import db

FIELD = "request_key"
KEPT_FOR = timedelta(days=1)
# A page (not a redirect) is kept to be shown again only up to this size; larger ones say "done".
MAX_KEPT_PAGE = 256 * 1024
_FORM_KEY = re.compile(r"[0-9a-f]{32}")


class RequestKey(db.Model):
    """One state-changing request, by its key, and what it answered."""

    __tablename__ = "request_key"

    # sha256 of who sent it and the form's key: one person's key never answers another's request.
    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    status: Mapped[int | None] = mapped_column(sa.SmallInteger)
    location: Mapped[str | None] = mapped_column(sa.Text)
    flashes: Mapped[list[list[str]]] = mapped_column(sa.JSON, default=list)
    page: Mapped[str | None] = mapped_column(sa.Text)


@dataclass(frozen=True)
class Outcome:
    """What a request answered, to be given again to its twin."""

    status: int
    location: str | None
    flashes: list[tuple[str, str]]
    page: str | None


def new_form_key() -> str:
    return secrets.token_hex(16)


def form_key(sent: str | None) -> str:
    """The key a form sent, when it is one of ours; otherwise a new one for this request alone."""
    return sent if sent and _FORM_KEY.fullmatch(sent) else new_form_key()


def stored_key(key: str, user_id: int | None) -> str:
    """The key as stored: bound to whoever sent it."""
    return hashlib.sha256(f"{user_id or '-'}:{key}".encode()).hexdigest()


def claim(key: str, *, now: datetime) -> Outcome | None:
    """Take the key for this transaction; None when it is ours, else the outcome already stored.

    A twin still running holds the key until it commits or rolls back: the insert waits for it
    (PostgreSQL's unique index; SQLite's write lock), then finds its outcome or takes the key.
    """
    dialect = db.session.connection().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = RequestKey.__table__
    taken = db.session.execute(
        insert(table)
        .values(key=key, created_at=now, flashes=[])
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(table.c.key)
    ).scalar()
    if taken is not None:
        return None
    row = db.session.execute(sa.select(table).where(table.c.key == key)).one()
    return Outcome(
        status=row.status or 409,
        location=row.location,
        flashes=[(category, message) for category, message in row.flashes or []],
        page=row.page,
    )


def record(key: str, outcome: Outcome) -> None:
    """Store what the request answered, in its own transaction (nothing, if that was rolled back)."""
    db.session.execute(
        sa.update(RequestKey.__table__)
        .where(RequestKey.key == key)
        .values(
            status=outcome.status,
            location=outcome.location,
            flashes=[list(pair) for pair in outcome.flashes],
            page=outcome.page if outcome.page and len(outcome.page) <= MAX_KEPT_PAGE else None,
        )
    )


def release(key: str) -> None:
    """Give the key back: the request changed nothing, so its twin may run for itself."""
    db.session.execute(sa.delete(RequestKey.__table__).where(RequestKey.key == key))


def forget_request_keys(now: datetime) -> int:
    """Delete keys older than a day (a scheduled sweep); returns how many went."""
    result = db.session.execute(
        sa.delete(RequestKey.__table__).where(RequestKey.created_at < now - KEPT_FOR)
    )
    return result.rowcount or 0
