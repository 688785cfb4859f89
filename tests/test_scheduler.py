"""Scheduled sweeps: due messages go once, however often or in how many processes they run."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from lms.accounts.models import Role
from lms.bookings.models import Attendance
from lms.bookings.reminders import send_joining_instructions, send_session_reminders
from lms.bookings.services import book_place, close_register, mark_attendance
from lms.core import clock
from lms.core.errors import PermissionDenied
from lms.evaluations.models import Rating
from lms.extensions import db
from lms.followups.models import Applied, Barrier, FollowUp
from lms.followups.services import (
    FollowUpAnswers,
    FollowUpError,
    close_due,
    invite_due,
    remind_due,
    submit_follow_up,
)
from lms.messages.models import OutboxMessage
from lms.scheduler import run_all_once
from tests.conftest import csrf_token, empty_all_tables, sign_in
from tests.factories import NOW, create_session, create_user


def kinds(user=None) -> Counter:
    query = sa.select(OutboxMessage.kind)
    if user is not None:
        query = query.where(OutboxMessage.user_id == user.id)
    return Counter(db.session.scalars(query))


def booked(session, n=1):
    admin = create_user(roles=(Role.LND_ADMIN,))
    when = min(NOW, session.starts_at - timedelta(days=20))
    return [book_place(session, create_user(), by=admin, now=when) for _ in range(n)]


# Before the session ---------------------------------------------------------------------------

THURSDAY = datetime(2026, 6, 11, 8, 30, tzinfo=UTC)  # 09:30 in London


def test_a_week_before_each_delegate_is_reminded_once(app_context):
    session = create_session(starts_at=THURSDAY)
    [booking] = booked(session)
    assert send_session_reminders(THURSDAY - timedelta(days=8)) == 0
    assert send_session_reminders(THURSDAY - timedelta(days=7)) == 1
    assert send_session_reminders(THURSDAY - timedelta(days=6)) == 0
    assert kinds(booking.user)["session.reminder"] == 1


def test_people_who_booked_inside_the_week_get_no_reminder_on_top(app_context):
    session = create_session(starts_at=THURSDAY)
    admin = create_user(roles=(Role.LND_ADMIN,))
    late = book_place(session, create_user(), by=admin, now=THURSDAY - timedelta(days=5))
    assert send_session_reminders(THURSDAY - timedelta(days=4)) == 0
    assert late.reminder_sent_at is not None


def test_joining_instructions_go_two_working_days_before(app_context):
    session = create_session(starts_at=THURSDAY, online_link="https://meet.example.org/room-7")
    [booking] = booked(session)
    monday_evening = datetime(2026, 6, 8, 22, 0, tzinfo=UTC)  # 23:00 Monday in London
    tuesday = datetime(2026, 6, 8, 23, 0, tzinfo=UTC)  # 00:00 Tuesday in London
    assert send_joining_instructions(monday_evening) == 0
    assert send_joining_instructions(tuesday) == 1
    assert send_joining_instructions(tuesday + timedelta(hours=3)) == 0
    message = db.session.scalar(sa.select(OutboxMessage).where(OutboxMessage.kind == "session.joining"))
    assert "https://meet.example.org/room-7" in message.body
    assert booking.joining_sent_at == tuesday


def test_a_scheduler_that_was_down_sends_nothing_stale(app_context):
    past = create_session(starts_at=NOW - timedelta(days=1))
    booked(past)
    soon = create_session(starts_at=THURSDAY)
    booked(soon)
    # Down for weeks, back on the Wednesday before the session: joining instructions, no reminder.
    wednesday = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
    assert send_session_reminders(wednesday) == 0
    assert send_joining_instructions(wednesday) == 1
    assert kinds()["session.reminder"] == 0


def test_cancelled_bookings_and_sessions_are_not_reminded(app_context):
    from lms.bookings.services import cancel_booking, cancel_session

    session = create_session(starts_at=THURSDAY)
    [keep, leave] = booked(session, 2)
    cancel_booking(leave, by=leave.user, now=NOW)
    assert send_session_reminders(THURSDAY - timedelta(days=7)) == 1
    other = create_session(starts_at=THURSDAY)
    booked(other)
    cancel_session(other, reason="Room flooded", by=create_user(roles=(Role.LND_ADMIN,)), now=NOW)
    assert send_joining_instructions(THURSDAY - timedelta(hours=30)) == 1
    assert kinds(keep.user)["session.joining"] == 1


# After the session: follow-ups ----------------------------------------------------------------


def session_that_ran(outcomes=(Attendance.ATTENDED,)):
    trainer = create_user(roles=(Role.TRAINER,))
    session = create_session(starts_at=NOW - timedelta(days=1), trainer=trainer)
    bookings = booked(session, len(outcomes))
    for booking, outcome in zip(bookings, outcomes, strict=True):
        mark_attendance(booking, outcome, by=trainer, now=session.starts_at + timedelta(minutes=1))
    close_register(session, by=trainer, now=session.ends_at)
    return session, bookings


def test_follow_ups_invite_at_six_weeks_remind_at_seven_and_close_at_eight(app_context):
    session, [came, partly, absent] = session_that_ran(
        (Attendance.ATTENDED, Attendance.PARTIAL, Attendance.NO_SHOW)
    )
    end = session.ends_at
    assert invite_due(end + timedelta(days=41)) == 0
    assert invite_due(end + timedelta(days=42)) == 2
    assert invite_due(end + timedelta(days=43)) == 0
    assert kinds(absent.user)["followup.invitation"] == 0
    assert remind_due(end + timedelta(days=48)) == 0
    assert remind_due(end + timedelta(days=49)) == 2
    assert remind_due(end + timedelta(days=50)) == 0
    assert close_due(end + timedelta(days=55)) == 0
    assert close_due(end + timedelta(days=56)) == 2
    follow_up = db.session.scalar(sa.select(FollowUp).where(FollowUp.booking_id == came.id))
    with pytest.raises(FollowUpError, match="closed"):
        submit_follow_up(follow_up, answers(), by=came.user, now=end + timedelta(days=57))


def test_a_scheduler_down_for_weeks_neither_floods_nor_reminds_late(app_context):
    session, [came] = session_that_ran()
    end = session.ends_at
    # Back after nine weeks: the survey window has passed, so nobody is invited at all.
    assert invite_due(end + timedelta(days=63)) == 0
    # Back at seven and a half weeks: invited, and not reminded on the heels of the invitation.
    assert invite_due(end + timedelta(days=52)) == 1
    follow_up = db.session.scalar(sa.select(FollowUp))
    assert follow_up.closes_at == end + timedelta(days=56)
    assert remind_due(end + timedelta(days=52)) == 0
    assert remind_due(end + timedelta(days=55)) == 0
    assert remind_due(end + timedelta(days=60)) == 0


def answers(**overrides):
    values = dict(
        applied=Applied.PARTLY,
        example="I now ask about the child's lived experience at every visit.",
        confidence=Rating.HIGH,
        barriers=[Barrier.TIME, Barrier.CASELOAD],
        multi_agency=Applied.YES,
    )
    values.update(overrides)
    return FollowUpAnswers(**values)


def test_a_delegate_answers_the_follow_up_once(app_context):
    session, [came] = session_that_ran()
    invite_due(session.ends_at + timedelta(days=42))
    follow_up = db.session.scalar(sa.select(FollowUp))
    with pytest.raises(PermissionDenied):
        submit_follow_up(follow_up, answers(), by=create_user(), now=NOW)
    with pytest.raises(FollowUpError, match="example"):
        submit_follow_up(follow_up, answers(example=" "), by=came.user, now=NOW)
    with pytest.raises(FollowUpError, match="Other"):
        submit_follow_up(follow_up, answers(barriers=[Barrier.OTHER]), by=came.user, now=NOW)
    submit_follow_up(follow_up, answers(), by=came.user, now=NOW)
    assert follow_up.confidence == 4 and follow_up.barriers == ["time", "caseload"]
    with pytest.raises(FollowUpError, match="already answered"):
        submit_follow_up(follow_up, answers(), by=came.user, now=NOW)
    assert remind_due(session.ends_at + timedelta(days=49)) == 0


def test_the_follow_up_page_and_dashboard(client):
    session, [came] = session_that_ran()
    invite_due(session.ends_at + timedelta(days=42))
    follow_up = db.session.scalar(sa.select(FollowUp))
    clock.freeze(session.ends_at + timedelta(days=43))
    sign_in(client, came.user)
    assert f"/follow-ups/{follow_up.id}" in client.get("/dashboard").get_data(as_text=True)
    path = f"/follow-ups/{follow_up.id}"
    token = csrf_token(client, path)
    response = client.post(path, data={"csrf_token": token, "applied": "yes"})
    assert response.status_code == 422
    assert "Choose how confident you are now." in response.get_data(as_text=True)
    response = client.post(
        path,
        data={
            "csrf_token": token,
            "applied": "yes",
            "example": "Escalated a concern sooner.",
            "confidence": "5",
            "barriers": ["management"],
            "multi_agency": "partly",
        },
    )
    assert response.status_code == 302
    db.session.refresh(follow_up)
    assert follow_up.submitted_at is not None and follow_up.multi_agency is Applied.PARTLY
    other = client.application.test_client()
    sign_in(other, create_user())
    assert other.get(path).status_code == 404


# Two schedulers at once -----------------------------------------------------------------------


@pytest.mark.committing
def test_two_schedulers_at_once_send_each_message_exactly_once(app, mailbox):
    """Everything falls due together; two scheduler processes' sweeps race; the mail server counts."""
    moment = datetime(2026, 6, 22, 9, 0, tzinfo=UTC)  # a Monday
    with app.app_context():
        trainer = create_user(roles=(Role.TRAINER,))
        admin = create_user(roles=(Role.LND_ADMIN,))
        # Joining instructions for Wednesday's session are due from Monday.
        soon = create_session(starts_at=datetime(2026, 6, 24, 8, 30, tzinfo=UTC))
        # A session that ended six weeks and a day ago: follow-up invitations are due.
        ran = create_session(starts_at=moment - timedelta(days=43, hours=3), trainer=trainer)
        upcoming = [book_place(soon, create_user(), by=admin, now=NOW) for _ in range(8)]
        attendees = [
            book_place(ran, create_user(), by=admin, now=ran.starts_at - timedelta(days=20)) for _ in range(8)
        ]
        for booking in attendees:
            mark_attendance(
                booking, Attendance.ATTENDED, by=trainer, now=ran.starts_at + timedelta(minutes=1)
            )
        close_register(ran, by=trainer, now=ran.ends_at)
        for booking in attendees:
            booking.evaluation_requested_at = moment - timedelta(days=8)  # a reminder is due too
        upcoming_emails = sorted(b.user.email for b in upcoming)
        attendee_emails = sorted(b.user.email for b in attendees)
        # Booking and evaluation-request mail has gone already; count only what the sweeps send.
        db.session.execute(sa.update(OutboxMessage).values(sent_at=NOW))
        db.session.commit()
    mailbox.clear()
    clock.freeze(moment)
    barrier = threading.Barrier(2)
    errors = []

    def scheduler_process():
        try:
            barrier.wait()
            run_all_once(app)
            run_all_once(app)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=scheduler_process) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    try:
        assert errors == []
        arrived = Counter((m["To"], m["Subject"].partition(":")[0]) for m in mailbox.messages)
        assert all(count == 1 for count in arrived.values()), arrived
        by_kind = Counter(subject for _, subject in arrived)
        assert by_kind == {
            "Joining instructions": 8,
            "How has the training changed your practice": 8,
            "Evaluation reminder": 8,
        }
        assert sorted(e for e, s in arrived if s == "Joining instructions") == upcoming_emails
        assert sorted(e for e, s in arrived if s == "Evaluation reminder") == attendee_emails
        with app.app_context():
            assert db.session.scalar(sa.select(sa.func.count()).where(OutboxMessage.sent_at.is_(None))) == 0
    finally:
        with app.app_context():
            empty_all_tables()


def test_a_follow_up_invitation_sent_late_says_how_long_ago_it_really_was(app_context):
    session, [booking] = session_that_ran()
    assert invite_due(session.ends_at + timedelta(days=42)) == 1
    sent = db.session.scalar(sa.select(OutboxMessage).where(OutboxMessage.kind == "followup.invitation"))
    assert sent.body.split("\n")[2].startswith("Six weeks ago you attended")
    # A scheduler that was down for a fortnight still invites, and does not pretend it is six weeks.
    late_session, [late] = session_that_ran()
    assert invite_due(late_session.ends_at + timedelta(days=55)) == 1
    late_message = db.session.scalar(
        sa.select(OutboxMessage).where(
            OutboxMessage.user_id == late.user_id, OutboxMessage.kind == "followup.invitation"
        )
    )
    assert "Seven weeks ago you attended" in late_message.body
    assert booking.user_id != late.user_id
