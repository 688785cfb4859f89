"""Utilisation: places offered against places attended, aggregated in the database.

Places offered are the `places` of sessions that ran (not cancelled, already started) in the
period. Attended counts delegates marked attended or partially attended; utilisation is attended
over places offered, so overbooking can take a session past 100%.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum

import sqlalchemy as sa

from lms.accounts.models import Agency, AgencyCategory
from lms.bookings.models import Attendance, Booking, BookingStatus, CancellationReason
from lms.core.formatting import format_month
from lms.core.timezones import end_of_london_day, start_of_london_day
from lms.courses.models import Course, CourseSession, DeliveryMode, SessionStatus, Topic
from lms.extensions import db


class Dimension(Enum):
    AGENCY = "agency"
    CATEGORY = "category"
    COURSE = "course"
    TOPIC = "topic"
    MODE = "mode"
    MONTH = "month"

    @property
    def title(self) -> str:
        return {
            "agency": "Agency",
            "category": "Agency category",
            "course": "Course",
            "topic": "Topic",
            "mode": "Delivery mode",
            "month": "Month",
        }[self.value]

    @property
    def offers_places(self) -> bool:
        """Places belong to sessions: an agency or category row has delegates, not places."""
        return self not in (Dimension.AGENCY, Dimension.CATEGORY)


@dataclass
class Figures:
    key: str
    label: str
    sessions: int = 0
    places: int = 0
    booked: int = 0
    attended: int = 0
    partial: int = 0
    no_shows: int = 0
    late_cancellations: int = 0
    on_time_cancellations: int = 0
    waiting: int = 0

    @property
    def attended_total(self) -> int:
        return self.attended + self.partial

    @property
    def utilisation(self) -> float | None:
        return self.attended_total / self.places if self.places else None

    def add(self, other: Figures) -> None:
        for name in (
            "sessions",
            "places",
            "booked",
            "attended",
            "partial",
            "no_shows",
            "late_cancellations",
            "on_time_cancellations",
            "waiting",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class Report:
    dimension: Dimension
    start: date
    end: date
    rows: list[Figures]
    total: Figures


def _ran(start: date, end: date, now: datetime):
    return sa.and_(
        CourseSession.status != SessionStatus.CANCELLED,
        CourseSession.starts_at >= start_of_london_day(start),
        CourseSession.starts_at < end_of_london_day(end),
        CourseSession.starts_at <= now,
    )


def _booking_counts():
    def count_where(condition):
        return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)

    confirmed = Booking.status == BookingStatus.CONFIRMED
    return [
        count_where(sa.and_(confirmed, Booking.is_walk_in.is_(False))),
        count_where(sa.and_(confirmed, Booking.attendance == Attendance.ATTENDED)),
        count_where(sa.and_(confirmed, Booking.attendance == Attendance.PARTIAL)),
        count_where(sa.and_(confirmed, Booking.attendance == Attendance.NO_SHOW)),
        count_where(
            sa.and_(Booking.status == BookingStatus.CANCELLED, Booking.is_late_cancellation.is_(True))
        ),
        count_where(
            sa.and_(
                Booking.status == BookingStatus.CANCELLED,
                Booking.is_late_cancellation.is_(False),
                Booking.cancellation_reason == CancellationReason.DELEGATE,
            )
        ),
        count_where(Booking.waitlisted_at.is_not(None)),
    ]


_BOOKING_FIELDS = (
    "booked",
    "attended",
    "partial",
    "no_shows",
    "late_cancellations",
    "on_time_cancellations",
    "waiting",
)


def _session_key(dimension: Dimension):
    return {
        Dimension.COURSE: (Course.id, Course.title),
        Dimension.TOPIC: (Topic.id, Topic.name),
        Dimension.MODE: (CourseSession.delivery_mode, CourseSession.delivery_mode),
        Dimension.MONTH: (CourseSession.local_month, CourseSession.local_month),
    }[dimension]


def _agency_key(dimension: Dimension):
    other = sa.func.lower(Booking.other_organisation)
    if dimension is Dimension.AGENCY:
        return (
            sa.func.coalesce(sa.cast(Booking.agency_id, sa.String), "other:" + other),
            sa.func.coalesce(Agency.name, sa.func.min(Booking.other_organisation) + " (typed as other)"),
        )
    category = sa.func.coalesce(sa.cast(Agency.category, sa.String), "unmapped")
    return (category, category)


def utilisation(dimension: Dimension, start: date, end: date, *, now: datetime) -> Report:
    """Figures for sessions that ran from `start` to `end` (UK dates), a row per value of `dimension`."""
    rows: dict[str, Figures] = {}
    if dimension.offers_places:
        key, label = _session_key(dimension)
        places = (
            sa.select(key, label, sa.func.count(CourseSession.id), sa.func.sum(CourseSession.places))
            .select_from(CourseSession)
            .join(Course, Course.id == CourseSession.course_id)
            .join(Topic, Topic.id == Course.topic_id)
            .where(_ran(start, end, now))
            .group_by(key, label)
        )
        for row_key, row_label, sessions, offered in db.session.execute(places):
            rows[str(row_key)] = Figures(
                str(row_key), _label(dimension, row_label), sessions=sessions, places=offered or 0
            )
        counts = (
            sa.select(key, label, *_booking_counts())
            .select_from(Booking)
            .join(CourseSession, CourseSession.id == Booking.session_id)
            .join(Course, Course.id == CourseSession.course_id)
            .join(Topic, Topic.id == Course.topic_id)
            .where(_ran(start, end, now))
            .group_by(key, label)
        )
    else:
        key, label = _agency_key(dimension)
        group = (key, Agency.name) if dimension is Dimension.AGENCY else (key,)
        counts = (
            sa.select(key, label, *_booking_counts())
            .select_from(Booking)
            .join(CourseSession, CourseSession.id == Booking.session_id)
            .outerjoin(Agency, Agency.id == Booking.agency_id)
            .where(_ran(start, end, now))
            .group_by(*group)
        )
    for row_key, row_label, *values in db.session.execute(counts):
        figures = rows.setdefault(str(row_key), Figures(str(row_key), _label(dimension, row_label)))
        for name, value in zip(_BOOKING_FIELDS, values, strict=True):
            setattr(figures, name, int(value or 0))
    total = _totals(start, end, now)
    ordered = sorted(
        rows.values(), key=lambda f: f.key if dimension is Dimension.MONTH else (-f.attended_total, f.label)
    )
    return Report(dimension, start, end, ordered, total)


def _totals(start: date, end: date, now: datetime) -> Figures:
    total = Figures("total", "Total")
    sessions, places = db.session.execute(
        sa.select(
            sa.func.count(CourseSession.id), sa.func.coalesce(sa.func.sum(CourseSession.places), 0)
        ).where(_ran(start, end, now))
    ).one()
    total.sessions, total.places = sessions, int(places)
    values = db.session.execute(
        sa.select(*_booking_counts())
        .select_from(Booking)
        .join(CourseSession, CourseSession.id == Booking.session_id)
        .where(_ran(start, end, now))
    ).one()
    for name, value in zip(_BOOKING_FIELDS, values, strict=True):
        setattr(total, name, int(value or 0))
    return total


def _label(dimension: Dimension, raw) -> str:
    if dimension is Dimension.MODE:
        return DeliveryMode(raw.value if isinstance(raw, DeliveryMode) else raw).title
    if dimension is Dimension.CATEGORY:
        try:
            return AgencyCategory(raw).title
        except ValueError:
            return "Organisations typed as other"
    if dimension is Dimension.MONTH:
        year, month = str(raw).split("-")
        return format_month(date(int(year), int(month), 1))
    return str(raw)
