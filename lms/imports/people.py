"""Importing people: matched on their email address. Someone new is added through the accounts
service, which emails them a link to choose a password (unless invitations are held back); someone
already registered has their details brought up to date and gains any role the file lists. A role
nobody listed is never taken away, and a blank cell leaves its field as it is."""

from __future__ import annotations

import re
from datetime import datetime

import sqlalchemy as sa

from lms.accounts.contacts import add_training_contact, named_organisation_ids
from lms.accounts.models import Agency, Role, User
from lms.accounts.services import (
    PersonDetails,
    create_person,
    find_user_by_email,
    suggest_organisations,
    update_person,
)
from lms.extensions import db
from lms.imports.fields import Cells
from lms.imports.readers import Lines, Row, Table
from lms.imports.report import ImportKind, ImportReport, Progress, RowProblem
from lms.imports.steps import (
    FirstSeen,
    all_or_nothing,
    attempt,
    changed_only,
    check_overflow,
    each_row,
    require_columns,
)

COLUMNS = [
    "first_name",
    "last_name",
    "email",
    "organisation",
    "job_role",
    "roles",
    "line_manager_name",
    "line_manager_email",
]
NEEDED = {"email": "email", "first_name": "first_name", "last_name": "last_name"}
ROLE_ALIASES = {
    "l&d": Role.LND_ADMIN,
    "lnd": Role.LND_ADMIN,
    "l&d team": Role.LND_ADMIN,
    "admin": Role.LND_ADMIN,
}
_ROLE_SEPARATORS = re.compile(r"[;,/|]")


def import_people(
    lines: Lines,
    *,
    by: User | None,
    now: datetime,
    dry_run: bool,
    invitations: bool = True,
    progress: Progress | None = None,
) -> ImportReport:
    """Add and update people from a file; new people are invited to set a password."""
    table = lines.with_headings()
    require_columns(table, NEEDED, "people (" + ", ".join(COLUMNS[:6]) + ")")
    report = ImportReport(ImportKind.PEOPLE, dry_run=dry_run, rows=len(table.rows))
    columns = {
        "email": table.label("email"),
        "agency": table.label("organisation"),
        "other_organisation": table.label("organisation"),
        "roles": table.label("roles"),
        "first_name": table.label("first_name"),
        "last_name": table.label("last_name"),
        "job_role": table.label("job_role"),
    }
    seen = FirstSeen()
    with all_or_nothing(report):
        for row in each_row(table.rows, progress):
            if check_overflow(report, row):
                attempt(
                    report,
                    row,
                    lambda row=row: _import_person(
                        table, row, seen, report, by=by, now=now, invitations=invitations
                    ),
                    columns,
                )
    return report


def _import_person(
    table: Table,
    row: Row,
    seen: FirstSeen,
    report: ImportReport,
    *,
    by: User | None,
    now: datetime,
    invitations: bool,
) -> None:
    cells = Cells(table, row)
    email = cells.email("email", required="Every person needs an email address.")
    seen.check(email, row.line, cells.label("email"), "This email address")
    person = find_user_by_email(email)
    roles = parse_roles(cells)
    details = _details(cells, person, email)
    if person is None:
        # Invitations held back (people to be told another way) are not written, so never sent; the
        # person can ask for a password reset link when they are ready.
        created, _ = create_person(details, roles or {Role.PRACTITIONER}, by=by, now=now, invite=invitations)
        _follow_own_organisation(created, roles, by=by, now=now)
        report.count("created")
        if invitations:
            report.count("invitations")
        return
    everything = person.roles | roles
    if _snapshot(person) == _wanted(details, everything):
        report.count("updated" if _follow_own_organisation(person, roles, by=by, now=now) else "unchanged")
        return
    if changed_only(
        lambda: _snapshot(person),
        lambda: update_person(person, details, everything, person.is_enabled, by=by, now=now),
    ):
        _follow_own_organisation(person, roles, by=by, now=now)
        report.count("updated")
    else:
        report.count("updated" if _follow_own_organisation(person, roles, by=by, now=now) else "unchanged")


