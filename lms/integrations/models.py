"""An integration: another system (the partnership's website, an agency's HR system, the finance
ledger) that L&D registers by name. API tokens and webhook subscriptions hang off it, so revoking
the integration cuts everything it holds at once."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.core.db import UTCDateTime
from lms.extensions import db

if TYPE_CHECKING:
    from lms.accounts.models import Agency


class Integration(db.Model):
    __tablename__ = "integration"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    description: Mapped[str | None] = mapped_column(sa.String(500))
    # Who to tell when something is wrong with it (a failing webhook, a token about to be revoked).
    contact_email: Mapped[str | None] = mapped_column(sa.String(254))
    # An agency's HR system sees that organisation's staff only (and its schools, for a trust).
    agency_id: Mapped[int | None] = mapped_column(sa.ForeignKey("agency.id", ondelete="RESTRICT"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    agency: Mapped[Agency | None] = relationship()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @property
    def may_act(self) -> bool:
        """Whether its tokens work: not revoked, and its organisation (if it has one) still active.
        An organisation made inactive has left the partnership; its system reads nothing more."""
        return self.is_active and (self.agency is None or self.agency.is_active)


def integration_may_act() -> sa.ColumnElement[bool]:
    """`Integration.may_act` in SQL, for queries that join the integration."""
    from lms.accounts.models import Agency

    inactive = sa.select(Agency.id).where(Agency.id == Integration.agency_id, Agency.is_active.is_(False))
    return Integration.revoked_at.is_(None) & ~inactive.exists()
