"""Utilisation: places offered against places attended, aggregated in the database.

Places offered are the `places` of sessions that ran (not cancelled, already started) in the
period. Attended counts delegates marked attended or partially attended; utilisation is attended
over places offered, so overbooking can take a session past 100%.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import Enum

import sqlalchemy as sa

from lms.accounts.models import Agency, AgencyCategory
from lms.bookings.models import Attendance, Booking, BookingStatus, CancellationReason
from lms.core.db import UTCDateTime
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
    def has_chart(self) -> bool:
        """The breakdown drawn as a bar chart beside its table (by organisation)."""
        return self is Dimension.AGENCY

    @property
    def title(self) -> str:
        return {
            "agency": "Organisation",
            "category": "Sector",
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


Period = tuple[date, date]  # first and last UK dates, both included


@dataclass
class Comparison:
    """What the utilisation page shows: a period, the same period a year before, and its months."""

    current: Report
    previous: Report
    by_month: Report | None  # the current period month by month, when asked for


def utilisation(dimension: Dimension, start: date, end: date, *, now: datetime) -> Report:
    """Figures for sessions that ran from `start` to `end` (UK dates), a row per value of `dimension`."""
    [tally] = _count(dimension, [(start, end)], now=now, months=False)
    return tally.report(dimension, start, end)


def utilisation_compared(
    dimension: Dimension, current: Period, previous: Period, *, now: datetime, by_month: bool = True
) -> Comparison:
    """Two periods, and the first one month by month too, from one read of the bookings."""
    sliced = by_month and len(list(_months(*current))) <= _MOST_MONTHS
    this, last = _count(dimension, [current, previous], now=now, months=sliced)
    if by_month and not sliced:
        # Over decades, the months are counted by a read of their own rather than as slices.
        months = utilisation(Dimension.MONTH, *current, now=now)
    else:
        months = this.month_report(*current) if by_month else None
    return Comparison(this.report(dimension, *current), last.report(dimension, *previous), months)


# Counting -------------------------------------------------------------------------------------
#
# Bookings are read once, whatever is asked: grouped by the ids behind the dimension (never by
# names, which are joined to the few grouped rows) and by "slice", a stretch of time that is a
# whole period or, for the period shown month by month, one of its months. Totals are the sums
# of the rows. Places offered come from the sessions alone, in a second, small statement.


_MOST_MONTHS = 120  # counted as slices of one read; each is a row of a UNION ALL


@dataclass(frozen=True)
class _Slice:
    period: int  # which of the periods asked for
    month: str | None  # "2025-04" when the period is counted month by month
    starts: datetime  # UTC, included
    ends: datetime  # UTC, excluded


def _slices(periods: list[Period], months: bool) -> list[_Slice]:
    """The first period month by month when `months`, every other one whole. Periods may overlap:
    a session in two of them is counted in both."""
    slices = []
    for n, (start, end) in enumerate(periods):
        if months and n == 0:
            slices += [_Slice(n, month, *bounds) for month, bounds in _months(start, end)]
        else:
            slices.append(_Slice(n, None, start_of_london_day(start), end_of_london_day(end)))
    return slices


def _months(start: date, end: date):
    first = start
    while first <= end:
        following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        last = min(end, following - timedelta(days=1))
        yield first.strftime("%Y-%m"), (start_of_london_day(first), end_of_london_day(last))
        first = following


@dataclass
class _Tally:
    """One period's figures, added up from the grouped rows the database returns."""

    rows: dict[str, Figures] = field(default_factory=dict)
    months: dict[str, Figures] = field(default_factory=dict)
    total: Figures = field(default_factory=lambda: Figures("total", "Total"))

    def add(self, figures: Figures, *, row: str | None, label: str = "", month: str | None = None) -> None:
        if row is not None:
            self.rows.setdefault(row, Figures(row, label)).add(figures)
        if month is not None:
            self.months.setdefault(month, Figures(month, _label(Dimension.MONTH, month))).add(figures)
        self.total.add(figures)

    def report(self, dimension: Dimension, start: date, end: date) -> Report:
        ordered = sorted(
            self.rows.values(),
            key=lambda f: f.key if dimension is Dimension.MONTH else (-f.attended_total, f.label),
        )
        return Report(dimension, start, end, ordered, self.total)

    def month_report(self, start: date, end: date) -> Report:
        months = sorted(self.months.values(), key=lambda f: f.key)
        return Report(Dimension.MONTH, start, end, months, replace(self.total))


def _count(dimension: Dimension, periods: list[Period], *, now: datetime, months: bool) -> list[_Tally]:
    """A tally for each period, the first also by month when `months`."""
    slices = _slices(periods, months and dimension is not Dimension.MONTH)
    tallies = [_Tally() for _ in periods]

    def add(row, figures: Figures, key: str | None, label: str) -> None:
        part = slices[getattr(row, "slice", 0)]
        month = key if dimension is Dimension.MONTH else part.month
        tallies[part.period].add(figures, row=key, label=label, month=month if months else None)

    for row in db.session.execute(_sessions_statement(dimension, slices, now)):
        figures = Figures("", "", sessions=row.sessions, places=int(row.places or 0))
        if dimension.offers_places:
            add(row, figures, str(row.key), _label(dimension, row.label))
        else:
            add(row, figures, None, "")
    for row in db.session.execute(_bookings_statement(dimension, slices, now)):
        figures = Figures("", "", **{name: int(getattr(row, name) or 0) for name in _BOOKING_FIELDS})
        key, raw = _booking_key(dimension, row)
        add(row, figures, key, _label(dimension, raw))
    return tallies


