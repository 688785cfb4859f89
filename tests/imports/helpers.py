"""Reading the sample files, and running imports the way the page and the command do."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from lms.accounts.models import Agency, Role, User
from lms.extensions import db
from lms.imports.readers import Lines, read_lines
from lms.imports.report import ImportKind, ImportReport
from lms.imports.services import ImportOptions, run_import
from tests.factories import NOW, create_user

DATA = Path(__file__).resolve().parent.parent / "data" / "imports"


def sample(name: str) -> bytes:
    return (DATA / name).read_bytes()


def lines_of(name: str) -> Lines:
    return read_lines(sample(name), name)


def lines_from_text(text: str, name: str = "file.csv") -> Lines:
    return read_lines(text.encode("utf-8"), name)


def admin() -> User:
    return create_user(roles=(Role.LND_ADMIN,))


def run(
    kind: ImportKind, name: str | Lines, *, by=None, dry_run: bool = False, now=NOW, **options
) -> ImportReport:
    lines = lines_of(name) if isinstance(name, str) else name
    return run_import(kind, lines, ImportOptions(**options), by=by, now=now, dry_run=dry_run)


def organisation(name: str) -> Agency | None:
    return db.session.scalar(sa.select(Agency).where(Agency.name == name))


def organisation_coded(code: str) -> Agency | None:
    return db.session.scalar(sa.select(Agency).where(Agency.official_code == code))


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def problems(report: ImportReport) -> list[tuple[int | None, str | None]]:
    return [(p.line, p.column) for p in report.problems]


def load_partnership(by: User) -> None:
    """Organisations, people and the programme from the sample files, as at go-live."""
    for kind, name in (
        (ImportKind.ORGANISATIONS, "organisations.csv"),
        (ImportKind.PEOPLE, "people.csv"),
        (ImportKind.PROGRAMME, "programme.csv"),
    ):
        report = run(kind, name, by=by)
        assert report.written, report.problems
