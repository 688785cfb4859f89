"""Approval of bookings by the line manager (a signed, single-use link), a training contact, or L&D.

When BOOKING_APPROVAL asks for it (all bookings, or the courses and organisation categories L&D
chose), or the person has had NO_SHOW_LIMIT no-shows or late cancellations in NO_SHOW_WINDOW_DAYS
(then only L&D approves), a booking is "awaiting approval". It keeps a place meanwhile when
APPROVAL_HOLDS_PLACE is on and a place was free; otherwise it takes a place only when approved, or
joins the waiting list if the session has filled. An approval nobody gives by the deadline expires
(the scheduler's sweep), and a place it held goes to the next person waiting.

Every decision takes the session's row lock and reads the booking and its request again, so an
approval, a decline, the expiry sweep, a cancellation and the waiting list cannot overtake one
another: whichever comes first wins, and the others find the request closed.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from lms.accounts.contacts import followed_ids, follows
from lms.accounts.models import Role, User
from lms.bookings import notify
from lms.bookings.models import (
    ApprovalCategory,
    ApprovalDecision,
    ApprovalRequest,
    Approver,
    Attendance,
    Booking,
    BookingStatus,
    CancellationReason,
)
from lms.bookings.services import (
    BookingError,
    ManagerDetails,
    booking_for,
    fill_from_waiting_list,
    lock_session,
    places_left,
    save_new_booking,
    waiting_position,
)
from lms.core.audit import log_action
from lms.core.calendar import working_days_after
from lms.core.errors import PermissionDenied
from lms.core.formatting import format_date
from lms.core.permissions import require_role
from lms.core.timezones import end_of_london_day, london_date, start_of_london_day
from lms.courses.models import CourseSession
from lms.extensions import db
from lms.integrations.webhooks import emit
from lms.messages.services import absolute_url, queue_message, session_subject

TOKEN = re.compile(r"[A-Za-z0-9_-]{40,64}")
MAX_REASON = 1000


class ApprovalError(BookingError):
    pass


def _gone(message: str) -> ApprovalError:
    return ApprovalError(message, status=410)


# Whether a booking needs approval ---------------------------------------------------------------


def missed_recently(person: User, now: datetime) -> int:
    """No-shows and late cancellations of the person in the last NO_SHOW_WINDOW_DAYS."""
    since = now - timedelta(days=current_app.config["NO_SHOW_WINDOW_DAYS"])
    no_shows = (
        sa.select(sa.func.count(Booking.id))
        .join(Booking.session)
        .where(
            Booking.user_id == person.id,
            Booking.attendance == Attendance.NO_SHOW,
            CourseSession.starts_at >= since,
            CourseSession.starts_at <= now,
        )
    )
    late = sa.select(sa.func.count(Booking.id)).where(
        Booking.user_id == person.id,
        Booking.is_late_cancellation.is_(True),
        Booking.cancelled_at >= since,
        Booking.cancelled_at <= now,
    )
    return db.session.scalar(no_shows) + db.session.scalar(late)


def restricted_by_no_shows(person: User, now: datetime) -> int | None:
    """The person's recent no-shows and late cancellations when they reach NO_SHOW_LIMIT, else None."""
    limit = current_app.config["NO_SHOW_LIMIT"]
    if limit <= 0:
        return None
    missed = missed_recently(person, now)
    return missed if missed >= limit else None


def chosen_categories() -> set:
    return set(db.session.scalars(sa.select(ApprovalCategory.category)))


def manager_approval_needed(session: CourseSession, person: User) -> bool:
    """BOOKING_APPROVAL: "all" bookings; or, when "chosen", a course L&D marked, or a delegate of an
    organisation whose category L&D chose."""
    mode = current_app.config["BOOKING_APPROVAL"]
    if mode == "all":
        return True
    if mode != "chosen":
        return False
    if session.course.needs_approval:
        return True
    agency = person.agency
    return agency is not None and agency.category in chosen_categories()


