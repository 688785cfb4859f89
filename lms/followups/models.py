"""Level-2 follow-up surveys, 6-8 weeks after a session, about the impact on practice."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.bookings.models import Booking
from lms.core.db import UTCDateTime, enum_column
from lms.core.enums import TitledEnum
from lms.extensions import db


class Applied(TitledEnum):
    YES = ("yes", "Yes")
    PARTLY = ("partly", "Partly")
    NO = ("no", "No")


class Barrier(TitledEnum):
    TIME = ("time", "Time")
    MANAGEMENT = ("management", "Management support")
    SYSTEMS = ("systems", "Systems")
    CASELOAD = ("caseload", "Caseload")
    NOT_RELEVANT = ("not_relevant", "Not relevant to my role")
    OTHER = ("other", "Other")


class FollowUp(db.Model):
    __tablename__ = "follow_up"

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(sa.ForeignKey("booking.id", ondelete="RESTRICT"), unique=True)
    invited_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    applied: Mapped[Applied | None] = mapped_column(enum_column(Applied))
    example: Mapped[str | None] = mapped_column(sa.Text)
    confidence: Mapped[int | None]
    barriers: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    barrier_other: Mapped[str | None] = mapped_column(sa.Text)
    multi_agency: Mapped[Applied | None] = mapped_column(enum_column(Applied))

    booking: Mapped[Booking] = relationship(lazy="joined")

    __table_args__ = (
        sa.CheckConstraint("confidence IS NULL OR confidence BETWEEN 1 AND 5", name="confidence_range"),
        # Surveys still open (neither closed nor answered), by when they close: the reminder and closing
        # sweeps read nothing else. Not a partial index: SQLite keeps no statistics for an empty one,
        # and would then read the surveys through their sessions, years of them.
        sa.Index("ix_follow_up_open", "closed_at", "submitted_at", "closes_at"),
    )

    def is_open(self, now: datetime) -> bool:
        return self.submitted_at is None and self.closed_at is None and now < self.closes_at


class PracticeChange(TitledEnum):
    """How much the line manager has seen the delegate's practice change."""

    NONE = ("none", "Not at all")
    A_LITTLE = ("a_little", "A little")
    NOTICEABLY = ("noticeably", "Noticeably")
    A_GREAT_DEAL = ("a_great_deal", "A great deal")


class ManagerComment(db.Model):
    """The line manager's view of the change in practice, asked for once the delegate has answered
    the follow-up (the third stage: delegate at the end, delegate at 6-8 weeks, manager).

    The manager needs no account: the emailed link carries a secret whose SHA-256 alone is kept
    here; answering, or the link's expiry, ends it."""

    __tablename__ = "manager_comment"

    id: Mapped[int] = mapped_column(primary_key=True)
    # One invitation per follow-up, whatever runs twice.
    follow_up_id: Mapped[int] = mapped_column(sa.ForeignKey("follow_up.id", ondelete="CASCADE"), unique=True)
    manager_email: Mapped[str] = mapped_column(sa.String(254))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    invited_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    change: Mapped[PracticeChange | None] = mapped_column(enum_column(PracticeChange))
    comment: Mapped[str | None] = mapped_column(sa.Text)

    follow_up: Mapped[FollowUp] = relationship(lazy="joined")

    @property
    def is_answered(self) -> bool:
        return self.answered_at is not None

    def can_answer(self, now: datetime) -> bool:
        return self.answered_at is None and now < self.expires_at
