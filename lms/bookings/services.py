"""The booking life cycle: book, wait, cancel, substitute, manage a session, keep the register.

Every change that touches places locks the session row first (FOR NO KEY UPDATE on
PostgreSQL; on SQLite the write transaction already holds the database's write lock), then
counts. A partial unique index allows one live booking per person per session.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lms.accounts.models import Role, User
from lms.bookings import notify
from lms.bookings.availability import takes_place
from lms.bookings.models import Attendance, Booking, BookingStatus, CancellationReason
from lms.bookings.places import bookable_limit, free_places, next_from_waiting_list
from lms.bookings.rules import (
    bookings_close_at,
    bookings_closed_for,
    is_colleague,
    is_late_cancellation,
    is_promotion_without_notice,
)
from lms.core.audit import AuditEntry, log_action
from lms.core.errors import DomainError, PermissionDenied
from lms.core.formatting import bookings_close_sentence, format_rate, plural, plural_word
from lms.core.permissions import require_role
from lms.core.timezones import InvalidLocalTime, end_of_london_day, london_to_utc, start_of_london_day
from lms.courses.models import Course, CourseSession, SessionStatus
from lms.courses.services import SessionDetails, fill_session
from lms.evaluations.services import award_certificate, request_evaluation, request_evaluations
from lms.extensions import db
from lms.finance.models import ChargeReason
from lms.finance.services import raise_charge, settle_register_charge
from lms.integrations.webhooks import emit
from lms.messages import calendar


class BookingError(DomainError):
    pass


@dataclass(frozen=True)
class ManagerDetails:
    """The line manager named on the booking form, when the person's account names none."""

    name: str
    email: str


# Locking and counting -------------------------------------------------------------------------


# The sessions whose row lock this database transaction holds, with the (sub)transaction that took it.
_LOCKED = "lms.locked_sessions"


def lock_session(session: CourseSession) -> CourseSession:
    """Take the session's row lock and reload it, so counts read after this are current. A session
    already locked in this transaction is current as it is: nobody else can have changed it."""
    taken_in = db.session.info.get(_LOCKED, {}).get(session.id)
    if taken_in is not None and taken_in.is_active:
        return session
    return _read_locked(session.id)


def session_for_booking(session_id: int) -> CourseSession | None:
    """The session read with its row lock taken, or None: a booking request's first read of it, so
    that book_place takes the lock without reading the session a second time."""
    return _read_locked(session_id, missing_ok=True)


def _read_locked(session_id: int, *, missing_ok: bool = False) -> CourseSession | None:
    if db.session.get_bind().dialect.name == "sqlite":
        # Writers already began with BEGIN IMMEDIATE; this write makes sure of the lock anyway.
        db.session.execute(
            sa.update(CourseSession)
            .where(CourseSession.id == session_id)
            .values(id=CourseSession.id)
            .execution_options(synchronize_session=False)
        )
    result = db.session.scalars(
        sa.select(CourseSession)
        .where(CourseSession.id == session_id)
        .with_for_update(key_share=True, of=CourseSession)
        .execution_options(populate_existing=True)
    )
    session = result.one_or_none() if missing_ok else result.one()
    if session is not None:
        current = db.session()
        transaction = current.get_nested_transaction() or current.get_transaction()
        current.info.setdefault(_LOCKED, {})[session_id] = transaction
    return session


@sa.event.listens_for(Session, "after_transaction_end")
def _forget_locks(orm_session: Session, transaction) -> None:
    if transaction.parent is None:  # the database transaction ended, and its locks with it
        orm_session.info.pop(_LOCKED, None)


def count_bookings(session: CourseSession, status: BookingStatus) -> int:
    return db.session.scalar(
        sa.select(sa.func.count(Booking.id)).where(Booking.session_id == session.id, Booking.status == status)
    )


def waiting_list(session: CourseSession) -> list[Booking]:
    """People waiting, first come first served."""
    return list(
        db.session.scalars(
            sa.select(Booking)
            .where(Booking.session_id == session.id, Booking.status == BookingStatus.WAITING)
            # Ids are handed out under the session lock: that is the order people arrived in.
            .order_by(Booking.id)
        )
    )