def _follow_own_organisation(person: User, roles: set[Role], *, by: User | None, now: datetime) -> bool:
    """"Training contact" in the roles column makes the person a training contact for the
    organisation they work for (other organisations are added on the organisation's page)."""
    if Role.TRAINING_CONTACT not in roles or person.agency is None:
        return False
    if person.agency_id in named_organisation_ids(person):
        return False
    add_training_contact(person.agency, person, by=by, now=now)
    return True


def parse_roles(cells: Cells) -> set[Role]:
    """Roles as listed in a cell: "practitioner; trainer" (titles or values, any case)."""
    text = cells.text("roles", max_length=200)
    roles = set()
    for part in _ROLE_SEPARATORS.split(text):
        wanted = " ".join(part.split()).casefold()
        if not wanted:
            continue
        role = next((r for r in Role if wanted in (r.value, r.title.casefold())), ROLE_ALIASES.get(wanted))
        if role is None:
            known = ", ".join(r.title for r in Role)
            raise RowProblem(cells.label("roles"), f"“{part.strip()}” is not a role. Roles are: {known}.")
        roles.add(role)
    return roles


def _details(cells: Cells, person: User | None, email: str) -> PersonDetails:
    """The person's details: the file's where it gives them, what is known already elsewhere."""
    new = person is None

    def text(key: str, limit: int, required: str) -> str:
        value = cells.text(key, max_length=limit, required=required if new else None)
        return value or (getattr(person, key) if person is not None else "")

    agency_id, other = (person.agency_id, person.other_organisation) if person else (None, None)
    organisation = cells.text("organisation", max_length=250)
    if organisation:
        agency_id, other = find_organisation(cells, organisation, person).id, None
    elif new:
        raise RowProblem(cells.label("organisation"), "Enter the organisation the person works for.")
    manager_email = cells.email("line_manager_email") if cells.present("line_manager_email") else ""
    return PersonDetails(
        first_name=text("first_name", 100, "Enter the person's first name."),
        last_name=text("last_name", 100, "Enter the person's last name."),
        email=email,
        job_role=text("job_role", 150, "Enter the person's job role."),
        agency_id=agency_id,
        other_organisation=other,
        line_manager_name=cells.text("line_manager_name", max_length=200)
        or (person.line_manager_name if person else None),
        line_manager_email=manager_email or (person.line_manager_email if person else None),
    )


def find_organisation(cells: Cells, text: str, person: User | None) -> Agency:
    """The organisation a cell names: its official code, its name, its short name, or its name and
    postcode as the list shows it. A closed one only for someone already in it."""
    key = " ".join(text.split()).lower()
    code = "".join(text.split()).upper()
    name = key.rsplit(",", 1)[0].strip() if "," in key else key
    for condition in (
        Agency.official_code == code,
        sa.func.lower(Agency.name) == key,
        sa.func.lower(Agency.name) == name,
        sa.func.lower(Agency.short_name) == key,
    ):
        found = db.session.scalars(sa.select(Agency).where(condition).limit(2)).all()
        if len(found) == 1:
            agency = found[0]
            if not agency.is_active and (person is None or person.agency_id != agency.id):
                raise RowProblem(
                    cells.label("organisation"),
                    f"{agency.name} is closed (no longer in the organisation list).",
                )
            return agency
    names = [a.label for a in suggest_organisations(text, limit=3)]
    hint = f" Did you mean {' or '.join(f'“{n}”' for n in names)}?" if names else ""
    raise RowProblem(
        cells.label("organisation"),
        f"No organisation in the list is called or coded “{text}”.{hint} Import the organisations first.",
    )


def _wanted(details: PersonDetails, roles: set[Role]) -> tuple:
    """What _snapshot would read once `details` and `roles` are saved (to skip saving what is there)."""
    return (
        details.first_name,
        details.last_name,
        details.email,
        details.job_role,
        details.agency_id,
        details.other_organisation,
        details.line_manager_name,
        details.line_manager_email,
        tuple(sorted(role.value for role in roles)),
    )


def _snapshot(person: User) -> tuple:
    return (
        person.first_name,
        person.last_name,
        person.email,
        person.job_role,
        person.agency_id,
        person.other_organisation,
        person.line_manager_name,
        person.line_manager_email,
        tuple(sorted(role.value for role in person.roles)),
    )
