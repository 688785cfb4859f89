"""Email domains mapped onto organisations, and the domains whose people must sign in through their
organisation's own account (single sign-on) rather than with a password.

An address belongs to the mapping of its own domain, or else of the nearest parent domain that is
mapped: with `westmidlands.police.uk` mapped, `ops.westmidlands.police.uk` belongs to it too, unless
that subdomain is mapped on its own. So a mapping covers an organisation's subdomains without L&D
listing each, and a subdomain belonging to someone else can still be mapped to them.
"""

from __future__ import annotations

import re
from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.accounts.models import Agency, Role, User
from lms.core.audit import log_action
from lms.core.db import UTCDateTime
from lms.core.errors import DomainError
from lms.core.permissions import require_role
from lms.extensions import db

# A host name as DNS allows it (RFC 1035, letters, digits and inner hyphens; punycode for others),
# with at least two labels: "school.sch.uk", never "uk" alone.
LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
DOMAIN_PATTERN = re.compile(rf"^{LABEL}(\.{LABEL})+$")
MAX_DOMAIN_LENGTH = 253


class EmailDomainError(DomainError):
    pass


class EmailDomain(db.Model):
    """Addresses at this domain (and its subdomains not mapped on their own) work for this agency."""

    __tablename__ = "email_domain"

    id: Mapped[int] = mapped_column(primary_key=True)
    domain: Mapped[str] = mapped_column(sa.String(MAX_DOMAIN_LENGTH), unique=True)
    agency_id: Mapped[int] = mapped_column(sa.ForeignKey("agency.id", ondelete="CASCADE"), index=True)
    # Password sign-in and password registration are refused for these addresses.
    requires_sso: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    added_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)

    agency: Mapped[Agency] = relationship()

    __table_args__ = (sa.CheckConstraint("domain = lower(domain)", name="lower_case"),)


def domain_of(email: str) -> str:
    """The domain of an address, lower case: "" when there is none."""
    _, at, domain = User.normalise_email(email).rpartition("@")
    return domain.rstrip(".") if at else ""


def normalise_domain(text: str) -> str:
    """A domain as L&D type it ("@School.sch.uk", "https://school.sch.uk/"), checked and lower case."""
    domain = (text or "").strip().lower()
    domain = re.sub(r"^[a-z]+://", "", domain).split("/", 1)[0].lstrip("@").rstrip(".")
    if len(domain) > MAX_DOMAIN_LENGTH or not DOMAIN_PATTERN.match(domain):
        raise EmailDomainError(
            "Enter a domain like westmidlands.police.uk: the part of the email addresses after the @.",
            field="domain",
        )
    return domain


def candidate_domains(domain: str) -> list[str]:
    """The domain and its parents, nearest first, down to two labels: a.b.nhs.uk, b.nhs.uk, nhs.uk."""
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - 1)]


def mapping_for_email(email: str) -> EmailDomain | None:
    """The mapping an address falls under: its own domain's, else its nearest mapped parent's."""
    domain = domain_of(email)
    if not domain:
        return None
    candidates = candidate_domains(domain)
    rows = {
        row.domain: row
        for row in db.session.scalars(sa.select(EmailDomain).where(EmailDomain.domain.in_(candidates)))
    }
    return next((rows[c] for c in candidates if c in rows), None)


def agency_for_email(email: str) -> Agency | None:
    """The active organisation an address's domain is mapped onto, if any."""
    mapping = mapping_for_email(email)
    if mapping is None or not mapping.agency.is_active:
        return None
    return mapping.agency


def sso_required_for(email: str) -> bool:
    """Whether the address must sign in through single sign-on. Only while a provider is set up: a
    partnership that removes its providers must not lock its people out."""
    if not current_app.config.get("OIDC_PROVIDERS"):
        return False
    mapping = mapping_for_email(email)
    return mapping is not None and mapping.requires_sso


def password_refused_message(email: str) -> str | None:
    """Why a password cannot be used for this address, or None when it can."""
    if not sso_required_for(email):
        return None
    return (
        f"People with an @{domain_of(email)} address sign in with their organisation's account: use "
        "the “Sign in with …” button on the sign-in page instead of a password."
    )


# L&D manage the mappings -------------------------------------------------------------------------


def email_domains() -> list[EmailDomain]:
    return list(db.session.scalars(sa.select(EmailDomain).order_by(EmailDomain.domain)))


def add_email_domain(
    domain: str, agency: Agency, *, requires_sso: bool, by: User, now: datetime
) -> tuple[EmailDomain, int]:
    """Map a domain onto an organisation; people of that domain still under a typed "not listed" name
    move to it. Returns the mapping and how many people moved."""
    require_role(by, Role.LND_ADMIN, message="Only the L&D team can map email domains.")
    domain = normalise_domain(domain)
    if not agency.is_active:
        raise EmailDomainError("Choose an organisation that is in use.", field="agency")
    if requires_sso and not current_app.config.get("OIDC_PROVIDERS"):
        raise EmailDomainError(
            "No single sign-on provider is set up, so no one could sign in: set one up first "
            "(see the operations guide).",
            field="requires_sso",
        )
    if db.session.scalar(sa.select(EmailDomain.id).where(EmailDomain.domain == domain)) is not None:
        raise EmailDomainError(
            f"{domain} is already mapped: remove it first to map it again.", field="domain"
        )
    mapping = EmailDomain(
        domain=domain, agency_id=agency.id, requires_sso=requires_sso, added_by_id=by.id, added_at=now
    )
    db.session.add(mapping)
    db.session.flush()
    moved = _move_unlisted_people(mapping)
    log_action(
        "lms.agency.email_domain_added",
        subject=agency,
        actor=by,
        now=now,
        domain=domain,
        requires_sso=requires_sso,
        people=moved,
    )
    return mapping, moved


def _move_unlisted_people(mapping: EmailDomain) -> int:
    """People who typed a "not listed" name, and whose address now falls under a mapping, belong to
    its organisation: the queue of names for L&D to settle shrinks by them. Bookings keep the name
    they were made under (L&D settle those names as before)."""
    domain = mapping.domain
    people = db.session.scalars(
        sa.select(User).where(
            User.agency_id.is_(None),
            User.other_organisation.is_not(None),
            sa.or_(User.email.like(f"%@{domain}"), User.email.like(f"%.{domain}")),
        )
    ).all()
    moved = 0
    for person in people:
        if mapping_for_email(person.email) is mapping:
            person.agency_id = mapping.agency_id
            person.other_organisation = None
            moved += 1
    db.session.flush()
    return moved


def remove_email_domain(mapping: EmailDomain, *, by: User, now: datetime) -> None:
    """Stop mapping a domain; the people already in the organisation stay there."""
    require_role(by, Role.LND_ADMIN, message="Only the L&D team can map email domains.")
    log_action(
        "lms.agency.email_domain_removed",
        subject=mapping.agency,
        actor=by,
        now=now,
        domain=mapping.domain,
        requires_sso=mapping.requires_sso,
    )
    db.session.delete(mapping)
    db.session.flush()
