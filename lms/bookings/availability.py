"""What a person can do about each session in a list: book, join the waiting list, or nothing.

The catalogue shows it on every card in words ("8 places left", "Full: join the waiting list, you
would be number 4") rather than the arithmetic behind it. A page of sessions reads it in the same
statement as the sessions themselves (`with_availability`); `availability_of` reads it for sessions
already loaded, in two statements whatever their number.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import aliased, joinedload, lazyload

from lms.accounts.models import User
from lms.bookings.models import ApprovalRequest, Booking, BookingStatus
from lms.bookings.places import free_places
from lms.bookings.rules import bookings_closed_for
from lms.core.formatting import plural
from lms.courses.models import CourseSession
from lms.extensions import db

# A session with this many places left or fewer is nearly full (or a tenth of it, for a big one).
FEW_PLACES = 3
# Made once: an alias copies every column of booking, which is work for each statement that needs one.
_OWN = aliased(Booking, name="own_booking")
_AHEAD = aliased(Booking, name="ahead")


@dataclass(frozen=True)
class Availability:
    session: CourseSession
    taken: int  # places held, by confirmed bookings and any that keep a place while they wait
    waiting: int  # people on the waiting list
    closed: bool  # bookings have closed for this person
    booking: Booking | None  # this person's own live booking
    position: int | None = None  # their place on the waiting list

    @functools.cached_property  # asked for again and again by the words on a card
    def places_left(self) -> int:
        return free_places(self.session.bookable_limit, self.taken)

    @property
    def is_full(self) -> bool:
        return self.places_left == 0

    @property
    def is_nearly_full(self) -> bool:
        return 0 < self.places_left <= max(FEW_PLACES, self.session.bookable_limit // 10)

    @property
    def is_yours(self) -> bool:
        return self.booking is not None

    @property
    def tone(self) -> str:
        """A word for the card's style: yours, closed, full, few or open."""
        if self.is_yours:
            return "yours"
        if self.closed:
            return "closed"
        if self.is_full:
            return "full"
        return "few" if self.is_nearly_full else "open"

    def summary(self) -> str:
        """What the person can do, in one short sentence."""
        if self.booking is not None:
            if self.booking.is_confirmed:
                return "You have a place"
            if self.booking.is_waiting:
                return f"You are number {self.position} on the waiting list"
            return "Your booking is awaiting approval"
        if self.closed:
            return "Bookings have closed"
        if self.is_full:
            return f"Full: join the waiting list, you would be number {self.waiting + 1}"
        if self.is_nearly_full:
            return f"Only {plural(self.places_left, 'place')} left"
        return f"{plural(self.places_left, 'place')} left"


def takes_place() -> sa.ColumnElement[bool]:
    """A booking that holds one of the session's places: confirmed, or awaiting approval with its
    place kept meanwhile (APPROVAL_HOLDS_PLACE)."""
    return sa.or_(
        Booking.status == BookingStatus.CONFIRMED,
        sa.and_(
            Booking.status == BookingStatus.AWAITING_APPROVAL,
            sa.exists().where(ApprovalRequest.booking_id == Booking.id, ApprovalRequest.holds_place),
        ),
    )


