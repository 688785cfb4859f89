"""Evaluations after a session, and the certificates a full attendance plus an evaluation unlock."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import lazyload, load_only, undefer

from lms.accounts.models import Role, User
from lms.bookings.models import Attendance, Booking, BookingStatus
from lms.core.audit import log_action
from lms.core.branding import brand_logo
from lms.core.errors import DomainError, PermissionDenied
from lms.core.timezones import london_date
from lms.courses.models import Course, CourseSession
from lms.evaluations.models import (
    Answer,
    Certificate,
    Evaluation,
    Question,
    QuestionKind,
    QuestionSet,
    Rating,
)
from lms.evaluations.pdf import CertificateData, render_certificate
from lms.extensions import db
from lms.integrations.webhooks import emit
from lms.messages.services import absolute_url, queue_message, session_subject


class EvaluationError(DomainError):
    pass


@dataclass(frozen=True)
class QuestionDraft:
    key: str
    text: str
    kind: QuestionKind
    required: bool = True


DEFAULT_QUESTIONS = (
    QuestionDraft(
        "understanding_before", "Your understanding of the subject before the course", QuestionKind.RATING
    ),
    QuestionDraft("understanding_now", "Your understanding of the subject now", QuestionKind.RATING),
    QuestionDraft(
        "impact_on_safeguarding",
        "Your understanding of its impact on safeguarding children",
        QuestionKind.RATING,
    ),
    QuestionDraft(
        "confidence", "Your confidence in responding to this topic since attending", QuestionKind.RATING
    ),
    QuestionDraft("usefulness", "How useful the course is for your practice", QuestionKind.RATING),
    QuestionDraft("other_agencies", "Your understanding of other agencies' roles", QuestionKind.RATING),
    QuestionDraft("do_differently", "One thing you will do differently", QuestionKind.TEXT),
    QuestionDraft("comments", "Any other comments", QuestionKind.TEXT, required=False),
)


# Question sets --------------------------------------------------------------------------------


def latest_question_set(course: Course) -> QuestionSet | None:
    """The questions new evaluations of this course use, if the course has any yet (reads only)."""
    return db.session.scalar(
        sa.select(QuestionSet).where(QuestionSet.course_id == course.id).order_by(QuestionSet.version.desc())
    )


def current_question_set(course: Course, *, now: datetime) -> QuestionSet:
    """The questions new evaluations of this course use, made from the partnership's defaults the
    first time they are needed (writes: call it from a state-changing request or a job)."""
    latest = latest_question_set(course)
    if latest is not None:
        return latest
    return _new_question_set(course, DEFAULT_QUESTIONS, version=1, by=None, now=now)


def questions_shown(course: Course) -> tuple:
    """The questions L&D see for a course: its latest set, or the defaults it will get."""
    latest = latest_question_set(course)
    return tuple(latest.questions) if latest is not None else DEFAULT_QUESTIONS


def _new_question_set(course, drafts, *, version: int, by: User | None, now: datetime) -> QuestionSet:
    question_set = QuestionSet(
        course_id=course.id, version=version, created_at=now, created_by_id=by.id if by else None
    )
    question_set.questions = [
        Question(position=i, key=d.key, text=d.text.strip(), kind=d.kind, required=d.required)
        for i, d in enumerate(drafts, start=1)
    ]
    db.session.add(question_set)
    db.session.flush()
    return question_set


def replace_questions(course: Course, drafts: list[QuestionDraft], *, by: User, now: datetime) -> QuestionSet:
    """L&D change a course's questions: a new version; answers already given are untouched."""
    if not by.has_role(Role.LND_ADMIN):
        raise PermissionDenied("Only the L&D team can change evaluation questions.")
    if not any(d.kind is QuestionKind.RATING for d in drafts):
        raise EvaluationError("Keep at least one rated question.", field="rated")
    keys = [d.key for d in drafts]
    if len(set(keys)) != len(keys):
        raise EvaluationError("Two questions have the same wording. Make each one different.", field="rated")
    current = current_question_set(course, now=now)
    question_set = _new_question_set(course, drafts, version=current.version + 1, by=by, now=now)
    log_action(
        "lms.evaluation.questions_changed", subject=course, actor=by, now=now, version=question_set.version
    )
    return question_set


