"""Signing in with the organisation's own account: OpenID Connect providers (Microsoft Entra ID,
Google Workspace, ...) and the links between their accounts and ours.

Authlib does the protocol: the authorization code flow with PKCE (S256), state and nonce; discovery
of the provider's endpoints from its metadata; the ID token's signature checked against the
provider's published keys (fetched again when a token names a key not seen before, which is how a
provider rotates its keys) and its issuer, audience, expiry and nonce checked. This module decides
what a checked identity means here: whose account it is, whether the address is one the provider
vouches for, and whether the provider's own second factor stands in for ours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.accounts import domains, security
from lms.accounts.models import Role, User, UserRole
from lms.accounts.security import SignInStep
from lms.accounts.services import AccountError, PersonDetails, apply_person_details, find_user_by_email
from lms.core.audit import log_action
from lms.core.db import UTCDateTime
from lms.extensions import db

# Authentication methods (RFC 8176) that mean the provider asked for more than a password.
MFA_METHODS = frozenset({"mfa", "mca", "otp", "hwk", "swk", "sc"})
SCOPE = "openid email profile"
# How long a checked identity waits in the session for the person to finish (first-time details).
IDENTITY_MINUTES = 30


class ExternalIdentity(db.Model):
    """A person's account at a provider: the provider's name (as configured) and its subject."""

    __tablename__ = "external_identity"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(sa.String(40))
    subject: Mapped[str] = mapped_column(sa.String(255))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"), index=True)
    # The address the provider gave when the link was made (the account's own may change later).
    email: Mapped[str | None] = mapped_column(sa.String(254))
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()

    __table_args__ = (sa.UniqueConstraint("provider", "subject"),)


class SignInProblem(AccountError):
    """A sign-in through a provider that cannot go on; the page says why and offers another way."""

    status = 400


# Providers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Provider:
    name: str
    issuer: str
    client_id: str
    client_secret: str
    display_name: str
    allowed_domains: tuple[str, ...] = ()

    @property
    def metadata_url(self) -> str:
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"

    def allows(self, email: str) -> bool:
        """Whether the provider may sign in this address: any, or one of its domains (or subdomains)."""
        if not self.allowed_domains:
            return True
        return any(d in self.allowed_domains for d in domains.candidate_domains(domains.domain_of(email)))


def providers() -> list[Provider]:
    """The providers set up in OIDC_PROVIDERS, in the order given there."""
    configured = current_app.config["OIDC_PROVIDERS"]
    return [Provider(name=name, **settings) for name, settings in configured.items()]


def provider_named(name: str) -> Provider | None:
    return next((p for p in providers() if p.name == name), None)


def init_app(app) -> None:
    """Register each provider with Authlib once, when the app is built (nothing is fetched yet)."""
    from authlib.integrations.flask_client import OAuth

    oauth = OAuth(app)
    timeout = app.config["OIDC_TIMEOUT_SECONDS"]
    for name, settings in app.config["OIDC_PROVIDERS"].items():
        provider = Provider(name=name, **settings)
        oauth.register(
            name,
            client_id=provider.client_id,
            client_secret=provider.client_secret,
            server_metadata_url=provider.metadata_url,
            client_kwargs={"scope": SCOPE, "code_challenge_method": "S256", "default_timeout": timeout},
        )
    app.extensions["lms.sso"] = oauth


def client_for(provider: Provider):
    return current_app.extensions["lms.sso"].create_client(provider.name)


# What the provider said -----------------------------------------------------------------------


@dataclass
class Identity:
    """A checked ID token's claims that matter here, kept in the session until the sign-in ends."""

    provider: str
    subject: str
    email: str
    email_verified: bool
    given_name: str = ""
    family_name: str = ""
    methods: list[str] = field(default_factory=list)
    checked_at: int = 0

    def as_record(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_record(cls, record: Any, *, now: datetime) -> Identity | None:
        """The identity a session holds, while it is recent."""
        if not isinstance(record, dict):
            return None
        try:
            identity = cls(**record)
        except TypeError:
            return None
        if not 0 <= now.timestamp() - identity.checked_at <= IDENTITY_MINUTES * 60:
            return None
        return identity

    @property
    def provider_mfa(self) -> bool:
        return bool(MFA_METHODS.intersection(self.methods))


def identity_from_claims(provider: Provider, claims: dict[str, Any], *, now: datetime) -> Identity:
    """What a checked ID token says. Entra ID sends no email_verified: an address in one of the
    provider's allowed domains counts as verified, since the partnership named that tenant as the
    owner of those domains."""
    subject = str(claims.get("sub") or "")
    email = str(claims.get("email") or claims.get("upn") or claims.get("preferred_username") or "")
    email = User.normalise_email(email)
    if not subject or "@" not in email or len(email) > 254 or len(subject) > 255:
        raise SignInProblem(
            f"{provider.display_name} did not tell us your email address, so we cannot sign you in. "
            "Ask your IT team to release the email claim to this service, or sign in with a password."
        )
    if not provider.allows(email):
        raise SignInProblem.not_allowed(
            f"{provider.display_name} accounts at @{domains.domain_of(email)} cannot sign in here. Sign in "
            "with the button for your own organisation, or with a password."
        )
    verified = claims.get("email_verified") is True or (
        bool(provider.allowed_domains) and provider.allows(email)
    )
    methods = claims.get("amr") if isinstance(claims.get("amr"), list) else []
    return Identity(
        provider=provider.name,
        subject=subject,
        email=email,
        email_verified=verified,
        given_name=str(claims.get("given_name") or "")[:100],
        family_name=str(claims.get("family_name") or "")[:100],
        methods=[str(m) for m in methods][:20],
        checked_at=int(now.timestamp()),
    )


# Whose account it is ---------------------------------------------------------------------------


def linked_user(identity: Identity) -> User | None:
    link = db.session.scalar(
        sa.select(ExternalIdentity).where(
            ExternalIdentity.provider == identity.provider, ExternalIdentity.subject == identity.subject
        )
    )
    return link.user if link is not None else None


@dataclass
class Arrival:
    """What happens next for a checked identity: "sign_in" a linked account, "link" the account with
    the same (verified) address, or "register" a new one."""

    action: str
    user: User | None = None

    @property
    def links_account(self) -> bool:
        return self.action == "link"


def arrival_for(identity: Identity) -> Arrival:
    user = linked_user(identity)
    if user is not None:
        return Arrival("sign_in", user)
    existing = find_user_by_email(identity.email)
    if existing is None:
        return Arrival("register")
    if not identity.email_verified:
        raise SignInProblem.conflict(
            f"An account here already uses {identity.email}, but the provider did not confirm that "
            "the address is yours, so we cannot link them. Sign in with your password instead."
        )
    return Arrival("link", existing)


def sign_in_with_identity(identity: Identity, *, address: str, user_agent: str, now: datetime) -> SignInStep:
    """Sign in the account linked to the identity, linking the one with the same verified address on
    first use. Staff still give our second factor unless the provider's own is trusted."""
    arrival = arrival_for(identity)
    if arrival.action == "register" or arrival.user is None:
        raise SignInProblem("Tell us a little about yourself first.")
    user = arrival.user
    if not user.is_enabled:
        raise SignInProblem.not_allowed("This account is switched off. Ask the L&D team.")
    if arrival.action == "link":
        _link(identity, user, now=now)
        # The provider vouched for the address: a registration still waiting for its link is done.
        user.confirmation_pending = False
    else:
        _touch_link(identity, now=now)
    return _signed_in(identity, user, address=address, user_agent=user_agent, now=now)


def register_with_identity(
    identity: Identity, details: PersonDetails, *, address: str, user_agent: str, now: datetime
) -> SignInStep:
    """A practitioner's first sign-in: an account from what the provider said and what they added,
    with no password (they sign in through the provider)."""
    if arrival_for(identity).action != "register":
        raise SignInProblem.conflict("An account already uses this address: sign in again.")
    details.email = identity.email
    user = User(session_token=User.new_session_token(), created_at=now, is_enabled=True)
    apply_person_details(user, details)
    user.role_rows = [UserRole(role=Role.PRACTITIONER)]
    db.session.add(user)
    db.session.flush()
    log_action("lms.user.registered", subject=user, actor=user, now=now, provider=identity.provider)
    _link(identity, user, now=now)
    return _signed_in(identity, user, address=address, user_agent=user_agent, now=now)


def _link(identity: Identity, user: User, *, now: datetime) -> None:
    db.session.add(
        ExternalIdentity(
            provider=identity.provider,
            subject=identity.subject,
            user_id=user.id,
            email=identity.email,
            linked_at=now,
            last_used_at=now,
        )
    )
    db.session.flush()
    log_action("lms.security.sso_linked", subject=user, actor=user, now=now, provider=identity.provider)


def _touch_link(identity: Identity, *, now: datetime) -> None:
    db.session.execute(
        sa.update(ExternalIdentity)
        .where(ExternalIdentity.provider == identity.provider, ExternalIdentity.subject == identity.subject)
        .values(last_used_at=now)
    )


def _signed_in(identity: Identity, user: User, *, address: str, user_agent: str, now: datetime) -> SignInStep:
    trusted = bool(current_app.config["OIDC_TRUST_PROVIDER_MFA"]) and identity.provider_mfa
    return security.sign_in_from_provider(
        user,
        provider_mfa=trusted,
        address=address,
        user_agent=user_agent,
        now=now,
        method=f"single sign-on ({identity.provider})",
    )


def suggested_details(identity: Identity) -> dict[str, Any]:
    """What the first-time form starts with: the names the provider gave and the organisation the
    address's domain is mapped onto."""
    agency = domains.agency_for_email(identity.email)
    return {
        "first_name": identity.given_name,
        "last_name": identity.family_name,
        "agency": agency,
    }
