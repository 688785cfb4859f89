"""Reading files: CSV in the encodings people's files come in, Excel workbooks and zipped CSV; and every
kind of file that cannot be read gets a clear message instead of a server error."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime, time

import pytest
from openpyxl import Workbook

from lms.imports.readers import MAX_COLUMNS, MAX_UNPACKED_BYTES, ReadError, heading_key, read_lines
from lms.imports.report import ImportKind
from tests.imports.helpers import admin, organisation, run, sample


def table(data: bytes, name: str = "file.csv"):
    return read_lines(data, name).with_headings()


def workbook(rows: list[list]) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def zipped(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize(
    "data",
    [
        "name,category\nCafé Nursery,Education - early years\n".encode(),
        "\ufeffname,category\nCafé Nursery,Education - early years\n".encode(),
        "name,category\nCafé Nursery,Education - early years\n".encode("cp1252"),
        "name,category\r\nCafé Nursery,Education - early years\r\n".encode("utf-16"),
        "name;category\nCafé Nursery;Education - early years\n".encode(),
        "name\tcategory\nCafé Nursery\tEducation - early years\n".encode(),
    ],
    ids=["utf-8", "utf-8 with BOM", "windows-1252", "utf-16", "semicolons", "tabs"],
)
def test_csv_is_read_in_each_encoding_and_delimiter(data):
    read = table(data)
    assert read.headings == ["name", "category"]
    [row] = read.rows
    assert row.line == 2 and row.values == {"name": "Café Nursery", "category": "Education - early years"}


def test_headings_are_matched_whatever_their_case_and_spacing():
    assert heading_key(" Course Title ") == "course_title"
    assert heading_key("TypeOfEstablishment (name)") == "typeofestablishment_name"
    assert heading_key("Organisation Code") == "organisation_code"


def test_quoted_values_may_hold_commas_and_line_breaks_and_lines_are_counted_from_where_a_row_starts():
    read = table(b'name,billing_address\n"Oak, Ash and Elm","1 Road\nTown"\nSecond,\n')
    first, second = read.rows
    assert first.values == {"name": "Oak, Ash and Elm", "billing_address": "1 Road\nTown"}
    assert (first.line, second.line) == (2, 4)


def test_blank_lines_and_spaces_and_invisible_characters_are_dropped():
    read = table(b"name , category\n\n  Oak \x07School ,\tPolice \n,,\n")
    assert read.headings == ["name", "category"]
    [row] = read.rows
    assert row.values == {"name": "Oak School", "category": "Police"} and row.line == 3


def test_an_excel_workbook_is_read_from_its_first_sheet_with_dates_times_and_numbers():
    data = workbook(
        [
            ["Course title", "Date", "Start time", "Places", "Cost"],
            ["Understanding Neglect", datetime(2026, 6, 16), time(9, 30), 20, 450.5],
            [None, None, None, None, None],
            ["Online Safety", date(2026, 7, 1), "13:30", 30.0, 0],
        ]
    )
    read = table(data, "programme.xlsx")
    assert read.headings == ["course_title", "date", "start_time", "places", "cost"]
    first, second = read.rows
    assert first.line == 2 and second.line == 4
    assert first.values["date"] == datetime(2026, 6, 16) and first.values["start_time"] == time(9, 30)
    assert first.text("places") == "20" and first.text("cost") == "450.5" and second.text("places") == "30"


def test_a_zipped_csv_as_the_nhs_publishes_it_is_read():
    read = read_lines(zipped({"epraccur.csv": sample("epraccur.csv")}), "epraccur.zip")
    assert read.filename == "epraccur.csv" and len(read.lines) == 6
    assert read.first[:2] == ["M99001", "THE MEADOWS SURGERY"]


# Files that cannot be read -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty"),
        (b"  \r\n\n ", "The file is empty"),
        (b"\xef\xbb\xbf,,\r\n", "The file is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a CSV file we can read"),
        (b"name\nOak \x81 School\n", "not a CSV file we can read"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "old Excel file"),
        (b"PK\x03\x04" + b"\x00" * 50, "damaged"),
    ],
    ids=[
        "empty",
        "blank",
        "only a byte-order mark and commas",
        "binary",
        "not an encoding",
        "old excel",
        "damaged zip",
    ],
)
def test_unreadable_files_are_refused_with_a_message(data, message):
    with pytest.raises(ReadError, match=message) as raised:
        table(data)
    assert raised.value.field == "file" and raised.value.status == 422


def test_a_heading_row_must_be_there_and_say_each_column_once():
    with pytest.raises(ReadError, match="appears twice in the first row \\(columns A and C\\)"):
        table(b"name,category,Name\nOak,Police,Elm\n")
    headless = read_lines(b"amira.khan@example.org,Amira,Khan\nben.osei@example.org,Ben,Osei\n")
    with pytest.raises(
        ReadError, match="missing the columns email, first_name, last_name. The first row must"
    ):
        run(ImportKind.PEOPLE, headless, by=admin())


def test_a_file_with_too_many_rows_is_refused():
    data = b"name\n" + b"".join(f"Organisation {n}\n".encode() for n in range(11))
    with pytest.raises(ReadError, match="more than 10 rows"):
        read_lines(data, max_rows=10)
    assert len(read_lines(data, max_rows=11).lines) == 12


def test_a_workbook_with_too_many_rows_is_refused():
    data = workbook([["name"], *[[f"Organisation {n}"] for n in range(11)]])
    with pytest.raises(ReadError, match="more than 10 rows"):
        read_lines(data, "big.xlsx", max_rows=10)


def test_huge_cells_and_too_many_columns_are_refused():
    with pytest.raises(ReadError, match="a cell may hold at most 10,000"):
        table(b"name\n" + b"x" * 20_000 + b"\n")
    with pytest.raises(ReadError, match="not well-formed CSV"):
        table(b"name\n" + b"x" * 200_000 + b"\n")
    with pytest.raises(ReadError, match=f"at most {MAX_COLUMNS}"):
        table(b",".join([b"c%d" % n for n in range(MAX_COLUMNS + 1)]) + b"\n")


def test_a_zip_must_hold_one_csv_and_must_not_unpack_to_far_more_than_it_is():
    with pytest.raises(ReadError, match="exactly one CSV file \\(it holds 2\\)"):
        read_lines(zipped({"a.csv": b"name\nA\n", "b.csv": b"name\nB\n"}))
    out = io.BytesIO()
    with (
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("bomb.csv", "w", force_zip64=True) as member,
    ):
        chunk = b"0" * (1024 * 1024)
        for _ in range(MAX_UNPACKED_BYTES // len(chunk) + 1):
            member.write(chunk)
    assert len(out.getvalue()) < 2 * 1024 * 1024
    with pytest.raises(ReadError, match="unpacks to far more"):
        read_lines(out.getvalue(), "small.zip")


def test_a_damaged_workbook_is_refused():
    broken = zipped({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<not-a-workbook"})
    with pytest.raises(ReadError, match="workbook could not be opened"):
        read_lines(broken, "broken.xlsx")


def test_a_file_read_through_an_import_says_what_is_missing():
    with pytest.raises(ReadError, match="headings but no rows"):
        run(ImportKind.PEOPLE, read_lines(b"email,first_name,last_name\n"), by=admin())
    report = run(ImportKind.ORGANISATIONS, read_lines(b"name,category\nOak, School,Police\n"), dry_run=True)
    assert "more cells than there are headings" in report.problems[0].reason
    assert organisation("Oak") is None