# Evaluating -----------------------------------------------------------------------------------


def evaluation_of(booking: Booking) -> Evaluation | None:
    return db.session.scalar(sa.select(Evaluation).where(Evaluation.booking_id == booking.id))


def can_evaluate(booking: Booking) -> bool:
    return (
        booking.status is BookingStatus.CONFIRMED
        and not booking.is_past_record
        and booking.attendance is not None
        and booking.attendance.counts_as_attended
        and booking.session.register_is_closed
    )


def pending_evaluations(user: User) -> list[Booking]:
    """Sessions this person attended whose evaluation they have not yet given."""
    return list(
        db.session.scalars(
            sa.select(Booking)
            .join(Booking.session)
            .outerjoin(Evaluation, Evaluation.booking_id == Booking.id)
            .where(
                Booking.user_id == user.id,
                Booking.status == BookingStatus.CONFIRMED,
                Booking.is_past_record.is_(False),
                Booking.attendance.in_([Attendance.ATTENDED, Attendance.PARTIAL]),
                CourseSession.register_closed_at.is_not(None),
                Evaluation.id.is_(None),
            )
            .order_by(CourseSession.starts_at.desc())
        )
    )


def why_cannot_evaluate(booking: Booking, by: User) -> str | None:
    """Why `by` may not evaluate this booking now, or None when they may."""
    if not booking.belongs_to(by):
        return "You can only evaluate your own sessions."
    if booking.attendance is Attendance.NO_SHOW:
        return "You were recorded as not attending this session, so there is nothing to evaluate."
    if not can_evaluate(booking):
        return "This session cannot be evaluated until its register is closed."
    if evaluation_of(booking) is not None:
        return "You have already evaluated this session. An evaluation cannot be changed."
    return None


def check_can_evaluate(booking: Booking, by: User) -> None:
    """Raise, with the reason, unless `by` may evaluate this booking now."""
    reason = why_cannot_evaluate(booking, by)
    if reason is None:
        return
    if not booking.belongs_to(by):
        raise PermissionDenied(reason)
    raise EvaluationError.conflict(reason)


def _answer_for(question: Question, raw: str | None) -> Answer:
    value = (raw or "").strip()
    if question.kind is QuestionKind.RATING:
        if not value:
            raise EvaluationError(f"Choose a rating for “{question.text}”.", field=f"q{question.id}")
        try:
            rating = Rating(value)
        except ValueError:
            raise EvaluationError(
                f"Choose a rating for “{question.text}”.", field=f"q{question.id}"
            ) from None
        return Answer(question=question, rating=rating.score)
    if question.required and not value:
        raise EvaluationError(f"Answer “{question.text}”.", field=f"q{question.id}")
    if len(value) > 5000:
        raise EvaluationError("Keep each answer under 5,000 characters.", field=f"q{question.id}")
    return Answer(question=question, text=value or None)


def submit_evaluation(
    booking: Booking, question_set: QuestionSet, raw_answers: dict[int, str], *, by: User, now: datetime
) -> Evaluation:
    """Record a delegate's evaluation, once; a full attendance then earns the certificate."""
    check_can_evaluate(booking, by)
    if question_set.course_id != booking.session.course_id:
        raise EvaluationError("These questions belong to another course.")
    answers = [_answer_for(question, raw_answers.get(question.id)) for question in question_set.questions]
    evaluation = Evaluation(booking=booking, question_set=question_set, submitted_at=now, answers=answers)
    db.session.add(evaluation)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError as exc:
        raise EvaluationError(
            "You have already evaluated this session. An evaluation cannot be changed."
        ) from exc
    log_action("lms.evaluation.submitted", subject=evaluation, actor=by, now=now, booking_id=booking.id)
    if certificate_available(booking, evaluation):  # not read back: the evaluation is this one
        issue_certificate(booking, now=now)
    return evaluation


# Asking and reminding -------------------------------------------------------------------------


def request_evaluation(booking: Booking, *, now: datetime) -> bool:
    """Ask an attendee to evaluate, once; True when the request was made now."""
    if booking.evaluation_requested_at is not None or not can_evaluate(booking):
        return False
    booking.evaluation_requested_at = now
    queue_message(
        "evaluation.requested",
        to=booking.user.email,
        user=booking.user,
        subject=session_subject("Tell us about the session", booking.session),
        template="evaluations/requested.txt",
        now=now,
        dedupe_key=f"evaluation.requested:{booking.id}",
        booking=booking,
        session=booking.session,
    )
    return True


