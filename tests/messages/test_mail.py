"""Every message goes as text and HTML from the same words, with the headers mail programs expect
and a subject short enough to read in a list, even for a course with a 125-character title."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parseaddr, parsedate_to_datetime

import sqlalchemy as sa

from lms.accounts.models import Role
from lms.accounts.services import PersonDetails, create_person, request_password_reset
from lms.bookings.models import Attendance
from lms.bookings.reminders import send_joining_instructions, send_session_reminders
from lms.bookings.services import (
    book_place,
    cancel_booking,
    cancel_session,
    close_register,
    edit_session,
    mark_attendance,
    remove_delegate,
    substitute_booking,
)
from lms.courses.services import SessionDetails
from lms.evaluations.models import Rating
from lms.evaluations.services import remind_evaluations
from lms.extensions import db
from lms.followups.models import Applied, FollowUp
from lms.followups.services import FollowUpAnswers, invite_due, remind_due, submit_follow_up
from lms.messages.delivery import deliver_pending
from lms.messages.html import text_to_html
from lms.messages.models import OutboxMessage
from lms.messages.services import MAX_SUBJECT, session_subject, shorten
from tests.conftest import Mailbox
from tests.factories import NOW, create_agency, create_course, create_session, create_user

# A real module title from a partnership's programme is up to 125 characters long.
LONG_TITLE = (
    "Working Together to Safeguard Children: Multi-Agency Responsibilities, Information Sharing "
    "and Hearing the Child in Practice."
)
THURSDAY = datetime(2026, 6, 11, 8, 30, tzinfo=UTC)
EVERY_KIND = {
    "account.invitation",
    "account.password_reset",
    "booking.confirmed",
    "booking.waitlisted",
    "booking.promoted",
    "booking.cancelled",
    "booking.removed",
    "booking.substituted_from",
    "booking.substituted_to",
    "session.changed",
    "session.cancelled",
    "session.reminder",
    "session.joining",
    "evaluation.requested",
    "evaluation.reminder",
    "charge.raised",
    "followup.invitation",
    "followup.reminder",
    "followup.manager_invitation",
    "manager.booking_confirmed",
    "manager.charge_raised",
}


def booking_life(course, admin):
    """Booked, waiting, cancelled, promoted, passed on, removed, moved, then called off."""
    agency = create_agency()
    session = create_session(course=course, places=1, overbook_percent=0)
    first, second = create_user(), create_user(agency=agency)
    mine = book_place(session, first, by=first, now=NOW)
    waiting = book_place(session, second, by=second, now=NOW)
    cancel_booking(mine, by=first, now=NOW)
    substitute_booking(waiting, create_user(agency=agency), by=second, now=NOW)
    remove_delegate(book_place(session, create_user(), by=admin, now=NOW), by=admin, now=NOW)
    details = SessionDetails(
        course_id=course.id,
        starts_at=session.starts_at + timedelta(hours=1),
        ends_at=session.ends_at + timedelta(hours=1),
        delivery_mode=session.delivery_mode,
        places=1,
        overbook_percent=0,
        online_link=session.online_link,
    )
    edit_session(session, details, by=admin, now=NOW)
    cancel_session(session, reason="Trainer unwell", by=admin, now=NOW)


def before_a_session(course, admin):
    session = create_session(course=course, starts_at=THURSDAY)
    book_place(session, create_user(), by=admin, now=NOW)
    send_session_reminders(THURSDAY - timedelta(days=7))
    send_joining_instructions(datetime(2026, 6, 8, 23, 0, tzinfo=UTC))


def after_a_session(course, admin):
    trainer = create_user(roles=(Role.TRAINER,))
    session = create_session(course=course, starts_at=NOW - timedelta(days=1), trainer=trainer)
    came = book_place(session, create_user(), by=admin, now=NOW - timedelta(days=20))
    missed = book_place(session, create_user(), by=admin, now=NOW - timedelta(days=20))
    mark_attendance(came, Attendance.ATTENDED, by=trainer, now=session.starts_at + timedelta(minutes=1))
    mark_attendance(missed, Attendance.NO_SHOW, by=trainer, now=session.starts_at + timedelta(minutes=1))
    close_register(session, by=trainer, now=session.ends_at)
    remind_evaluations(session.ends_at + timedelta(days=7, hours=1))
    invite_due(session.ends_at + timedelta(days=42, hours=1))
    remind_due(session.ends_at + timedelta(days=49, hours=1))
    # The delegate answers, so their line manager is asked for a comment.
    follow_up = db.session.scalar(sa.select(FollowUp).where(FollowUp.booking_id == came.id))
    answers = FollowUpAnswers(
        applied=Applied.NO, example="", confidence=Rating.MEDIUM, multi_agency=Applied.NO
    )
    submit_follow_up(follow_up, answers, by=came.user, now=session.ends_at + timedelta(days=50))


def accounts(admin):
    request_password_reset(create_user().email, now=NOW)
    details = PersonDetails("Robin", "Trainer", "robin@example.org", "Trainer", create_agency().id)
    create_person(details, {Role.TRAINER}, by=admin, now=NOW)


def test_every_kind_of_message_is_text_and_html_with_full_headers(app, app_context, mailbox, monkeypatch):
    monkeypatch.setitem(app.config, "COPY_MANAGER_ON_CONFIRMATION", True)  # the manager's copy, too
    course = create_course(LONG_TITLE)
    assert len(course.title) == 125
    admin = create_user(roles=(Role.LND_ADMIN,))
    booking_life(course, admin)
    before_a_session(course, admin)
    after_a_session(course, admin)
    accounts(admin)
    queued = db.session.scalars(sa.select(OutboxMessage)).all()
    assert {message.kind for message in queued} == EVERY_KIND

    deliver_pending(NOW + timedelta(days=120))

    assert len(mailbox.messages) == len(queued)
    by_subject = {message.subject: message for message in queued}
    for email in mailbox.messages:
        subject = email["Subject"]
        assert len(subject) <= MAX_SUBJECT, subject
        assert "  " not in subject and not subject.endswith(" ")
        stored = by_subject[subject]
        assert parsedate_to_datetime(email["Date"]) == stored.created_at
        assert email["Message-ID"].endswith("@localhost>")
        assert parseaddr(email["Reply-To"])[1] == app.config["PARTNERSHIP_EMAIL"]
        text = Mailbox.text(email).replace("\r\n", "\n")
        html = email.get_body(preferencelist=("html",)).get_content()
        assert text.strip() == stored.body.strip()
        assert '<html lang="en-GB"' in html and f"<title>{subject}</title>" in html
        first_line = text.splitlines()[0]
        assert f"<p style=\"margin:0 0 16px;\">{first_line}</p>" in html, stored.kind
    message_ids = [email["Message-ID"] for email in mailbox.messages]
    assert len(set(message_ids)) == len(message_ids)


def test_session_subjects_give_the_date_and_a_title_cut_at_a_word():
    class Course:
        title = LONG_TITLE

    class Session:
        course = Course()
        starts_at = datetime(2026, 6, 3, 9, 0, tzinfo=UTC)

    subject = session_subject("A colleague has passed you their place", Session())

    assert subject == "A colleague has passed you their place: 3 Jun 2026, Working Together to…"
    assert len(subject) <= MAX_SUBJECT
    assert session_subject("Place confirmed", Session()).startswith(
        "Place confirmed: 3 Jun 2026, Working Together to Safeguard Children"
    )


def test_shortening_cuts_between_words_and_keeps_short_text_whole():
    assert shorten("Neglect Foundations", 78) == "Neglect Foundations"
    assert shorten("Neglect Foundations and Beyond", 22) == "Neglect Foundations…"
    assert shorten("Neglect: Foundations", 12) == "Neglect…"  # no dangling colon
    assert shorten("Supercalifragilistic", 10) == "Supercali…"  # one long word is cut inside it
    assert len(shorten(LONG_TITLE, 40)) <= 40


def test_the_html_sets_out_the_same_words_with_links_and_escapes_markup():
    text = (
        "Hello <Sam>,\n\nYour place is\nconfirmed.\n\n"
        "Course:   Online Safety & You\nJoin:     https://meet.example.org/a?b=1&c=2\n\n"
        'Cancel from "My bookings": https://lms.example.org/bookings.\n'
    )

    html = str(text_to_html(text))

    assert "<p style=\"margin:0 0 16px;\">Hello &lt;Sam&gt;,</p>" in html
    assert "Your place is confirmed." in html  # wrapped lines flow into one paragraph
    assert '<th scope="row"' in html and ">Course</th>" in html and "Online Safety &amp; You" in html
    assert '<a href="https://meet.example.org/a?b=1&amp;c=2">' in html
    assert '<a href="https://lms.example.org/bookings">https://lms.example.org/bookings</a>.' in html
    assert "<Sam>" not in html
