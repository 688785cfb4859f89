"""Reading an uploaded table: CSV (UTF-8 with or without a byte-order mark, UTF-16 with one, or
Windows-1252 as the Department for Education writes its files), an Excel workbook (its first sheet),
or a zip holding one CSV (as the NHS and the DfE publish theirs).

Whatever arrives, the answer is a Table or a ReadError whose message says what to do: a file that is
empty, binary, too big, too long or badly formed never becomes a server error. Cells come back as
text with surrounding spaces and control characters removed; an Excel date, time or number is kept
as Python's own value, so a date typed in a spreadsheet is not misread as text.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from lms.core.errors import InvalidInput
from lms.core.formatting import format_number

# Bounds: a partnership's list of schools or practices is a few thousand rows; the national lists
# (every school in England) are larger, and are filtered to the partnership's area first.
MAX_ROWS = 50_000
MAX_COLUMNS = 500
MAX_FILE_BYTES = 100 * 1024 * 1024
# What a workbook or zip may unpack to: a small file that unpacks to gigabytes is refused.
MAX_UNPACKED_BYTES = 300 * 1024 * 1024
MAX_CELL_CHARS = 10_000

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\u2028\u2029\ufeff]")
_HEADING_PUNCTUATION = re.compile(r"[^0-9a-z]+")

Cell = str | int | float | date | datetime | time


class ReadError(InvalidInput):
    """The file cannot be read as a table; the message says why and what to do (beside the file field)."""

    def __init__(self, message: str, *, field: str | None = "file", status: int | None = None) -> None:
        super().__init__(message, field=field, status=status)


@dataclass
class Row:
    """One data row: its line in the file (the row number in a spreadsheet), and its cells by heading."""

    line: int
    values: dict[str, Cell]
    # Cells beyond the last heading that hold something: usually a stray comma in a name.
    overflow: list[str] = field(default_factory=list)

    def get(self, key: str) -> Cell:
        return self.values.get(key, "")

    def text(self, key: str) -> str:
        value = self.values.get(key, "")
        return value if isinstance(value, str) else cell_text(value)


@dataclass
class Table:
    """The rows of a file. `headings` are normalised (lower case, words joined by "_"); `labels` keeps
    each heading as the file wrote it, to name the column in a message."""

    headings: list[str]
    labels: dict[str, str]
    rows: list[Row]
    filename: str = ""

    def label(self, key: str) -> str:
        return self.labels.get(key, key)

    def has(self, *keys: str) -> bool:
        return all(key in self.labels for key in keys)


@dataclass
class Lines:
    """The raw lines of a file, before anyone has said whether the first is a heading row."""

    lines: list[tuple[int, list[Cell]]]
    filename: str = ""

    @property
    def first(self) -> list[Cell]:
        return self.lines[0][1] if self.lines else []

    def with_headings(self) -> Table:
        """The first line as headings, the rest as rows."""
        if not self.lines:
            raise ReadError("The file has no rows. Check that it is the right file and try again.")
        _, first = self.lines[0]
        labels_in_order = [cell_text(cell) for cell in first]
        headings, labels = [], {}
        for position, label in enumerate(labels_in_order):
            key = heading_key(label)
            if not key:
                headings.append("")
                continue
            if key in labels:
                raise ReadError(
                    f"The heading “{label}” appears twice in the first row (columns "
                    f"{column_letter(list(headings).index(key))} and {column_letter(position)}). "
                    "Give each column its own heading."
                )
            headings.append(key)
            labels[key] = label
        if not labels:
            raise ReadError(
                "The first row must hold the column headings, and it is empty. "
                "Put the headings in the first row."
            )
        rows = []
        for line, cells in self.lines[1:]:
            values: dict[str, Cell] = {}
            overflow = []
            for position, cell in enumerate(cells):
                key = headings[position] if position < len(headings) else ""
                if key:
                    values[key] = cell
                elif cell != "":
                    overflow.append(cell_text(cell))
            rows.append(Row(line, values, overflow))
        return Table(headings=[h for h in headings if h], labels=labels, rows=rows, filename=self.filename)

    def without_headings(self, names: list[str]) -> Table:
        """Every line as a row, its cells named by position (a file published without a heading row)."""
        rows = []
        for line, cells in self.lines:
            values = {name: cells[i] if i < len(cells) else "" for i, name in enumerate(names)}
            rows.append(Row(line, values))
        if not rows:
            raise ReadError("The file has no rows. Check that it is the right file and try again.")
        labels = {name: name.replace("_", " ").capitalize() for name in names}
        return Table(headings=list(names), labels=labels, rows=rows, filename=self.filename)


def heading_key(label: str) -> str:
    """A heading as the code knows it: "Course title", "course_title" and "TypeOfEstablishment (name)"
    become "course_title" and "typeofestablishment_name"."""
    return _HEADING_PUNCTUATION.sub("_", label.strip().lower()).strip("_")


def column_letter(position: int) -> str:
    """A spreadsheet's column letter for a position counted from 0: 0 -> A, 26 -> AA."""
    letters = ""
    position += 1
    while position:
        position, remainder = divmod(position - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def clean_text(text: str) -> str:
    """Surrounding spaces and invisible control characters removed; line breaks kept inside."""
    text = _CONTROL.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    return text.strip()


def cell_text(value: Any) -> str:
    """A cell as the text a person would read in it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M") if value.time() != time(0) else value.strftime("%Y-%m-%d")
    if isinstance(value, date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, time):
        return value.strftime("%H:%M")
    return str(value)


# Reading ---------------------------------------------------------------------------------------

_ZIP = b"PK\x03\x04"
_OLD_EXCEL = b"\xd0\xcf\x11\xe0"


def read_lines(data: bytes, filename: str = "", *, max_rows: int = MAX_ROWS) -> Lines:
    """The non-empty lines of an uploaded CSV, workbook or zipped CSV, each with its line number."""
    if len(data) > MAX_FILE_BYTES:
        raise ReadError(
            f"The file is too big to import ({_megabytes(len(data))}; at most {_megabytes(MAX_FILE_BYTES)}). "
            "Split it into smaller files."
        )
    if not data.strip():
        raise ReadError("The file is empty. Check that it is the right file and try again.")
    if data.startswith(_OLD_EXCEL):
        raise ReadError(
            "This is an old Excel file (.xls). Open it in Excel and save it as an Excel workbook (.xlsx) "
            "or as CSV UTF-8, then import that."
        )
    if data.startswith(_ZIP):
        with _open_zip(data) as archive:
            names = archive.namelist()
            if "[Content_Types].xml" in names or any(n.startswith("xl/") for n in names):
                lines = Lines(_workbook_lines(data, max_rows), filename)
            else:
                member = _single_csv(archive)
                lines = Lines(_csv_lines(archive.read(member), max_rows), member)
    else:
        lines = Lines(_csv_lines(data, max_rows), filename)
    if not lines.lines:
        raise ReadError("The file is empty. Check that it is the right file and try again.")
    return lines


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB" if size < 10 * 1024 * 1024 else f"{size // (1024 * 1024)} MB"


def _too_many_rows(max_rows: int) -> ReadError:
    return ReadError(
        f"The file has more than {format_number(max_rows)} rows, more than one import can take. "
        "Split it into smaller files, or filter it first (a schools list by local authority, say)."
    )


def _open_zip(data: bytes) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise ReadError(
            "The file looks like a workbook or zip but is damaged. Save it again and retry."
        ) from exc
    if sum(info.file_size for info in infos) > MAX_UNPACKED_BYTES:
        raise ReadError(
            "The file unpacks to far more than a table of this size would: it cannot be imported. "
            "Save the table as CSV UTF-8 and import that."
        )
    return archive


def _single_csv(archive: zipfile.ZipFile) -> str:
    tables = [
        info.filename
        for info in archive.infolist()
        if not info.is_dir() and info.filename.lower().endswith((".csv", ".txt"))
    ]
    if len(tables) != 1:
        raise ReadError(
            "The zip file must hold exactly one CSV file"
            + (f" (it holds {len(tables)})." if tables else " (it holds none).")
            + " Unzip it and import the CSV file itself."
        )
    if archive.getinfo(tables[0]).file_size > MAX_FILE_BYTES:
        raise ReadError(
            f"The CSV file inside the zip is too big to import (at most {_megabytes(MAX_FILE_BYTES)})."
        )
    return tables[0]


# CSV


def decode(data: bytes) -> str:
    """Text from the bytes of a CSV file: UTF-8 (with or without a byte-order mark), UTF-16 with one,
    or Windows-1252. Anything else is refused rather than guessed at."""
    if data.startswith(b"\xef\xbb\xbf"):
        encodings = ["utf-8-sig"]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encodings = ["utf-16"]
    else:
        encodings = ["utf-8", "cp1252"]
    for encoding in encodings:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" in text:
            break
        return text
    raise ReadError(
        "The file is not a CSV file we can read: it is not text, or not in a known encoding. "
        "Save it from Excel as “CSV UTF-8 (Comma delimited)” or as an Excel workbook (.xlsx), "
        "then import that."
    )


def _delimiter(text: str) -> str:
    first = text.split("\n", 1)[0]
    counts = {mark: first.count(mark) for mark in (",", ";", "\t")}
    best = max(counts, key=lambda mark: counts[mark])
    return best if counts[best] else ","


def _csv_lines(data: bytes, max_rows: int) -> list[tuple[int, list[Cell]]]:
    text = decode(data)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text), strict=False)
    lines: list[tuple[int, list[Cell]]] = []
    start = 1
    try:
        for cells in reader:
            line, start = start, reader.line_num + 1
            if len(cells) > MAX_COLUMNS:
                raise ReadError(
                    f"Line {line} has {len(cells)} columns; a table may have at most {MAX_COLUMNS}."
                )
            cleaned = [_bounded(clean_text(cell), line) for cell in cells]
            while cleaned and cleaned[-1] == "":
                cleaned.pop()
            if not cleaned:
                continue
            if len(lines) > max_rows:  # the heading row and max_rows rows are already in
                raise _too_many_rows(max_rows)
            lines.append((line, list(cleaned)))
    except csv.Error as exc:
        raise ReadError(
            f"Line {start} of the file is not well-formed CSV ({exc}). Check its quotation marks, "
            "or save the table again from Excel as CSV UTF-8."
        ) from exc
    return lines


def _bounded(text: str, line: int) -> str:
    if len(text) > MAX_CELL_CHARS:
        raise ReadError(
            f"Line {line} has a cell of {format_number(len(text))} characters; "
            f"a cell may hold at most {format_number(MAX_CELL_CHARS)}."
        )
    return text


# Excel


def _workbook_lines(data: bytes, max_rows: int) -> list[tuple[int, list[Cell]]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - any fault in a damaged or hostile workbook is the file's
        raise ReadError(
            "The workbook could not be opened: it may be damaged, protected with a password, or not an "
            "Excel workbook. Save it again as .xlsx or as CSV UTF-8, then import that."
        ) from exc
    try:
        if not workbook.worksheets:
            raise ReadError("The workbook has no sheets.")
        sheet = workbook.worksheets[0]
        # Trust the cells, not the size the file declares: a wrong size would pad every row.
        sheet.reset_dimensions()
        return list(_sheet_lines(sheet.iter_rows(values_only=True), max_rows))
    except ReadError:
        raise
    except Exception as exc:  # noqa: BLE001 - as above
        raise ReadError(
            "The workbook's first sheet could not be read: it may be damaged. "
            "Save it again as .xlsx or as CSV UTF-8, then import that."
        ) from exc
    finally:
        workbook.close()


def _sheet_lines(rows: Iterable[tuple[Any, ...]], max_rows: int) -> Iterator[tuple[int, list[Cell]]]:
    taken = 0
    for line, values in enumerate(rows, start=1):
        cells = [_excel_cell(value, line) for value in values]
        while cells and cells[-1] == "":
            cells.pop()
        if not cells:
            continue
        if len(cells) > MAX_COLUMNS:
            raise ReadError(f"Row {line} has cells beyond column {column_letter(MAX_COLUMNS - 1)}.")
        taken += 1
        if taken > max_rows + 1:
            raise _too_many_rows(max_rows)
        yield line, cells


def _excel_cell(value: Any, line: int) -> Cell:
    if value is None:
        return ""
    if isinstance(value, str):
        return _bounded(clean_text(value), line)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float | date | datetime | time):
        return value
    return _bounded(clean_text(str(value)), line)