def waiting_position(booking: Booking) -> int | None:
    """1 for the first person waiting; None when the booking is not waiting."""
    if not booking.is_waiting:
        return None
    ahead = db.session.scalar(
        sa.select(sa.func.count(Booking.id)).where(
            Booking.session_id == booking.session_id,
            Booking.status == BookingStatus.WAITING,
            Booking.id < booking.id,
        )
    )
    return ahead + 1


def live_booking(session: CourseSession, person: User) -> Booking | None:
    return db.session.scalar(
        sa.select(Booking).where(
            Booking.session_id == session.id, Booking.user_id == person.id, Booking.is_live
        )
    )


def taken_places(session: CourseSession) -> int:
    """Places held: confirmed bookings, and bookings awaiting approval that keep their place."""
    return db.session.scalar(
        sa.select(sa.func.count(Booking.id)).where(Booking.session_id == session.id, takes_place())
    )


def holds_a_place(booking: Booking) -> bool:
    """The booking takes one of the session's places (so cancelling it frees one)."""
    if booking.is_confirmed:
        return True
    return booking.is_awaiting_approval and booking.approval is not None and booking.approval.holds_place


def places_left(session: CourseSession) -> int:
    return free_places(session.bookable_limit, taken_places(session))


@dataclass(frozen=True)
class PlaceCounts:
    """What a booking needs to know about the session's bookings, counted after its lock is held."""

    live: int  # the person's live bookings of the session (0 or 1)
    taken: int  # places held on the session
    earlier: int  # the person's bookings of the session, of any status (for the calendar event)


def place_counts_for(session: CourseSession, person: User) -> PlaceCounts:
    """The person's live and earlier bookings of the session and its places taken, in one statement.
    Read after the session's lock (not within the locking statement: on PostgreSQL that statement's
    snapshot is taken before it waits for the lock, so it would miss a booking committed meanwhile)."""
    mine = Booking.user_id == person.id
    row = db.session.execute(
        sa.select(
            sa.func.count(Booking.id).filter(mine, Booking.is_live),
            sa.func.count(Booking.id).filter(takes_place()),
            sa.func.count(Booking.id).filter(mine),
        ).where(Booking.session_id == session.id)
    ).one()
    return PlaceCounts(live=row[0], taken=row[1], earlier=row[2])


# Booking ------------------------------------------------------------------------------------


def _check_bookable(
    session: CourseSession, person: User, *, by: User, staff: bool, now: datetime, has_live_booking: bool
) -> None:
    if session.status is SessionStatus.CANCELLED:
        raise BookingError("This session has been cancelled, so it cannot be booked.")
    if session.status is not SessionStatus.SCHEDULED or session.has_started(now):
        raise BookingError("This session has already started, so it can no longer be booked.")
    if bookings_closed_for(session, by, now):
        raise BookingError(
            f"{bookings_close_sentence(bookings_close_at(session), now=now)}. "
            "Contact the L&D team if you still need a place."
        )
    if not person.is_enabled:
        raise BookingError(f"{person.full_name}'s account is disabled.")
    if session.trainer_id is not None and session.trainer_id == person.id:
        if by.id == person.id:
            raise BookingError.conflict("You deliver this session, so you cannot book a place on it.")
        raise BookingError.conflict(f"{person.full_name} delivers this session, so cannot have a place.")
    if has_live_booking:
        who = "You already have" if not staff else f"{person.full_name} already has"
        raise BookingError(f"{who} a place or a place on the waiting list for this session.")


def booking_for(session: CourseSession, person: User, *, by: User, now: datetime) -> Booking:
    """A new booking carrying the person's agency as it is today: charges follow the booking."""
    return Booking(
        session=session,
        user=person,
        agency_id=person.agency_id,
        other_organisation=person.other_organisation,
        booked_at=now,
        booked_by_id=by.id,
    )


