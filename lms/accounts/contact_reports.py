"""What a training contact sees: their organisations' bookings, attendance, charges and invoices,
and their staff's training records as CSV or XLSX. Read-only; every query is limited to a set of
organisation ids taken from lms/accounts/contacts.py, never from the request.

A booking belongs to the organisation the delegate worked for when they booked (Booking.agency_id),
as charges and reports do: a person who moves on takes their new bookings with them, and the
organisation they left keeps the record of what it paid for.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from lms.accounts.models import User
from lms.bookings.models import Attendance, Booking, BookingStatus
from lms.core.timezones import end_of_london_day, london_date, start_of_london_day
from lms.courses.models import CourseSession
from lms.extensions import db
from lms.finance.models import Charge, ChargeStatus, CreditNote, Invoice, InvoiceStatus

# Which bookings a list shows, by the name in the query string.
BOOKING_VIEWS = {
    "upcoming": "Booked and coming up",
    "waiting": "On a waiting list",
    "approval": "Awaiting approval",
    "past": "Past sessions",
}


def _ids(agency_ids: Collection[int]) -> list[int]:
    # An empty scope matches nothing (IN () is not valid everywhere).
    return list(agency_ids) or [-1]


def bookings_query(agency_ids: Collection[int], view: str, *, now: datetime) -> sa.Select:
    """Bookings of the organisations' staff for one of BOOKING_VIEWS."""
    query = (
        sa.select(Booking)
        .join(Booking.session)
        .options(joinedload(Booking.agency))
        .where(Booking.agency_id.in_(_ids(agency_ids)))
    )
    if view == "waiting":
        return query.where(Booking.status == BookingStatus.WAITING, CourseSession.starts_at > now).order_by(
            CourseSession.starts_at
        )
    if view == "approval":
        return query.where(
            Booking.status == BookingStatus.AWAITING_APPROVAL, CourseSession.starts_at > now
        ).order_by(CourseSession.starts_at)
    if view == "past":
        return query.where(
            CourseSession.starts_at <= now, Booking.status == BookingStatus.CONFIRMED
        ).order_by(CourseSession.starts_at.desc())
    return query.where(Booking.status == BookingStatus.CONFIRMED, CourseSession.starts_at > now).order_by(
        CourseSession.starts_at
    )


def missed_query(
    agency_ids: Collection[int], *, since: datetime | None = None, until: datetime | None = None
):
    """No-shows and late cancellations, latest first."""
    query = (
        sa.select(Booking)
        .join(Booking.session)
        .where(
            Booking.agency_id.in_(_ids(agency_ids)),
            sa.or_(Booking.attendance == Attendance.NO_SHOW, Booking.is_late_cancellation),
        )
        .order_by(CourseSession.starts_at.desc())
    )
    if since is not None:
        query = query.where(CourseSession.starts_at >= since)
    if until is not None:
        query = query.where(CourseSession.starts_at < until)
    return query


def charges_query(agency_ids: Collection[int]) -> sa.Select:
    """Charges billed to the organisations, latest session first."""
    return (
        sa.select(Charge)
        .where(Charge.agency_id.in_(_ids(agency_ids)))
        .order_by(Charge.session_date.desc(), Charge.id.desc())
    )


def invoices_query(agency_ids: Collection[int]) -> sa.Select:
    """Invoices addressed to the organisations, latest first."""
    return (
        sa.select(Invoice)
        .where(Invoice.agency_id.in_(_ids(agency_ids)))
        .order_by(Invoice.issued_at.desc(), Invoice.id.desc())
    )


def invoice_in_scope(invoice_id: int, agency_ids: Collection[int]) -> Invoice | None:
    """The invoice when it is addressed to one of the organisations; None otherwise, so that an
    invoice of another organisation looks exactly like one that does not exist."""
    return db.session.scalar(
        sa.select(Invoice).where(Invoice.id == invoice_id, Invoice.agency_id.in_(_ids(agency_ids)))
    )


