"""Request keys: a form that changes something is acted on once, however often it arrives.

Every POST form carries a random key (``request_key_field()`` beside its CSRF token). Before the
view runs, the boundary looks the key up: a request that already committed with it is answered
again as it was, and its view does not run. After the view, the key is stored with the outcome
(the status, the redirect, the messages flashed, or the page itself) in the request's own
transaction, beside the change. A twin that ran at the same time (the person pressed twice, or
the connection was lost while the first one committed, so nobody knows whether it did) finds the
key taken when it comes to store it: the insert waits for the first to finish, the twin's work is
rolled back, and it gives the first one's answer; nothing is done twice. A request that fails
(status 400 or more) stores no key, so the same form sent again runs again. A POST without a key
gets one of its own, which makes the boundary's own retry after a lost connection just as safe.
Keys are forgotten after a day.
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

from lms.core import deferred
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


def stored_outcome(key: str) -> Outcome | None:
    """What the request with this key answered, once it has committed; None when none has."""
    row = db.session.execute(_READ_OUTCOME, {"key": key}).first()
    if row is None:
        return None
    return Outcome(
        status=row.status or 409,
        location=row.location,
        flashes=[(category, message) for category, message in row.flashes or []],
        page=row.page,
    )


def record(key: str, outcome: Outcome, *, now: datetime) -> bool:
    """Store the key with what the request answered, in the request's transaction, with the rows
    it left to write at its end (lms/core/deferred.py): on PostgreSQL all in one statement.

    False when a twin holds the key: it committed first (the insert waited for it if it was still
    running), so this request's work must be rolled back and the twin's answer given instead.
    """
    session = db.session()
    dialect = session.connection().dialect.name
    row = {
        "key": key,
        "created_at": now,
        "status": outcome.status,
        "location": outcome.location,
        "flashes": [list(pair) for pair in outcome.flashes],
        "page": outcome.page if outcome.page and len(outcome.page) <= MAX_KEPT_PAGE else None,
    }
    table = RequestKey.__table__
    carried: dict = {}
    if dialect == "postgresql":
        insert = postgresql.insert(table).values(row)
        ctes, carried = deferred.as_ctes(session)
        if ctes:
            insert = insert.add_cte(*ctes)
    else:
        deferred.write(session)
        insert = sqlite.insert(table).values(row)
    insert = insert.on_conflict_do_nothing(index_elements=["key"]).returning(table.c.key)
    return session.execute(insert, carried).scalar() is not None


_READ_OUTCOME = sa.select(RequestKey.status, RequestKey.location, RequestKey.flashes, RequestKey.page).where(
    RequestKey.key == sa.bindparam("key")
)


def forget_request_keys(now: datetime) -> int:
    """Delete keys older than a day (a scheduled sweep); returns how many went."""
    result = db.session.execute(sa.delete(RequestKey.__table__).where(RequestKey.created_at < now - KEPT_FOR))
    return result.rowcount or 0