def _new_booking(
    session: CourseSession, person: User, *, by: User, now: datetime, counts: PlaceCounts
) -> Booking:
    booking = booking_for(session, person, by=by, now=now)
    calendar.note_earlier_bookings(booking, counts.earlier)
    if free_places(session.bookable_limit, counts.taken) > 0:
        booking.status = BookingStatus.CONFIRMED
        booking.confirmed_at = now
    else:
        booking.status = BookingStatus.WAITING
        booking.waitlisted_at = now
    return save_new_booking(booking)


def save_new_booking(booking: Booking) -> Booking:
    """Insert a new live booking; the unique index refuses a second live one for the person."""
    db.session.add(booking)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError as exc:
        # The unique index caught a second live booking that slipped past the check.
        raise BookingError("There is already a live booking for this person on this session.") from exc
    return booking


def book_place(
    session: CourseSession, person: User, *, by: User, now: datetime, manager: ManagerDetails | None = None
) -> Booking:
    """Book `person` on `session`: confirmed while places last, otherwise the waiting list; or,
    when approval is needed, awaiting the line manager's (or L&D's) approval."""
    from lms.bookings import approvals

    staff = by.has_role(Role.LND_ADMIN)
    if by.id != person.id and not staff:
        raise PermissionDenied("You can only book a place for yourself.")
    session = lock_session(session)
    counts = place_counts_for(session, person)
    _check_bookable(session, person, by=by, staff=staff, now=now, has_live_booking=counts.live > 0)
    approver = approvals.approval_needed(session, person, by=by, now=now)
    if approver is not None:
        return approvals.request_approval(session, person, approver, manager=manager, by=by, now=now)
    booking = _new_booking(session, person, by=by, now=now, counts=counts)
    name = "lms.booking.confirmed" if booking.is_confirmed else "lms.booking.waitlisted"
    log_action(name, subject=booking, actor=by, now=now, session_id=session.id, user_id=person.id)
    emit(name.removeprefix("lms."), booking, now=now)
    if booking.is_confirmed:
        notify.booking_confirmed(booking, now=now)
    else:
        notify.waiting_list_joined(booking, waiting_position(booking), now=now)
    return booking


def fill_from_waiting_list(session: CourseSession, *, now: datetime) -> list[Booking]:
    """Confirm people waiting, in order, while there are free places. The session must be locked."""
    if session.status is not SessionStatus.SCHEDULED or session.has_started(now):
        return []
    promoted = []
    taken = taken_places(session)
    for booking in next_from_waiting_list(waiting_list(session), session.bookable_limit, taken):
        booking.status = BookingStatus.CONFIRMED
        booking.confirmed_at = now
        booking.promoted_at = now
        booking.promoted_without_notice = is_promotion_without_notice(session, now)
        promoted.append(booking)
        log_action("lms.booking.promoted", subject=booking, actor=None, now=now, session_id=session.id)
        emit("booking.promoted", booking, now=now)
        notify.place_confirmed_from_waiting_list(booking, now=now)
    db.session.flush()
    return promoted


# Cancelling and substituting ----------------------------------------------------------------


def _cancel(booking: Booking, *, by: User, reason: CancellationReason, late: bool, now: datetime) -> None:
    booking.status = BookingStatus.CANCELLED
    booking.cancelled_at = now
    booking.cancelled_by_id = by.id if by else None
    booking.cancellation_reason = reason
    booking.is_late_cancellation = late


def cancel_booking(booking: Booking, *, by: User, now: datetime) -> Booking:
    """The delegate cancels; late if inside the notice period, and a freed place goes to the next waiting."""
    if not booking.belongs_to(by):
        raise PermissionDenied("You can only cancel your own bookings.")
    session = lock_session(booking.session)
    db.session.refresh(booking)
    if not booking.is_live:
        raise BookingError("This booking has already been cancelled.")
    if session.has_started(now):
        raise BookingError("The session has started, so the booking can no longer be cancelled.")
    was_confirmed = holds_a_place(booking)
    late = is_late_cancellation(booking, now)
    _cancel(booking, by=by, reason=CancellationReason.DELEGATE, late=late, now=now)
    db.session.flush()
    log_action("lms.booking.cancelled", subject=booking, actor=by, now=now, late=late)
    emit("booking.cancelled", booking, now=now)
    notify.cancellation_confirmed(booking, now=now)
    if late:
        raise_charge(booking, ChargeReason.LATE_CANCELLATION, now=now)
    if was_confirmed:
        fill_from_waiting_list(session, now=now)
    return booking