def credit_note_in_scope(note_id: int, agency_ids: Collection[int]) -> CreditNote | None:
    """The credit note when the invoice it credits is addressed to one of the organisations."""
    return db.session.scalar(
        sa.select(CreditNote)
        .join(Invoice, Invoice.id == CreditNote.invoice_id)
        .where(CreditNote.id == note_id, Invoice.agency_id.in_(_ids(agency_ids)))
    )


@dataclass(frozen=True)
class StaffMember:
    person: User
    sessions_attended: int
    last_attended: date | None
    no_shows: int


def staff_summary(agency_ids: Collection[int], *, page: int, per_page: int):
    """The organisations' people, by surname, each with the sessions they attended, when they last
    did, and how many they missed (bookings made for these organisations only)."""
    from lms.accounts.contacts import staff_of

    people = db.paginate(staff_of(list(agency_ids)), page=page, per_page=per_page, error_out=False)
    ids = [p.id for p in people.items] or [-1]
    attended = Booking.attendance.in_([Attendance.ATTENDED, Attendance.PARTIAL])
    rows = db.session.execute(
        sa.select(
            Booking.user_id,
            sa.func.count(Booking.id).filter(attended),
            sa.func.max(CourseSession.starts_at).filter(attended),
            sa.func.count(Booking.id).filter(Booking.attendance == Attendance.NO_SHOW),
        )
        .join(Booking.session)
        .where(
            Booking.user_id.in_(ids),
            Booking.agency_id.in_(_ids(agency_ids)),
            Booking.status == BookingStatus.CONFIRMED,
        )
        .group_by(Booking.user_id)
    ).all()
    by_person = {user_id: (count, last, missed) for user_id, count, last, missed in rows}
    members = []
    for person in people.items:
        count, last, missed = by_person.get(person.id, (0, None, 0))
        members.append(StaffMember(person, count, london_date(last) if last else None, missed))
    return people, members


@dataclass(frozen=True)
class Overview:
    upcoming: int
    waiting: int
    awaiting_approval: int
    missed_last_year: int
    charges_open_pence: int
    invoices_unpaid: int


def overview(agency_ids: Collection[int], *, now: datetime) -> Overview:
    """The numbers on the training contact's landing page."""

    def count(query: sa.Select) -> int:
        return db.session.scalar(sa.select(sa.func.count()).select_from(query.order_by(None).subquery())) or 0

    year_ago = now - timedelta(days=365)
    open_pence = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Charge.amount_pence), 0)).where(
            Charge.agency_id.in_(_ids(agency_ids)),
            Charge.status.in_([ChargeStatus.RAISED, ChargeStatus.INVOICED]),
        )
    )
    unpaid = db.session.scalar(
        sa.select(sa.func.count(Invoice.id)).where(
            Invoice.agency_id.in_(_ids(agency_ids)), Invoice.status == InvoiceStatus.ISSUED
        )
    )
    return Overview(
        upcoming=count(bookings_query(agency_ids, "upcoming", now=now)),
        waiting=count(bookings_query(agency_ids, "waiting", now=now)),
        awaiting_approval=count(bookings_query(agency_ids, "approval", now=now)),
        missed_last_year=count(missed_query(agency_ids, since=year_ago, until=now)),
        charges_open_pence=int(open_pence or 0),
        invoices_unpaid=int(unpaid or 0),
    )


# Training records --------------------------------------------------------------------------------

RECORD_HEADER = (
    "Surname",
    "First name",
    "Email",
    "Job role",
    "Organisation",
    "Course",
    "Level",
    "Session date",
    "CPD hours",
    "Attendance",
)
# Least column widths in characters, for the spreadsheet.
RECORD_WIDTHS = (18, 16, 30, 24, 30, 44, 14, 14, 10, 20)


