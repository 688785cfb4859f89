"""Bookings: a person's place on a session, or their place in its waiting list."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.accounts.models import Agency, User
from lms.core.db import UTCDateTime, enum_column
from lms.core.enums import TitledEnum
from lms.courses.models import CourseSession
from lms.extensions import db


class BookingStatus(TitledEnum):
    CONFIRMED = ("confirmed", "Confirmed")
    WAITING = ("waiting", "Waiting list")
    CANCELLED = ("cancelled", "Cancelled")
    SUBSTITUTED = ("substituted", "Passed to a colleague")


LIVE_STATUSES = (BookingStatus.CONFIRMED, BookingStatus.WAITING)


class CancellationReason(TitledEnum):
    DELEGATE = ("delegate", "Cancelled by the delegate")
    REMOVED = ("removed", "Removed by the L&D team")
    SESSION_CANCELLED = ("session_cancelled", "The session was cancelled")


class Attendance(TitledEnum):
    ATTENDED = ("attended", "Attended")
    PARTIAL = ("partial", "Partially attended")
    NO_SHOW = ("no_show", "No-show")

    @property
    def counts_as_attended(self) -> bool:
        return self is not Attendance.NO_SHOW


class Booking(db.Model):
    __tablename__ = "booking"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(sa.ForeignKey("course_session.id", ondelete="RESTRICT"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="RESTRICT"), index=True)
    # The delegate's agency when they booked: charges and reports follow the booking.
    agency_id: Mapped[int | None] = mapped_column(sa.ForeignKey("agency.id", ondelete="RESTRICT"))
    other_organisation: Mapped[str | None] = mapped_column(sa.String(200))
    status: Mapped[BookingStatus] = mapped_column(enum_column(BookingStatus))
    booked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    booked_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    waitlisted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Confirmed from the waiting list inside the notice period: no late-cancellation charge.
    promoted_without_notice: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    promoted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    cancellation_reason: Mapped[CancellationReason | None] = mapped_column(enum_column(CancellationReason))
    is_late_cancellation: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    substitute_of_id: Mapped[int | None] = mapped_column(sa.ForeignKey("booking.id", ondelete="SET NULL"))
    is_walk_in: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # Recorded from attendance before this system (an import): counted, never evaluated or certified.
    is_past_record: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    attendance: Mapped[Attendance | None] = mapped_column(enum_column(Attendance))
    attendance_marked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attendance_marked_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    # When each scheduled message went, so a sweep sends it once however often it runs.
    reminder_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    joining_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    evaluation_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    evaluation_reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    session: Mapped[CourseSession] = relationship(lazy="joined")
    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="joined")
    agency: Mapped[Agency | None] = relationship()
    substitute_of: Mapped[Booking | None] = relationship(remote_side=[id])

    __table_args__ = (
        # One live booking per person per session, whatever the application does.
        sa.Index(
            "uq_booking_live_per_person",
            "session_id",
            "user_id",
            unique=True,
            postgresql_where=sa.text("status IN ('confirmed', 'waiting')"),
            sqlite_where=sa.text("status IN ('confirmed', 'waiting')"),
        ),
        sa.Index("ix_booking_session_status", "session_id", "status"),
        # Evaluation requests still waiting for their reminder, by when they were made (the sweep).
        sa.Index(
            "ix_booking_evaluation_due",
            "evaluation_requested_at",
            postgresql_where=sa.text(
                "evaluation_reminded_at IS NULL AND evaluation_requested_at IS NOT NULL"
            ),
            sqlite_where=sa.text("evaluation_reminded_at IS NULL AND evaluation_requested_at IS NOT NULL"),
        ),
        sa.CheckConstraint("attendance IS NULL OR status = 'confirmed'", name="attendance_confirmed"),
    )

    @hybrid_property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES

    @is_live.expression
    def is_live(cls):  # noqa: N805 - SQLAlchemy hybrid expression
        return cls.status.in_(LIVE_STATUSES)

    @property
    def is_confirmed(self) -> bool:
        return self.status is BookingStatus.CONFIRMED

    @property
    def is_waiting(self) -> bool:
        return self.status is BookingStatus.WAITING

    def belongs_to(self, user: User) -> bool:
        return self.user_id == user.id

    def can_cancel(self, user: User, now: datetime) -> bool:
        return self.belongs_to(user) and self.is_live and not self.session.has_started(now)

    def can_substitute(self, user: User, now: datetime) -> bool:
        return self.belongs_to(user) and self.is_confirmed and not self.session.has_started(now)

    def cancellation_is_late(self, now: datetime) -> bool:
        """Cancelling now would be a late cancellation, chargeable to the agency (the service's rule)."""
        from lms.bookings.rules import is_late_cancellation

        return is_late_cancellation(self, now)

    def late_from(self) -> datetime | None:
        """From when cancelling this place is late; None when cancelling it is never charged
        (a waiting-list place, or a place that came up at short notice)."""
        from lms.bookings.rules import late_from

        if not self.is_confirmed or self.promoted_without_notice:
            return None
        return late_from(self.session)

    @property
    def earns_certificate(self) -> bool:
        """Certificates are for delegates marked as attending the whole session (and evaluating it,
        which a past record from before the system never could)."""
        return self.is_confirmed and self.attendance is Attendance.ATTENDED and not self.is_past_record

    @property
    def is_substituted(self) -> bool:
        return self.status is BookingStatus.SUBSTITUTED