def find_colleague(booking: Booking, email: str) -> User:
    """The registered colleague a place can be passed to: same agency, enabled, not yet booked."""
    colleague = db.session.scalar(sa.select(User).where(User.email == User.normalise_email(email)))
    delegate = booking.user
    if colleague is None or not colleague.is_enabled:
        raise BookingError(
            "No one is registered with that email address. Ask your colleague to register first.",
            field="email",
        )
    if colleague.id == delegate.id:
        raise BookingError("That is your own email address.", field="email")
    if not is_colleague(
        delegate.agency_id, delegate.other_organisation, colleague.agency_id, colleague.other_organisation
    ):
        raise BookingError("You can only pass your place to a colleague in your own agency.", field="email")
    return colleague


def substitute_booking(booking: Booking, colleague: User, *, by: User, now: datetime) -> Booking:
    """Pass a confirmed place to a colleague of the same agency, free of charge."""
    if not booking.belongs_to(by) and not by.has_role(Role.LND_ADMIN):
        raise PermissionDenied("You can only pass on your own place.")
    session = lock_session(booking.session)
    db.session.refresh(booking)
    if not booking.is_confirmed:
        raise BookingError("Only a confirmed place can be passed to a colleague.")
    if session.has_started(now):
        raise BookingError("The session has started, so the place can no longer be passed on.")
    find_colleague(booking, colleague.email)
    if live_booking(session, colleague) is not None:
        raise BookingError(
            f"{colleague.full_name} is already booked or waiting for this session.", field="email"
        )
    booking.status = BookingStatus.SUBSTITUTED
    booking.cancelled_at = now
    booking.cancelled_by_id = by.id
    db.session.flush()
    replacement = booking_for(session, colleague, by=by, now=now)
    replacement.status = BookingStatus.CONFIRMED
    replacement.confirmed_at = now
    replacement.substitute_of = booking
    db.session.add(replacement)
    db.session.flush()
    log_action(
        "lms.booking.substituted",
        subject=booking,
        actor=by,
        now=now,
        to_user_id=colleague.id,
        new_booking_id=replacement.id,
    )
    emit("booking.substituted", booking, now=now)
    emit("booking.confirmed", replacement, now=now)
    notify.substitution(booking, replacement, now=now)
    return replacement


# Managing a session (L&D) ---------------------------------------------------------------------


def _require_admin(by: User | None) -> None:
    require_role(by, Role.LND_ADMIN, message="Only the L&D team can do that.")


def add_delegate(session: CourseSession, person: User, *, by: User, now: datetime) -> Booking:
    """L&D books someone, even after bookings close; the bookable limit still holds."""
    _require_admin(by)
    return book_place(session, person, by=by, now=now)


def remove_delegate(booking: Booking, *, by: User, now: datetime) -> Booking:
    """L&D removes someone from a session without charge; a freed place goes to the next waiting."""
    _require_admin(by)
    session = lock_session(booking.session)
    db.session.refresh(booking)
    if not booking.is_live:
        raise BookingError("This booking is no longer live.")
    was_confirmed = holds_a_place(booking)
    _cancel(booking, by=by, reason=CancellationReason.REMOVED, late=False, now=now)
    db.session.flush()
    log_action("lms.booking.removed", subject=booking, actor=by, now=now)
    emit("booking.cancelled", booking, now=now)
    notify.removed_by_admin(booking, now=now)
    if was_confirmed:
        fill_from_waiting_list(session, now=now)
    return booking


