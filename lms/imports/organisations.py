"""Importing organisations, in three layouts: the project's own, the DfE's "Get Information about
Schools" establishment extract, and the NHS ODS list of GP practices (epraccur).

An organisation is matched on its official code (a school's URN, a practice's ODS code), else on its
name ignoring case, so importing the same file again updates rather than duplicates. Each layout
sets what it knows and leaves the rest (billing contact, purchase order) as L&D entered it. An
address from an official list becomes the billing address only when there is none yet.

Trusts (GIAS): a school in a trust that another school of the file is also in, or whose trust is
already an organisation, is paid for by that trust: the trust becomes an organisation (its code is
"TRUST-" and the GIAS group number) and the school's parent. A trust with a single school of the
file (usually a single-academy trust, the school itself) is left out, and the school pays for itself.
Closed establishments and practices already in the list are closed (inactive); those not in the list
are left out.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from lms.accounts.models import Agency, AgencyCategory, User
from lms.accounts.services import AgencyDetails, create_agency, normalise_postcode, update_agency
from lms.core.enums import TitledEnum
from lms.extensions import db
from lms.imports.fields import Cells
from lms.imports.readers import Lines, ReadError, Row, Table, cell_text
from lms.imports.report import ImportKind, ImportReport, Progress, RowProblem
from lms.imports.steps import (
    FirstSeen,
    all_or_nothing,
    attempt,
    changed_only,
    check_overflow,
    require_columns,
)


class Layout(TitledEnum):
    SIMPLE = ("simple", "This system's layout")
    GIAS = ("gias", "DfE Get Information about Schools (establishments)")
    ODS = ("ods", "NHS ODS GP practices (epraccur)")


SIMPLE_COLUMNS = [
    "name",
    "short_name",
    "category",
    "official_code",
    "postcode",
    "parent_code",
    "billing_contact",
    "billing_email",
    "billing_address",
    "purchase_order",
    "active",
]

# The columns of the ODS file, by position: the file as published has no heading row. A file with a
# heading row uses these names (any case, spaces or underscores).
ODS_COLUMNS = [
    "organisation_code",
    "name",
    "national_grouping",
    "high_level_health_geography",
    "address_line_1",
    "address_line_2",
    "address_line_3",
    "address_line_4",
    "address_line_5",
    "postcode",
    "open_date",
    "close_date",
    "status_code",
    "organisation_sub_type_code",
    "commissioner",
    "join_provider_purchaser_date",
    "left_provider_purchaser_date",
    "contact_telephone_number",
    "null_1",
    "null_2",
    "null_3",
    "amended_record_indicator",
    "null_4",
    "provider_purchaser",
    "null_5",
    "prescribing_setting",
    "null_6",
]
ODS_CODE = re.compile(r"^[A-Z][0-9]{5}$")
ODS_ACTIVE = {"a": True, "active": True, "p": True, "proposed": True}
ODS_CLOSED = {"c": False, "closed": False, "d": False, "dormant": False, "inactive": False}

GIAS_NEEDED = {"urn": "URN", "establishmentname": "EstablishmentName"}
GIAS_STATUS = "establishmentstatus_name"
GIAS_TYPE = "typeofestablishment_name"
GIAS_PHASE = "phaseofeducation_name"
GIAS_ADDRESS = ["street", "locality", "address3", "town", "county_name"]
TRUST_CODE_PREFIX = "TRUST-"
NAME_LENGTH = 200

# GIAS establishment types that are not a school's category by their phase.
GIAS_TYPES = {
    "local authority nursery school": AgencyCategory.EDUCATION_EARLY_YEARS,
    "children's centre": AgencyCategory.EDUCATION_EARLY_YEARS,
    "children's centre linked site": AgencyCategory.EDUCATION_EARLY_YEARS,
    "further education": AgencyCategory.EDUCATION_POST16,
    "sixth form centres": AgencyCategory.EDUCATION_POST16,
    "special post 16 institution": AgencyCategory.EDUCATION_POST16,
    "free schools 16 to 19": AgencyCategory.EDUCATION_POST16,
    "academy 16-19 converter": AgencyCategory.EDUCATION_POST16,
    "academy 16 to 19 sponsor led": AgencyCategory.EDUCATION_POST16,
    "higher education institutions": AgencyCategory.EDUCATION_POST16,
    "secure units": AgencyCategory.YOUTH_JUSTICE,
    "miscellaneous": AgencyCategory.OTHER,
}
GIAS_PHASES = {
    "nursery": AgencyCategory.EDUCATION_EARLY_YEARS,
    "16 plus": AgencyCategory.EDUCATION_POST16,
}


@dataclass
class OrganisationRow:
    """What one line of any layout says about an organisation."""

    line: int
    name: str
    category: AgencyCategory
    code: str | None
    active: bool
    # Fields the file sets (present columns); any other field is left as it is.
    fields: dict[str, str | None] = field(default_factory=dict)
    parent: str | None = None  # the parent's code or name, when the file says
    parent_given: bool = False
    address_if_none: str | None = None
    leave_out_if_new: bool = False
    # Added to the name when another organisation already has it (two schools called St Mary's).
    clash_suffix: str | None = None
    trust: tuple[str, str] | None = None  # (GIAS group number, trust name)
    is_trust: bool = False  # a trust named by the file's schools, not a row of its own


def import_organisations(
    lines: Lines,
    *,
    by: User | None,
    now: datetime,
    dry_run: bool,
    layout: Layout | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Add and update organisations from a file in any of the three layouts (detected, or as forced)."""
    layout, table = detect_layout(lines, layout)
    report = ImportReport(ImportKind.ORGANISATIONS, dry_run=dry_run, layout=layout.value)
    report.rows = len(table.rows)
    parse = {Layout.SIMPLE: _simple_row, Layout.GIAS: _gias_row, Layout.ODS: _ods_row}[layout]
    parsed: list[OrganisationRow] = []
    seen = FirstSeen()
    for row in table.rows:
        if not check_overflow(report, row):
            if progress is not None:
                progress(1)
            continue
        try:
            organisation = parse(Cells(table, row), row)
            key = organisation.code or organisation.name.casefold()
            what = "This code" if organisation.code else "This name"
            seen.check(key, row.line, _code_column(table, layout, organisation), what)
        except RowProblem as problem:
            report.problem(row.line, problem.column, problem.reason)
            if progress is not None:
                progress(1)
            continue
        parsed.append(organisation)
    with all_or_nothing(report):
        _apply_all(table, layout, parsed, report, by=by, now=now, progress=progress)
    return report


