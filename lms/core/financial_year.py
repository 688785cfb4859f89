"""The financial year: 1 April to 31 March by default (FINANCIAL_YEAR_START, MM-DD)."""

from __future__ import annotations

from datetime import date


def _start(setting: str) -> tuple[int, int]:
    month, _, day = setting.partition("-")
    return int(month), int(day)


def financial_year_of(day: date, setting: str = "04-01") -> int:
    """The calendar year in which the financial year holding `day` starts: 2026 for 2026/27."""
    month, first = _start(setting)
    return day.year if (day.month, day.day) >= (month, first) else day.year - 1


def financial_year_bounds(year: int, setting: str = "04-01") -> tuple[date, date]:
    """First and last day of the financial year starting in `year`."""
    month, first = _start(setting)
    start = date(year, month, first)
    end = date(year + 1, month, first).toordinal() - 1
    return start, date.fromordinal(end)


def financial_year_label(year: int) -> str:
    return f"{year}/{(year + 1) % 100:02d}"
