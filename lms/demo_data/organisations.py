"""The demo's organisations (organisations.csv) as the demo needs them: category, official code,
postcode, the parent that pays, billing details, and the staff they employ.

A large partner takes its staff and billing from its profile in agencies.py. A small organisation
takes its jobs and line management from the profile of its sector there ("Primary school"), and
shares that sector's weight with the others of its kind, so the city's schools together employ as
much of the workforce as the one "Primary school" row did. Its billing details follow its kind; a
school whose trust pays has none of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from lms.accounts.models import AgencyCategory
from lms.demo_data.agencies import AGENCY_PROFILES, AgencyProfile


@dataclass(frozen=True)
class Kind:
    """What organisations of one kind have in common."""

    profile: AgencyProfile  # jobs, weight of the whole sector, line management
    billing_contact: str  # who receives invoices, by job
    mailbox: str  # local part of the billing email address
    purchase_order: str | None = None  # with {code}: a reference the organisation asked for


TRUST_PROFILE = AgencyProfile(
    weight=2,
    domains=(),
    job_roles=(
        "Trust safeguarding lead",
        "Director of education",
        "Attendance and welfare officer",
        "Trust SEND lead",
    ),
    billing_contact="",
    billing_email="",
    billing_address="",
)


def sector(name: str) -> AgencyProfile:
    return AGENCY_PROFILES[name]


KINDS: dict[str, Kind] = {
    "trust": Kind(TRUST_PROFILE, "Trust finance team", "accounts", purchase_order="PO {code}/SAF"),
    "primary": Kind(sector("Primary school"), "School business manager", "finance"),
    "secondary": Kind(sector("Secondary school"), "School business manager", "finance"),
    "special": Kind(sector("Special school or alternative provision"), "School business manager", "finance"),
    "independent": Kind(sector("Independent school"), "The Bursar", "bursar"),
    "college": Kind(sector("Further education college"), "Finance office", "accounts.payable"),
    "gp": Kind(sector("GP practice"), "Practice manager", "practice.manager"),
    "nursery": Kind(sector("Early years setting (nursery or pre-school)"), "Nursery manager", "manager"),
    "childminder": Kind(sector("Childminder"), "", ""),  # the childminder, at home
    "voluntary": Kind(sector("Voluntary or community organisation"), "Finance officer", "finance"),
    "faith": Kind(sector("Faith organisation or place of worship"), "Treasurer", "treasurer"),
    "housing": Kind(sector("Housing provider"), "Accounts payable", "accounts.payable"),
    "private": Kind(sector("Private or independent provider"), "Accounts", "accounts"),
    "out_of_area": Kind(
        sector("Out of area organisation"),
        "Accounts payable, workforce development",
        "accounts.payable",
        purchase_order="Cost code SAF-TRN-{code}",
    ),
}


@dataclass(frozen=True)
class Organisation:
    name: str
    short_name: str | None
    category: AgencyCategory
    kind: str  # "partner" or a key of KINDS
    official_code: str | None
    postcode: str | None
    parent: str | None  # the name of the organisation that pays
    weight: float  # share of the children's workforce, not a count
    domains: tuple[str, ...]  # staff email domains, without ".example"
    job_roles: tuple[str, ...]
    line_managed: bool
    billing_contact: str | None = None
    billing_email: str | None = None
    billing_address: str | None = None
    purchase_order: str | None = None


def partner(row: dict[str, str]) -> Organisation:
    profile = AGENCY_PROFILES[row["name"]]
    return Organisation(
        name=row["name"],
        short_name=row["short_name"] or None,
        category=AgencyCategory.from_title(row["category"]),
        kind="partner",
        official_code=row["official_code"] or None,
        postcode=row["postcode"] or None,
        parent=None,
        weight=profile.weight,
        domains=profile.domains,
        job_roles=profile.job_roles,
        line_managed=profile.line_managed,
        billing_contact=profile.billing_contact,
        billing_email=profile.billing_email,
        billing_address=profile.billing_address,
        purchase_order=profile.purchase_order,
    )


def small_organisation(row: dict[str, str], weight: float) -> Organisation:
    kind = KINDS[row["kind"]]
    domain, code = row["domain"], row["official_code"]
    organisation = Organisation(
        name=row["name"],
        short_name=row["short_name"] or None,
        category=AgencyCategory.from_title(row["category"]),
        kind=row["kind"],
        official_code=code or None,
        postcode=row["postcode"],
        parent=row["parent"] or None,
        weight=weight,
        domains=(domain,),
        job_roles=kind.profile.job_roles,
        line_managed=kind.profile.line_managed,
    )
    if organisation.parent is not None:
        return organisation  # its trust is invoiced for it
    if row["contact"]:  # a childminder: invoiced at home, by name
        first, _, last = row["contact"].partition(" ")
        contact, email = row["contact"], f"{first}.{last}".lower()
        address = f"{row['contact']}, {row['address']} {row['postcode']}"
    else:
        contact, email = kind.billing_contact, kind.mailbox
        address = f"{row['name']}, {row['address']} {row['postcode']}"
    reference = None
    if kind.purchase_order:
        reference = kind.purchase_order.format(code=code or row["postcode"].replace(" ", ""))
    return replace(
        organisation,
        billing_contact=contact,
        billing_email=f"{email}@{domain}.example",
        billing_address=address,
        purchase_order=reference,
    )


def demo_organisations(rows: list[dict[str, str]]) -> list[Organisation]:
    """Every organisation of organisations.csv, parents before the schools they pay for."""
    of_kind: dict[str, int] = {}
    for row in rows:
        of_kind[row["kind"]] = of_kind.get(row["kind"], 0) + 1
    organisations = []
    for row in rows:
        if row["kind"] == "partner":
            organisations.append(partner(row))
        else:
            kind = KINDS[row["kind"]]
            share = (
                kind.profile.weight if row["kind"] == "trust" else kind.profile.weight / of_kind[row["kind"]]
            )
            organisations.append(small_organisation(row, share))
    return sorted(organisations, key=lambda organisation: organisation.parent is not None)