def _code_column(table: Table, layout: Layout, organisation: OrganisationRow) -> str:
    if not organisation.code:
        return table.label("name" if layout is not Layout.GIAS else "establishmentname")
    return table.label(
        {Layout.SIMPLE: "official_code", Layout.GIAS: "urn", Layout.ODS: "organisation_code"}[layout]
    )


def _apply_all(
    table: Table,
    layout: Layout,
    parsed: list[OrganisationRow],
    report: ImportReport,
    *,
    by: User | None,
    now: datetime,
    progress: Progress | None,
) -> None:
    columns = _error_columns(table, layout)
    if layout is Layout.GIAS:
        parsed = _with_trusts(table, parsed, report)
    # Parents first, so a parent further down the file is there when its children need it.
    wanted = {ref.casefold() for ref in (o.parent for o in parsed) if ref}
    parsed.sort(key=lambda o: 0 if (o.code or "").casefold() in wanted or o.name.casefold() in wanted else 1)
    for organisation in parsed:
        row = Row(organisation.line, {})
        attempt(
            report, row, lambda o=organisation: _apply(o, report, by=by, now=now, columns=columns), columns
        )
        if progress is not None and not organisation.is_trust:
            progress(1)


def _error_columns(table: Table, layout: Layout) -> dict[str, str]:
    if layout is Layout.GIAS:
        return {
            "name": table.label("establishmentname"),
            "official_code": table.label("urn"),
            "parent_id": table.label("trusts_name"),
        }
    if layout is Layout.ODS:
        return {"name": table.label("name"), "official_code": table.label("organisation_code")}
    return {key: table.label(key) for key in SIMPLE_COLUMNS} | {"parent_id": table.label("parent_code")}


# Detecting the layout -------------------------------------------------------------------------