def place_counts(session_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """Places taken and people waiting, by session id, in one query."""
    if not session_ids:
        return {}
    taken = sa.func.count(Booking.id).filter(takes_place())
    waiting = sa.func.count(Booking.id).filter(Booking.status == BookingStatus.WAITING)
    rows = db.session.execute(
        sa.select(Booking.session_id, taken, waiting)
        .where(Booking.session_id.in_(session_ids), Booking.is_live)
        .group_by(Booking.session_id)
    )
    return {session_id: (taken_count, waiting_count) for session_id, taken_count, waiting_count in rows}


def own_bookings(session_ids: Sequence[int], person: User) -> dict[int, tuple[Booking, int | None]]:
    """The person's live bookings on these sessions, with their place on any waiting list."""
    if not session_ids:
        return {}
    rows = db.session.execute(
        sa.select(Booking, waiting_position_expression(Booking)).where(
            Booking.session_id.in_(session_ids), Booking.user_id == person.id, Booking.is_live
        )
    )
    return {booking.session_id: (booking, position) for booking, position in rows}


@functools.cache  # built once for each entity: the statements that use it are built on every page
def waiting_position_expression(booking) -> sa.ColumnElement[int | None]:
    """A booking's place on its session's waiting list, in SQL: 1 for the first person waiting, NULL
    when it is not waiting (lms.bookings.services.waiting_position in Python)."""
    ahead = _AHEAD
    earlier = (
        sa.select(sa.func.count(ahead.id))
        .where(
            ahead.session_id == booking.session_id,
            ahead.status == BookingStatus.WAITING,
            ahead.id < booking.id,
        )
        .correlate(booking)
        .scalar_subquery()
    )
    return sa.case((booking.status == BookingStatus.WAITING, earlier + 1), else_=sa.null())


def availability_of(
    sessions: Sequence[CourseSession], person: User, *, now: datetime
) -> dict[int, Availability]:
    """Each session's availability for this person, by session id."""
    ids = [session.id for session in sessions]
    counts = place_counts(ids)
    mine = own_bookings(ids, person)
    result = {}
    for session in sessions:
        taken, waiting = counts.get(session.id, (0, 0))
        booking, position = mine.get(session.id, (None, None))
        result[session.id] = Availability(
            session=session,
            taken=taken,
            waiting=waiting,
            closed=bookings_closed_for(session, person, now),
            booking=booking,
            position=position,
        )
    return result


def with_availability(query: sa.Select, person_id: int | sa.BindParameter[int]) -> sa.Select:
    """`query` of sessions, each row followed by what its availability needs, read in the same
    statement: places taken, people waiting, the live booking (or None) of the person `person_id`
    (their id, or a parameter that will hold it) and their place on its waiting list.
    `availability_from` makes the rows into Availability."""
    taken, waiting = _place_counts_of_session()
    mine = _OWN
    # At most one live booking per person and session (uq_booking_live_per_person): no row repeats.
    own = sa.and_(mine.session_id == CourseSession.id, mine.user_id == person_id, mine.is_live)
    return (
        query.add_columns(taken, waiting, mine, waiting_position_expression(mine))
        .outerjoin(mine, own)
        # The booking's session is the row's own; its person is the one asking.
        .options(lazyload(mine.session), lazyload(mine.user))
    )


@functools.cache  # built once: every page of sessions asks for them
def _place_counts_of_session() -> tuple[sa.ScalarSelect[int], sa.ScalarSelect[int]]:
    """Places taken and people waiting on the session of the row, in SQL."""
    taken = (
        sa.select(sa.func.count(Booking.id))
        .where(Booking.session_id == CourseSession.id, takes_place())
        .correlate(CourseSession)
        .scalar_subquery()
    )
    waiting = (
        sa.select(sa.func.count(Booking.id))
        .where(Booking.session_id == CourseSession.id, Booking.status == BookingStatus.WAITING)
        .correlate(CourseSession)
        .scalar_subquery()
    )
    return taken, waiting


def availability_from(row: sa.Row, person: User, *, now: datetime) -> Availability:
    """A row of `with_availability` as the session's Availability for this person."""
    session, taken, waiting, booking, position = row[:5]
    return Availability(
        session=session,
        taken=taken,
        waiting=waiting,
        closed=bookings_closed_for(session, person, now),
        booking=booking,
        position=position,
    )


def session_availability(session_id: int, person: User, *, now: datetime) -> Availability | None:
    """A session with its course, topic and trainer, and its availability for this person, in one
    statement; None when there is no such session."""
    row = db.session.execute(
        _session_availability_statement(), {"session_id": session_id, "person_id": person.id}
    ).one_or_none()
    return None if row is None else availability_from(row, person, now=now)


@functools.cache  # built once, its values bound when it runs
def _session_availability_statement() -> sa.Select:
    query = (
        sa.select(CourseSession)
        .where(CourseSession.id == sa.bindparam("session_id", type_=sa.Integer))
        # The trainer's name is shown; their roles are not asked.
        .options(joinedload(CourseSession.trainer).lazyload(User.role_rows))
    )
    return with_availability(query, sa.bindparam("person_id", type_=sa.Integer))


def free_places_expression() -> sa.ColumnElement[int]:
    """A session's places left, in SQL, for sorting the catalogue by it."""
    taken = (
        sa.select(sa.func.count(Booking.id))
        .where(Booking.session_id == CourseSession.id, takes_place())
        .correlate(CourseSession)
        .scalar_subquery()
    )
    limit = CourseSession.places + (CourseSession.places * CourseSession.overbook_percent) / 100
    return limit - taken
