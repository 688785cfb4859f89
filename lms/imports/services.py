"""Loading a partnership's real data: organisations, people, the programme and past attendance.

Each import takes the file's lines, the acting L&D admin (None when run as a command), the time and
whether it is a dry run, and returns a report. A dry run changes nothing; a real run is all or
nothing; importing the same file again updates what is there instead of adding it twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lms.accounts.models import Role, User
from lms.core.permissions import require_role
from lms.imports.attendance import import_attendance
from lms.imports.organisations import Layout, import_organisations
from lms.imports.people import import_people
from lms.imports.programme import import_programme
from lms.imports.readers import Lines
from lms.imports.report import ImportKind, ImportReport, Progress


@dataclass
class ImportOptions:
    """What the person importing chose: the layout of an organisations file (None: detect it), and
    whether new people are sent their invitation to set a password."""

    layout: Layout | None = None
    invitations: bool = True


def run_import(
    kind: ImportKind,
    lines: Lines,
    options: ImportOptions,
    *,
    by: User | None,
    now: datetime,
    dry_run: bool,
    progress: Progress | None = None,
) -> ImportReport:
    """Run one import of the given kind; a dry run, or a run that finds any problem, writes nothing."""
    require_role(by, Role.LND_ADMIN, message="Only the L&D team can import data.")
    common = {"by": by, "now": now, "dry_run": dry_run, "progress": progress}
    if kind is ImportKind.ORGANISATIONS:
        return import_organisations(lines, layout=options.layout, **common)
    if kind is ImportKind.PEOPLE:
        return import_people(lines, invitations=options.invitations, **common)
    if kind is ImportKind.PROGRAMME:
        return import_programme(lines, **common)
    return import_attendance(lines, **common)
