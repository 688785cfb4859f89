"""Accounts and agencies: registration, sign-in, password reset, people, roles and agencies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from lms.accounts import throttle
from lms.accounts.domains import agency_for_email, password_refused_message
from lms.accounts.models import (
    Agency,
    AgencyCategory,
    OrganisationMapping,
    RecoveryCode,
    Role,
    SignInSession,
    User,
    UserRole,
    organisation_key,
)
from lms.accounts.passwords import hash_password, password_problem
from lms.core.audit import log_action
from lms.core.errors import DomainError
from lms.core.permissions import require_role
from lms.extensions import db
from lms.messages.services import QueuedMessage, queue_message


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
    official_code: str | None = None
    postcode: str | None = None
    parent_id: int | None = None


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
    agency_id, other = _organisation_of(details, current_agency_id=user.agency_id)
    user.first_name = details.first_name.strip()
    user.last_name = details.last_name.strip()
    user.email = email
    user.job_role = details.job_role.strip()
    user.agency = db.session.get(Agency, agency_id) if agency_id is not None else None
    user.other_organisation = other
    user.line_manager_name = (details.line_manager_name or "").strip() or None
    user.line_manager_email = User.normalise_email(details.line_manager_email or "") or None


# A person's details set on a new account by another module (single sign-on's first sign-in).
def apply_person_details(user: User, details: PersonDetails) -> None:
    _apply_details(user, details)


def _organisation_of(
    details: PersonDetails, *, current_agency_id: int | None
) -> tuple[int | None, str | None]:
    """The agency chosen (or the one a typed name, or else the address's domain, is mapped onto) and
    the name typed, if any."""
    other = " ".join((details.other_organisation or "").split()) or None
    agency_id = details.agency_id
    if agency_id is None:
        by_domain = agency_for_email(details.email)
        if by_domain is not None:
            return by_domain.id, None
        if not other:
            raise AccountError(
                "Choose your agency, or choose Other and type your organisation's name.",
                field="agency",
            )
        mapping = db.session.scalar(
            sa.select(OrganisationMapping).where(OrganisationMapping.name_key == organisation_key(other))
        )
        if mapping is not None:
            return mapping.agency_id, None
        return None, other
    agency = db.session.get(Agency, agency_id)
    if agency is None or (not agency.is_active and agency_id != current_agency_id):
        raise AccountError("Choose an agency from the list.", field="agency")
    return agency_id, None


def register_practitioner(details: PersonDetails, password: str, *, now: datetime) -> QueuedMessage:
    """Create a practitioner's account from the registration form, waiting for its address to be
    confirmed through an emailed link. When the address already has an account, its owner is told
    instead. Either way the same checks run and one email is queued, so the answer (and the time it
    takes) does not say whether the address is known."""
    refused = password_refused_message(details.email)
    if refused:
        raise AccountError(refused, field="email")
    problem = password_problem(password, email=details.email)
    if problem:
        raise AccountError(problem, field="password")
    _organisation_of(details, current_agency_id=None)
    password_hash = hash_password(password)
    existing = find_user_by_email(details.email)
    if existing is not None:
        return _registration_attempt_notice(existing, now=now)
    user = User(
        session_token=User.new_session_token(), created_at=now, is_enabled=True, confirmation_pending=True
    )
    _apply_details(user, details)
    user.password_hash = password_hash
    user.role_rows = [UserRole(role=Role.PRACTITIONER)]
    db.session.add(user)
    db.session.flush()
    log_action("lms.user.registered", subject=user, actor=user, now=now)
    return queue_message(
        "account.registration",
        to=user.email,
        user=user,
        subject="Confirm your email address",
        template="registration_confirm.txt",
        now=now,
        token=make_reset_token(user, purpose="registration"),
        days=current_app.config["REGISTRATION_LINK_MAX_AGE_SECONDS"] // 86400,
    )


def _registration_attempt_notice(user: User, *, now: datetime) -> QueuedMessage:
    log_action("lms.security.registration_attempt", subject=user, actor=None, now=now)
    return queue_message(
        "account.registration_attempt",
        to=user.email,
        user=user,
        subject="Someone tried to register with your email address",
        template="registration_attempt.txt",
        now=now,
        token=make_reset_token(user),
        minutes=current_app.config["PASSWORD_RESET_MAX_AGE_SECONDS"] // 60,
    )


def user_for_registration_token(token: str) -> User:
    """The person a registration link is for, while their address still waits to be confirmed."""
    user = user_for_reset_token(token, purpose="registration")
    if not user.confirmation_pending:
        raise AccountError("This address is already confirmed: sign in with your password.")
    return user


def create_person(
    details: PersonDetails, roles: set[Role], *, by: User, now: datetime, invite: bool = True
) -> tuple[User, QueuedMessage | None]:
    """L&D adds someone (a trainer, say); they are emailed a link to choose a password, unless they
    are to be told another way (`invite` false: they can ask for a password reset link)."""
    require_role(by, Role.LND_ADMIN, message="Only the L&D team can manage people and agencies.")
    if not roles:
        raise AccountError("Give the person at least one role.", field="roles")
    user = User(session_token=User.new_session_token(), created_at=now, is_enabled=True)
    _apply_details(user, details)
    user.role_rows = [UserRole(role=role) for role in sorted(roles, key=lambda r: r.value)]
    db.session.add(user)
    db.session.flush()
    log_action("lms.user.created", subject=user, actor=by, now=now, roles=sorted(r.value for r in roles))
    if roles != {Role.PRACTITIONER}:
        log_action(
            "lms.security.roles_changed",
            subject=user,
            actor=by,
            now=now,
            before=[],
            after=sorted(r.value for r in roles),
        )
    return user, _invitation(user, now=now) if invite else None


def create_administrator(
    details: PersonDetails, *, password: str | None, now: datetime
) -> tuple[User, QueuedMessage | None]:
    """The installer makes an L&D administrator from the command line (the first one, or a way back
    in when nobody can sign in). With no password, they are emailed a link to choose one. Someone
    already registered with the address is given the role instead."""
    existing = find_user_by_email(details.email)
    if existing is not None:
        if not existing.has_role(Role.LND_ADMIN):
            existing.role_rows.append(UserRole(role=Role.LND_ADMIN))
        existing.is_enabled = True
        existing.confirmation_pending = False
        # A way back in: whoever lost their authenticator app sets up a new one at the next sign-in.
        had_second_factor = existing.second_factor is not None
        forget_second_factor(existing)
        end_all_sign_ins(existing)
        db.session.flush()
        throttle.clear_account(existing.email)
        log_action("lms.user.made_administrator", subject=existing, actor=None, now=now, via="command line")
        if had_second_factor:
            log_action(
                "lms.security.two_factor_reset", subject=existing, actor=None, now=now, via="command line"
            )
        return existing, None
    if password is not None and (problem := password_problem(password)):
        raise AccountError(problem, field="password")
    user = User(session_token=User.new_session_token(), created_at=now, is_enabled=True)
    _apply_details(user, details)
    user.role_rows = [UserRole(role=Role.LND_ADMIN)]
    user.password_hash = hash_password(password) if password is not None else None
    db.session.add(user)
    db.session.flush()
    log_action("lms.user.created", subject=user, actor=None, now=now, roles=["lnd_admin"], via="command line")
    if password is not None:
        return user, None
    return user, _invitation(user, now=now)


def _invitation(user: User, *, now: datetime) -> QueuedMessage:
    return queue_message(
        "account.invitation",
        to=user.email,
        user=user,
        subject="Your safeguarding training account",
        template="account_invitation.txt",
        now=now,
        token=make_reset_token(user, purpose="invitation"),
        days=current_app.config["INVITATION_MAX_AGE_SECONDS"] // 86400,
    )


# The account invitation sent by another module (a trainer adding a walk-in at the register).
def send_invitation(user: User, *, now: datetime) -> QueuedMessage:
    return _invitation(user, now=now)


def has_administrator() -> bool:
    """Whether anyone can run the system yet: an enabled L&D administrator exists."""
    return bool(
        db.session.scalar(
            sa.select(
                sa.exists().where(
                    UserRole.role == Role.LND_ADMIN, UserRole.user_id == User.id, User.is_enabled
                )
            )
        )
    )


def update_person(
    user: User, details: PersonDetails, roles: set[Role], enabled: bool, *, by: User, now: datetime
) -> None:
    """L&D changes someone's details, roles or whether they may sign in."""
    require_role(by, Role.LND_ADMIN, message="Only the L&D team can manage people and agencies.")
    if by is not None and user.id == by.id and Role.LND_ADMIN not in roles:
        raise AccountError("You cannot remove your own L&D admin role.", field="roles")
    if by is not None and user.id == by.id and not enabled:
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
        end_all_sign_ins(user)  # sign them out everywhere
    user.is_enabled = enabled
    db.session.flush()
    after = {"roles": sorted(r.value for r in roles), "enabled": enabled}
    log_action("lms.user.updated", subject=user, actor=by, now=now, before=before, after=after)
    if before["roles"] != after["roles"]:
        log_action(
            "lms.security.roles_changed",
            subject=user,
            actor=by,
            now=now,
            before=before["roles"],
            after=after["roles"],
        )


def update_own_profile(user: User, details: PersonDetails, *, now: datetime) -> None:
    """A person corrects their own details (name, job role, agency, line manager)."""
    _apply_details(user, details)
    db.session.flush()
    log_action("lms.user.profile_updated", subject=user, actor=user, now=now)


# Password reset -------------------------------------------------------------------------------


# How long each kind of emailed link works, by its purpose.
LINK_MAX_AGE = {
    "password-reset": "PASSWORD_RESET_MAX_AGE_SECONDS",
    "invitation": "INVITATION_MAX_AGE_SECONDS",
    "registration": "REGISTRATION_LINK_MAX_AGE_SECONDS",
    "sign-in-link": "SIGN_IN_LINK_MAX_AGE_SECONDS",
}


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"lms.{purpose}")