def request_evaluations(session: CourseSession, *, now: datetime) -> int:
    """When the register closes, everyone who attended is asked to evaluate."""
    current_question_set(session.course, now=now)
    bookings = db.session.scalars(
        sa.select(Booking).where(Booking.session_id == session.id, Booking.status == BookingStatus.CONFIRMED)
    ).all()
    return sum(request_evaluation(booking, now=now) for booking in bookings)


def remind_evaluations(now: datetime) -> int:
    """A week after the request, one reminder; requests older than four weeks are left alone."""
    after = timedelta(days=current_app.config["EVALUATION_REMINDER_DAYS"])
    stale = timedelta(days=current_app.config["EVALUATION_REMINDER_DAYS"] + 21)
    due = db.session.scalars(
        sa.select(Booking)
        .outerjoin(Evaluation, Evaluation.booking_id == Booking.id)
        .where(
            Booking.evaluation_requested_at.is_not(None),
            Booking.evaluation_requested_at <= now - after,
            Booking.evaluation_requested_at > now - stale,
            Booking.evaluation_reminded_at.is_(None),
            Evaluation.id.is_(None),
        )
        .order_by(Booking.id)
    ).all()
    for booking in due:
        booking.evaluation_reminded_at = now
        queue_message(
            "evaluation.reminder",
            to=booking.user.email,
            user=booking.user,
            subject=session_subject("Evaluation reminder", booking.session),
            template="evaluations/reminder.txt",
            now=now,
            dedupe_key=f"evaluation.reminder:{booking.id}",
            booking=booking,
            session=booking.session,
        )
    db.session.flush()
    return len(due)


# Certificates ---------------------------------------------------------------------------------

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base 32: no I, L, O or U
STORE_BATCH = 200


def new_certificate_number(now: datetime) -> str:
    code = "".join(secrets.choice(_ALPHABET) for _ in range(8))
    return f"{current_app.config['CERTIFICATE_PREFIX']}-{london_date(now).year}-{code[:4]}-{code[4:]}"


def certificate_of(booking: Booking) -> Certificate | None:
    return db.session.scalar(sa.select(Certificate).where(Certificate.booking_id == booking.id))


def certificate_data(certificate: Certificate) -> CertificateData:
    """What the certificate shows: the booking's facts and the partnership's name and logo now."""
    booking = certificate.booking
    session = booking.session
    return CertificateData(
        number=certificate.number,
        delegate_name=booking.user.full_name,
        course_title=session.course.title,
        session_date=london_date(session.starts_at),
        cpd_hours=session.course.duration_minutes / 60,
        provider=session.course.provider,
        partnership_name=current_app.config["PARTNERSHIP_NAME"],
        verify_url=absolute_url("evaluations.verify_number", number=certificate.number),
        issued_on=london_date(certificate.issued_at),
        logo=brand_logo(),
    )


# Whether a certificate's PDF is rendered and kept as it is issued: always, but for the demo data's
# two years of history (see pdfs_drawn_when_downloaded).
_KEEP_PDF_WHEN_ISSUED: ContextVar[bool] = ContextVar("keep_pdf_when_issued", default=True)


@contextmanager
def pdfs_drawn_when_downloaded() -> Iterator[None]:
    """Certificates issued inside the block keep no PDF: each is drawn when downloaded, as one issued
    before PDFs were kept is, until `store_missing_certificates` keeps it. For the demo data, whose
    nearly two thousand certificates would otherwise be a third of its load; never for real work."""
    token = _KEEP_PDF_WHEN_ISSUED.set(False)
    try:
        yield
    finally:
        _KEEP_PDF_WHEN_ISSUED.reset(token)