def training_records_query(
    agency_ids: Collection[int], *, since: date | None = None, until: date | None = None
) -> sa.Select:
    """The bookings behind `training_records`, optionally only sessions on or after `since` and on
    or before `until` (UK dates): a query, so the API can page it in the database."""
    query = (
        sa.select(Booking)
        .join(Booking.session)
        .join(User, User.id == Booking.user_id)
        .options(
            joinedload(Booking.agency),
            joinedload(Booking.user),
            joinedload(Booking.session).joinedload(CourseSession.course),
        )
        .where(
            Booking.agency_id.in_(_ids(agency_ids)),
            Booking.status == BookingStatus.CONFIRMED,
            Booking.attendance.in_([Attendance.ATTENDED, Attendance.PARTIAL]),
        )
        .order_by(
            sa.func.lower(User.last_name), sa.func.lower(User.first_name), User.id, CourseSession.starts_at
        )
    )
    if since is not None:
        query = query.where(CourseSession.starts_at >= start_of_london_day(since))
    if until is not None:
        query = query.where(CourseSession.starts_at < end_of_london_day(until))
    return query


def record_row(booking: Booking) -> tuple:
    """One attended session as a row of the training records."""
    person, course = booking.user, booking.session.course
    return (
        person.last_name,
        person.first_name,
        person.email,
        person.job_role,
        booking.agency.name if booking.agency else "",
        course.title,
        course.level.title,
        london_date(booking.session.starts_at),
        round(course.duration_minutes / 60, 2),
        booking.attendance.title,
    )


def training_records(agency_ids: Collection[int]) -> list[tuple]:
    """Each attended session of the organisations' staff, by person then date: plain values (a date
    as a date, hours as a number), ready for a CSV or a spreadsheet."""
    return [record_row(booking) for booking in db.session.scalars(training_records_query(agency_ids))]


# The monthly summary -------------------------------------------------------------------------------


@dataclass(frozen=True)
class MonthSummary:
    """What happened to the organisations' staff in one month (UK time)."""

    month: date  # its first day
    booked: int  # places booked in the month
    sessions: list[Booking]  # places on sessions held in the month, confirmed
    no_shows: list[Booking]
    late_cancellations: list[Booking]
    charges: list[Charge]  # raised in the month
    invoices: list[Invoice]  # issued in the month

    @property
    def attended(self) -> int:
        return sum(1 for b in self.sessions if b.attendance is not None and b.attendance.counts_as_attended)

    @property
    def charged_pence(self) -> int:
        return sum(c.amount_pence for c in self.charges)

    @property
    def is_empty(self) -> bool:
        return not (self.booked or self.sessions or self.late_cancellations or self.charges or self.invoices)


def month_summary(agency_ids: Collection[int], month: date) -> MonthSummary:
    from lms.core.timezones import start_of_london_day

    first = month.replace(day=1)
    following = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    start, end = start_of_london_day(first), start_of_london_day(following)
    ids = _ids(agency_ids)
    in_scope = Booking.agency_id.in_(ids)
    booked = db.session.scalar(
        sa.select(sa.func.count(Booking.id)).where(
            in_scope, Booking.booked_at >= start, Booking.booked_at < end
        )
    )
    sessions = db.session.scalars(
        sa.select(Booking)
        .join(Booking.session)
        .where(
            in_scope,
            Booking.status == BookingStatus.CONFIRMED,
            CourseSession.starts_at >= start,
            CourseSession.starts_at < end,
        )
        .order_by(CourseSession.starts_at, Booking.id)
    ).all()
    late = db.session.scalars(
        sa.select(Booking)
        .join(Booking.session)
        .where(
            in_scope, Booking.is_late_cancellation, Booking.cancelled_at >= start, Booking.cancelled_at < end
        )
        .order_by(CourseSession.starts_at, Booking.id)
    ).all()
    charges = db.session.scalars(
        sa.select(Charge)
        .where(Charge.agency_id.in_(ids), Charge.raised_at >= start, Charge.raised_at < end)
        .order_by(Charge.session_date, Charge.id)
    ).all()
    invoices = db.session.scalars(
        sa.select(Invoice)
        .where(Invoice.agency_id.in_(ids), Invoice.issued_at >= start, Invoice.issued_at < end)
        .order_by(Invoice.issued_at, Invoice.id)
    ).all()
    return MonthSummary(
        month=first,
        booked=int(booked or 0),
        sessions=list(sessions),
        no_shows=[b for b in sessions if b.attendance is Attendance.NO_SHOW],
        late_cancellations=list(late),
        charges=list(charges),
        invoices=list(invoices),
    )