def change_places(session: CourseSession, places: int, *, by: User, now: datetime) -> list[Booking]:
    """Change the commissioned places; more places confirm people waiting, in order."""
    _require_admin(by)
    session = lock_session(session)
    if session.status is not SessionStatus.SCHEDULED:
        raise BookingError("Places can only be changed on a scheduled session.", field="places")
    if places < 1:
        raise BookingError("A session needs at least one place.", field="places")
    confirmed = taken_places(session)
    new_limit = bookable_limit(places, session.overbook_percent)
    if new_limit < confirmed:
        raise BookingError(
            f"{plural(confirmed, 'person', 'people')} already "
            f"{plural_word(confirmed, 'holds a confirmed place', 'hold confirmed places')}, and "
            f"{plural(places, 'place')} would allow only {new_limit}. "
            "Remove delegates first, or choose more places.",
            field="places",
        )
    before = session.places
    session.places = places
    session.updated_at = now
    db.session.flush()
    log_action(
        "lms.session.places_changed",
        subject=session,
        actor=by,
        now=now,
        before=before,
        after=places,
    )
    return fill_from_waiting_list(session, now=now)


def edit_session(
    session: CourseSession, details: SessionDetails, *, by: User, now: datetime
) -> list[Booking]:
    """Change a session: delegates hear of a new time or place; more places fill from the waiting list."""
    from lms.bookings import trainer_tools

    _require_admin(by)
    session = lock_session(session)
    if not session.is_scheduled:
        raise BookingError.conflict(
            f"This session is {session.status.title.lower()} and can no longer be changed."
        )
    confirmed = taken_places(session)
    new_limit = bookable_limit(details.places, details.overbook_percent)
    if new_limit < confirmed:
        raise BookingError(
            f"{plural(confirmed, 'person', 'people')} already "
            f"{plural_word(confirmed, 'holds a confirmed place', 'hold confirmed places')}, and "
            f"{plural(details.places, 'place')} with {format_rate(details.overbook_percent)} overbooking "
            f"{plural_word(details.places, 'allows', 'allow')} only {new_limit}. Remove delegates first.",
            field="places",
        )
    before = (
        session.starts_at,
        session.ends_at,
        session.venue,
        session.online_link,
        session.delivery_mode,
    )
    logged_before = {"places": session.places, "starts_at": session.starts_at.isoformat()}
    fill_session(session, details)
    session.updated_at = now
    db.session.flush()
    logged_after = {"places": session.places, "starts_at": session.starts_at.isoformat()}
    log_action(
        "lms.session.updated", subject=session, actor=by, now=now, before=logged_before, after=logged_after
    )
    after = (
        session.starts_at,
        session.ends_at,
        session.venue,
        session.online_link,
        session.delivery_mode,
    )
    if before != after:
        session.sequence += 1
        live = db.session.scalars(
            sa.select(Booking).where(Booking.session_id == session.id, Booking.is_live).order_by(Booking.id)
        ).all()
        for booking in live:
            notify.session_changed(booking, now=now)
        trainer_tools.trainer_told_of_change(session, now=now)
    db.session.flush()
    return fill_from_waiting_list(session, now=now)


def cancel_session(session: CourseSession, *, reason: str, by: User, now: datetime) -> int:
    """The partnership cancels a session: every booking is cancelled free and everyone is told."""
    from lms.bookings import trainer_tools

    _require_admin(by)
    session = lock_session(session)
    if not session.is_scheduled:
        raise BookingError.conflict(f"This session is already {session.status.title.lower()}.")
    reason = reason.strip()
    if not reason:
        raise BookingError("Say why the session is cancelled.", field="reason")
    session.status = SessionStatus.CANCELLED
    session.cancelled_at = now
    session.cancel_reason = reason
    session.updated_at = now
    db.session.flush()
    log_action("lms.session.cancelled", subject=session, actor=by, now=now, reason=reason)
    live = db.session.scalars(
        sa.select(Booking).where(Booking.session_id == session.id, Booking.is_live).order_by(Booking.id)
    ).all()
    for booking in live:
        was_confirmed = booking.is_confirmed
        _cancel(booking, by=by, reason=CancellationReason.SESSION_CANCELLED, late=False, now=now)
        notify.session_cancelled(booking, was_confirmed=was_confirmed, now=now)
    emit("booking.cancelled", *live, now=now)
    trainer_tools.trainer_told_of_cancellation(session, now=now)
    db.session.flush()
    return len(live)


