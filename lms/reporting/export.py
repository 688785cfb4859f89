"""Any report table as CSV or XLSX: a header row and rows of plain values."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

from flask import Response

from lms.core.formatting import spreadsheet_safe
from lms.core.timezones import to_london
from lms.core.web import download

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def table_response(
    fmt: str,
    name: str,
    title: str,
    header: Sequence[str],
    rows: list[Sequence],
    *,
    heading: str | None = None,
    min_widths: Sequence[int] = (),
) -> Response:
    """Download `rows` under `header` as `fmt` ("csv" or "xlsx"); a spreadsheet may carry a heading row
    and least column widths."""
    if fmt == "xlsx":
        data = workbook_bytes(title, header, rows, heading=heading, min_widths=min_widths)
        return download(data, XLSX, f"{name}.xlsx")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([[spreadsheet_safe(value) for value in row] for row in rows])
    return download(out.getvalue(), "text/csv", f"{name}.csv")


# Spreadsheets people can work with straight away: the header bold, frozen and filterable, the
# columns wide enough to read, money as pounds, percentages and dates as such.
MONEY_FORMAT = '"£"#,##0.00;-"£"#,##0.00'
PERCENT_FORMAT = '0.0"%"'  # the values are already percentages (68.2), not shares (0.682)
DATE_FORMAT = "dd/mm/yyyy"
MONTH_FORMAT = "mmmm yyyy"  # a month is its first day, shown as "April 2026"
DATETIME_FORMAT = "dd/mm/yyyy hh:mm"
MAX_WIDTH = 60


def number_format(column: str, value) -> str | None:
    """The cell format for a value in the column headed `column`; None leaves the default."""
    if isinstance(value, bool) or value is None or value == "":
        return None
    if isinstance(value, datetime):
        return DATETIME_FORMAT
    if isinstance(value, date):
        return MONTH_FORMAT if column == "Month" else DATE_FORMAT
    if isinstance(value, Decimal):
        return MONEY_FORMAT  # amounts are pounds as Decimal (pounds_value); counts are ints
    if isinstance(value, int | float) and column.rstrip().endswith("%"):
        return PERCENT_FORMAT
    return None


def workbook_bytes(
    title: str,
    header: Sequence[str],
    rows: list[Sequence],
    *,
    heading: str | None = None,
    min_widths: Sequence[int] = (),
) -> bytes:
    """One sheet: an optional heading row, then the header and rows, formatted to be read. Columns
    are as wide as what they hold, and at least `min_widths` (in characters) where given."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    sheet.title = title[:31]
    if heading:
        sheet.append([heading])
        sheet.cell(row=1, column=1).font = Font(bold=True, size=13)
    header_row = sheet.max_row + 1 if heading else 1
    sheet.append(list(header))
    for cell in sheet[header_row]:
        cell.font = Font(bold=True)
    widths = [max([len(str(column)), *min_widths[index : index + 1]]) for index, column in enumerate(header)]
    for row in rows:
        values = [spreadsheet_safe(_naive(value)) for value in row]
        sheet.append(values)
        for index, value in enumerate(values):
            column = str(header[index]) if index < len(header) else ""
            cell = sheet.cell(row=sheet.max_row, column=index + 1)
            shape = number_format(column, value)
            if shape:
                cell.number_format = shape
            if index < len(widths):
                widths[index] = max(widths[index], _shown_length(value))
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = min(width + 2, MAX_WIDTH)
    sheet.freeze_panes = sheet.cell(row=header_row + 1, column=1)
    last = sheet.max_row
    if header:
        sheet.auto_filter.ref = f"A{header_row}:{get_column_letter(len(header))}{last}"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _naive(value):
    """Spreadsheets have no time zones: times are shown in London time, as on the pages."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return to_london(value).replace(tzinfo=None)
    return value


def _shown_length(value) -> int:
    if value is None:
        return 0
    if isinstance(value, datetime | date):
        return 12
    if isinstance(value, Decimal):
        return len(f"£{value:,.2f}")
    return max((len(part) for part in str(value).splitlines()), default=0)
