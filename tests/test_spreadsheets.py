"""Downloaded spreadsheets are ready to read: bold frozen header with filters, sensible widths,
money as pounds, percentages and dates formatted as such."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal

from openpyxl import load_workbook

from lms.accounts.models import Role
from lms.reporting.export import DATE_FORMAT, MONEY_FORMAT, MONTH_FORMAT, PERCENT_FORMAT, workbook_bytes
from tests.conftest import sign_in
from tests.factories import create_user
from tests.test_reporting_results import evaluated_session


def sheet_of(data: bytes):
    return load_workbook(io.BytesIO(data)).active


BOOKED_AT = datetime(2026, 5, 1, 8, tzinfo=UTC)


def test_a_sheet_has_a_bold_frozen_filtered_header_and_typed_cells():
    data = workbook_bytes(
        "Charges",
        ["Organisation", "Session date", "Amount", "Share %", "Count", "Booked at"],
        [
            ["West Midlands Police", date(2026, 5, 4), Decimal("45.00"), 12.5, 3, BOOKED_AT],
            ['=HYPERLINK("x")', date(2026, 6, 1), Decimal("1234.50"), 100.0, 1, None],
        ],
        heading="Charges, 2026/27",
    )
    sheet = sheet_of(data)
    assert sheet["A1"].value == "Charges, 2026/27" and sheet["A1"].font.bold
    assert [cell.value for cell in sheet[2]][:3] == ["Organisation", "Session date", "Amount"]
    assert all(cell.font.bold for cell in sheet[2])
    assert sheet.freeze_panes == "A3"
    assert sheet.auto_filter.ref == "A2:F4"
    assert sheet["B3"].number_format == DATE_FORMAT
    assert sheet["C4"].number_format == MONEY_FORMAT and sheet["C4"].value == 1234.5
    assert sheet["D3"].number_format == PERCENT_FORMAT
    assert sheet["E3"].number_format == "General"
    # Times are shown in London time (09:00 BST), without a zone a spreadsheet cannot hold.
    assert sheet["F3"].value == datetime(2026, 5, 1, 9, 0)
    # A formula typed by someone is shown, not run.
    assert sheet["A4"].value.startswith("'=")
    assert sheet.column_dimensions["A"].width >= len("West Midlands Police")
    assert sheet.column_dimensions["A"].width <= 62


def test_report_downloads_use_the_formats(client):
    evaluated_session(["5", "4"])
    sign_in(client, create_user(roles=(Role.LND_ADMIN,)))
    sheet = sheet_of(client.get("/reports/utilisation.xlsx?by=course").data)
    header = [cell.value for cell in sheet[2]]
    assert sheet.freeze_panes == "A3" and sheet.auto_filter.ref.startswith("A2:")
    utilisation = header.index("Utilisation %") + 1
    assert sheet.cell(row=3, column=utilisation).number_format == PERCENT_FORMAT
    budget = sheet_of(client.get("/reports/budget.xlsx").data)
    cells = {row[0].value: row[1] for row in budget.iter_rows(min_row=2)}
    assert cells["Charges raised"].number_format == MONEY_FORMAT
    assert cells["Places offered"].number_format == "General"


def test_months_download_as_dates_in_a_spreadsheet_and_as_words_in_csv(client):
    evaluated_session(["5"])
    sign_in(client, create_user(roles=(Role.LND_ADMIN,)))
    sheet = sheet_of(client.get("/reports/utilisation.xlsx?by=month").data)
    assert sheet["A2"].value == "Month"
    months = [row[0] for row in sheet.iter_rows(min_row=3)]
    assert months[-1].value == "Total"
    assert all(cell.is_date and cell.number_format == MONTH_FORMAT for cell in months[:-1])
    assert months[0].value.day == 1
    text = client.get("/reports/utilisation.csv?by=month").get_data(as_text=True)
    assert "2026" in text.splitlines()[1] and "-01" not in text.splitlines()[1]