# The register ---------------------------------------------------------------------------------


def check_register(session: CourseSession, by: User | None, now: datetime) -> None:
    """Who may keep the register, and when. `by=None` is the scheduler closing a register left open."""
    if by is not None and not session.can_run_register(by):
        raise PermissionDenied("Only the session's trainer or the L&D team can keep its register.")
    if session.status is SessionStatus.CANCELLED:
        raise BookingError("This session was cancelled, so it has no register.")
    if not session.has_started(now):
        raise BookingError("The register opens when the session starts.")
    if session.register_is_closed and (by is None or not by.has_role(Role.LND_ADMIN)):
        raise BookingError("The register is closed. Ask the L&D team to correct it.")


def mark_attendance(booking: Booking, outcome: Attendance, *, by: User | None, now: datetime) -> None:
    """Mark a confirmed delegate attended, partially attended or no-show."""
    check_register(booking.session, by, now)
    if not booking.is_confirmed:
        raise BookingError("Only delegates with a confirmed place are on the register.")
    before = booking.attendance
    if before is outcome:
        return
    booking.attendance = outcome
    booking.attendance_marked_at = now
    booking.attendance_marked_by_id = by.id if by is not None else None
    db.session.flush()
    log_action(
        "lms.register.marked",
        subject=booking,
        actor=by,
        now=now,
        before=before.value if before else None,
        after=outcome.value,
        after_close=booking.session.register_is_closed,
    )
    if booking.session.register_is_closed:
        # A correction after closing: the charge follows the register, and anyone now marked as
        # attending is asked to evaluate too.
        settle_register_charge(booking, by=by, now=now)
        emit("attendance.recorded", booking, now=now)
        if outcome is not Attendance.NO_SHOW:
            request_evaluation(booking, now=now)
            award_certificate(booking, now=now)


def mark_unmarked(
    session: CourseSession, outcome: Attendance, *, by: User | None, now: datetime
) -> list[Booking]:
    """Mark every confirmed delegate not yet marked with `outcome` (each audited as a mark is);
    returns the bookings marked."""
    unmarked = [booking for booking in register_of(session) if booking.attendance is None]
    for booking in unmarked:
        mark_attendance(booking, outcome, by=by, now=now)
    return unmarked


def add_walk_in(
    session: CourseSession, person: User, outcome: Attendance, *, by: User, now: datetime
) -> Booking:
    """Someone came who was not booked (or was waiting): add them to the register."""
    check_register(session, by, now)
    session = lock_session(session)
    booking = live_booking(session, person)
    if booking is not None and booking.is_confirmed:
        raise BookingError(f"{person.full_name} is already on the register.", field="email")
    if booking is None:
        booking = booking_for(session, person, by=by, now=now)
        db.session.add(booking)
    booking.status = BookingStatus.CONFIRMED
    booking.confirmed_at = now
    booking.is_walk_in = True
    booking.attendance = outcome
    booking.attendance_marked_at = now
    booking.attendance_marked_by_id = by.id
    db.session.flush()
    log_action("lms.register.walk_in", subject=booking, actor=by, now=now, outcome=outcome.value)
    return booking


def register_of(session: CourseSession) -> list[Booking]:
    return list(
        db.session.scalars(
            sa.select(Booking)
            .join(Booking.user)
            .where(Booking.session_id == session.id, Booking.status == BookingStatus.CONFIRMED)
            .order_by(User.last_name, User.first_name, Booking.id)
        )
    )


