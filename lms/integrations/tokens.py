"""API tokens: who a call to the JSON API acts for, and what it may read.

A token belongs to a person (made by themselves, with scopes their roles allow) or to an integration
(made by L&D). Only a SHA-256 hash of the secret is kept, with a short prefix to recognise it by; the
secret is shown once, when it is made. A token stops working when it is revoked or expires, when its
integration is revoked or its organisation made inactive, and, for a person's token, as soon as the
person is disabled or no longer holds a role the scope needs: the scopes are checked against the
roles on every call, not only when the token is made.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, joinedload, mapped_column, relationship

from lms.accounts.models import Role, User
from lms.core.db import UTCDateTime
from lms.core.enums import TitledEnum
from lms.extensions import db

if TYPE_CHECKING:
    from lms.integrations.models import Integration

# What a token's secret starts with, so it is recognisable in a configuration file or a leak scan.
TOKEN_MARK = "lms_"  # noqa: S105 - a mark, not a secret
PREFIX_LENGTH = len(TOKEN_MARK) + 8
# How stale the recorded last use may get: a token used all day is stamped once a minute at most.
LAST_USED_GRANULARITY = timedelta(minutes=1)


class Scope(TitledEnum):
    ME_READ = ("me:read", "Your own bookings and training record")
    STAFF_READ = ("staff:read", "Training records of the organisations' staff")
    FINANCE_READ = ("finance:read", "Charges and invoices")

    @property
    def person_roles(self) -> tuple[Role, ...] | None:
        """The roles a person needs for this scope on their own token (None: anyone signed in)."""
        return PERSON_ROLES[self]

    @property
    def for_integrations(self) -> bool:
        """An integration acts for no person, so it has nobody's own record to read."""
        return self is not Scope.ME_READ

    def allows_person(self, person: User) -> bool:
        roles = self.person_roles
        return roles is None or person.has_role(*roles)

    @classmethod
    def parse(cls, text: str) -> frozenset[Scope]:
        known = {member.value: member for member in cls}
        return frozenset(known[word] for word in text.split() if word in known)


PERSON_ROLES: dict[Scope, tuple[Role, ...] | None] = {
    Scope.ME_READ: None,
    Scope.STAFF_READ: (Role.TRAINING_CONTACT,),
    Scope.FINANCE_READ: (Role.FINANCE, Role.LND_ADMIN),
}


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    """A token's secret: 256 random bits after the mark, so a hash without salt is enough."""
    return TOKEN_MARK + secrets.token_urlsafe(32)


class ApiToken(db.Model):
    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    # The first characters of the secret, shown in lists so its owner can tell tokens apart.
    prefix: Mapped[str] = mapped_column(sa.String(16))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    # Scope values, separated by spaces.
    scopes: Mapped[str] = mapped_column(sa.String(200))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"), index=True)
    integration_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("integration.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User | None] = relationship(foreign_keys=[user_id])
    integration: Mapped[Integration | None] = relationship()

    __table_args__ = (
        # A token acts for exactly one holder: a person or an integration.
        sa.CheckConstraint("(user_id IS NULL) <> (integration_id IS NULL)", name="one_holder"),
    )

    @property
    def scope_set(self) -> frozenset[Scope]:
        return Scope.parse(self.scopes)

    @property
    def scope_titles(self) -> list[str]:
        return [scope.title for scope in Scope if scope in self.scope_set]

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def has_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def works(self, now: datetime) -> bool:
        """Whether a call with this token is accepted now (its scopes are checked separately)."""
        if self.is_revoked or self.has_expired(now):
            return False
        if self.integration_id is not None:
            return self.integration is not None and self.integration.may_act
        return self.user is not None and self.user.is_enabled

    def grants(self, scope: Scope) -> bool:
        """The token carries the scope and, for a person's token, the person still holds its role."""
        if scope not in self.scope_set:
            return False
        return self.user is None or scope.allows_person(self.user)

    def needs_stamp(self, now: datetime) -> bool:
        return self.last_used_at is None or now - self.last_used_at >= LAST_USED_GRANULARITY

    def can_revoke(self, person: User) -> bool:
        if self.is_revoked:
            return False
        if self.user_id is not None:
            return self.user_id == person.id
        return person.has_role(Role.LND_ADMIN)


def token_for_secret(secret: str) -> ApiToken | None:
    """The token whose secret this is, with its holder, or None. The hash is looked up by index and
    compared again in constant time."""
    if not secret.startswith(TOKEN_MARK) or len(secret) > 200:
        return None
    digest = hash_secret(secret)
    token = db.session.scalar(
        sa.select(ApiToken)
        .where(ApiToken.token_hash == digest)
        .options(joinedload(ApiToken.user), joinedload(ApiToken.integration))
    )
    if token is None or not hmac.compare_digest(token.token_hash, digest):
        return None
    return token


def stamp_last_used(token_id: int, now: datetime) -> None:
    """Record a token's use, at most once a minute; an UPDATE guarded by the same condition, so two
    calls at once write it once."""
    db.session.execute(
        sa.update(ApiToken)
        .where(
            ApiToken.id == token_id,
            sa.or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= now - LAST_USED_GRANULARITY),
        )
        .values(last_used_at=now)
    )
