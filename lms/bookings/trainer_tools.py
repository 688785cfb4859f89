"""What the trainer of a session does around its register: see the delegates before it starts, print
a sign-in sheet, mark everyone attended and then the exceptions, and add someone who came without an
account. The register's own rules (who may keep it, and when) stay in lms/bookings/services.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lms.accounts.models import Role, User, UserRole
from lms.accounts.services import PersonDetails, apply_person_details, find_user_by_email, send_invitation
from lms.bookings.models import Attendance, Booking, BookingStatus
from lms.bookings.services import (
    BookingError,
    add_walk_in,
    check_register,
    count_bookings,
    live_booking,
    mark_unmarked,
    register_of,
)
from lms.core.audit import log_action
from lms.core.errors import PermissionDenied
from lms.courses.models import CourseSession
from lms.extensions import db
from lms.messages.services import queue_message, session_subject


def require_register_access(session: CourseSession, user: User) -> None:
    """The session's trainer and the L&D team see its delegates; nobody else does."""
    if not session.can_run_register(user):
        raise PermissionDenied("Only the session's trainer or the L&D team can see its delegates.")


@dataclass(frozen=True)
class DelegateList:
    """The confirmed delegates (the register) and how many wait for a place."""

    delegates: list[Booking]
    waiting: int

    @property
    def checked_in(self) -> int:
        return sum(booking.checked_in_at is not None for booking in self.delegates)


def delegate_list(session: CourseSession, *, by: User) -> DelegateList:
    """Who is coming: open to the trainer before the session starts, read-only until then."""
    require_register_access(session, by)
    return DelegateList(
        delegates=register_of(session), waiting=count_bookings(session, BookingStatus.WAITING)
    )


def mark_rest_attended(session: CourseSession, *, by: User, now: datetime) -> list[Booking]:
    """Mark every confirmed delegate not yet marked as attended, so the trainer changes only the
    exceptions; each mark is audited as the register's marks are. Returns the bookings marked."""
    unmarked = mark_unmarked(session, Attendance.ATTENDED, by=by, now=now)
    if unmarked:
        log_action(
            "lms.register.marked_rest_attended",
            subject=session,
            actor=by,
            now=now,
            bookings=[booking.id for booking in unmarked],
        )
    return unmarked


@dataclass(frozen=True)
class WalkInDetails:
    first_name: str
    last_name: str
    email: str
    job_role: str
    agency_id: int | None
    other_organisation: str | None


def add_walk_in_person(
    session: CourseSession, details: WalkInDetails, outcome: Attendance, *, by: User, now: datetime
) -> tuple[Booking, bool]:
    """Someone came who was not booked: the person with that email address is added to the register;
    without an account, one is made (no password yet) and they are emailed an invitation to it.
    Returns the booking and whether an account was made."""
    person = find_user_by_email(details.email)
    created = person is None
    if person is None:
        check_register(session, by, now)
        person = _new_account(details, by=by, now=now)
    elif (booking := live_booking(session, person)) is not None and booking.is_confirmed:
        raise BookingError(f"{person.full_name} is already on the register.", field="email")
    booking = add_walk_in(session, person, outcome, by=by, now=now)
    if created:
        send_invitation(person, now=now)
    return booking, created


def _new_account(details: WalkInDetails, *, by: User, now: datetime) -> User:
    user = User(
        session_token=User.new_session_token(),
        created_at=now,
        is_enabled=True,
        # The address was typed by the trainer, not proven: following the invitation proves it.
        confirmation_pending=True,
    )
    apply_person_details(
        user,
        PersonDetails(
            first_name=details.first_name,
            last_name=details.last_name,
            email=details.email,
            job_role=details.job_role,
            agency_id=details.agency_id,
            other_organisation=details.other_organisation,
        ),
    )
    user.role_rows = [UserRole(role=Role.PRACTITIONER)]
    db.session.add(user)
    db.session.flush()
    log_action("lms.user.created", subject=user, actor=by, now=now, roles=["practitioner"], via="register")
    return user


# The trainer is told about their session ---------------------------------------------------------


def _tell_trainer(session: CourseSession, kind: str, lead: str, template: str, *, now: datetime) -> None:
    trainer = session.trainer
    if trainer is None or not trainer.is_enabled:
        return
    queue_message(
        kind,
        to=trainer.email,
        user=trainer,
        subject=session_subject(lead, session),
        template=f"bookings/{template}",
        now=now,
        session=session,
        delegates=count_bookings(session, BookingStatus.CONFIRMED),
    )


def trainer_told_of_change(session: CourseSession, *, now: datetime) -> None:
    """The session's time or place changed: its trainer hears, as its delegates do."""
    _tell_trainer(
        session,
        "session.trainer_changed",
        "Session you deliver changed",
        "trainer_session_changed.txt",
        now=now,
    )


def trainer_told_of_cancellation(session: CourseSession, *, now: datetime) -> None:
    """The partnership cancelled the session: its trainer hears, as its delegates do."""
    _tell_trainer(
        session,
        "session.trainer_cancelled",
        "Session you deliver cancelled",
        "trainer_session_cancelled.txt",
        now=now,
    )
