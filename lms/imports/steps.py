"""How every import runs: all or nothing, a row at a time, and only what changed.

The whole import happens inside one savepoint: a dry run, or a run that met any problem, rolls it
back, so it writes nothing; a real run without problems keeps it, and the caller (the request
boundary, or the command) commits. Each row runs in a savepoint of its own, so a row the services
refuse is undone by itself and the rest are still checked: a dry run lists every problem at once.
A row whose values are already there is undone too, so it writes no audit entry and sends nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy.exc import IntegrityError

from lms.core.errors import DomainError
from lms.extensions import db
from lms.imports.readers import ReadError, Row, Table
from lms.imports.report import ImportReport, Progress, RowProblem

T = TypeVar("T")


@contextmanager
def all_or_nothing(report: ImportReport) -> Iterator[None]:
    """Keep what the import did only when it is a real run and no row had a problem."""
    savepoint = db.session.begin_nested()
    try:
        yield
    except BaseException:
        if savepoint.is_active:
            savepoint.rollback()
        raise
    report.problems.sort(key=lambda p: p.line or 0)
    report.notes.sort(key=lambda p: p.line or 0)
    if report.written:
        savepoint.commit()
    else:
        savepoint.rollback()


def attempt(report: ImportReport, row: Row, action: Callable[[], T], columns: dict[str, str]) -> T | None:
    """Run one row's work in a savepoint. A problem is written into the report against the row's line
    (in the column the service's error names, through `columns`), and the row's work is undone."""
    try:
        with db.session.begin_nested():
            return action()
    except RowProblem as problem:
        report.problem(row.line, problem.column, problem.reason)
    except DomainError as error:
        report.problem(row.line, columns.get(error.field or ""), error.message)
    except IntegrityError:
        report.problem(row.line, None, "This row clashes with another record (the same name or code twice?).")
    return None


def changed_only(snapshot: Callable[[], Hashable], action: Callable[[], object]) -> bool:
    """Run `action` (an update service) and keep it only if it changed what `snapshot` sees."""
    before = snapshot()
    savepoint = db.session.begin_nested()
    try:
        action()
        db.session.flush()
        changed = snapshot() != before
    except BaseException:
        if savepoint.is_active:
            savepoint.rollback()
        raise
    if changed:
        savepoint.commit()
    else:
        savepoint.rollback()
    return changed


def each_row(rows: list[Row], progress: Progress | None) -> Iterator[Row]:
    for row in rows:
        yield row
        if progress is not None:
            progress(1)


def require_columns(table: Table, needed: dict[str, str], what: str) -> None:
    """Refuse a file without the columns an import cannot do without, naming them, or without rows."""
    missing = [label for key, label in needed.items() if not table.has(key)]
    if missing:
        found = ", ".join(table.labels.values())
        raise ReadError(
            f"The file is missing the column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)}. The first row must hold the column headings of {what}; "
            f"this file's first row has: {found[:300]}."
        )
    if not table.rows:
        raise ReadError("The file has column headings but no rows under them.")


def check_overflow(report: ImportReport, row: Row) -> bool:
    """A row with more cells than headings usually has a stray comma: say so rather than guess."""
    if row.overflow:
        report.problem(
            row.line,
            None,
            f"This row has more cells than there are headings (an extra “{row.overflow[0][:40]}”): "
            "check for a comma inside a value that should be in quotation marks.",
        )
        return False
    return True


class FirstSeen:
    """Keys already met in the file, to refuse the same record twice."""

    def __init__(self) -> None:
        self.lines: dict[Hashable, int] = {}

    def check(self, key: Hashable, line: int, column: str, what: str) -> None:
        first = self.lines.setdefault(key, line)
        if first != line:
            raise RowProblem(column, f"{what} is already on line {first} of this file.")
