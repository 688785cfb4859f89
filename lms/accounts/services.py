"""Accounts and agencies: registration, sign-in, password reset, people, roles and agencies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from lms.accounts import throttle
from lms.accounts.models import (
    Agency,
    AgencyCategory,
    OrganisationMapping,
    Role,
    User,
    UserRole,
    organisation_key,
)
from lms.accounts.passwords import hash_password, needs_rehash, password_problem, verify_password
from lms.core.audit import log_action
from lms.core.errors import DomainError
from lms.core.formatting import plural
from lms.core.permissions import require_role
from lms.extensions import db
from lms.messages.models import OutboxMessage
from lms.messages.services import queue_message


class AccountError(DomainError):
    pass


@dataclass
class PersonDetails:
    first_name: str
    last_name: str
    email: str
    job_role: str
    agency_id: int | None
    other_organisation: str | None = None
    line_manager_name: str | None = None
    line_manager_email: str | None = None


@dataclass
class AgencyDetails:
    name: str
    short_name: str | None
    category: AgencyCategory
    billing_contact: str | None = None
    billing_email: str | None = None
    billing_address: str | None = None
    purchase_order: str | None = None
    is_active: bool = True


# People ---------------------------------------------------------------------------------------


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.email == User.normalise_email(email)))


def registered_person(email: str, message: str = "No one is registered with that email address.") -> User:
    """The person registered with this email address; an error beside the email field otherwise."""
    person = find_user_by_email(email)
    if person is None:
        raise AccountError(message, field="email")
    return person


def _apply_details(user: User, details: PersonDetails) -> None:
    email = User.normalise_email(details.email)
    clash = db.session.scalar(sa.select(User.id).where(User.email == email, User.id != user.id))
    if clash is not None:
        raise AccountError("An account with this email address already exists.", field="email")
    other = " ".join((details.other_organisation or "").split()) or None
    agency_id = details.agency_id
    if agency_id is None:
        if not other:
            raise AccountError(
                "Choose your agency, or choose Other and type your organisation's name.",
                field="agency",
            )
        mapping = db.session.scalar(
            sa.select(OrganisationMapping).where(OrganisationMapping.name_key == organisation_key(other))
        )
        if mapping is not None:
            agency_id, other = mapping.agency_id, None
    else:
        agency = db.session.get(Agency, agency_id)
        if agency is None or (not agency.is_active and agency_id != user.agency_id):
            raise AccountError("Choose an agency from the list.", field="agency")
        other = None
    user.first_name = details.first_name.strip()
    user.last_name = details.last_name.strip()
    user.email = email
    user.job_role = details.job_role.strip()
    user.agency = db.session.get(Agency, agency_id) if agency_id is not None else None
    user.other_organisation = other
    user.line_manager_name = (details.line_manager_name or "").strip() or None
    user.line_manager_email = User.normalise_email(details.line_manager_email or "") or None


def register_practitioner(details: PersonDetails, password: str, *, now: datetime) -> User:
    """Create a practitioner's account from the registration form."""
    problem = password_problem(password, email=details.email)
    if problem:
        raise AccountError(problem, field="password")
    user = User(session_token=User.new_session_token(), created_at=now, is_enabled=True)
    _apply_details(user, details)
    user.password_hash = hash_password(password)
    user.role_rows = [UserRole(role=Role.PRACTITIONER)]
    db.session.add(user)
    db.session.flush()
    log_action("lms.user.registered", subject=user, actor=user, now=now)
    return user


def create_person(
    details: PersonDetails, roles: set[Role], *, by: User, now: datetime
) -> tuple[User, OutboxMessage]:
    """L&D adds someone (a trainer, say); they are emailed a link to choose a password."""
    require_role(by, Role.LND_ADMIN, message="Only the L&D team can manage people and agencies.")
    if not roles:
        raise AccountError("Give the person at least one role.", field="roles")
    user = User(session_token=User.new_session_token(), created_at=now, is_enabled=True)
    _apply_details(user, details)
    user.role_rows = [UserRole(role=role) for role in sorted(roles, key=lambda r: r.value)]
    db.session.add(user)
    db.session.flush()
    log_action("lms.user.created", subject=user, actor=by, now=now, roles=sorted(r.value for r in roles))
    message = queue_message(
        "account.invitation",
        to=user.email,
        user=user,
        subject="Your safeguarding training account",
        template="account_invitation.txt",
        now=now,
        token=make_reset_token(user, purpose="invitation"),
        days=current_app.config["INVITATION_MAX_AGE_SECONDS"] // 86400,
    )
    return user, message


