"""What needs the L&D team and finance today: the work on their dashboards. Read-only.

- Organisations typed in by people and not yet mapped to one on the list.
- Registers still open after their session ended, and whether they will close by themselves.
- Sessions in the coming weeks that are under-filled, and waiting lists long enough for another date.
- Requests about personal data (access, erasure) overdue or due within a week.
- For finance: charges not yet invoiced, invoices unpaid and overdue, credit notes called for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from lms.accounts.services import unmapped_organisations
from lms.bookings.availability import place_counts
from lms.bookings.models import ApprovalRequest, Approver, Booking, BookingStatus
from lms.bookings.registers import closes_automatically_at
from lms.core.timezones import london_date
from lms.courses.models import CourseSession, SessionStatus
from lms.extensions import db
from lms.finance.models import Charge, ChargeStatus, Invoice, InvoiceStatus
from lms.finance.services import charges_needing_credit
from lms.privacy.models import DataRequest
from lms.privacy.requests import requests_due

UNDER_FILLED_WEEKS = 6  # how far ahead an under-filled session is worth a push
UNDER_FILLED_SHARE = 0.5  # fewer places taken than this share of the places
LONG_WAIT_SHARE = 0.25  # a waiting list this long (of the places) could fill another date
LONG_WAIT_MINIMUM = 5
SHOWN = 8  # rows in each list; the rest are counted


@dataclass(frozen=True)
class OpenRegister:
    session: CourseSession
    unmarked: int
    marked: int
    closes_at: datetime | None

    @property
    def will_close_itself(self) -> bool:
        return self.closes_at is not None and self.marked > 0


@dataclass(frozen=True)
class Filling:
    session: CourseSession
    taken: int
    waiting: int


@dataclass(frozen=True)
class LndWork:
    lnd_approvals: int  # bookings only the L&D team may approve (after repeated no-shows)
    manager_approvals: int  # bookings waiting for a line manager (L&D may decide instead)
    unmapped_people: int
    unmapped_names: int
    open_registers: list[OpenRegister]
    under_filled: list[Filling]
    long_waits: list[Filling]
    data_requests: list[DataRequest] = field(default_factory=list)  # overdue or due within a week
    today: date | None = None

    @property
    def anything(self) -> bool:
        return bool(
            self.data_requests
            or self.lnd_approvals
            or self.manager_approvals
            or self.unmapped_names
            or self.open_registers
            or self.under_filled
            or self.long_waits
        )


def open_registers(now: datetime) -> list[OpenRegister]:
    """Sessions that ended and whose register is still open, oldest first."""
    marked = sa.func.count(Booking.id).filter(Booking.attendance.is_not(None))
    unmarked = sa.func.count(Booking.id).filter(Booking.attendance.is_(None))
    rows = db.session.execute(
        sa.select(CourseSession, marked, unmarked)
        .outerjoin(
            Booking,
            sa.and_(Booking.session_id == CourseSession.id, Booking.status == BookingStatus.CONFIRMED),
        )
        .where(
            CourseSession.status == SessionStatus.SCHEDULED,
            CourseSession.ends_at < now,
            CourseSession.register_closed_at.is_(None),
        )
        .group_by(CourseSession.id)
        .order_by(CourseSession.ends_at, CourseSession.id)
    ).all()
    return [
        OpenRegister(session, unmarked=count, marked=marked_count, closes_at=closes_automatically_at(session))
        for session, marked_count, count in rows
    ]


def _coming(now: datetime, until: datetime) -> list[CourseSession]:
    return list(
        db.session.scalars(
            sa.select(CourseSession)
            .where(
                CourseSession.status == SessionStatus.SCHEDULED,
                CourseSession.starts_at > now,
                CourseSession.starts_at <= until,
            )
            .order_by(CourseSession.starts_at, CourseSession.id)
        )
    )


def filling(now: datetime) -> tuple[list[Filling], list[Filling]]:
    """Sessions in the coming weeks that are under-filled, and those with a long waiting list."""
    sessions = _coming(now, now + timedelta(weeks=UNDER_FILLED_WEEKS))
    counts = place_counts([session.id for session in sessions])
    under, long = [], []
    for session in sessions:
        taken, waiting = counts.get(session.id, (0, 0))
        row = Filling(session, taken, waiting)
        if taken < session.places * UNDER_FILLED_SHARE:
            under.append(row)
        if waiting >= max(LONG_WAIT_MINIMUM, session.places * LONG_WAIT_SHARE):
            long.append(row)
    return under, long


def approvals_waiting() -> tuple[int, int]:
    """Open approval requests: those for the L&D team, and those waiting for a line manager."""
    rows = db.session.execute(
        sa.select(ApprovalRequest.approver, sa.func.count(ApprovalRequest.id))
        .join(ApprovalRequest.booking)
        .where(ApprovalRequest.decided_at.is_(None), Booking.status == BookingStatus.AWAITING_APPROVAL)
        .group_by(ApprovalRequest.approver)
    ).all()
    counts = dict(rows)
    return counts.get(Approver.LND, 0), counts.get(Approver.MANAGER, 0)


def lnd_work(now: datetime) -> LndWork:
    unmapped = unmapped_organisations()
    under, long = filling(now)
    lnd_approvals, manager_approvals = approvals_waiting()
    return LndWork(
        lnd_approvals=lnd_approvals,
        manager_approvals=manager_approvals,
        unmapped_people=sum(group.people for group in unmapped),
        unmapped_names=len(unmapped),
        open_registers=open_registers(now),
        under_filled=under,
        long_waits=long,
        data_requests=requests_due(london_date(now)),
        today=london_date(now),
    )


@dataclass(frozen=True)
class FinanceWork:
    unbilled_count: int
    unbilled_pence: int
    unpaid_count: int
    unpaid_pence: int
    overdue_count: int
    overdue_pence: int
    needing_credit: int

    @property
    def anything(self) -> bool:
        return bool(self.unbilled_count or self.unpaid_count or self.needing_credit)


def finance_work(today: date) -> FinanceWork:
    unbilled_count, unbilled_pence = db.session.execute(
        sa.select(sa.func.count(Charge.id), sa.func.coalesce(sa.func.sum(Charge.amount_pence), 0)).where(
            Charge.status == ChargeStatus.RAISED
        )
    ).one()
    unpaid = db.session.scalars(sa.select(Invoice).where(Invoice.status == InvoiceStatus.ISSUED)).all()
    overdue = [invoice for invoice in unpaid if invoice.is_overdue(today)]
    return FinanceWork(
        unbilled_count=unbilled_count,
        unbilled_pence=unbilled_pence,
        unpaid_count=len(unpaid),
        unpaid_pence=sum(invoice.outstanding_pence for invoice in unpaid),
        overdue_count=len(overdue),
        overdue_pence=sum(invoice.outstanding_pence for invoice in overdue),
        needing_credit=len(charges_needing_credit()),
    )
