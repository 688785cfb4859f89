"""L&D admins manage courses and commission sessions; trainers see their own sessions."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from lms.accounts.models import Role
from lms.bookings import services as booking_services
from lms.core.access import roles_required
from lms.core.clock import now
from lms.core.formatting import plural, plural_word
from lms.core.web import MAX_ID, domain_errors, get_or_404, page_number, render_form
from lms.courses.forms import (
    CancelSessionForm,
    CourseForm,
    SessionForm,
    course_choices,
    topic_choices,
    trainer_choices,
)
from lms.courses.models import Course, CourseSession, SessionStatus
from lms.courses.services import (
    create_session,
    save_course,
)
from lms.extensions import db

bp = Blueprint("programme", __name__, url_prefix="/admin/programme")
admin_only = roles_required(Role.LND_ADMIN)


@bp.route("/courses")
@admin_only
def courses():
    counts = dict(
        db.session.execute(
            sa.select(CourseSession.course_id, sa.func.count(CourseSession.id)).group_by(
                CourseSession.course_id
            )
        ).all()
    )
    rows = db.session.scalars(sa.select(Course).order_by(Course.title)).all()
    return render_template("admin/courses.html", courses=rows, counts=counts)


@bp.route("/courses/new", methods=["GET", "POST"])
@admin_only
def new_course():
    form = CourseForm()
    form.topic_id.choices = topic_choices("Choose a topic")
    if form.validate_on_submit():
        with domain_errors(form):
            course = save_course(
                None, form.course_details(), new_topic=form.new_topic.data, by=current_user, now=now()
            )
            flash(f"“{course.title}” has been added. Now add its sessions.", "success")
            return redirect(url_for("programme.new_session", course=course.id))
    return render_form("admin/course_form.html", form=form, course=None)


@bp.route("/courses/<id:course_id>", methods=["GET", "POST"])
@admin_only
def edit_course(course_id: int):
    course = get_or_404(Course, course_id)
    form = CourseForm()
    form.topic_id.choices = topic_choices("Choose a topic")
    if request.method == "GET":
        form.load_course(course)
    if form.validate_on_submit():
        with domain_errors(form):
            details = form.course_details()
            save_course(course, details, new_topic=form.new_topic.data, by=current_user, now=now())
            flash(f"“{course.title}” has been saved.", "success")
            return redirect(url_for("programme.courses"))
    return render_form("admin/course_form.html", form=form, course=course)


@bp.route("/sessions")
@admin_only
def sessions():
    show = request.args.get("show", "upcoming")  # anything but "past" shows what is coming up
    query = sa.select(CourseSession).join(CourseSession.course)
    if show == "past":
        query = query.where(CourseSession.starts_at <= now()).order_by(CourseSession.starts_at.desc())
    else:
        show = "upcoming"
        query = query.where(CourseSession.starts_at > now()).order_by(CourseSession.starts_at)
    page = db.paginate(query, page=page_number(), per_page=50, error_out=False)
    return render_template("admin/sessions.html", page=page, show=show)


def _session_form() -> SessionForm:
    form = SessionForm()
    form.course_id.choices = course_choices()
    form.trainer_id.choices = trainer_choices()
    return form


@bp.route("/sessions/new", methods=["GET", "POST"])
@admin_only
def new_session():
    form = _session_form()
    if request.method == "GET":
        form.prefill()
        course_id = request.args.get("course", type=int) or 0
        course = db.session.get(Course, course_id) if 0 < course_id <= MAX_ID else None
        if course is not None:
            form.course_id.data = str(course.id)
            form.delivery_mode.data = course.delivery_mode.value
    if form.validate_on_submit() and (details := form.session_details()) is not None:
        with domain_errors(form):
            session = create_session(details, by=current_user, now=now())
            flash("The session has been added to the programme.", "success")
            return redirect(url_for("catalogue.detail", session_id=session.id))
    return render_form("admin/session_form.html", form=form, session=None)


@bp.route("/sessions/<id:session_id>/edit", methods=["GET", "POST"])
@admin_only
def edit_session(session_id: int):
    session = get_or_404(CourseSession, session_id)
    form = _session_form()
    if request.method == "GET":
        form.load_session(session)
    if form.validate_on_submit() and (details := form.session_details()) is not None:
        with domain_errors(form):
            promoted = booking_services.edit_session(session, details, by=current_user, now=now())
            extra = ""
            if promoted:
                extra = (
                    f" {plural(len(promoted), 'person', 'people')} waiting "
                    f"{plural_word(len(promoted), 'has', 'have')} been confirmed and told."
                )
            flash(f"The session has been saved.{extra}", "success")
            return redirect(url_for("catalogue.detail", session_id=session.id))
    return render_form("admin/session_form.html", form=form, session=session)


@bp.route("/sessions/<id:session_id>/cancel", methods=["GET", "POST"])
@admin_only
def cancel(session_id: int):
    session = get_or_404(CourseSession, session_id)
    form = CancelSessionForm()
    if form.validate_on_submit():
        with domain_errors(form):
            told = booking_services.cancel_session(
                session, reason=form.reason.data, by=current_user, now=now()
            )
            flash(
                f"The session has been cancelled. {plural(told, 'person', 'people')} booked or waiting "
                f"{plural_word(told, 'has', 'have')} been told.",
                "success",
            )
            return redirect(url_for("catalogue.detail", session_id=session.id))
    return render_form("admin/cancel_session.html", form=form, session=session)


@bp.route("/my-sessions")
@roles_required(Role.TRAINER)
def trainer_sessions():
    sessions = db.session.scalars(
        sa.select(CourseSession)
        .where(
            CourseSession.trainer_id == current_user.id,
            CourseSession.status != SessionStatus.CANCELLED,
        )
        .order_by(CourseSession.starts_at)
    ).all()
    upcoming = [s for s in sessions if s.starts_at > now()]
    past = [s for s in sessions if s.starts_at <= now()][::-1]
    return render_template("courses/trainer_sessions.html", upcoming=upcoming, past=past)