def make_reset_token(user: User, *, purpose: str = "password-reset") -> str:
    # The session token is rotated when the password changes, so a link works once.
    return _serializer(purpose).dumps({"u": user.id, "t": user.session_token[:16]})


def user_for_reset_token(token: str, *, purpose: str = "password-reset") -> User:
    """The user a reset link belongs to, or an AccountError saying why it cannot be used."""
    max_age = current_app.config[LINK_MAX_AGE.get(purpose, "PASSWORD_RESET_MAX_AGE_SECONDS")]
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


def request_password_reset(email: str, *, now: datetime) -> QueuedMessage | None:
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
    # Following the emailed link proves the address too.
    user.confirmation_pending = False
    end_all_sign_ins(user)
    db.session.flush()
    throttle.clear_account(user.email)
    log_action("lms.user.password_reset", subject=user, actor=user, now=now)


def end_all_sign_ins(user: User) -> int:
    """Sign the person out in every browser; returns how many sign-ins ended."""
    user.session_token = User.new_session_token()
    ended = db.session.execute(sa.delete(SignInSession).where(SignInSession.user_id == user.id))
    return ended.rowcount or 0


def forget_second_factor(user: User) -> None:
    """Remove the authenticator app and recovery codes (they enrol again at the next sign-in)."""
    user.second_factor = None
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))


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
    code = "".join((details.official_code or "").split()).upper() or None
    if code is not None:
        taken = db.session.scalar(
            sa.select(Agency.name).where(Agency.official_code == code, Agency.id != agency.id)
        )
        if taken is not None:
            raise AccountError(f"{taken} already has the code {code}.", field="official_code")
    agency.official_code = code
    agency.postcode = normalise_postcode(details.postcode)
    _set_parent(agency, details.parent_id)


