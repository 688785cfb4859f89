"""What a person can do about each session in a list: book, join the waiting list, or nothing.

The catalogue shows it on every card in words ("8 places left", "Full: join the waiting list, you
would be number 4") rather than the arithmetic behind it. The counts for a whole page come in two
queries, whatever the number of sessions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from lms.accounts.models import User
from lms.bookings.models import ApprovalRequest, Booking, BookingStatus
from lms.bookings.places import free_places
from lms.bookings.rules import bookings_closed_for
from lms.core.formatting import plural
from lms.courses.models import CourseSession
from lms.extensions import db

# A session with this many places left or fewer is nearly full (or a tenth of it, for a big one).
FEW_PLACES = 3


@dataclass(frozen=True)
class Availability:
    session: CourseSession
    taken: int  # places held, by confirmed bookings and any that keep a place while they wait
    waiting: int  # people on the waiting list
    closed: bool  # bookings have closed for this person
    booking: Booking | None  # this person's own live booking
    position: int | None = None  # their place on the waiting list

    @property
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
    found = db.session.scalars(
        sa.select(Booking).where(
            Booking.session_id.in_(session_ids), Booking.user_id == person.id, Booking.is_live
        )
    ).all()
    result: dict[int, tuple[Booking, int | None]] = {}
    for booking in found:
        position = None
        if booking.is_waiting:
            position = 1 + db.session.scalar(
                sa.select(sa.func.count(Booking.id)).where(
                    Booking.session_id == booking.session_id,
                    Booking.status == BookingStatus.WAITING,
                    Booking.id < booking.id,
                )
            )
        result[booking.session_id] = (booking, position)
    return result


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
