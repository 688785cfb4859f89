"""Training contacts: who follows which organisation's staff, and what that lets them see.

A training contact is named by L&D for one or more organisations. A contact for an organisation
that pays for others (a multi-academy trust, whose schools are its children through
``Agency.parent_id``) follows those organisations too: the trust is invoiced for its schools, so
its contact follows their staff and charges. The rule runs downwards only: a school's contact does
not follow the trust or the trust's other schools. Organisations are one level deep (a parent has
no parent of its own), so one step down is all there is.

Following needs both the Training contact role and the organisation: taking the role away (on the
person's page) stops everything at once, even while the organisations are still listed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa

from lms.accounts.models import Agency, Role, TrainingContact, User, UserRole
from lms.core.audit import log_action
from lms.core.errors import DomainError
from lms.core.permissions import require_role
from lms.extensions import db


class TrainingContactError(DomainError):
    pass


# Queries --------------------------------------------------------------------------------------


def is_training_contact(user: User | None) -> bool:
    return bool(
        user is not None
        and getattr(user, "is_enabled", False)
        and isinstance(user, User)
        and user.has_role(Role.TRAINING_CONTACT)
    )


def named_organisation_ids(user: User | None) -> set[int]:
    """The organisations L&D named the person a contact for (without the ones they pay for)."""
    if user is None or getattr(user, "id", None) is None:
        return set()
    return set(
        db.session.scalars(sa.select(TrainingContact.agency_id).where(TrainingContact.user_id == user.id))
    )


def followed_ids(user: User | None) -> set[int]:
    """Every organisation whose staff the person follows: those named, and those they pay for.
    Empty for anyone who is not an enabled training contact."""
    if not is_training_contact(user):
        return set()
    return organisations_covered(named_organisation_ids(user))


def organisations_covered(named: set[int]) -> set[int]:
    """What a contact named for these organisations follows: them, and those they pay for. Also what
    an agency's integration sees (lms/api/staff.py)."""
    if not named:
        return set()
    children = db.session.scalars(sa.select(Agency.id).where(Agency.parent_id.in_(named)))
    return set(named) | set(children)


def follows(user: User | None, agency: Agency | int | None) -> bool:
    """Whether the person is a training contact who follows this organisation: named for it, or
    for the organisation that pays for it (its parent). False for anyone else, and for no agency."""
    if agency is None or not is_training_contact(user):
        return False
    agency_id = agency if isinstance(agency, int) else agency.id
    if agency_id is None:
        return False
    return bool(
        db.session.scalar(
            sa.select(
                sa.exists().where(
                    TrainingContact.user_id == user.id,
                    TrainingContact.agency_id.in_(organisations_covering(agency_id)),
                )
            )
        )
    )


def organisations_covering(agency_id: int | sa.ColumnElement) -> sa.Select:
    """A query for the organisations whose contact follows this one's staff: the organisation
    itself and the one that pays for it (its parent). For use inside other statements."""
    own = sa.select(Agency.id.label("id")).where(Agency.id == agency_id)
    payer = sa.select(Agency.parent_id.label("id")).where(
        Agency.id == agency_id, Agency.parent_id.is_not(None)
    )
    return sa.union_all(own, payer)


def organisations_followed_by(user: User | None) -> list[Agency]:
    """The organisations the person follows, by name: those named and those they pay for."""
    ids = followed_ids(user)
    if not ids:
        return []
    return list(
        db.session.scalars(sa.select(Agency).where(Agency.id.in_(ids)).order_by(sa.func.lower(Agency.name)))
    )


def staff_of(organisations: User | Iterable[Agency | int] | None) -> sa.Select:
    """A query for the people who work for the given organisations, by surname. Given a person,
    the organisations that person follows as a training contact (none for anyone else)."""
    if isinstance(organisations, User) or organisations is None:
        ids = followed_ids(organisations)
    else:
        ids = {item if isinstance(item, int) else item.id for item in organisations}
    return (
        sa.select(User)
        .where(User.agency_id.in_(ids or {-1}))
        .order_by(sa.func.lower(User.last_name), sa.func.lower(User.first_name), User.id)
    )