def normalise_postcode(text: str | None) -> str | None:
    """A UK postcode as it is written: upper case, one space before the last three characters."""
    compact = "".join((text or "").split()).upper()
    if not compact:
        return None
    return f"{compact[:-3]} {compact[-3:]}" if len(compact) > 4 else compact


def _set_parent(agency: Agency, parent_id: int | None) -> None:
    """One level only: a parent that pays has no parent of its own, and pays for no parent."""
    if parent_id is None:
        agency.parent = None
        return
    parent = db.session.get(Agency, parent_id)
    if parent is None:
        raise AccountError("Choose the parent organisation from the list.", field="parent_id")
    if agency.id is not None and parent.id == agency.id:
        raise AccountError("An organisation cannot be its own parent.", field="parent_id")
    if parent.parent_id is not None:
        raise AccountError(
            f"{parent.name} is itself paid for by {parent.parent.name}: choose that one.", field="parent_id"
        )
    has_children = agency.id is not None and db.session.scalar(
        sa.select(sa.exists().where(Agency.parent_id == agency.id))
    )
    if has_children:
        raise AccountError(
            "Other organisations are paid for by this one, so it cannot have a parent.", field="parent_id"
        )
    agency.parent = parent


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


def organisation_named(text: str) -> Agency | None:
    """The active organisation a person meant by this text: its name, its label in the list (name and
    postcode), its short name or its official code, ignoring case and spacing; None if none or several."""
    key = organisation_key(text)
    if not key:
        return None
    candidates = db.session.scalars(
        sa.select(Agency).where(
            Agency.is_active,
            sa.or_(
                sa.func.lower(Agency.name) == key,
                sa.func.lower(Agency.short_name) == key,
                Agency.official_code == key.upper().replace(" ", ""),
                sa.func.lower(Agency.name) == key.rsplit(",", 1)[0].strip(),
            ),
        )
    ).all()
    exact = [a for a in candidates if organisation_key(a.label) == key]
    matches = exact or candidates
    return matches[0] if len(matches) == 1 else None


