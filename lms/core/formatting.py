"""How money, numbers, percentages, dates, times, durations and counts are shown to people.

Every page, email, PDF and report sentence formats through here, so they all say a thing the
same way. The rules:

- Money is integer pence shown as pounds with a thousands separator: £1,250.50. Reports that
  speak in round figures use whole pounds (£1,251), rounded to the nearest pound, halves up.
- Percentages are shown whole on pages, emails and PDFs (68%); a decimal is given only where one
  is asked for (67.8%), which the spreadsheet exports do. Rounding is half up at the precision
  shown (67.5% -> 68%), never banker's rounding; there is no space before the % sign.
- Dates are UK dates: "Wed 2 December 2026" on pages and in emails, "2 December 2026" on
  invoices and in periods; times are the 24-hour clock in UK time (14:30).
- Counts agree with their noun and carry thousands separators: "1 invoice", "1,905 places".
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from lms.core.timezones import to_london

NOTHING = "–"  # shown where a figure cannot be worked out (no places, no answers)


# Money ---------------------------------------------------------------------------------------


def format_money(pence: int | None) -> str:
    """Integer pence as pounds: 2500 -> £25.00, 125050 -> £1,250.50, -1050 -> -£10.50."""
    if pence is None:
        return ""
    sign = "-" if pence < 0 else ""
    pounds, rest = divmod(abs(int(pence)), 100)
    return f"{sign}£{pounds:,}.{rest:02d}"


def format_whole_pounds(pence: int | None) -> str:
    """Pence to the nearest pound, halves up: 12003750 -> £120,038, 5049 -> £50."""
    if pence is None:
        return ""
    sign = "-" if pence < 0 else ""
    pounds = (abs(int(pence)) + 50) // 100
    return f"{sign}£{pounds:,}"


def format_pounds_plain(pence: int | None) -> str:
    """Pounds with no symbol or separators, for spreadsheets and form fields: 125050 -> 1250.50."""
    if pence is None:
        return ""
    sign = "-" if pence < 0 else ""
    pounds, rest = divmod(abs(int(pence)), 100)
    return f"{sign}{pounds}.{rest:02d}"


def pounds_value(pence: int | None) -> Decimal | None:
    """Pence as an exact number of pounds for a spreadsheet cell: 125050 -> Decimal("1250.50")."""
    return None if pence is None else Decimal(int(pence)).scaleb(-2)


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


# Numbers and counts --------------------------------------------------------------------------


def format_number(value: int | None) -> str:
    """A whole number with thousands separators: 1905 -> 1,905."""
    if value is None:
        return ""
    return f"{value:,}"


def format_decimal(value: float | None, decimals: int = 1) -> str:
    """A measured number such as a mean rating, rounded half up: 3.65 -> 3.7; None -> –."""
    if value is None:
        return NOTHING
    return f"{_rounded(value, decimals):,}"


def plural_word(count: int, singular: str, plural_form: str | None = None) -> str:
    """The word that agrees with `count`: plural_word(2, "person", "people") -> people; "s" by default."""
    if count == 1:
        return singular
    return plural_form if plural_form is not None else f"{singular}s"


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """A count and its noun: plural(1, "invoice") -> 1 invoice, plural(1905, "place") -> 1,905 places."""
    return f"{format_number(count)} {plural_word(count, singular, plural_form)}"


_SMALL_NUMBERS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def format_weeks_ago(then: datetime, now: datetime) -> str:
    """How long ago, in whole weeks, as the start of a sentence: "Six weeks ago", "A week ago"."""
    weeks = max((now - then).days, 0) // 7
    if weeks == 0:
        return "Earlier this week"
    if weeks == 1:
        return "A week ago"
    number = _SMALL_NUMBERS[weeks] if weeks < len(_SMALL_NUMBERS) else format_number(weeks)
    return f"{number.capitalize()} weeks ago"


def format_range(first: object, last: object) -> str:
    """A run of numbers or dates: the one value when both ends are the same, else "first to last"."""
    first, last = str(first), str(last)
    return first if first == last else f"{first} to {last}"


# Percentages ---------------------------------------------------------------------------------


def _rounded(percent: float | int | Decimal, decimals: int) -> Decimal:
    # str() gives the shortest decimal that reads back as the float, so 0.675 * 100 rounds as 67.5.
    shown = Decimal(str(percent)).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    return shown + 0  # -0.0 becomes 0.0: "-0%" means nothing to a reader


def format_percent(share: float | None, decimals: int = 0) -> str:
    """A share of a whole as a percentage: 0.6777 -> 68%, with decimals=1 -> 67.8%; None -> –."""
    if share is None:
        return NOTHING
    return f"{_rounded(Decimal(str(share)) * 100, decimals)}%"


def format_rate(percent: float | int | None, decimals: int = 0) -> str:
    """A rate set in percent, such as VAT or overbooking: 20 -> 20%; 17.5 -> 18%, or 17.5% with decimals=1."""
    if percent is None:
        return NOTHING
    return f"{_rounded(percent, decimals)}%"


def percent_value(share: float | None, decimals: int = 1) -> float | None:
    """A share as a percentage number for a spreadsheet cell, rounded as shown: 0.6777 -> 67.8."""
    if share is None:
        return None
    return float(_rounded(Decimal(str(share)) * 100, decimals))


def format_point_change(current: float | None, previous: float | None, decimals: int = 0) -> str:
    """How far a percentage moved, in points: "up 2 points", "down 1 point", "no change"; "" if unknown.

    The change is between the two percentages as shown, so "68%, up 2 points on 66%" always adds up.
    """
    if current is None or previous is None:
        return ""
    now = _rounded(Decimal(str(current)) * 100, decimals)
    before = _rounded(Decimal(str(previous)) * 100, decimals)
    change = now - before
    if change == 0:
        return "no change"
    size = abs(change)
    return f"{'up' if change > 0 else 'down'} {size} {plural_word(size, 'point')}"


# Dates and times -----------------------------------------------------------------------------


def _local(value: date | datetime) -> date | datetime:
    return to_london(value) if isinstance(value, datetime) else value


def format_date(value: date | datetime | None) -> str:
    """The date as pages and emails show it: Wed 2 December 2026 (a moment is taken in UK time)."""
    if value is None:
        return ""
    value = _local(value)
    return f"{value:%a} {value.day} {value:%B %Y}"


def format_long_date(value: date | datetime | None) -> str:
    """The date written out in full, for certificates: Wednesday 2 December 2026."""
    if value is None:
        return ""
    value = _local(value)
    return f"{value:%A} {value.day} {value:%B %Y}"


def format_plain_date(value: date | datetime | None) -> str:
    """The date without its weekday, for invoices and periods: 2 December 2026."""
    if value is None:
        return ""
    value = _local(value)
    return f"{value.day} {value:%B %Y}"


def format_compact_date(value: date | datetime | None) -> str:
    """The date in a narrow table column: 2 Dec 2026."""
    if value is None:
        return ""
    value = _local(value)
    return f"{value.day} {value:%b %Y}"


def format_month(value: date | datetime | None) -> str:
    """A month of a year: December 2026."""
    if value is None:
        return ""
    return f"{_local(value):%B %Y}"


def format_period(start: date, end: date) -> str:
    """A run of days: "1 April 2026 to 31 March 2027", or the one day when it starts and ends on it."""
    return format_range(format_plain_date(start), format_plain_date(end))


def format_time(value: datetime | None) -> str:
    """The UK time of a moment on the 24-hour clock: 14:30."""
    if value is None:
        return ""
    return f"{to_london(value):%H:%M}"


def format_datetime(value: datetime | None) -> str:
    """A moment in UK time: Wed 2 December 2026, 14:30."""
    if value is None:
        return ""
    return f"{format_date(value)}, {format_time(value)}"


def format_times(starts_at: datetime, ends_at: datetime) -> str:
    """When something runs: "Wed 2 December 2026, 09:30 to 12:30", the end date given only if it differs."""
    start, end = to_london(starts_at), to_london(ends_at)  # the days compared are UK days
    if start.date() == end.date():
        return f"{format_datetime(start)} to {format_time(end)}"
    return f"{format_datetime(start)} to {format_datetime(end)}"


def _day_and_month(day: date, now: datetime | None) -> str:
    words = f"{day:%A} {day.day} {day:%B}"
    return words if now is not None and to_london(now).year == day.year else f"{words} {day.year}"


def bookings_close_sentence(closes_at: datetime, *, now: datetime | None = None) -> str:
    """When bookings close, as people say it: "Bookings close at the end of Wednesday 2 December".

    Bookings close at 00:00 UK time on a day, which a reader takes as the end of the day before; a
    closing time that is not midnight (bookings open until the session starts) is given with its
    time: "Bookings close at 09:30 on Thursday 3 December". Given `now`, the sentence says "closed"
    once the moment has passed and leaves out the year when it is this year; without it, the year
    is always given.
    """
    local = to_london(closes_at)
    verb = "closed" if now is not None and now >= closes_at else "close"
    if local.time() == time(0, 0):
        return f"Bookings {verb} at the end of {_day_and_month(local.date() - timedelta(days=1), now)}"
    return f"Bookings {verb} at {local:%H:%M} on {_day_and_month(local.date(), now)}"


# Durations -----------------------------------------------------------------------------------


def format_hours_number(hours: float) -> str:
    """Hours to at most two decimals, no trailing zeros: 3.0 -> 3, 2.5 -> 2.5, 7.4999999 -> 7.5."""
    shown = Decimal(str(hours)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{shown:f}".rstrip("0").rstrip(".")


def format_hours(minutes: int | None, unit: str = "hour") -> str:
    """Minutes as hours: 90 -> 1.5 hours, 60 -> 1 hour, 100 -> 1.67 hours; unit="CPD hour" -> 3 CPD hours."""
    if minutes is None:
        return ""
    number = format_hours_number(minutes / 60)
    return f"{number} {unit if number == '1' else unit + 's'}"


# Spreadsheets --------------------------------------------------------------------------------

# A spreadsheet runs a cell starting with one of these as a formula. The full-width forms are
# included because some spreadsheet locales read them as the ASCII ones.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def spreadsheet_safe(value):
    """Text a person typed, defused so a spreadsheet shows it rather than runs it; numbers unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