def approval_needed(session: CourseSession, person: User, *, by: User, now: datetime) -> Approver | None:
    """Who must approve this booking, or None. The L&D team booking someone is its own approval."""
    if by.has_role(Role.LND_ADMIN):
        return None
    if restricted_by_no_shows(person, now) is not None:
        return Approver.LND
    if manager_approval_needed(session, person):
        return Approver.MANAGER
    return None


def approval_deadline(requested_at: datetime, starts_at: datetime, working_days: int) -> datetime:
    """The end of the `working_days`-th working day after the request (UK time), but never later
    than the start of the session's day, so the place is settled before the day (an approval's
    confirmation carries the joining details); for a session that starts the same day, its start."""
    deadline = end_of_london_day(working_days_after(london_date(requested_at), working_days))
    session_day = start_of_london_day(london_date(starts_at))
    latest = session_day if session_day > requested_at else starts_at
    return min(deadline, latest)


# Asking --------------------------------------------------------------------------------------


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> tuple[str, str]:
    token = secrets.token_urlsafe(32)
    return token, _hash(token)


def _manager_of(person: User, manager: ManagerDetails | None) -> ManagerDetails:
    if person.line_manager_email:
        return ManagerDetails(name=person.line_manager_name or "", email=person.line_manager_email)
    if manager is None or not manager.email.strip():
        raise ApprovalError(
            "This course needs your line manager's approval. Give your line manager's name and work "
            "email address, and we will email them a link to approve your place.",
            field="manager_email",
        )
    email = User.normalise_email(manager.email)
    if email == person.email:
        raise ApprovalError("Give your line manager's email address, not your own.", field="manager_email")
    return ManagerDetails(name=manager.name.strip()[:200], email=email[:254])


def request_approval(
    session: CourseSession,
    person: User,
    approver: Approver,
    *,
    manager: ManagerDetails | None = None,
    by: User,
    now: datetime,
) -> Booking:
    """Make the booking, awaiting approval, and ask the manager (by email) or L&D (on their page).
    The session must be locked (book_place has locked it)."""
    details = _manager_of(person, manager) if approver is Approver.MANAGER else None
    holds = current_app.config["APPROVAL_HOLDS_PLACE"] and places_left(session) > 0
    booking = booking_for(session, person, by=by, now=now)
    booking.status = BookingStatus.AWAITING_APPROVAL
    save_new_booking(booking)
    expires = approval_deadline(now, session.starts_at, current_app.config["APPROVAL_DEADLINE_WORKING_DAYS"])
    approval = ApprovalRequest(
        booking=booking,
        approver=approver,
        manager_name=details.name if details else None,
        manager_email=details.email if details else None,
        missed_count=restricted_by_no_shows(person, now) if approver is Approver.LND else None,
        holds_place=holds,
        requested_at=now,
        expires_at=expires,
        remind_after=now + (expires - now) / 2,
    )
    token = None
    if details is not None:
        token, approval.token_hash = _new_token()
    db.session.add(approval)
    db.session.flush()
    log_action(
        "lms.booking.approval_requested",
        subject=booking,
        actor=by,
        now=now,
        session_id=session.id,
        user_id=person.id,
        approver=approver.value,
        holds_place=holds,
        expires_at=expires.isoformat(),
    )
    _tell_delegate(
        "booking.awaiting_approval", approval, "Your booking needs approval", "awaiting.txt", now=now
    )
    if token is not None:
        _ask_manager("booking.approval_request", approval, token, "Please approve a training place", now=now)
    return booking


def _ask_manager(kind: str, approval: ApprovalRequest, token: str, lead: str, *, now: datetime) -> None:
    booking = approval.booking
    queue_message(
        kind,
        to=approval.manager_email,
        subject=session_subject(f"{lead} for {booking.user.full_name}", booking.session),
        template="bookings/approval_request.txt",
        now=now,
        approval=approval,
        booking=booking,
        session=booking.session,
        approve_link=absolute_url("approvals.decide", token=token),
        reminder=kind.endswith("reminder"),
    )