def detect_layout(lines: Lines, forced: Layout | None = None) -> tuple[Layout, Table]:
    """Which layout the file is in (from its first row), and its table."""
    first = [cell_text(cell) for cell in lines.first]
    ods_data = len(first) >= 13 and bool(ODS_CODE.match(first[0].strip().upper()))
    if forced is Layout.ODS or (forced is None and ods_data):
        table = lines.without_headings(ODS_COLUMNS) if ods_data else lines.with_headings()
        require_columns(
            table,
            {"organisation_code": "organisation_code", "name": "name", "status_code": "status_code"},
            "an ODS file",
        )
        return Layout.ODS, table
    table = lines.with_headings()
    if forced is Layout.GIAS or (forced is None and table.has("urn", "establishmentname")):
        require_columns(table, GIAS_NEEDED, "a GIAS establishment extract")
        return Layout.GIAS, table
    if forced is None and table.has("organisation_code", "status_code"):
        require_columns(table, {"name": "name"}, "an ODS file")
        return Layout.ODS, table
    if forced is None and not table.has("name"):
        raise ReadError(
            "The file's layout is not one we know. The first row must hold the column headings: "
            f"{', '.join(SIMPLE_COLUMNS)} (this system's layout), or those of a GIAS establishment "
            "extract (URN, EstablishmentName, ...); an NHS ODS GP practice file (epraccur) may come "
            "without headings."
        )
    require_columns(table, {"name": "name", "category": "category"}, "organisations (name, category, ...)")
    return Layout.SIMPLE, table


# Reading each layout ----------------------------------------------------------------------------


def _code(text: str) -> str | None:
    return "".join(text.split()).upper() or None


def _postcode(cells: Cells, key: str) -> str | None:
    text = cells.text(key, max_length=20)
    compact = "".join(text.split()).upper()
    if compact and not (compact.isalnum() and compact.isascii() and 5 <= len(compact) <= 7):
        raise RowProblem(cells.label(key), f"“{text}” is not a UK postcode like B1 1BB.")
    return normalise_postcode(compact)


def _address(cells: Cells, keys: list[str], postcode: str | None) -> str | None:
    parts = [cells.text(key, max_length=200) for key in keys if cells.present(key)]
    parts = [part for part in parts if part]
    if postcode:
        parts.append(postcode)
    return "\n".join(parts) or None


def _simple_row(cells: Cells, row: Row) -> OrganisationRow:
    name = cells.text("name", max_length=200, required="Enter the organisation's name.")
    category = cells.choice("category", AgencyCategory, required="Enter the organisation's category.")
    code = _code(cells.text("official_code", max_length=20)) if cells.present("official_code") else None
    organisation = OrganisationRow(
        line=row.line, name=name, category=category, code=code, active=cells.flag("active", default=True)
    )
    texts = {"short_name": 40, "billing_contact": 200, "purchase_order": 100}
    for key, limit in texts.items():
        if cells.present(key):
            organisation.fields[key] = cells.text(key, max_length=limit) or None
    if cells.present("billing_email"):
        organisation.fields["billing_email"] = cells.email("billing_email") or None
    if cells.present("billing_address"):
        organisation.fields["billing_address"] = cells.lines("billing_address", max_length=1000) or None
    if cells.present("postcode"):
        organisation.fields["postcode"] = _postcode(cells, "postcode")
    if cells.present("parent_code"):
        organisation.parent_given = True
        organisation.parent = cells.text("parent_code", max_length=200) or None
    return organisation


def gias_category(kind: str, phase: str) -> AgencyCategory:
    """The sector of a GIAS establishment: nurseries are early years; 16 plus and further education
    are post-16; every other school (independent, special, pupil referral units too) is a school."""
    kind, phase = kind.strip().casefold(), phase.strip().casefold()
    if kind in GIAS_TYPES:
        return GIAS_TYPES[kind]
    return GIAS_PHASES.get(phase, AgencyCategory.EDUCATION_SCHOOL)