def keep_register(
    session: CourseSession,
    outcomes: dict[Booking, Attendance],
    *,
    close: bool,
    by: User,
    now: datetime,
) -> None:
    """Save what the register page marked, and close the register when asked, as one step."""
    check_register(session, by, now)
    for booking, outcome in outcomes.items():
        if booking.session_id != session.id:
            raise BookingError("That delegate is not on this session's register.")
        mark_attendance(booking, outcome, by=by, now=now)
    if close:
        close_register(session, by=by, now=now)


def close_register(session: CourseSession, *, by: User | None, now: datetime) -> None:
    """Fix the outcomes: every confirmed delegate must be marked first."""
    check_register(session, by, now)
    session = lock_session(session)
    if session.register_is_closed:
        raise BookingError("The register is already closed.")
    unmarked = [b.user.full_name for b in register_of(session) if b.attendance is None]
    if unmarked:
        names = ", ".join(unmarked[:5]) + (f" and {len(unmarked) - 5} more" if len(unmarked) > 5 else "")
        raise BookingError(f"Mark everyone before closing the register. Not yet marked: {names}.")
    session.register_closed_at = now
    session.register_closed_by_id = by.id if by is not None else None
    session.status = SessionStatus.COMPLETED
    session.updated_at = now
    db.session.flush()
    log_action("lms.register.closed", subject=session, actor=by, now=now)
    # Everyone who attended is now asked to evaluate the session; no-shows are charged.
    request_evaluations(session, now=now)
    # No-shows are charged, and delegates of organisations that pay a fee per place (finance).
    register = register_of(session)
    for booking in register:
        settle_register_charge(booking, by=by, now=now)
    emit("attendance.recorded", *register, now=now)


# Past attendance (history loaded at go-live) ----------------------------------------------------

PAST_SESSION_START = time(9, 30)  # when a past session is taken to have started, if the file does not say


def record_past_attendance(
    person: User,
    course: Course,
    day: date,
    outcome: Attendance,
    *,
    start: time | None = None,
    minutes: int | None = None,
    places: int | None = None,
    by: User | None,
    now: datetime,
) -> tuple[Booking, str]:
    """Record that `person` attended (or missed) a session of `course` on `day` that ran before this
    system did. The session is made if it is not there yet, completed with its register closed; the
    person gets a confirmed booking with the outcome. Nothing is sent and nothing is charged. Recording
    the same person on the same session again changes the outcome instead of adding a booking.
    Returns the booking and "created", "updated" or "unchanged"."""
    require_role(by, Role.LND_ADMIN, message="Only the L&D team can record past attendance.")
    if minutes is not None and not 15 <= minutes <= 100 * 60:
        raise BookingError("A session lasts from a quarter of an hour to 100 hours.", field="hours")
    if places is not None and not 1 <= places <= 10_000:
        raise BookingError("A session has from 1 to 10,000 places.", field="places")
    session, session_changed = _past_session(course, day, start, minutes, places, by=by, now=now)
    booking = live_booking(session, person)
    before = booking.attendance if booking is not None else None
    if booking is not None and before is outcome:
        return booking, "updated" if session_changed else "unchanged"
    if booking is None:
        booking = Booking(
            session=session,
            user=person,
            agency_id=person.agency_id,
            other_organisation=person.other_organisation,
            status=BookingStatus.CONFIRMED,
            booked_at=session.starts_at,
            booked_by_id=by.id if by else None,
            confirmed_at=session.starts_at,
            is_past_record=True,
        )
        db.session.add(booking)
    booking.attendance = outcome
    booking.attendance_marked_at = now
    booking.attendance_marked_by_id = by.id if by else None
    db.session.flush()
    if places is None:
        # Places not known: at least everyone recorded on the session had one.
        session.places = max(session.places, count_bookings(session, BookingStatus.CONFIRMED))
        db.session.flush()
    log_action(
        "lms.booking.past_recorded",
        subject=booking,
        actor=by,
        now=now,
        session_id=session.id,
        user_id=person.id,
        before=before.value if before else None,
        after=outcome.value,
    )
    return booking, "created" if before is None else "updated"


