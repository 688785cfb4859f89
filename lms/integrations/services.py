"""Registering integrations, and making and revoking API tokens."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from lms.accounts.models import Agency, Role, User
from lms.core.audit import log_action
from lms.core.errors import DomainError
from lms.core.permissions import require_role
from lms.extensions import db
from lms.integrations.models import Integration
from lms.integrations.tokens import PREFIX_LENGTH, ApiToken, Scope, hash_secret, new_secret

ONLY_LND = "Only the L&D team can manage integrations."
# Enough for every integration a partnership runs, and a ceiling on what a leaked session could make.
MAX_LIVE_TOKENS = 20


class IntegrationError(DomainError):
    pass


@dataclass(frozen=True)
class NewToken:
    """A token just made, with its secret: the only moment the secret is known."""

    token: ApiToken
    secret: str


# Integrations -----------------------------------------------------------------------------------


def create_integration(
    name: str,
    *,
    description: str | None,
    contact_email: str | None,
    agency: Agency | None,
    by: User,
    now: datetime,
) -> Integration:
    """Register another system by name."""
    require_role(by, Role.LND_ADMIN, message=ONLY_LND)
    name = " ".join(name.split())
    if not name:
        raise IntegrationError("Give the integration a name.", field="name")
    clash = db.session.scalar(
        sa.select(Integration.id).where(sa.func.lower(Integration.name) == name.lower())
    )
    if clash is not None:
        raise IntegrationError("An integration with this name exists already.", field="name")
    integration = Integration(
        name=name,
        description=(description or "").strip() or None,
        contact_email=(contact_email or "").strip() or None,
        agency_id=agency.id if agency is not None else None,
        created_at=now,
        created_by_id=by.id,
    )
    db.session.add(integration)
    db.session.flush()
    log_action("lms.integration.created", subject=integration, actor=by, now=now, name=name)
    return integration


def revoke_integration(integration: Integration, *, by: User, now: datetime) -> None:
    """Cut the integration off: none of its tokens works from now on."""
    require_role(by, Role.LND_ADMIN, message=ONLY_LND)
    if not integration.is_active:
        raise IntegrationError.conflict("The integration was revoked already.")
    integration.revoked_at = now
    db.session.execute(
        sa.update(ApiToken)
        .where(ApiToken.integration_id == integration.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    log_action("lms.integration.revoked", subject=integration, actor=by, now=now)
    db.session.flush()


# Tokens -----------------------------------------------------------------------------------------


def scopes_for_person(person: User) -> list[Scope]:
    """The scopes a person may put on a token of their own: those their roles allow."""
    return [scope for scope in Scope if scope.allows_person(person)]


def scopes_for_integration(integration: Integration) -> list[Scope]:
    """Staff records need an organisation to be about, so only an agency's integration reads them."""
    return [
        scope
        for scope in Scope
        if scope.for_integrations and (scope is not Scope.STAFF_READ or integration.agency_id is not None)
    ]


def create_personal_token(
    person: User, name: str, scopes: Collection[Scope], *, expires_at: datetime | None, now: datetime
) -> NewToken:
    """A token of the person's own, with scopes their roles allow."""
    allowed = scopes_for_person(person)
    if any(scope not in allowed for scope in scopes):
        raise IntegrationError.not_allowed("Your roles do not allow one of those scopes.", field="scopes")
    new = _make_token(name, scopes, expires_at=expires_at, by=person, now=now, user_id=person.id)
    log_action(
        "lms.security.api_token_created", subject=person, actor=person, now=now, token=new.token.prefix
    )
    return new


def create_integration_token(
    integration: Integration,
    name: str,
    scopes: Collection[Scope],
    *,
    expires_at: datetime | None,
    by: User,
    now: datetime,
) -> NewToken:
    """A token for an integration, with the scopes L&D chose."""
    require_role(by, Role.LND_ADMIN, message=ONLY_LND)
    if not integration.is_active:
        raise IntegrationError.conflict("The integration has been revoked; register it again.")
    allowed = scopes_for_integration(integration)
    if any(scope not in allowed for scope in scopes):
        raise IntegrationError(
            "Staff records need the integration to belong to an organisation.", field="scopes"
        )
    new = _make_token(name, scopes, expires_at=expires_at, by=by, now=now, integration_id=integration.id)
    log_action(
        "lms.integration.token_created", subject=integration, actor=by, now=now, token=new.token.prefix
    )
    return new


def _make_token(
    name: str,
    scopes: Collection[Scope],
    *,
    expires_at: datetime | None,
    by: User,
    now: datetime,
    user_id: int | None = None,
    integration_id: int | None = None,
) -> NewToken:
    name = " ".join(name.split())
    if not name:
        raise IntegrationError("Give the token a name, to tell it apart.", field="name")
    if not scopes:
        raise IntegrationError("Choose at least one scope.", field="scopes")
    if expires_at is not None and expires_at <= now:
        raise IntegrationError("The expiry date must be in the future.", field="expires_on")
    holder = ApiToken.user_id == user_id if user_id is not None else ApiToken.integration_id == integration_id
    live = db.session.scalar(
        sa.select(sa.func.count(ApiToken.id)).where(
            holder,
            ApiToken.revoked_at.is_(None),
            sa.or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now),
        )
    )
    if live >= MAX_LIVE_TOKENS:
        raise IntegrationError.conflict(
            f"At most {MAX_LIVE_TOKENS} tokens can work at once; revoke one first."
        )
    secret = new_secret()
    token = ApiToken(
        name=name,
        prefix=secret[:PREFIX_LENGTH],
        token_hash=hash_secret(secret),
        scopes=" ".join(scope.value for scope in Scope if scope in scopes),
        user_id=user_id,
        integration_id=integration_id,
        created_at=now,
        created_by_id=by.id,
        expires_at=expires_at,
    )
    db.session.add(token)
    db.session.flush()
    return NewToken(token, secret)


def revoke_token(token: ApiToken, *, by: User, now: datetime) -> None:
    """Stop a token working: a person's own, or (for L&D) an integration's."""
    if token.user_id is not None and token.user_id != by.id:
        raise IntegrationError.not_found("No such token.")
    if token.integration_id is not None:
        require_role(by, Role.LND_ADMIN, message=ONLY_LND)
    if token.is_revoked:
        raise IntegrationError.conflict("The token was revoked already.")
    token.revoked_at = now
    subject = token.user if token.user_id is not None else token.integration
    name = "lms.security.api_token_revoked" if token.user_id is not None else "lms.integration.token_revoked"
    log_action(name, subject=subject, actor=by, now=now, token=token.prefix)
    db.session.flush()


def tokens_of_person(person: User) -> list[ApiToken]:
    return list(
        db.session.scalars(
            sa.select(ApiToken)
            .where(ApiToken.user_id == person.id)
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        )
    )


def tokens_of_integration(integration: Integration) -> list[ApiToken]:
    return list(
        db.session.scalars(
            sa.select(ApiToken)
            .where(ApiToken.integration_id == integration.id)
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        )
    )


def all_integrations() -> list[Integration]:
    return list(
        db.session.scalars(
            sa.select(Integration).order_by(
                Integration.revoked_at.is_not(None), sa.func.lower(Integration.name)
            )
        )
    )