def issue_certificate(booking: Booking, *, now: datetime) -> Certificate:
    """The booking's certificate, issued (and its PDF rendered and kept) the first time it is earned."""
    existing = certificate_of(booking)
    if existing is not None:
        return existing
    certificate = Certificate(booking=booking, number=new_certificate_number(now), issued_at=now)
    if _KEEP_PDF_WHEN_ISSUED.get():
        certificate.pdf = render_certificate(certificate_data(certificate))
    db.session.add(certificate)
    db.session.flush()
    log_action("lms.certificate.issued", subject=certificate, actor=None, now=now, number=certificate.number)
    emit("certificate.issued", certificate, now=now)
    return certificate


def award_certificate(booking: Booking, *, now: datetime) -> Certificate | None:
    """Issue the certificate once it is earned (full attendance and an evaluation); None until then."""
    if not booking.earns_certificate or evaluation_of(booking) is None:
        return None
    return issue_certificate(booking, now=now)


def certificate_available(booking: Booking, evaluation: Evaluation | None) -> bool:
    """The one certificate rule pages ask: full attendance and a submitted evaluation."""
    return booking.earns_certificate and evaluation is not None


# Built once: building it (its join, subquery and loader options) costs a download more than
# running it does.
_OWN_BOOKING_CERTIFICATE = (
    sa.select(Booking, Certificate, sa.exists().where(Evaluation.booking_id == Booking.id))
    .outerjoin(Certificate, Certificate.booking_id == Booking.id)
    .where(Booking.id == sa.bindparam("booking_id"), Booking.user_id == sa.bindparam("user_id"))
    .options(
        # Not its session, course and topic, which a booking otherwise comes with: the rule needs
        # none of them (a certificate issued before PDFs were kept loads them to be rendered).
        load_only(Booking.user_id, Booking.status, Booking.attendance, Booking.is_past_record),
        lazyload(Booking.session),
        lazyload(Booking.user),
        undefer(Certificate.pdf),
    )
)


def own_booking_certificate(booking_id: int, user: User) -> tuple[Booking, Certificate | None, bool] | None:
    """`user`'s booking `booking_id` as a download of its certificate needs it, in one statement: the
    facts the certificate rule reads, its certificate with the PDF, and whether the evaluation is in.
    None when `user` has no such booking."""
    row = db.session.execute(_OWN_BOOKING_CERTIFICATE, {"booking_id": booking_id, "user_id": user.id}).first()
    return None if row is None else (row[0], row[1], row[2])


def certificate_for(booking: Booking, user: User, *, found: tuple[Certificate | None, bool]) -> Certificate:
    """The certificate `user` may download for `booking` (its PDF loaded), or an error saying what is
    missing. `found` is its certificate and whether the evaluation is in, read with the booking
    (own_booking_certificate)."""
    if not booking.belongs_to(user):
        raise PermissionDenied("You can only download your own certificates.")
    if not booking.earns_certificate:
        raise EvaluationError(
            "Certificates are for delegates recorded as attending the whole session. "
            "If the register is wrong, contact the L&D team."
        )
    certificate, has_evaluation = found
    if not has_evaluation:
        raise EvaluationError(
            "Complete the evaluation of this session to download your certificate.", field="evaluation"
        )
    if certificate is None:
        raise EvaluationError.not_found("This certificate has not been issued. Contact the L&D team.")
    return certificate


def certificate_pdf(certificate: Certificate) -> bytes:
    """The PDF as issued. One issued before PDFs were kept is rendered now, and not kept: reading a
    certificate writes nothing (store_missing_certificates keeps them)."""
    if certificate.pdf is not None:
        return certificate.pdf
    return render_certificate(certificate_data(certificate))


def store_missing_certificates(*, batch: int = STORE_BATCH) -> int:
    """Render and keep the PDFs of up to `batch` certificates issued before PDFs were kept; how many.

    They show the partnership's name and logo of today, as their downloads did until now. A command
    calls it, committing after each batch, until it returns 0.
    """
    certificates = db.session.scalars(
        sa.select(Certificate).where(Certificate.pdf.is_(None)).order_by(Certificate.id).limit(batch)
    ).all()
    for certificate in certificates:
        certificate.pdf = render_certificate(certificate_data(certificate))
    db.session.flush()
    return len(certificates)


def find_certificate(number: str) -> Certificate | None:
    cleaned = "".join(number.split()).upper()
    if not cleaned or len(cleaned) > 40:
        return None
    return db.session.scalar(sa.select(Certificate).where(Certificate.number == cleaned))