def _past_session(
    course: Course,
    day: date,
    start: time | None,
    minutes: int | None,
    places: int | None,
    *,
    by: User | None,
    now: datetime,
) -> tuple[CourseSession, bool]:
    """The session of `course` on `day` (at `start`, when given) that past attendance goes on, made if
    needed, and whether its length or places changed. It must have ended before the evaluation and
    follow-up window, and have no register kept in this system."""
    try:
        starts_at = london_to_utc(datetime.combine(day, start or PAST_SESSION_START))
    except InvalidLocalTime as exc:
        raise BookingError(str(exc), field="start_time") from exc
    query = sa.select(CourseSession).where(
        CourseSession.course_id == course.id,
        CourseSession.status != SessionStatus.CANCELLED,
        CourseSession.starts_at >= start_of_london_day(day),
        CourseSession.starts_at < end_of_london_day(day),
    )
    if start is not None:
        query = query.where(CourseSession.starts_at == starts_at)
    found = db.session.scalars(query.order_by(CourseSession.starts_at)).all()
    if len(found) > 1:
        raise BookingError(
            f"{course.title} has {len(found)} sessions on {day:%d/%m/%Y}: give the start time of yours.",
            field="start_time",
        )
    session = found[0] if found else None
    length = timedelta(minutes=minutes or course.duration_minutes)
    window = timedelta(days=current_app.config["FOLLOW_UP_CLOSE_DAYS"])
    if (session.ends_at if session else starts_at + length) > now - window:
        raise BookingError(
            f"Past attendance is for sessions that ended more than {window.days} days ago, once their "
            "evaluations and follow-up surveys are over. Keep this session's register in the system.",
            field="date",
        )
    if session is not None and _recorded_as_past(session):
        return session, _correct_past_session(session, length if minutes else None, places, by=by, now=now)
    if session is not None:
        booked = db.session.scalar(sa.select(Booking.id).where(Booking.session_id == session.id).limit(1))
        if booked is not None or session.register_is_closed:
            raise BookingError.conflict(
                f"The session of {course.title} on {day:%d/%m/%Y} has its own register in the system: "
                "correct its attendance there.",
                field="date",
            )
    else:
        # A session nobody booked in this system (listed by the programme, say) is taken over as it is.
        session = CourseSession(
            course=course,
            starts_at=starts_at,
            ends_at=starts_at + length,
            delivery_mode=course.delivery_mode,
            places=places or 1,
            overbook_percent=0,
            cost_pence=0,
            created_at=now,
            updated_at=now,
        )
        db.session.add(session)
    if places is not None:
        session.places = places
    if minutes is not None:
        session.ends_at = session.starts_at + length
    session.status = SessionStatus.COMPLETED
    session.register_closed_at = now
    session.register_closed_by_id = by.id if by else None
    session.updated_at = now
    db.session.flush()
    log_action("lms.session.past_recorded", subject=session, actor=by, now=now, course_id=course.id)
    return session, False


def _recorded_as_past(session: CourseSession) -> bool:
    return (
        db.session.scalar(
            sa.select(AuditEntry.id)
            .where(
                AuditEntry.name == "lms.session.past_recorded",
                AuditEntry.subject_type == CourseSession.__tablename__,
                AuditEntry.subject_id == session.id,
            )
            .limit(1)
        )
        is not None
    )


def _correct_past_session(
    session: CourseSession, length: timedelta | None, places: int | None, *, by: User | None, now: datetime
) -> bool:
    """A later file may say how long a past session was, or how many places it had."""
    before = {"places": session.places, "ends_at": session.ends_at.isoformat()}
    if length is not None:
        session.ends_at = session.starts_at + length
    if places is not None:
        session.places = places
    after = {"places": session.places, "ends_at": session.ends_at.isoformat()}
    if after == before:
        return False
    session.updated_at = now
    db.session.flush()
    log_action("lms.session.past_recorded", subject=session, actor=by, now=now, before=before, after=after)
    return True
