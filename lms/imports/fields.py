"""Reading one cell into the value a service takes, with its bounds; a cell that is not right raises
RowProblem naming its column and saying what was expected."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import TypeVar

from email_validator import EmailNotValidError, validate_email

from lms.core.calendar import EARLIEST_DATE, LATEST_DATE
from lms.core.formatting import parse_money
from lms.imports.readers import Cell, Row, Table, cell_text
from lms.imports.report import RowProblem

E = TypeVar("E", bound=Enum)

_TIME = re.compile(r"^([0-9]{1,2})[:.]([0-9]{2})(?::([0-9]{2}))?\s*([ap]\.?m\.?)?$", re.IGNORECASE)
_UK_DATE = re.compile(r"^([0-9]{1,2})[/.-]([0-9]{1,2})[/.-]([0-9]{4})$")
_ISO_DATE = re.compile(r"^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?:[ T][0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?)?$")
_WHOLE = re.compile(r"^[0-9]{1,9}$")
YES = {"yes", "y", "true", "1", "active", "open"}
NO = {"no", "n", "false", "0", "inactive", "closed"}


class Cells:
    """One row of a table, read column by column; each reader names the column in its problem."""

    def __init__(self, table: Table, row: Row) -> None:
        self.table = table
        self.row = row

    def label(self, key: str) -> str:
        return self.table.label(key)

    def present(self, key: str) -> bool:
        """The file has this column (a missing column leaves its field as it is)."""
        return self.table.has(key)

    def raw(self, key: str) -> Cell:
        return self.row.get(key)

    def text(self, key: str, *, max_length: int, required: str | None = None) -> str:
        value = " ".join(self.row.text(key).split())
        return self._bounded(key, value, max_length, required)

    def lines(self, key: str, *, max_length: int) -> str:
        """Text that may run over several lines (an address)."""
        value = "\n".join(" ".join(part.split()) for part in self.row.text(key).split("\n"))
        return self._bounded(key, value.strip(), max_length, None)

    def _bounded(self, key: str, value: str, max_length: int, required: str | None) -> str:
        if not value and required:
            raise RowProblem(self.label(key), required)
        if len(value) > max_length:
            raise RowProblem(
                self.label(key), f"This is {len(value):,} characters long; at most {max_length:,} fit."
            )
        return value

    def email(self, key: str, *, required: str | None = None) -> str:
        value = self.text(key, max_length=254, required=required)
        if not value:
            return ""
        try:
            validate_email(value, check_deliverability=False)
        except EmailNotValidError:
            raise RowProblem(
                self.label(key), f"“{value}” is not an email address like name@example.org."
            ) from None
        return value.lower()

    def flag(self, key: str, *, default: bool) -> bool:
        value = self.row.text(key).strip().lower()
        if not value:
            return default
        if value in YES:
            return True
        if value in NO:
            return False
        raise RowProblem(self.label(key), f"“{self.row.text(key)}” should be yes or no.")

    def choice(
        self, key: str, enum: type[E], *, aliases: dict[str, E] | None = None, required: str | None = None
    ) -> E | None:
        """A member of `enum` written as its title or value (any case), or one of `aliases`."""
        value = " ".join(self.row.text(key).split())
        if not value:
            if required:
                raise RowProblem(self.label(key), required)
            return None
        wanted = value.casefold()
        for member in enum:
            if wanted in (str(member.value).casefold(), getattr(member, "title", "").casefold()):
                return member
        if aliases and wanted in aliases:
            return aliases[wanted]
        known = "; ".join(getattr(member, "title", member.value) for member in enum)
        raise RowProblem(self.label(key), f"“{value}” is not one of: {known}.")

    def whole_number(self, key: str, *, low: int, high: int, required: str | None = None) -> int | None:
        raw = self.raw(key)
        text = cell_text(raw).strip()
        if not text:
            if required:
                raise RowProblem(self.label(key), required)
            return None
        if isinstance(raw, float) and raw.is_integer():
            text = str(int(raw))
        if not _WHOLE.match(text) or not low <= int(text) <= high:
            raise RowProblem(self.label(key), f"“{text}” should be a whole number from {low:,} to {high:,}.")
        return int(text)

    def hours(self, key: str, *, required: str | None = None) -> int | None:
        """Hours (3, 2.5, 0.75) as whole minutes, from a quarter of an hour to 100 hours."""
        text = cell_text(self.raw(key)).strip()
        if not text:
            if required:
                raise RowProblem(self.label(key), required)
            return None
        try:
            hours = Decimal(text)
        except InvalidOperation:
            hours = None
        if hours is None or not hours.is_finite() or not Decimal("0.25") <= hours <= Decimal("100"):
            raise RowProblem(
                self.label(key), f"“{text}” should be a number of hours from 0.25 to 100, like 3 or 2.5."
            )
        return int(round(hours * 60))

    def money(self, key: str, *, maximum_pence: int = 1_000_000_000) -> int | None:
        raw = self.raw(key)
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            text = format(Decimal(str(raw)), "f")
        else:
            text = cell_text(raw).strip()
        if not text:
            return None
        try:
            pence = parse_money(text)
        except ValueError as exc:
            raise RowProblem(self.label(key), f"“{text}”: {exc}.") from None
        if pence > maximum_pence:
            raise RowProblem(self.label(key), f"“{text}” is more than this system accepts.")
        return pence

    def day(self, key: str, *, required: str | None = None) -> date | None:
        """A date: 2026-05-14, 14/05/2026 (day first, as in the UK), or a spreadsheet date."""
        raw = self.raw(key)
        if isinstance(raw, datetime):
            found = raw.date()
        elif isinstance(raw, date):
            found = raw
        else:
            found = self._date_from_text(key, cell_text(raw).strip(), required)
            if found is None:
                return None
        if not EARLIEST_DATE <= found <= LATEST_DATE:
            raise RowProblem(
                self.label(key),
                f"{found:%d/%m/%Y} is not between {EARLIEST_DATE.year} and {LATEST_DATE.year}.",
            )
        return found

    def _date_from_text(self, key: str, text: str, required: str | None) -> date | None:
        if not text:
            if required:
                raise RowProblem(self.label(key), required)
            return None
        for pattern, order in ((_ISO_DATE, (0, 1, 2)), (_UK_DATE, (2, 1, 0))):
            match = pattern.match(text)
            if match:
                year, month, day = (int(match.group(i + 1)) for i in order)
                try:
                    return date(year, month, day)
                except ValueError:
                    break
        raise RowProblem(self.label(key), f"“{text}” is not a date like 14/05/2026 or 2026-05-14.")

    def time_of_day(self, key: str, *, required: str | None = None) -> time | None:
        """A time: 09:30, 9.30, 2:15pm, or a spreadsheet time."""
        raw = self.raw(key)
        if isinstance(raw, time):
            return raw.replace(second=0, microsecond=0)
        if isinstance(raw, datetime):
            return raw.time().replace(second=0, microsecond=0)
        if isinstance(raw, float) and 0 <= raw < 1:  # a spreadsheet time stored as part of a day
            minutes = round(raw * 24 * 60)
            return time(minutes // 60 % 24, minutes % 60)
        text = cell_text(raw).strip()
        if not text:
            if required:
                raise RowProblem(self.label(key), required)
            return None
        match = _TIME.match(text)
        if match:
            hour, minute = int(match.group(1)), int(match.group(2))
            suffix = (match.group(4) or "").lower().replace(".", "")
            if suffix and 1 <= hour <= 12:
                hour = hour % 12 + (12 if suffix == "pm" else 0)
            elif suffix:
                hour = 99
            if hour < 24 and minute < 60:
                return time(hour, minute)
        raise RowProblem(self.label(key), f"“{text}” is not a time like 09:30 or 14:15.")
