"""How dates, times, durations and money are shown to people."""

from __future__ import annotations

from datetime import date, datetime

from lms.core.timezones import to_london


def format_money(pence: int | None) -> str:
    """Integer pence as pounds: 2500 -> £25.00, -1050 -> -£10.50."""
    if pence is None:
        return ""
    sign = "-" if pence < 0 else ""
    pounds, rest = divmod(abs(int(pence)), 100)
    return f"{sign}£{pounds:,}.{rest:02d}"


def format_date(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = to_london(value)
    return f"{value:%a} {value.day} {value:%B %Y}"


def format_time(value: datetime | None) -> str:
    if value is None:
        return ""
    local = to_london(value)
    return f"{local:%H:%M}"


def format_datetime(value: datetime | None) -> str:
    if value is None:
        return ""
    return f"{format_date(value)}, {format_time(value)}"


def format_hours(minutes: int | None) -> str:
    """Minutes as hours for people: 90 -> 1.5 hours, 60 -> 1 hour."""
    if minutes is None:
        return ""
    hours = minutes / 60
    text = f"{hours:g}"
    return f"{text} hour" if hours == 1 else f"{text} hours"


def parse_money(text: str) -> int:
    """Pounds typed by a person as integer pence: "1,250.50" -> 125050; raises ValueError."""
    cleaned = text.strip().replace(",", "").removeprefix("£").strip()
    if not cleaned:
        raise ValueError("Enter an amount in pounds, for example 450 or 450.00")
    pounds, dot, pence = cleaned.partition(".")
    if not pounds.isdigit() and not (pounds == "" and dot):
        raise ValueError("Enter an amount in pounds, for example 450 or 450.00")
    if dot and (not pence.isdigit() or len(pence) > 2):
        raise ValueError("Use at most two digits for pence, for example 450.50")
    return int(pounds or "0") * 100 + int((pence or "0").ljust(2, "0"))


# A spreadsheet runs a cell starting with one of these as a formula. The full-width forms are
# included because some spreadsheet locales read them as the ASCII ones.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def spreadsheet_safe(value):
    """Text a person typed, defused so a spreadsheet shows it rather than runs it; numbers unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
