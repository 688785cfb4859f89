"""Level-2 follow-ups: invited 6 weeks after a session, reminded at 7, closed at 8 (settings).

Each sweep selects what is due now and marks it done in the same transaction, so running
twice, or in two scheduler processes, sends each message once; a sweep after days of
downtime invites only people whose survey is still open, and reminds nobody late.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from lms.accounts.models import User
from lms.bookings.models import Attendance, Booking, BookingStatus
from lms.core.audit import log_action
from lms.core.errors import DomainError, PermissionDenied
from lms.courses.models import CourseSession, SessionStatus
from lms.evaluations.models import Rating
from lms.extensions import db
from lms.followups.manager_comments import invite_manager
from lms.followups.models import Applied, Barrier, FollowUp
from lms.messages.services import queue_message, session_subject


class FollowUpError(DomainError):
    pass


def _days(name: str) -> timedelta:
    return timedelta(days=current_app.config[name])


def _send(follow_up: FollowUp, kind: str, subject: str, template: str, now: datetime) -> None:
    booking = follow_up.booking
    queue_message(
        kind,
        to=booking.user.email,
        user=booking.user,
        subject=session_subject(subject, booking.session),
        template=f"followups/{template}",
        now=now,
        dedupe_key=f"{kind}:{booking.id}",
        booking=booking,
        session=booking.session,
        follow_up=follow_up,
    )


def invite_due(now: datetime) -> int:
    """Invite everyone who attended a session that ended 6 weeks ago, while the survey is still open."""
    invite_after, close_after = _days("FOLLOW_UP_INVITE_DAYS"), _days("FOLLOW_UP_CLOSE_DAYS")
    due = db.session.scalars(
        sa.select(Booking)
        .join(Booking.session)
        .outerjoin(FollowUp, FollowUp.booking_id == Booking.id)
        .where(
            Booking.status == BookingStatus.CONFIRMED,
            Booking.is_past_record.is_(False),
            Booking.attendance.in_([Attendance.ATTENDED, Attendance.PARTIAL]),
            CourseSession.status == SessionStatus.COMPLETED,
            CourseSession.ends_at <= now - invite_after,
            CourseSession.ends_at > now - close_after,
            FollowUp.id.is_(None),
        )
        .order_by(Booking.id)
    ).all()
    invited = 0
    for booking in due:
        follow_up = FollowUp(booking=booking, invited_at=now, closes_at=booking.session.ends_at + close_after)
        try:
            with db.session.begin_nested():
                db.session.add(follow_up)
                db.session.flush()
        except IntegrityError:
            continue  # another sweep invited this person a moment ago
        _send(
            follow_up,
            "followup.invitation",
            "How has the training changed your practice",
            "invitation.txt",
            now,
        )
        invited += 1
    db.session.flush()
    return invited


def remind_due(now: datetime) -> int:
    """One reminder a week after the invitation, only while the survey is open."""
    remind_after = _days("FOLLOW_UP_REMINDER_DAYS")
    due = db.session.scalars(
        sa.select(FollowUp)
        .join(FollowUp.booking)
        .join(Booking.session)
        .where(
            FollowUp.reminded_at.is_(None),
            FollowUp.submitted_at.is_(None),
            FollowUp.closed_at.is_(None),
            FollowUp.closes_at > now,
            CourseSession.ends_at <= now - remind_after,
            # Someone invited late (after downtime) is not reminded on the heels of the invitation.
            FollowUp.invited_at <= now - (remind_after - _days("FOLLOW_UP_INVITE_DAYS")),
        )
        .order_by(FollowUp.id)
    ).all()
    for follow_up in due:
        follow_up.reminded_at = now
        _send(follow_up, "followup.reminder", "Reminder: a short follow-up survey", "reminder.txt", now)
    db.session.flush()
    return len(due)


def close_due(now: datetime) -> int:
    """Close surveys whose 8 weeks are over."""
    result = db.session.execute(
        sa.update(FollowUp)
        .where(FollowUp.closed_at.is_(None), FollowUp.submitted_at.is_(None), FollowUp.closes_at <= now)
        .values(closed_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def open_follow_ups(user: User, now: datetime) -> list[FollowUp]:
    return list(
        db.session.scalars(
            sa.select(FollowUp)
            .join(FollowUp.booking)
            .where(
                Booking.user_id == user.id,
                FollowUp.submitted_at.is_(None),
                FollowUp.closed_at.is_(None),
                FollowUp.closes_at > now,
            )
            .order_by(FollowUp.closes_at)
        )
    )


@dataclass
class FollowUpAnswers:
    applied: Applied
    example: str
    confidence: Rating
    barriers: list[Barrier] = field(default_factory=list)
    barrier_other: str = ""
    multi_agency: Applied | None = None


def submit_follow_up(follow_up: FollowUp, answers: FollowUpAnswers, *, by: User, now: datetime) -> None:
    """Record the delegate's answers, once, while the survey is open."""
    if not follow_up.booking.belongs_to(by):
        raise PermissionDenied("You can only answer your own follow-up surveys.")
    if follow_up.submitted_at is not None:
        raise FollowUpError("You have already answered this survey. Thank you.")
    if not follow_up.is_open(now):
        raise FollowUpError("This survey closed 8 weeks after the session.")
    if Barrier.OTHER in answers.barriers and not answers.barrier_other.strip():
        raise FollowUpError("You ticked Other: say what got in the way.", field="barrier_other")
    if answers.applied in (Applied.YES, Applied.PARTLY) and not answers.example.strip():
        raise FollowUpError("Give an example of a change in your practice.", field="example")
    follow_up.applied = answers.applied
    follow_up.example = answers.example.strip() or None
    follow_up.confidence = answers.confidence.score
    follow_up.barriers = [barrier.value for barrier in answers.barriers]
    follow_up.barrier_other = answers.barrier_other.strip() or None
    follow_up.multi_agency = answers.multi_agency
    follow_up.submitted_at = now
    db.session.flush()
    log_action("lms.followup.submitted", subject=follow_up, actor=by, now=now)
    # The third stage: the line manager is asked what change they have seen.
    invite_manager(follow_up, now=now)
