"""The clock. Services take `now` as an argument; edges call now() once."""

from __future__ import annotations

from datetime import UTC, datetime

_frozen: datetime | None = None


def now() -> datetime:
    """The current time, aware, in UTC."""
    if _frozen is not None:
        return _frozen
    return datetime.now(UTC)


def freeze(moment: datetime | None) -> None:
    """Fix the clock (tests and demo data); None lets it run again."""
    global _frozen
    if moment is not None and moment.tzinfo is None:
        raise ValueError("freeze() needs an aware datetime")
    _frozen = moment.astimezone(UTC) if moment else None
