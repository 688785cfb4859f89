"""Working days in England and Wales: weekdays that are not bank holidays."""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import holidays

# Dates people can mean: anything outside is a typing slip, and would break date arithmetic.
EARLIEST_DATE = date(2000, 1, 1)
LATEST_DATE = date(2100, 12, 31)


@lru_cache(maxsize=64)
def _bank_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year).keys())


def is_bank_holiday(day: date) -> bool:
    return day in _bank_holidays(day.year)


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and not is_bank_holiday(day)


def working_days_between(first: date, last: date) -> int:
    """Whole working days strictly after `first` and strictly before `last`."""
    count = 0
    day = first + timedelta(days=1)
    while day < last:
        if is_working_day(day):
            count += 1
        day += timedelta(days=1)
    return count


def working_days_before(day: date, count: int) -> date:
    """The working day that lies `count` working days before `day`."""
    if count < 1:
        raise ValueError("count must be at least 1")
    found = 0
    while found < count:
        day -= timedelta(days=1)
        if is_working_day(day):
            found += 1
    return day


def working_days_after(day: date, count: int) -> date:
    """The working day that lies `count` working days after `day`."""
    if count < 1:
        raise ValueError("count must be at least 1")
    found = 0
    while found < count:
        day += timedelta(days=1)
        if is_working_day(day):
            found += 1
    return day