def _gias_row(cells: Cells, row: Row) -> OrganisationRow:
    urn = cells.text("urn", max_length=20, required="Every establishment needs its URN.")
    if not urn.isdigit() or not urn.isascii():
        raise RowProblem(cells.label("urn"), f"“{urn}” is not a URN (a number like 103456).")
    name = cells.text("establishmentname", max_length=200, required="The establishment has no name.")
    closed = cells.text(GIAS_STATUS, max_length=100).casefold() == "closed"
    postcode = _postcode(cells, "postcode") if cells.present("postcode") else None
    organisation = OrganisationRow(
        line=row.line,
        name=name,
        category=gias_category(cells.text(GIAS_TYPE, max_length=200), cells.text(GIAS_PHASE, max_length=200)),
        code=urn,
        active=not closed,
        address_if_none=_address(cells, GIAS_ADDRESS, postcode),
        leave_out_if_new=closed,
        clash_suffix=f" (URN {urn})",
    )
    if cells.present("postcode"):
        organisation.fields["postcode"] = postcode
    trust_code = cells.text("trusts_code", max_length=12)
    trust_name = cells.text("trusts_name", max_length=200)
    if trust_code and trust_name:
        if not trust_code.isdigit() or not trust_code.isascii():
            raise RowProblem(cells.label("trusts_code"), f"“{trust_code}” is not a GIAS trust number.")
        organisation.trust = (trust_code, trust_name)
    return organisation


def _ods_row(cells: Cells, row: Row) -> OrganisationRow:
    code = _code(
        cells.text("organisation_code", max_length=20, required="Every practice needs its ODS code.")
    )
    if code is None or not code.isalnum() or not code.isascii():
        raise RowProblem(cells.label("organisation_code"), f"“{code}” is not an ODS code (like M85001).")
    name = cells.text("name", max_length=200, required="The practice has no name.")
    status = cells.text("status_code", max_length=20).casefold()
    if status and status not in ODS_ACTIVE and status not in ODS_CLOSED:
        raise RowProblem(
            cells.label("status_code"),
            f"“{status.upper()}” is not a status code (A active, C closed, D dormant, P proposed).",
        )
    active = ODS_ACTIVE.get(status, ODS_CLOSED.get(status, True))
    postcode = _postcode(cells, "postcode") if cells.present("postcode") else None
    organisation = OrganisationRow(
        line=row.line,
        name=name,
        category=AgencyCategory.HEALTH_PRIMARY,
        code=code,
        active=active,
        address_if_none=_address(cells, [f"address_line_{n}" for n in range(1, 6)], postcode),
        leave_out_if_new=not active,
        clash_suffix=f" ({code})",
    )
    if cells.present("postcode"):
        organisation.fields["postcode"] = postcode
    return organisation


# Trusts ---------------------------------------------------------------------------------------


def _with_trusts(table: Table, parsed: list[OrganisationRow], report: ImportReport) -> list[OrganisationRow]:
    """The trusts that pay for their schools, as rows of their own (first), their schools pointing at them."""
    schools: dict[str, list[OrganisationRow]] = defaultdict(list)
    for organisation in parsed:
        if organisation.trust:
            schools[organisation.trust[0]].append(organisation)
    trusts = []
    for number, members in schools.items():
        name = members[0].trust[1]
        code = f"{TRUST_CODE_PREFIX}{number}"
        counted = [m for m in members if not m.leave_out_if_new or _existing(m) is not None]
        known = _by_code(code) or _by_name(name)
        if known is None and len(counted) < 2:
            continue
        trusts.append(
            OrganisationRow(
                line=members[0].line,
                name=name,
                category=known.category if known else AgencyCategory.EDUCATION_SCHOOL,
                code=code,
                active=known.is_active if known else True,
                is_trust=True,
            )
        )
        for member in members:
            member.parent, member.parent_given = code, True
        if known is None:
            report.note(
                members[0].line,
                table.label("trusts_name"),
                f"{name} is added, as the trust that pays for its {len(counted)} schools in this file.",
            )
    return trusts + parsed


# Applying a row -------------------------------------------------------------------------------


def _by_code(code: str | None) -> Agency | None:
    if not code:
        return None
    return db.session.scalar(sa.select(Agency).where(Agency.official_code == code))


def _by_name(name: str) -> Agency | None:
    return db.session.scalar(sa.select(Agency).where(sa.func.lower(Agency.name) == name.lower()))


