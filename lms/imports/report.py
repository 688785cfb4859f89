"""What an import says it did, or would do: counts, and every problem by line and column."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from lms.core.enums import TitledEnum
from lms.core.formatting import format_number, plural


class ImportKind(TitledEnum):
    ORGANISATIONS = ("organisations", "Organisations")
    PEOPLE = ("people", "People")
    PROGRAMME = ("programme", "Programme: courses and sessions")
    ATTENDANCE = ("attendance", "Past attendance")


@dataclass(frozen=True)
class Problem:
    """Why a row cannot be imported (or, as a note, something worth knowing about it)."""

    line: int | None
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = [f"line {self.line}"] if self.line is not None else []
        where += [f"column {self.column}"] if self.column else []
        return f"{', '.join(where)}: {self.reason}" if where else self.reason


class RowProblem(Exception):
    """Raised while reading a row: the row cannot be imported, for this reason."""

    def __init__(self, column: str | None, reason: str) -> None:
        super().__init__(reason)
        self.column = column
        self.reason = reason


# How each count is written, in the order reports list them.
COUNT_WORDS = {
    "created": ("created", "created"),
    "updated": ("updated", "updated"),
    "deactivated": ("closed (no longer in the list)", "closed (no longer in the list)"),
    "unchanged": ("unchanged", "unchanged"),
    "skipped": ("closed and not in the list: left out", "closed and not in the list: left out"),
    "invitations": ("invitation to set a password", "invitations to set a password"),
    "courses_created": ("course created", "courses created"),
    "courses_updated": ("course updated", "courses updated"),
    "sessions_created": ("session created", "sessions created"),
    "sessions_updated": ("session updated", "sessions updated"),
    "sessions": ("session with past attendance", "sessions with past attendance"),
}


@dataclass
class ImportReport:
    """The outcome of an import. A dry run, or a run with any problem, wrote nothing."""

    kind: ImportKind
    dry_run: bool
    rows: int = 0
    layout: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)

    def count(self, key: str, by: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + by

    def problem(self, line: int | None, column: str | None, reason: str) -> None:
        self.problems.append(Problem(line, column, reason))

    def note(self, line: int | None, column: str | None, reason: str) -> None:
        self.notes.append(Problem(line, column, reason))

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def written(self) -> bool:
        """True when the import changed the database (a real run without problems)."""
        return not self.dry_run and self.ok

    def count_lines(self) -> list[str]:
        """Each count in words: "3 created", "1 invitation to set a password"."""
        lines = []
        for key in sorted(self.counts, key=lambda k: list(COUNT_WORDS).index(k) if k in COUNT_WORDS else 99):
            number = self.counts[key]
            singular, plural_form = COUNT_WORDS.get(key, (key, key))
            if singular == plural_form:
                lines.append(f"{format_number(number)} {singular}")
            else:
                lines.append(plural(number, singular, plural_form))
        return lines

    def summary(self) -> str:
        """One sentence for the page or the command line."""
        rows = plural(self.rows, "row")
        counts = ", ".join(self.count_lines()) or "nothing to change"
        if self.problems:
            found = plural(len(self.problems), "problem")
            if self.dry_run:
                return f"Checked {rows}: {found} to put right before importing. Nothing was changed."
            return (
                f"{rows.capitalize()} read, {found} found: nothing was imported. "
                "Put them right and try again."
            )
        if self.dry_run:
            return f"Checked {rows}: ready to import ({counts}). Nothing has been changed yet."
        return f"Imported {rows}: {counts}."


Progress = Callable[[int], None]
