"""Evaluating a session, downloading certificates and the training record, checking a certificate."""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm import lazyload

from lms.accounts.models import Role
from lms.bookings.models import Attendance, Booking, BookingStatus
from lms.core.access import public, roles_required, signed_in
from lms.core.clock import now
from lms.core.timezones import london_date
from lms.core.web import MAX_ID, domain_errors, download, get_or_404, render_form
from lms.courses.models import Course, CourseSession
from lms.evaluations.forms import QuestionsForm, VerifyForm, answers_from, evaluation_form
from lms.evaluations.models import Certificate, QuestionSet
from lms.evaluations.pdf import TranscriptData, TranscriptLine, render_transcript
from lms.evaluations.services import (
    can_evaluate,
    certificate_available,
    certificate_for,
    certificate_of,
    certificate_pdf,
    evaluation_of,
    find_certificate,
    latest_question_set,
    own_booking_certificate,
    questions_shown,
    replace_questions,
    submit_evaluation,
    why_cannot_evaluate,
)
from lms.extensions import db, limiter

bp = Blueprint("evaluations", __name__)


def _own_booking_or_404(booking_id: int) -> Booking:
    # Its delegate is the person signed in, already loaded: not read again with the booking.
    booking = db.session.get(Booking, booking_id, options=[lazyload(Booking.user)]) or abort(404)
    if not booking.belongs_to(current_user):
        abort(404)
    return booking


@bp.route("/evaluations/<id:booking_id>", methods=["GET", "POST"])
@signed_in
def evaluate(booking_id: int):
    booking = _own_booking_or_404(booking_id)
    if evaluation_of(booking) is not None:
        flash("You have already evaluated this session. Thank you.", "info")
        return redirect(url_for("evaluations.record"))
    question_set = latest_question_set(booking.session.course)
    # Say at once why this booking cannot be evaluated, rather than after the form is filled.
    refusal = why_cannot_evaluate(booking, current_user) or (
        None if question_set else "This session's evaluation is not ready yet. Try again later."
    )
    if refusal:
        flash(refusal, "error")
        return redirect(url_for("evaluations.record"))
    if request.method == "POST":
        posted = request.form.get("question_set_id", type=int) or 0
        earlier = db.session.get(QuestionSet, posted) if 0 < posted <= MAX_ID else None
        if earlier is not None and earlier.course_id == booking.session.course_id:
            question_set = earlier
    form = evaluation_form(question_set)
    if form.validate_on_submit():
        with domain_errors(form):
            submit_evaluation(
                booking, question_set, answers_from(form, question_set), by=current_user, now=now()
            )
            if booking.earns_certificate:
                flash("Thank you. Your certificate is ready to download.", "success")
            else:
                flash("Thank you for your evaluation.", "success")
            return redirect(url_for("evaluations.record"))
    return render_form("evaluations/evaluate.html", form=form, booking=booking, question_set=question_set)


@bp.route("/certificates/<id:booking_id>.pdf")
@signed_in
def certificate(booking_id: int):
    # One statement: the booking, only if it is this person's, with its certificate and its PDF.
    booking, issued, evaluated = own_booking_certificate(booking_id, current_user) or abort(404)
    to_evaluation = booking.earns_certificate and not evaluated
    with domain_errors():
        return _issued_pdf(certificate_for(booking, current_user, found=(issued, evaluated)))
    if to_evaluation:
        return redirect(url_for("evaluations.evaluate", booking_id=booking_id))
    return redirect(url_for("evaluations.record"))


def _issued_pdf(issued: Certificate):
    """The PDF as issued, to save. It never changes, so a browser that kept it is told so (304) without
    being sent it again; it is personal, so only the browser keeps it, and asks each time."""
    pdf = certificate_pdf(issued)
    response = download(pdf, "application/pdf", f"certificate-{issued.number}.pdf")
    response.set_etag(f"{issued.number}.{hashlib.sha256(pdf).hexdigest()[:24]}")
    response.headers["Cache-Control"] = "private, no-cache"
    return response.make_conditional(request)


def _attended_bookings(user) -> list[Booking]:
    return list(
        db.session.scalars(
            sa.select(Booking)
            .join(Booking.session)
            .where(
                Booking.user_id == user.id,
                Booking.status == BookingStatus.CONFIRMED,
                Booking.attendance.in_([Attendance.ATTENDED, Attendance.PARTIAL]),
            )
            .order_by(CourseSession.starts_at.desc())
        )
    )


@bp.route("/record")
@signed_in
def record():
    rows = [(b, evaluation_of(b), certificate_of(b)) for b in _attended_bookings(current_user)]
    rows = [(b, e, c, certificate_available(b, e), can_evaluate(b)) for b, e, c in rows]
    total = sum(b.session.course.duration_minutes for b, *_ in rows)
    return render_template("evaluations/record.html", rows=rows, total_minutes=total)


@bp.route("/record.pdf")
@signed_in
def record_pdf():
    lines = []
    for booking in _attended_bookings(current_user):
        certificate = certificate_of(booking)
        lines.append(
            TranscriptLine(
                course_title=booking.session.course.title,
                session_date=london_date(booking.session.starts_at),
                cpd_hours=booking.session.course.duration_minutes / 60,
                attendance=booking.attendance.title,
                evaluation="Submitted" if evaluation_of(booking) else "Not yet submitted",
                certificate_number=certificate.number if certificate else None,
            )
        )
    data = TranscriptData(
        delegate_name=current_user.full_name,
        organisation=current_user.organisation_name,
        partnership_name=current_app.config["PARTNERSHIP_NAME"],
        generated_on=london_date(now()),
        lines=lines,
    )
    return download(render_transcript(data), "application/pdf", "training-record.pdf")


@bp.route("/certificates/verify")
@public
@limiter.limit("60 per minute")
def verify():
    form = VerifyForm(request.args)
    if request.args and form.validate():
        return redirect(
            url_for("evaluations.verify_number", number="".join(form.number.data.split()).upper())
        )
    return render_template("evaluations/verify.html", form=form, certificate=None, checked=False)


@bp.route("/certificates/verify/<number>")
@public
@limiter.limit("60 per minute")
def verify_number(number: str):
    form = VerifyForm(data={"number": number})
    found = find_certificate(number)
    status = 200 if found else 404
    return render_template("evaluations/verify.html", form=form, certificate=found, checked=True), status


@bp.route("/admin/programme/courses/<id:course_id>/evaluation", methods=["GET", "POST"])
@roles_required(Role.LND_ADMIN)
def questions(course_id: int):
    course = get_or_404(Course, course_id)
    current = latest_question_set(course)
    form = QuestionsForm()
    if request.method == "GET":
        form.load(questions_shown(course))
    if form.validate_on_submit():
        with domain_errors(form):
            new_set = replace_questions(course, form.drafts(), by=current_user, now=now())
            flash(
                f"Saved as version {new_set.version}. Evaluations already given keep their questions.",
                "success",
            )
            return redirect(url_for("evaluations.questions", course_id=course.id))
    return render_form("evaluations/questions.html", form=form, course=course, current=current)
