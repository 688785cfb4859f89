"""Requests people make about their personal data (UK GDPR articles 15 and 17), logged by L&D."""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.accounts.models import User
from lms.core.calendar import is_working_day, working_days_after
from lms.core.db import UTCDateTime, enum_column
from lms.core.enums import TitledEnum
from lms.extensions import db

# How far ahead a request counts as "due soon" on the L&D dashboard.
DUE_SOON_DAYS = 7


class RequestKind(TitledEnum):
    ACCESS = ("access", "Access (a copy of their data)")
    ERASURE = ("erasure", "Erasure")


class RequestStatus(TitledEnum):
    OPEN = ("open", "Open")
    COMPLETED = ("completed", "Completed")


class ReceivedHow(TitledEnum):
    LETTER = ("letter", "Letter")
    EMAIL = ("email", "Email")
    PHONE = ("phone", "Phone")
    IN_PERSON = ("in_person", "In person")
    OTHER = ("other", "Other")


def one_month_after(received: date) -> date:
    """The deadline for answering a request received on `received`, as the ICO counts it: the same
    day of the next month, or that month's last day when it has no such day (31 January gives 28 or
    29 February); when that day is a weekend or a bank holiday, the next working day."""
    year, month = (received.year + 1, 1) if received.month == 12 else (received.year, received.month + 1)
    due = date(year, month, min(received.day, calendar.monthrange(year, month)[1]))
    return due if is_working_day(due) else working_days_after(due, 1)


class DataRequest(db.Model):
    """A request for access to, or erasure of, one person's data, and its deadline."""

    __tablename__ = "data_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[RequestKind] = mapped_column(enum_column(RequestKind))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="RESTRICT"), index=True)
    # UK dates: the day it arrived and the day the answer is due.
    received_on: Mapped[date]
    deadline: Mapped[date]
    received_how: Mapped[ReceivedHow] = mapped_column(enum_column(ReceivedHow))
    notes: Mapped[str | None] = mapped_column(sa.Text)
    status: Mapped[RequestStatus] = mapped_column(enum_column(RequestStatus))
    logged_at: Mapped[datetime] = mapped_column(UTCDateTime)
    logged_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))

    person: Mapped[User] = relationship(foreign_keys=[user_id], lazy="joined")
    logged_by: Mapped[User | None] = relationship(foreign_keys=[logged_by_id])
    completed_by: Mapped[User | None] = relationship(foreign_keys=[completed_by_id])

    __table_args__ = (
        sa.CheckConstraint("deadline >= received_on", name="deadline_after_receipt"),
        sa.CheckConstraint(
            "(status = 'completed') = (completed_at IS NOT NULL)", name="completed_when_completed_at"
        ),
        sa.Index("ix_data_request_status_deadline", "status", "deadline"),
    )

    @property
    def is_open(self) -> bool:
        return self.status is RequestStatus.OPEN

    @property
    def is_erasure(self) -> bool:
        return self.kind is RequestKind.ERASURE

    @property
    def is_access(self) -> bool:
        return self.kind is RequestKind.ACCESS

    def is_overdue(self, today: date) -> bool:
        return self.is_open and today > self.deadline

    def is_due_soon(self, today: date) -> bool:
        return self.is_open and today <= self.deadline <= today + timedelta(days=DUE_SOON_DAYS)

    def days_left(self, today: date) -> int:
        return (self.deadline - today).days

    @property
    def can_complete(self) -> bool:
        """An access request is completed by hand once the copy is sent; an erasure by erasing."""
        return self.is_open and self.is_access

    @property
    def can_erase(self) -> bool:
        return self.is_open and self.is_erasure and not self.person.is_erased