def suggest_organisations(text: str, *, limit: int = 5, include_inactive: bool = False) -> list[Agency]:
    """Organisations whose names look like what was typed, best first (fuzzy: word order, spelling,
    "St Marys Primary" for "St Mary's C of E Primary School")."""
    from rapidfuzz import fuzz, process, utils

    query = sa.select(Agency)
    if not include_inactive:
        query = query.where(Agency.is_active)
    agencies = db.session.scalars(query).all()
    if not text.strip() or not agencies:
        return []
    names = {a.id: f"{a.name} {a.short_name or ''}" for a in agencies}
    found = process.extract(
        text, names, scorer=fuzz.WRatio, processor=utils.default_process, limit=limit, score_cutoff=60
    )
    by_id = {a.id: a for a in agencies}
    return [by_id[key] for _, _, key in found]


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
        mapping = OrganisationMapping(
            name_key=key, agency_id=agency.id, mapped_by_id=by.id if by else None, mapped_at=now
        )
        db.session.add(mapping)
    else:
        mapping.agency_id, mapping.mapped_by_id, mapping.mapped_at = agency.id, by.id if by else None, now
    # Names are stored with their spacing folded, so lower() groups them as organisation_key does.
    moved = db.session.scalars(
        sa.select(User).where(User.agency_id.is_(None), sa.func.lower(User.other_organisation) == key)
    ).all()
    for person in moved:
        person.agency = agency
        person.other_organisation = None
    bookings = _give_bookings_their_organisation(key, agency)
    db.session.flush()
    log_action(
        "lms.agency.organisation_mapped",
        subject=agency,
        actor=by,
        now=now,
        organisation=name,
        people=len(moved),
        bookings=bookings,
    )
    return len(moved)


def _give_bookings_their_organisation(key: str, agency: Agency) -> int:
    """Bookings made under the typed name now count for the organisation in reports, and their
    unbilled charges can be invoiced to it; invoices already issued are history and stay as they are."""
    from lms.bookings.models import Booking
    from lms.finance.models import Charge, ChargeStatus

    typed = sa.func.lower(Booking.other_organisation) == key
    bookings = db.session.scalars(sa.select(Booking).where(Booking.agency_id.is_(None), typed)).all()
    for booking in bookings:
        booking.agency_id = agency.id
        booking.other_organisation = None
    if bookings:
        db.session.execute(
            sa.update(Charge)
            .where(
                Charge.booking_id.in_([b.id for b in bookings]),
                Charge.agency_id.is_(None),
                Charge.status == ChargeStatus.RAISED,
            )
            .values(agency_id=agency.id)
        )
    return len(bookings)


def create_organisation_for(
    name: str, category: AgencyCategory, *, by: User | None, now: datetime
) -> tuple[Agency, int]:
    """Add a typed "not listed" name as an organisation of its own, and move its people to it."""
    require_role(by, Role.LND_ADMIN, message="Only the L&D team can manage people and agencies.")
    agency = create_agency(AgencyDetails(name=name, short_name=None, category=category), by=by, now=now)
    return agency, map_organisation(name, agency, by=by, now=now)
