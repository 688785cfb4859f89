"""Any report table as CSV or XLSX: a header row and rows of plain values."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from flask import Response

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def safe(value):
    """Text people typed never starts a spreadsheet formula; numbers stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def table_response(fmt: str, name: str, title: str, header: Sequence[str], rows: list[Sequence]) -> Response:
    """Download `rows` under `header` as `fmt` ("csv" or "xlsx")."""
    if fmt == "xlsx":
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        sheet.title = title[:31]
        sheet.append(list(header))
        for row in rows:
            sheet.append([safe(value) for value in row])
        out = io.BytesIO()
        book.save(out)
        return Response(
            out.getvalue(),
            mimetype=XLSX,
            headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
        )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([[safe(value) for value in row] for row in rows])
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )
