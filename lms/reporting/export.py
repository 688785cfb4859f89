"""Any report table as CSV or XLSX: a header row and rows of plain values."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from flask import Response

from lms.core.formatting import spreadsheet_safe
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
) -> Response:
    """Download `rows` under `header` as `fmt` ("csv" or "xlsx"); a spreadsheet may carry a heading row."""
    if fmt == "xlsx":
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        sheet.title = title[:31]
        if heading:
            sheet.append([heading])
        sheet.append(list(header))
        for row in rows:
            sheet.append([spreadsheet_safe(value) for value in row])
        out = io.BytesIO()
        book.save(out)
        return download(out.getvalue(), XLSX, f"{name}.xlsx")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([[spreadsheet_safe(value) for value in row] for row in rows])
    return download(out.getvalue(), "text/csv", f"{name}.csv")