def _in_slices(query, slices: list[_Slice], now: datetime) -> tuple[sa.Select, list]:
    """`query` kept to sessions that ran (not cancelled, started by `now`) in one of the slices,
    and, when there are several, the column saying which (a session in two is counted twice)."""
    ran = sa.and_(CourseSession.status != SessionStatus.CANCELLED, CourseSession.starts_at <= now)
    if len(slices) == 1:
        [only] = slices
        within = sa.and_(CourseSession.starts_at >= only.starts, CourseSession.starts_at < only.ends)
        return query.where(ran, within), []
    table = sa.union_all(
        *(
            sa.select(
                sa.literal(n).label("slice"),
                sa.literal(part.starts, UTCDateTime()).label("starts"),
                sa.literal(part.ends, UTCDateTime()).label("ends"),
            )
            for n, part in enumerate(slices)
        )
    ).subquery("slices")
    within = sa.and_(CourseSession.starts_at >= table.c.starts, CourseSession.starts_at < table.c.ends)
    return query.join(table, within).where(ran), [table.c.slice]


def _sessions_statement(dimension: Dimension, slices: list[_Slice], now: datetime):
    """Sessions that ran and the places they offered, by slice (and by the dimension's value)."""
    query = sa.select().select_from(CourseSession)
    if dimension in (Dimension.COURSE, Dimension.TOPIC):
        query = query.join(Course, Course.id == CourseSession.course_id)
    if dimension is Dimension.TOPIC:
        query = query.join(Topic, Topic.id == Course.topic_id)
    query, group = _in_slices(query, slices, now)
    if dimension.offers_places:
        key, label = _session_key(dimension)
        group += [key.label("key"), label.label("label")]
    query = query.add_columns(
        *group,
        sa.func.count(CourseSession.id).label("sessions"),
        sa.func.sum(CourseSession.places).label("places"),
    )
    return query.group_by(*group) if group else query


def _session_key(dimension: Dimension):
    return {
        Dimension.COURSE: (CourseSession.course_id, Course.title),
        Dimension.TOPIC: (Course.topic_id, Topic.name),
        Dimension.MODE: (CourseSession.delivery_mode, CourseSession.delivery_mode),
        Dimension.MONTH: (CourseSession.local_month, CourseSession.local_month),
    }[dimension]


def _bookings_statement(dimension: Dimension, slices: list[_Slice], now: datetime):
    """The one read of the bookings. Someone whose organisation was not listed is grouped by what
    they typed, whatever its case."""
    query = sa.select().select_from(Booking).join(CourseSession, CourseSession.id == Booking.session_id)
    if dimension is Dimension.TOPIC:
        query = query.join(Course, Course.id == CourseSession.course_id)
    query, group = _in_slices(query, slices, now)
    named = []
    if dimension is Dimension.AGENCY:
        typed = sa.case((Booking.agency_id.is_(None), sa.func.lower(Booking.other_organisation)))
        group += [Booking.agency_id.label("agency_id"), typed.label("typed")]
        named = [sa.func.min(Booking.other_organisation).label("typed_as")]
    elif dimension is Dimension.CATEGORY:
        group += [Booking.agency_id.label("agency_id")]
    else:
        group += [_session_key(dimension)[0].label("key")]
    query = query.add_columns(*group, *named, *_booking_counts()).group_by(*group)
    if dimension.offers_places:
        return query  # the sessions statement names these rows
    counts = query.subquery()
    return sa.select(counts, Agency.name, Agency.category).outerjoin(Agency, Agency.id == counts.c.agency_id)


def _booking_counts() -> list:
    def count_where(condition, name: str):
        return sa.func.sum(sa.case((condition, 1), else_=0)).label(name)

    confirmed = Booking.status == BookingStatus.CONFIRMED
    cancelled = Booking.status == BookingStatus.CANCELLED
    conditions = (
        sa.and_(confirmed, Booking.is_walk_in.is_(False)),
        sa.and_(confirmed, Booking.attendance == Attendance.ATTENDED),
        sa.and_(confirmed, Booking.attendance == Attendance.PARTIAL),
        sa.and_(confirmed, Booking.attendance == Attendance.NO_SHOW),
        sa.and_(cancelled, Booking.is_late_cancellation.is_(True)),
        sa.and_(
            cancelled,
            Booking.is_late_cancellation.is_(False),
            Booking.cancellation_reason == CancellationReason.DELEGATE,
        ),
        Booking.waitlisted_at.is_not(None),
    )
    return [count_where(c, name) for c, name in zip(conditions, _BOOKING_FIELDS, strict=True)]


_BOOKING_FIELDS = (
    "booked",
    "attended",
    "partial",
    "no_shows",
    "late_cancellations",
    "on_time_cancellations",
    "waiting",
)


def _booking_key(dimension: Dimension, row) -> tuple[str, object]:
    """A booking row's key and the raw value its label is made from."""
    if dimension is Dimension.CATEGORY:
        category = row.category.value if row.agency_id is not None else "unmapped"
        return category, category
    if dimension is Dimension.AGENCY:
        if row.agency_id is not None:
            return str(row.agency_id), row.name
        if row.typed is None:
            return "None", None
        return "other:" + row.typed, row.typed_as + " (typed as other)"
    return str(row.key), row.key


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
