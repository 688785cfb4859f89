"""`flask lms import-...` commands: the same imports as the page, for whoever runs the system.

Each shows a progress bar, a summary and every problem (`line N, column C: reason`), and exits with
1 when there were problems (nothing is then imported) or 2 when the file cannot be read at all.
A command's import is committed in one place, `commit_import`, through the commands' unit of work.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import click
import sqlalchemy as sa

from lms.core.clock import now
from lms.core.db import refresh_statistics, unit_of_work, write_intent
from lms.core.errors import DomainError
from lms.extensions import db
from lms.imports.organisations import Layout
from lms.imports.readers import MAX_FILE_BYTES, Lines, ReadError, read_lines
from lms.imports.report import ImportKind, ImportReport
from lms.imports.services import ImportOptions, run_import
from lms.messages.models import OutboxMessage

FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
DRY_RUN = click.option(
    "--dry-run", is_flag=True, help="Check the file and say what would change; change nothing."
)


def register_import_commands(group: click.Group) -> None:
    @group.command("import-organisations")
    @click.argument("file", type=FILE)
    @click.option(
        "--layout",
        type=click.Choice([layout.value for layout in Layout]),
        help="The file's layout when it is not recognised: simple, gias (DfE schools), ods (GP practices).",
    )
    @DRY_RUN
    def import_organisations(file: Path, layout: str | None, dry_run: bool) -> None:
        """Add and update organisations from a CSV or Excel file."""
        options = ImportOptions(layout=Layout(layout) if layout else None)
        commit_import(ImportKind.ORGANISATIONS, file, options, dry_run=dry_run)

    @group.command("import-people")
    @click.argument("file", type=FILE)
    @click.option("--no-invitations", is_flag=True, help="Do not email new people an invitation now.")
    @DRY_RUN
    def import_people(file: Path, no_invitations: bool, dry_run: bool) -> None:
        """Add and update people; new people are emailed a link to choose a password."""
        commit_import(ImportKind.PEOPLE, file, ImportOptions(invitations=not no_invitations), dry_run=dry_run)

    @group.command("import-programme")
    @click.argument("file", type=FILE)
    @DRY_RUN
    def import_programme(file: Path, dry_run: bool) -> None:
        """Add and update courses and their sessions."""
        commit_import(ImportKind.PROGRAMME, file, ImportOptions(), dry_run=dry_run)

    @group.command("import-attendance")
    @click.argument("file", type=FILE)
    @DRY_RUN
    def import_attendance(file: Path, dry_run: bool) -> None:
        """Record who came to sessions that ran before this system (earlier years)."""
        commit_import(ImportKind.ATTENDANCE, file, ImportOptions(), dry_run=dry_run)


def commit_import(kind: ImportKind, path: Path, options: ImportOptions, *, dry_run: bool) -> None:
    """Read the file, run the import with a progress bar and commit it through the commands' one
    unit of work (a dry run, or a run with problems, has already undone itself), send the messages
    it wrote, and say what happened."""
    lines = _read(path)
    moment = now()
    try:
        with unit_of_work():
            first_new = (db.session.scalar(sa.select(sa.func.max(OutboxMessage.id))) or 0) + 1
            report = _run(kind, lines, options, dry_run=dry_run, moment=moment)
    except ReadError as error:
        raise _unreadable(error.message) from error
    except DomainError as error:
        raise click.ClickException(error.message) from error
    if report.written:
        refresh_statistics()
        _send_new_messages(first_new, moment)
    _show(report)
    if report.problems:
        raise SystemExit(1)


def _read(path: Path) -> Lines:
    if path.stat().st_size > MAX_FILE_BYTES:
        raise _unreadable(f"{path.name} is bigger than {MAX_FILE_BYTES // (1024 * 1024)} MB: split it.")
    try:
        return read_lines(path.read_bytes(), path.name)
    except DomainError as error:
        raise _unreadable(error.message) from error


def _unreadable(message: str) -> click.ClickException:
    error = click.ClickException(message)
    error.exit_code = 2
    return error


def _run(
    kind: ImportKind, lines: Lines, options: ImportOptions, *, dry_run: bool, moment: datetime
) -> ImportReport:
    label = f"{'Checking' if dry_run else 'Importing'} {kind.title.lower()}"
    with click.progressbar(length=max(len(lines.lines) - 1, 1), label=label, file=sys.stderr) as bar:
        return run_import(kind, lines, options, by=None, now=moment, dry_run=dry_run, progress=bar.update)


def _send_new_messages(first_id: int, moment: datetime) -> None:
    """Invitations go now, as they would after a page's import; the outbox sweep retries any that fail."""
    from lms.messages.delivery import deliver_after_commit

    messages = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.id >= first_id)).all()
    if messages:
        with write_intent():
            deliver_after_commit(messages, moment)


def _show(report: ImportReport) -> None:
    click.echo(report.summary())
    for line in report.count_lines():
        click.echo(f"  {line}")
    for problem in report.problems:
        click.echo(str(problem))
    for note in report.notes:
        click.echo(f"Note: {note}")