def update_person(
    user: User, details: PersonDetails, roles: set[Role], enabled: bool, *, by: User, now: datetime
) -> None:
    """L&D changes someone's details, roles or whether they may sign in."""
    require_role(by, Role.LND_ADMIN, message="Only the L&D team can manage people and agencies.")
    if user.id == by.id and Role.LND_ADMIN not in roles:
        raise AccountError("You cannot remove your own L&D admin role.", field="roles")
    if user.id == by.id and not enabled:
        raise AccountError("You cannot disable your own account.", field="enabled")
    if not roles:
        raise AccountError("Give the person at least one role.", field="roles")
    before = {"roles": sorted(r.value for r in user.roles), "enabled": user.is_enabled}
    _apply_details(user, details)
    current = {row.role: row for row in user.role_rows}
    for role in set(current) - roles:
        user.role_rows.remove(current[role])
    for role in roles - set(current):
        user.role_rows.append(UserRole(role=role))
    if user.is_enabled and not enabled:
        user.session_token = User.new_session_token()  # sign them out everywhere
    user.is_enabled = enabled
    db.session.flush()
    after = {"roles": sorted(r.value for r in roles), "enabled": enabled}
    log_action("lms.user.updated", subject=user, actor=by, now=now, before=before, after=after)


def update_own_profile(user: User, details: PersonDetails, *, now: datetime) -> None:
    """A person corrects their own details (name, job role, agency, line manager)."""
    _apply_details(user, details)
    db.session.flush()
    log_action("lms.user.profile_updated", subject=user, actor=user, now=now)


# Signing in -----------------------------------------------------------------------------------


def authenticate(email: str, password: str, *, address: str, now: datetime) -> User:
    """Check a sign-in; failures are counted per address and per account and then throttled."""
    email = User.normalise_email(email)
    wait = throttle.seconds_until_allowed(address, email)
    if wait:
        minutes = max(1, round(wait / 60))
        raise AccountError(
            f"Too many failed sign-in attempts. Wait {plural(minutes, 'minute')} and try again, "
            "or reset your password."
        )
    user = find_user_by_email(email)
    ok = verify_password(user.password_hash if user else None, password)
    if not ok or user is None or not user.is_enabled:
        throttle.record_failure(address, email)
        raise AccountError("The email address or password is not right.", field="password")
    throttle.clear_account(email)
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_sign_in_at = now
    log_action("lms.user.signed_in", subject=user, actor=user, now=now)
    return user


# Password reset -------------------------------------------------------------------------------


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"lms.{purpose}")


def make_reset_token(user: User, *, purpose: str = "password-reset") -> str:
    # The session token is rotated when the password changes, so a link works once.
    return _serializer(purpose).dumps({"u": user.id, "t": user.session_token[:16]})


def user_for_reset_token(token: str, *, purpose: str = "password-reset") -> User:
    """The user a reset link belongs to, or an AccountError saying why it cannot be used."""
    max_age = current_app.config[
        "INVITATION_MAX_AGE_SECONDS" if purpose == "invitation" else "PASSWORD_RESET_MAX_AGE_SECONDS"
    ]
    try:
        data = _serializer(purpose).loads(token, max_age=max_age)
    except SignatureExpired as exc:
        raise AccountError("This link has expired. Ask for a new one.") from exc
    except BadSignature as exc:
        raise AccountError("This link is not valid. Ask for a new one.") from exc
    user = db.session.get(User, data.get("u"))
    if user is None or not user.is_enabled or user.session_token[:16] != data.get("t"):
        raise AccountError("This link has already been used or is no longer valid. Ask for a new one.")
    return user


def request_password_reset(email: str, *, now: datetime) -> OutboxMessage | None:
    """Email a reset link if the account exists; the caller says the same thing either way."""
    user = find_user_by_email(email)
    if user is None or not user.is_enabled:
        return None
    minutes = current_app.config["PASSWORD_RESET_MAX_AGE_SECONDS"] // 60
    message = queue_message(
        "account.password_reset",
        to=user.email,
        user=user,
        subject="Reset your password",
        template="password_reset.txt",
        now=now,
        token=make_reset_token(user),
        minutes=minutes,
    )
    log_action("lms.user.password_reset_requested", subject=user, actor=None, now=now)
    return message