def _existing(organisation: OrganisationRow) -> Agency | None:
    found = _by_code(organisation.code)
    if found is not None or organisation.leave_out_if_new:
        # A closed establishment is only ever matched on its code: another may carry its name now.
        return found
    named = _by_name(organisation.name)
    if named is not None and named.official_code in (None, organisation.code):
        return named
    if organisation.clash_suffix:
        named = _by_name(_with_suffix(organisation))
        if named is not None and named.official_code in (None, organisation.code):
            return named
    return None


def _with_suffix(organisation: OrganisationRow) -> str:
    suffix = organisation.clash_suffix or ""
    return organisation.name[: NAME_LENGTH - len(suffix)].rstrip() + suffix


def _name_for(organisation: OrganisationRow, existing: Agency | None, columns: dict[str, str]) -> str:
    """The name to give it: its own, or with its code added when another organisation has the name."""
    holder = _by_name(organisation.name)
    if holder is None or (existing is not None and holder.id == existing.id):
        return organisation.name
    if organisation.clash_suffix:
        return _with_suffix(organisation)
    code = f" (code {holder.official_code})" if holder.official_code else ""
    raise RowProblem(
        columns.get("name"),
        f"Another organisation is already called “{holder.name}”{code}. Give this one its official "
        "code, or a name of its own.",
    )


def _parent_id(organisation: OrganisationRow, existing: Agency | None, columns: dict[str, str]) -> int | None:
    if not organisation.parent_given:
        return existing.parent_id if existing else None
    if not organisation.parent:
        return None
    parent = _by_code(_code(organisation.parent)) or _by_name(organisation.parent)
    if parent is None:
        raise RowProblem(
            columns.get("parent_id"),
            f"No organisation has the code or name “{organisation.parent}”. "
            "Add it first, or add a row for it.",
        )
    return parent.id


def _details(
    organisation: OrganisationRow, existing: Agency | None, name: str, parent_id: int | None
) -> AgencyDetails:
    def kept(key: str) -> str | None:
        if key in organisation.fields:
            return organisation.fields[key]
        return getattr(existing, key) if existing is not None else None

    address = kept("billing_address") or organisation.address_if_none
    return AgencyDetails(
        name=name,
        short_name=kept("short_name"),
        category=organisation.category,
        billing_contact=kept("billing_contact"),
        billing_email=kept("billing_email"),
        billing_address=address,
        purchase_order=kept("purchase_order"),
        is_active=organisation.active,
        official_code=organisation.code or (existing.official_code if existing else None),
        postcode=kept("postcode"),
        parent_id=parent_id,
    )


def _snapshot(agency: Agency) -> tuple:
    return tuple(
        getattr(agency, key)
        for key in (
            "name",
            "short_name",
            "category",
            "official_code",
            "postcode",
            "parent_id",
            "billing_contact",
            "billing_email",
            "billing_address",
            "purchase_order",
            "is_active",
        )
    )


def _wanted(details: AgencyDetails) -> tuple:
    """What _snapshot would read once `details` are saved: what is already there is not saved again."""
    return (
        details.name,
        details.short_name,
        details.category,
        details.official_code,
        details.postcode,
        details.parent_id,
        details.billing_contact,
        details.billing_email,
        details.billing_address,
        details.purchase_order,
        details.is_active,
    )


def _apply(
    organisation: OrganisationRow,
    report: ImportReport,
    *,
    by: User | None,
    now: datetime,
    columns: dict[str, str],
) -> None:
    existing = _existing(organisation)
    if existing is None and organisation.leave_out_if_new:
        report.count("skipped")
        return
    name = _name_for(organisation, existing, columns)
    details = _details(organisation, existing, name, _parent_id(organisation, existing, columns))
    if existing is None:
        create_agency(details, by=by, now=now)
        report.count("created")
        return
    was_active = existing.is_active
    if _snapshot(existing) == _wanted(details):
        report.count("unchanged")
        return
    if not changed_only(
        lambda: _snapshot(existing), lambda: update_agency(existing, details, by=by, now=now)
    ):
        report.count("unchanged")
    elif was_active and not existing.is_active:
        report.count("deactivated")
    else:
        report.count("updated")
