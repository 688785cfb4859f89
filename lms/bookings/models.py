"""Bookings: a person's place on a session, or their place in its waiting list."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from lms.accounts.models import Agency, AgencyCategory, User
from lms.core.db import UTCDateTime, enum_column
from lms.core.enums import TitledEnum
from lms.courses.models import CourseSession
from lms.extensions import db


class BookingStatus(TitledEnum):
    CONFIRMED = ("confirmed", "Confirmed")
    WAITING = ("waiting", "Waiting list")
    CANCELLED = ("cancelled", "Cancelled")
    SUBSTITUTED = ("substituted", "Passed to a colleague")
    # Waiting for the line manager's (or L&D's) approval: see lms/bookings/approvals.py.
    AWAITING_APPROVAL = ("awaiting_approval", "Awaiting approval")


LIVE_STATUSES = (BookingStatus.CONFIRMED, BookingStatus.WAITING, BookingStatus.AWAITING_APPROVAL)


class CancellationReason(TitledEnum):
    DELEGATE = ("delegate", "Cancelled by the delegate")
    REMOVED = ("removed", "Removed by the L&D team")
    SESSION_CANCELLED = ("session_cancelled", "The session was cancelled")
    APPROVAL_DECLINED = ("approval_declined", "Not approved")
    APPROVAL_EXPIRED = ("approval_expired", "Not approved in time")


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
    # When the delegate checked themselves in with the session's QR code (lms/bookings/checkin.py).
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
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
            postgresql_where=sa.text("status IN ('confirmed', 'waiting', 'awaiting_approval')"),
            sqlite_where=sa.text("status IN ('confirmed', 'waiting', 'awaiting_approval')"),
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

    @property
    def is_awaiting_approval(self) -> bool:
        return self.status is BookingStatus.AWAITING_APPROVAL

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


# Approval -------------------------------------------------------------------------------------


class Approver(TitledEnum):
    MANAGER = ("manager", "Line manager")
    # After repeated no-shows or late cancellations (NO_SHOW_LIMIT): only the L&D team approves.
    LND = ("lnd", "L&D team")


class ApprovalDecision(TitledEnum):
    APPROVED = ("approved", "Approved")
    DECLINED = ("declined", "Declined")
    EXPIRED = ("expired", "Not approved in time")


class ApprovalRequest(db.Model):
    """A booking's request for approval: who is asked, by when, and what they decided. The link
    the manager is emailed holds a secret whose SHA-256 alone is kept here (the reminder carries a
    second one); a decision, an expiry or a cancelled booking ends both."""

    __tablename__ = "approval_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(sa.ForeignKey("booking.id", ondelete="CASCADE"), unique=True)
    approver: Mapped[Approver] = mapped_column(enum_column(Approver))
    manager_name: Mapped[str | None] = mapped_column(sa.String(200))
    manager_email: Mapped[str | None] = mapped_column(sa.String(254))
    # No-shows and late cancellations counted when the L&D team's approval was asked for.
    missed_count: Mapped[int | None]
    token_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    reminder_token_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    # Whether the booking keeps a place while it waits (APPROVAL_HOLDS_PLACE, and a place was free).
    holds_place: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    remind_after: Mapped[datetime] = mapped_column(UTCDateTime)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision: Mapped[ApprovalDecision | None] = mapped_column(enum_column(ApprovalDecision))
    reason: Mapped[str | None] = mapped_column(sa.Text)
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    decided_by_email: Mapped[str | None] = mapped_column(sa.String(254))

    booking: Mapped[Booking] = relationship(lazy="joined", backref=backref("approval", uselist=False))

    @property
    def is_open(self) -> bool:
        """Still waiting for a decision: undecided, and the booking still awaiting approval."""
        return self.decided_at is None and self.booking.is_awaiting_approval

    def has_expired(self, now: datetime) -> bool:
        return now >= self.expires_at

    @property
    def deadline_text(self) -> str:
        """The deadline as people read it: a deadline at midnight is "the end of" the day before."""
        from lms.core.formatting import format_date, format_datetime
        from lms.core.timezones import to_london

        local = to_london(self.expires_at)
        if (local.hour, local.minute) == (0, 0):
            return f"the end of {format_date(local - timedelta(minutes=1))}"
        return format_datetime(self.expires_at)

    @property
    def has_lapsed(self) -> bool:
        """The deadline passed with no decision, and the sweep closed the request."""
        return self.decision is ApprovalDecision.EXPIRED

    @property
    def is_approved(self) -> bool:
        return self.decision is ApprovalDecision.APPROVED

    @property
    def needs_lnd(self) -> bool:
        return self.approver is Approver.LND


class ApprovalCategory(db.Model):
    """An organisation category whose staff need their line manager's approval to book, when
    BOOKING_APPROVAL is "chosen" (courses are chosen on the course itself)."""

    __tablename__ = "approval_category"

    category: Mapped[AgencyCategory] = mapped_column(enum_column(AgencyCategory), primary_key=True)
    chosen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    chosen_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