def reset_password(user: User, password: str, *, now: datetime) -> None:
    """Set a new password and sign the person out of every other session."""
    problem = password_problem(password, email=user.email)
    if problem:
        raise AccountError(problem, field="password")
    user.password_hash = hash_password(password)
    user.session_token = User.new_session_token()
    db.session.flush()
    throttle.clear_account(user.email)
    log_action("lms.user.password_reset", subject=user, actor=user, now=now)


# Agencies -------------------------------------------------------------------------------------


def _apply_agency(agency: Agency, details: AgencyDetails) -> None:
    name = " ".join(details.name.split())
    clash = db.session.scalar(
        sa.select(Agency.id).where(sa.func.lower(Agency.name) == name.lower(), Agency.id != agency.id)
    )
    if clash is not None:
        raise AccountError("An agency with this name already exists.", field="name")
    agency.name = name
    agency.short_name = (details.short_name or "").strip() or None
    agency.category = details.category
    agency.billing_contact = (details.billing_contact or "").strip() or None
    agency.billing_email = (details.billing_email or "").strip().lower() or None
    agency.billing_address = (details.billing_address or "").strip() or None
    agency.purchase_order = (details.purchase_order or "").strip() or None
    agency.is_active = details.is_active


def create_agency(details: AgencyDetails, *, by: User | None, now: datetime) -> Agency:
    """Add an agency to the managed list."""
    require_role(by, Role.LND_ADMIN, message="Only the L&D team can manage people and agencies.")
    agency = Agency(created_at=now)
    _apply_agency(agency, details)
    db.session.add(agency)
    db.session.flush()
    log_action("lms.agency.created", subject=agency, actor=by, now=now, name=agency.name)
    return agency


def update_agency(agency: Agency, details: AgencyDetails, *, by: User, now: datetime) -> None:
    """Change an agency's name, category or billing details."""
    require_role(by, Role.LND_ADMIN, message="Only the L&D team can manage people and agencies.")
    _apply_agency(agency, details)
    db.session.flush()
    log_action("lms.agency.updated", subject=agency, actor=by, now=now)


@dataclass
class UnmappedOrganisation:
    key: str
    name: str
    people: int


def unmapped_organisations() -> list[UnmappedOrganisation]:
    """Organisation names typed under "other", grouped regardless of case, most people first."""
    key = sa.func.lower(User.other_organisation)
    rows = db.session.execute(
        sa.select(key, sa.func.min(User.other_organisation), sa.func.count(User.id))
        .where(User.agency_id.is_(None), User.other_organisation.is_not(None))
        .group_by(key)
        .order_by(sa.func.count(User.id).desc(), key)
    ).all()
    grouped: dict[str, UnmappedOrganisation] = {}
    for _, name, count in rows:
        group = grouped.setdefault(
            organisation_key(name), UnmappedOrganisation(organisation_key(name), name, 0)
        )
        group.people += count
    return sorted(grouped.values(), key=lambda g: (-g.people, g.key))


def map_organisation(name: str, agency: Agency, *, by: User, now: datetime) -> int:
    """Map a typed organisation name onto an agency, moving its people; returns how many moved."""
    require_role(by, Role.LND_ADMIN, message="Only the L&D team can manage people and agencies.")
    key = organisation_key(name)
    if not key:
        raise AccountError("Choose an organisation name to map.")
    mapping = db.session.scalar(sa.select(OrganisationMapping).where(OrganisationMapping.name_key == key))
    if mapping is None:
        mapping = OrganisationMapping(name_key=key, agency_id=agency.id, mapped_by_id=by.id, mapped_at=now)
        db.session.add(mapping)
    else:
        mapping.agency_id, mapping.mapped_by_id, mapping.mapped_at = agency.id, by.id, now
    # Names are stored with their spacing folded, so lower() groups them as organisation_key does.
    moved = db.session.scalars(
        sa.select(User).where(User.agency_id.is_(None), sa.func.lower(User.other_organisation) == key)
    ).all()
    for person in moved:
        person.agency = agency
        person.other_organisation = None
    db.session.flush()
    log_action(
        "lms.agency.organisation_mapped",
        subject=agency,
        actor=by,
        now=now,
        organisation=name,
        people=len(moved),
    )
    return len(moved)
