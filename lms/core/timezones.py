"""Times are stored in UTC and shown in Europe/London."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")


class InvalidLocalTime(ValueError):
    """A wall-clock time that does not exist in London (the spring-forward gap)."""


def to_london(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(LONDON)


def london_to_utc(local: datetime) -> datetime:
    """Turn a naive London wall-clock time into aware UTC.

    A time in the autumn's repeated hour is taken as the first (summer time) one;
    a time in the spring gap does not exist and is refused.
    """
    if local.tzinfo is not None:
        return local.astimezone(UTC)
    aware = local.replace(tzinfo=LONDON, fold=0)
    round_trip = aware.astimezone(UTC).astimezone(LONDON).replace(tzinfo=None)
    if round_trip != local:
        raise InvalidLocalTime(f"{local:%d %B %Y %H:%M} does not exist in UK time (clocks go forward)")
    return aware.astimezone(UTC)


def london_date(moment: datetime) -> date:
    return to_london(moment).date()


def start_of_london_day(day: date) -> datetime:
    """Midnight at the start of a London day, in UTC."""
    return datetime.combine(day, time(0, 0), tzinfo=LONDON).astimezone(UTC)


def end_of_london_day(day: date) -> datetime:
    """Midnight at the end of a London day (exclusive), in UTC."""
    return start_of_london_day(day + timedelta(days=1))