def contacts_for(agency: Agency) -> list[User]:
    """Who L&D named as training contacts for this organisation (not its parent's)."""
    return list(
        db.session.scalars(
            sa.select(User)
            .join(TrainingContact, TrainingContact.user_id == User.id)
            .where(TrainingContact.agency_id == agency.id)
            .order_by(sa.func.lower(User.last_name), sa.func.lower(User.first_name))
        )
    )


def all_training_contacts() -> list[User]:
    """Enabled people with the role and at least one organisation: who gets the monthly summary."""
    return list(
        db.session.scalars(
            sa.select(User)
            .join(UserRole, UserRole.user_id == User.id)
            .where(
                UserRole.role == Role.TRAINING_CONTACT,
                User.is_enabled,
                sa.exists().where(TrainingContact.user_id == User.id),
            )
            .order_by(User.id)
        )
    )


# Changes --------------------------------------------------------------------------------------


def _give_roles(person: User, rows: list[UserRole], *, by: User, now: datetime) -> None:
    """Change the person's roles to `rows`, written to the security events as every change of roles is."""
    before = sorted(r.value for r in person.roles)
    person.role_rows = rows
    db.session.flush()
    log_action(
        "lms.security.roles_changed",
        subject=person,
        actor=by,
        now=now,
        before=before,
        after=sorted(r.value for r in person.roles),
    )


def add_training_contact(agency: Agency, person: User, *, by: User, now: datetime) -> TrainingContact:
    """L&D names a person as a training contact for an organisation; they are given the role if
    they have not got it yet."""
    require_role(by, Role.LND_ADMIN, message="Only the L&D team can name training contacts.")
    if not person.is_enabled:
        raise TrainingContactError(
            f"{person.full_name} cannot sign in at the moment: enable them first.", field="email"
        )
    existing = db.session.scalar(
        sa.select(TrainingContact).where(
            TrainingContact.user_id == person.id, TrainingContact.agency_id == agency.id
        )
    )
    if existing is not None:
        raise TrainingContactError(
            f"{person.full_name} is already a training contact for {agency.name}.", field="email"
        )
    contact = TrainingContact(
        user_id=person.id, agency_id=agency.id, added_by_id=by.id if by is not None else None, added_at=now
    )
    db.session.add(contact)
    if not person.has_role(Role.TRAINING_CONTACT):
        _give_roles(person, [*person.role_rows, UserRole(role=Role.TRAINING_CONTACT)], by=by, now=now)
    db.session.flush()
    log_action(
        "lms.training_contact.added", subject=agency, actor=by, now=now, user_id=person.id, email=person.email
    )
    return contact


def remove_training_contact(agency: Agency, person: User, *, by: User, now: datetime) -> None:
    """L&D stops a person following an organisation. Without any organisation left the role goes
    too, so nothing is left that could show them anything."""
    require_role(by, Role.LND_ADMIN, message="Only the L&D team can name training contacts.")
    contact = db.session.scalar(
        sa.select(TrainingContact).where(
            TrainingContact.user_id == person.id, TrainingContact.agency_id == agency.id
        )
    )
    if contact is None:
        raise TrainingContactError(f"{person.full_name} is not a training contact for {agency.name}.")
    db.session.delete(contact)
    db.session.flush()
    log_action(
        "lms.training_contact.removed",
        subject=agency,
        actor=by,
        now=now,
        user_id=person.id,
        email=person.email,
    )
    if not named_organisation_ids(person) and person.has_role(Role.TRAINING_CONTACT):
        others = [row for row in person.role_rows if row.role is not Role.TRAINING_CONTACT]
        # Everyone keeps at least one role: a contact with no other becomes a practitioner.
        _give_roles(person, others or [UserRole(role=Role.PRACTITIONER)], by=by, now=now)