def _tell_delegate(
    kind: str, approval: ApprovalRequest, subject: str, template: str, *, now: datetime
) -> None:
    booking = approval.booking
    queue_message(
        kind,
        to=booking.user.email,
        user=booking.user,
        subject=session_subject(subject, booking.session),
        template=f"bookings/{template}",
        now=now,
        approval=approval,
        booking=booking,
        session=booking.session,
    )


# Finding a request -------------------------------------------------------------------------------


def approval_for_token(token: str) -> ApprovalRequest | None:
    """The request a link's secret opens (the first email's or the reminder's), or None."""
    if not TOKEN.fullmatch(token or ""):
        return None
    digest = _hash(token)
    return db.session.scalar(
        sa.select(ApprovalRequest).where(
            sa.or_(ApprovalRequest.token_hash == digest, ApprovalRequest.reminder_token_hash == digest)
        )
    )


def can_decide(approval: ApprovalRequest, user: User | None) -> bool:
    """Signed in, who may decide: the L&D team always; a training contact of the delegate's
    organisation in the manager's place (not for a booking held back by no-shows: that is L&D's)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if user.has_role(Role.LND_ADMIN):
        return True
    return approval.approver is Approver.MANAGER and follows(user, approval.booking.agency_id)


def waiting_for_approval(*, by: User) -> list[ApprovalRequest]:
    """Requests still open that `by` may decide, soonest deadline first: every one for the L&D
    team; for a training contact, the manager approvals of the organisations they follow."""
    query = (
        sa.select(ApprovalRequest)
        .join(ApprovalRequest.booking)
        .where(ApprovalRequest.decided_at.is_(None), Booking.status == BookingStatus.AWAITING_APPROVAL)
        .order_by(ApprovalRequest.expires_at, ApprovalRequest.id)
    )
    if not by.has_role(Role.LND_ADMIN):
        followed = followed_ids(by)
        if not followed:
            return []
        query = query.where(ApprovalRequest.approver == Approver.MANAGER, Booking.agency_id.in_(followed))
    return list(db.session.scalars(query))


@dataclass(frozen=True)
class Outlook:
    """What booking this session would involve for this person, for the booking panel."""

    approver: Approver
    missed: int | None  # their recent no-shows and late cancellations, when that is the reason
    manager_name: str | None
    manager_email: str | None

    @property
    def needs_manager_details(self) -> bool:
        return self.approver is Approver.MANAGER and not self.manager_email

    @property
    def needs_lnd(self) -> bool:
        return self.approver is Approver.LND


def approval_outlook(session: CourseSession, person: User, now: datetime) -> Outlook | None:
    """Whether booking now would need approval, and whose; None when it would not."""
    if not getattr(person, "is_authenticated", False):
        return None
    approver = approval_needed(session, person, by=person, now=now)
    if approver is None:
        return None
    return Outlook(
        approver=approver,
        missed=restricted_by_no_shows(person, now) if approver is Approver.LND else None,
        manager_name=person.line_manager_name,
        manager_email=person.line_manager_email,
    )


# Deciding ------------------------------------------------------------------------------------


def _reopen(approval: ApprovalRequest) -> CourseSession:
    """Lock the session, then read the request and its booking again: what was read before the
    lock may have been changed by whoever held it."""
    session = lock_session(approval.booking.session)
    db.session.refresh(approval)
    db.session.refresh(approval.booking)
    return session


def _check_open(approval: ApprovalRequest, session: CourseSession, now: datetime) -> None:
    booking = approval.booking
    if approval.decision is ApprovalDecision.APPROVED:
        raise ApprovalError.conflict(f"This booking was already approved, on {_day(approval.decided_at)}.")
    if approval.decision is ApprovalDecision.DECLINED:
        raise ApprovalError.conflict(f"This booking was already declined, on {_day(approval.decided_at)}.")
    if approval.decision is ApprovalDecision.EXPIRED or approval.has_expired(now):
        raise _gone("The time to approve this booking has passed, so the request has lapsed.")
    if booking.is_confirmed:
        raise ApprovalError.conflict("The L&D team has already given this delegate a place.")
    if not booking.is_awaiting_approval:
        raise _gone("This booking has been cancelled, so there is nothing to approve.")
    if session.has_started(now):
        raise _gone("The session has started, so the booking can no longer be approved.")


def _day(moment: datetime | None) -> str:
    return format_date(moment) if moment else "an earlier day"


def _record(
    approval: ApprovalRequest,
    decision: ApprovalDecision,
    *,
    by: User | None,
    by_email: str | None,
    reason: str | None,
    now: datetime,
) -> None:
    approval.decision = decision
    approval.decided_at = now
    approval.decided_by_id = by.id if by is not None else None
    approval.decided_by_email = by_email or (by.email if by is not None else None)
    approval.reason = reason


def _check_decider(approval: ApprovalRequest, by: User | None, via_link: bool) -> None:
    if via_link:
        if approval.approver is not Approver.MANAGER:
            raise PermissionDenied("Only the L&D team can approve this booking.")
        return
    if not can_decide(approval, by):
        raise PermissionDenied(
            "Only the delegate's line manager, their organisation's training contact "
            "or the L&D team can decide on this booking."
        )


def approve_booking(
    approval: ApprovalRequest, *, by: User | None, now: datetime, via_link: bool = False
) -> Booking:
    """Approve: the booking takes its place (the one it held, a free one, or the waiting list)."""
    _check_decider(approval, by, via_link)
    session = _reopen(approval)
    _check_open(approval, session, now)
    booking = approval.booking
    who = approval.manager_email if via_link else None
    _record(approval, ApprovalDecision.APPROVED, by=by, by_email=who, reason=None, now=now)
    if approval.holds_place or places_left(session) > 0:
        booking.status = BookingStatus.CONFIRMED
        booking.confirmed_at = now
    else:
        booking.status = BookingStatus.WAITING
        booking.waitlisted_at = now
    db.session.flush()
    log_action(
        "lms.booking.approved",
        subject=booking,
        actor=by,
        now=now,
        session_id=session.id,
        by_email=approval.decided_by_email,
        outcome=booking.status.value,
    )
    emit("booking.confirmed" if booking.is_confirmed else "booking.waitlisted", booking, now=now)
    if booking.is_confirmed:
        notify.booking_confirmed(booking, now=now)
    else:
        notify.waiting_list_joined(booking, waiting_position(booking), now=now)
    return booking


def decline_booking(
    approval: ApprovalRequest, *, reason: str, by: User | None, now: datetime, via_link: bool = False
) -> Booking:
    """Decline, for a reason the delegate is told; a place the booking held goes to the next waiting."""
    _check_decider(approval, by, via_link)
    reason = " ".join((reason or "").split())
    if not reason:
        raise ApprovalError("Say why the booking is declined: the delegate is told.", field="reason")
    if len(reason) > MAX_REASON:
        raise ApprovalError(f"Keep the reason to {MAX_REASON} characters.", field="reason")
    session = _reopen(approval)
    _check_open(approval, session, now)
    who = approval.manager_email if via_link else None
    _record(approval, ApprovalDecision.DECLINED, by=by, by_email=who, reason=reason, now=now)
    booking = _end(approval, CancellationReason.APPROVAL_DECLINED, by=by, now=now)
    log_action(
        "lms.booking.declined",
        subject=booking,
        actor=by,
        now=now,
        session_id=session.id,
        by_email=approval.decided_by_email,
        reason=reason,
    )
    emit("booking.declined", booking, now=now)
    _tell_delegate("booking.declined", approval, "Booking not approved", "declined.txt", now=now)
    fill_from_waiting_list(session, now=now)
    return booking


def _end(approval: ApprovalRequest, reason: CancellationReason, *, by: User | None, now: datetime) -> Booking:
    booking = approval.booking
    booking.status = BookingStatus.CANCELLED
    booking.cancelled_at = now
    booking.cancelled_by_id = by.id if by is not None else None
    booking.cancellation_reason = reason
    booking.is_late_cancellation = False
    db.session.flush()
    return booking


def expire_approval(approval: ApprovalRequest, *, now: datetime) -> bool:
    """The deadline passed with no decision: the booking lapses and the delegate is told. False
    when someone decided, or the booking ended, first (the sweep met a request already closed)."""
    session = _reopen(approval)
    if approval.decided_at is not None or not approval.booking.is_awaiting_approval:
        return False
    if not approval.has_expired(now):
        return False
    _record(approval, ApprovalDecision.EXPIRED, by=None, by_email=None, reason=None, now=now)
    booking = _end(approval, CancellationReason.APPROVAL_EXPIRED, by=None, now=now)
    log_action("lms.booking.approval_expired", subject=booking, actor=None, now=now, session_id=session.id)
    emit("booking.declined", booking, now=now)
    _tell_delegate(
        "booking.approval_expired", approval, "Booking not approved in time", "expired.txt", now=now
    )
    fill_from_waiting_list(session, now=now)
    return True


def remind_approver(approval: ApprovalRequest, *, now: datetime) -> bool:
    """Remind the manager once, with a link of its own (the first one still works)."""
    session = _reopen(approval)
    if approval.reminded_at is not None or not approval.is_open or approval.has_expired(now):
        return False
    if session.has_started(now) or approval.approver is not Approver.MANAGER:
        return False
    approval.reminded_at = now
    token, approval.reminder_token_hash = _new_token()
    db.session.flush()
    log_action("lms.booking.approval_reminded", subject=approval.booking, actor=None, now=now)
    lead = "Reminder: please approve a training place"
    _ask_manager("booking.approval_reminder", approval, token, lead, now=now)
    return True


# The sweeps ----------------------------------------------------------------------------------


def expire_due(now: datetime) -> int:
    """Every request past its deadline with no decision lapses; running twice changes nothing."""
    due = db.session.scalars(
        sa.select(ApprovalRequest)
        .join(ApprovalRequest.booking)
        .where(
            ApprovalRequest.decided_at.is_(None),
            ApprovalRequest.expires_at <= now,
            Booking.status == BookingStatus.AWAITING_APPROVAL,
        )
        .order_by(ApprovalRequest.expires_at, ApprovalRequest.id)
    ).all()
    return sum(1 for approval in due if expire_approval(approval, now=now))


def remind_due(now: datetime) -> int:
    """Remind each manager once, halfway to the deadline; running twice sends nothing more."""
    due = db.session.scalars(
        sa.select(ApprovalRequest)
        .join(ApprovalRequest.booking)
        .where(
            ApprovalRequest.decided_at.is_(None),
            ApprovalRequest.reminded_at.is_(None),
            ApprovalRequest.approver == Approver.MANAGER,
            ApprovalRequest.remind_after <= now,
            ApprovalRequest.expires_at > now,
            Booking.status == BookingStatus.AWAITING_APPROVAL,
        )
        .order_by(ApprovalRequest.id)
    ).all()
    return sum(1 for approval in due if remind_approver(approval, now=now))


# What L&D choose ------------------------------------------------------------------------------


def choose_categories(categories: set, *, by: User, now: datetime) -> None:
    """The organisation categories whose staff need their manager's approval (BOOKING_APPROVAL=chosen)."""
    require_role(by, Role.LND_ADMIN, message="Only the L&D team can choose what needs approval.")
    before = chosen_categories()
    if before == set(categories):
        return
    for row in db.session.scalars(sa.select(ApprovalCategory)):
        if row.category not in categories:
            db.session.delete(row)
    for category in set(categories) - before:
        db.session.add(ApprovalCategory(category=category, chosen_at=now, chosen_by_id=by.id))
    db.session.flush()
    log_action(
        "lms.approval.categories_chosen",
        subject=by,
        actor=by,
        now=now,
        before=sorted(c.value for c in before),
        after=sorted(c.value for c in categories),
    )
