"""The programme: topics, courses and their sessions."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from lms.accounts.models import Role, User
from lms.bookings.places import bookable_limit
from lms.core.db import UTCDateTime, enum_column
from lms.core.enums import TitledEnum
from lms.core.timezones import to_london
from lms.extensions import db


class DeliveryMode(TitledEnum):
    IN_PERSON = ("in_person", "In person")
    ONLINE_LIVE = ("online_live", "Online live")
    WEBINAR = ("webinar", "Webinar")
    ELEARNING = ("elearning", "eLearning")

    @property
    def is_online(self) -> bool:
        return self is not DeliveryMode.IN_PERSON


class CourseLevel(TitledEnum):
    FOUNDATION = ("foundation", "Foundation")
    INTERMEDIATE = ("intermediate", "Intermediate")
    ADVANCED = ("advanced", "Advanced")
    SPECIALIST = ("specialist", "Specialist")
    MANAGERS = ("managers", "Managers and leaders")


class SessionStatus(TitledEnum):
    SCHEDULED = ("scheduled", "Scheduled")
    CANCELLED = ("cancelled", "Cancelled")
    COMPLETED = ("completed", "Completed")


class Topic(db.Model):
    __tablename__ = "topic"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(150), unique=True)


class Course(db.Model):
    __tablename__ = "course"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(300))
    topic_id: Mapped[int] = mapped_column(sa.ForeignKey("topic.id", ondelete="RESTRICT"), index=True)
    description: Mapped[str] = mapped_column(sa.Text, default="")
    target_audience: Mapped[str] = mapped_column(sa.Text, default="")
    level: Mapped[CourseLevel] = mapped_column(enum_column(CourseLevel))
    delivery_mode: Mapped[DeliveryMode] = mapped_column(enum_column(DeliveryMode))
    duration_minutes: Mapped[int]
    provider: Mapped[str] = mapped_column(sa.String(200))
    is_active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    # Bookings need the line manager's approval when BOOKING_APPROVAL is "chosen".
    needs_approval: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The fee per place for organisations that pay one (PLACE_FEE_CATEGORIES); None: PLACE_FEE_PENCE.
    place_fee_pence: Mapped[int | None]

    topic: Mapped[Topic] = relationship(lazy="joined")
    sessions: Mapped[list[CourseSession]] = relationship(
        back_populates="course", order_by="CourseSession.starts_at"
    )

    __table_args__ = (
        sa.CheckConstraint("duration_minutes > 0", name="duration_positive"),
        sa.Index("uq_course_title_lower", sa.func.lower(title), unique=True),
    )

    @property
    def duration_hours(self) -> float:
        return self.duration_minutes / 60


class CourseSession(db.Model):
    """One dated delivery of a course, with its places."""

    __tablename__ = "course_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(sa.ForeignKey("course.id", ondelete="RESTRICT"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The UK calendar month it starts in, "2026-05": reports group by it on any database.
    local_month: Mapped[str] = mapped_column(sa.String(7), index=True)
    delivery_mode: Mapped[DeliveryMode] = mapped_column(enum_column(DeliveryMode))
    venue: Mapped[str | None] = mapped_column(sa.Text)
    online_link: Mapped[str | None] = mapped_column(sa.String(500))
    trainer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"), index=True)
    places: Mapped[int]
    overbook_percent: Mapped[int]
    cost_pence: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    status: Mapped[SessionStatus] = mapped_column(enum_column(SessionStatus), default=SessionStatus.SCHEDULED)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_reason: Mapped[str | None] = mapped_column(sa.Text)
    # Bumped when the time or place changes, so calendar invites update rather than duplicate.
    sequence: Mapped[int] = mapped_column(default=0, server_default="0")
    register_closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    register_closed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    # When the trainer (or the L&D team) was reminded that the register is still open.
    register_reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    course: Mapped[Course] = relationship(back_populates="sessions", lazy="joined")
    trainer: Mapped[User | None] = relationship(foreign_keys=[trainer_id])

    __table_args__ = (
        sa.CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        sa.CheckConstraint("places > 0", name="places_positive"),
        sa.CheckConstraint("overbook_percent BETWEEN 0 AND 100", name="overbook_range"),
        sa.CheckConstraint("cost_pence >= 0", name="cost_not_negative"),
        sa.Index("ix_course_session_starts_at", "starts_at"),
        sa.Index("ix_course_session_ends_at", "ends_at"),  # follow-ups are due weeks after the end
        sa.Index("ix_course_session_course_starts", "course_id", "starts_at"),
    )

    @validates("starts_at")
    def _keep_local_month(self, key, value):
        self.local_month = to_london(value).strftime("%Y-%m")
        return value

    @property
    def bookable_limit(self) -> int:
        return bookable_limit(self.places, self.overbook_percent)

    @property
    def is_cancelled(self) -> bool:
        return self.status is SessionStatus.CANCELLED

    @property
    def is_scheduled(self) -> bool:
        """Still to run (or running): it can be edited, cancelled, and its bookings changed."""
        return self.status is SessionStatus.SCHEDULED

    def has_started(self, now: datetime) -> bool:
        return now >= self.starts_at

    @property
    def register_is_closed(self) -> bool:
        return self.register_closed_at is not None

    def can_run_register(self, user: User) -> bool:
        """The session's trainer and L&D admins keep the register."""
        return user.has_role(Role.LND_ADMIN) or (
            self.trainer_id is not None and self.trainer_id == user.id and user.has_role(Role.TRAINER)
        )

    @property
    def length_minutes(self) -> int:
        return int((self.ends_at - self.starts_at).total_seconds() // 60)
