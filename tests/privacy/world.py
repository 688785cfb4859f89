"""A partnership where one practitioner, Zoë Quixote, has a history worth erasing: a session she
attended, evaluated and was certified for, with a follow-up she and her manager answered; a
session she missed, charged and invoiced (one line credited); a place on a session still to come,
with a colleague waiting behind her; a request about her data; and the police HR system hearing of
it all through webhooks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa

from lms.accounts.contacts import add_training_contact
from lms.accounts.models import Agency, Role, User
from lms.bookings.models import Attendance, Booking
from lms.bookings.services import book_place, close_register, mark_attendance
from lms.courses.models import Course, CourseSession
from lms.evaluations.models import Certificate, QuestionKind, Rating
from lms.evaluations.services import current_question_set, submit_evaluation
from lms.extensions import db
from lms.finance.models import Charge, Invoice
from lms.finance.services import issue_credit_note, run_invoicing
from lms.followups.models import Applied, Barrier, FollowUp
from lms.followups.services import FollowUpAnswers, invite_due, submit_follow_up
from lms.integrations.services import create_integration
from lms.integrations.webhook_models import WebhookSubscription
from lms.integrations.webhooks import EVENT_TYPES, create_subscription
from lms.privacy.models import DataRequest, ReceivedHow, RequestKind
from lms.privacy.requests import RequestDetails, log_data_request
from tests.factories import NOW, create_agency, create_course, create_session, create_user

NAME, LAST_NAME, EMAIL = "Zoë Quixote", "Quixote", "zoe.quixote@example.org"
COMMENT = "Quixote's team now asks the child first"
EXAMPLE = "Zoë Quixote escalated a neglect case sooner"


@dataclass
class World:
    police: Agency
    person: User
    colleague: User
    waiting: User
    lnd: User
    finance: User
    trainer: User
    contact: User
    course: Course
    attended: CourseSession
    missed: CourseSession
    coming: CourseSession
    bookings: list[Booking]
    invoice: Invoice
    certificate: Certificate
    follow_up: FollowUp
    request: DataRequest
    subscription: WebhookSubscription


def build_world() -> World:
    police = create_agency("Northshire Police", billing_email="accounts@example.org")
    person = create_user(EMAIL, agency=police, first_name="Zoë", last_name=LAST_NAME)
    person.line_manager_name, person.line_manager_email = "Morag Overseer", "morag@example.org"
    colleague = create_user("chris@example.org", agency=police, first_name="Chris", last_name="Colleague")
    waiting = create_user("wendy@example.org", agency=police, first_name="Wendy", last_name="Waiting")
    lnd = create_user("lnd@example.org", roles=(Role.LND_ADMIN,), first_name="Lee", last_name="Admin")
    create_user("lnd2@example.org", roles=(Role.LND_ADMIN,), first_name="Lou", last_name="Admin")
    finance = create_user("money@example.org", roles=(Role.FINANCE,), first_name="Fin", last_name="Ance")
    trainer = create_user(
        "trainer@example.org", roles=(Role.TRAINER,), first_name="Tara", last_name="Trainer"
    )
    contact = create_user(
        "contact@example.org",
        roles=(Role.TRAINING_CONTACT,),
        agency=police,
        first_name="Cam",
        last_name="Contact",
    )
    add_training_contact(police, contact, by=lnd, now=NOW - timedelta(days=60))
    # The police HR system hears of every booking, attendance, certificate and invoice.
    hr = create_integration(
        "Police HR",
        description=None,
        contact_email="hr@example.org",
        agency=police,
        by=lnd,
        now=NOW - timedelta(days=60),
    )
    subscription = create_subscription(
        hr, "https://hr.example.org/hooks", EVENT_TYPES, by=lnd, now=NOW - timedelta(days=60)
    )
    course = create_course("Neglect and the Graded Care Profile")

    # Both past sessions fall in the financial year 2026/27, which reports show by default.
    attended = create_session(course=course, trainer=trainer, starts_at=NOW - timedelta(days=27))
    mine = book_place(attended, person, by=person, now=NOW - timedelta(days=50))
    theirs = book_place(attended, colleague, by=colleague, now=NOW - timedelta(days=50))
    for booking in (mine, theirs):
        mark_attendance(booking, Attendance.ATTENDED, by=trainer, now=attended.starts_at)
    close_register(attended, by=trainer, now=attended.ends_at)
    questions = current_question_set(course, now=attended.ends_at)
    answers = {q.id: COMMENT if q.kind is QuestionKind.TEXT else "4" for q in questions.questions}
    submit_evaluation(mine, questions, answers, by=person, now=attended.ends_at + timedelta(hours=1))
    invite_due(attended.ends_at + timedelta(days=42))
    follow_up = db.session.scalar(sa.select(FollowUp).where(FollowUp.booking_id == mine.id))
    submit_follow_up(
        follow_up,
        FollowUpAnswers(
            Applied.YES, EXAMPLE, Rating.HIGH, [Barrier.OTHER], "Quixote's caseload", Applied.YES
        ),
        by=person,
        now=attended.ends_at + timedelta(days=43),
    )

    missed = create_session(course=course, trainer=trainer, starts_at=NOW - timedelta(days=14))
    no_shows = [book_place(missed, p, by=lnd, now=NOW - timedelta(days=40)) for p in (person, colleague)]
    for booking in no_shows:
        mark_attendance(booking, Attendance.NO_SHOW, by=trainer, now=missed.starts_at)
    close_register(missed, by=trainer, now=missed.ends_at)
    [invoice] = run_invoicing(date(2026, 4, 1), NOW.date(), by=finance, now=NOW - timedelta(days=2))
    her_line = next(line for line in invoice.lines if line.charge.booking.user_id == person.id)
    issue_credit_note(
        invoice, [her_line.id], "Illness reported late", by=finance, now=NOW - timedelta(days=1)
    )

    coming = create_session(
        course=course, trainer=trainer, starts_at=NOW + timedelta(days=20), places=1, overbook_percent=0
    )
    upcoming = book_place(coming, person, by=person, now=NOW - timedelta(days=3))
    book_place(coming, waiting, by=waiting, now=NOW - timedelta(days=2))

    request = log_data_request(
        RequestDetails(
            RequestKind.ACCESS, person, date(2026, 4, 20), ReceivedHow.LETTER, f"Signed by {NAME}"
        ),
        by=lnd,
        now=NOW - timedelta(days=10),
    )
    certificate = db.session.scalar(sa.select(Certificate).where(Certificate.booking_id == mine.id))
    assert certificate is not None and db.session.scalar(sa.select(sa.func.count(Charge.id))) == 2
    db.session.flush()
    return World(
        police=police,
        person=person,
        colleague=colleague,
        waiting=waiting,
        lnd=lnd,
        finance=finance,
        trainer=trainer,
        contact=contact,
        course=course,
        attended=attended,
        missed=missed,
        coming=coming,
        bookings=[mine, no_shows[0], upcoming],
        invoice=invoice,
        certificate=certificate,
        follow_up=follow_up,
        request=request,
        subscription=subscription,
    )
