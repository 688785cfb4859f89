"""The audit trail: every state change writes an entry with a dotted name, who and when."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.core.db import UTCDateTime
from lms.extensions import db


class AuditEntry(db.Model):
    __tablename__ = "audit_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(80), index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    subject_type: Mapped[str] = mapped_column(sa.String(40))
    subject_id: Mapped[int | None]
    data: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    actor = relationship("User", foreign_keys=[actor_id])

    __table_args__ = (sa.Index("ix_audit_entry_subject", "subject_type", "subject_id"),)


def log_action(
    name: str,
    /,
    *,
    subject: Any,
    actor: Any | None,
    now: datetime,
    **data: Any,
) -> AuditEntry:
    """Record that `actor` did `name` to `subject`; flushed with the change it describes."""
    if getattr(subject, "id", None) is None:
        db.session.flush()
    entry = AuditEntry(
        name=name,
        actor=actor,
        subject_type=type(subject).__tablename__,
        subject_id=subject.id,
        data=data,
        created_at=now,
    )
    db.session.add(entry)
    return entry
