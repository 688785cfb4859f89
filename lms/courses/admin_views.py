"""L&D admins manage courses and commission sessions; trainers see their own sessions."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from lms.accounts.models import Role
from lms.bookings import services as booking_services
from lms.core.access import roles_required
from lms.core.clock import now
from lms.core.errors import DomainError
from lms.core.web import page_number, render_form, show_error
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
    ProgrammeError,
    create_course,
    create_session,
    find_or_create_topic,
    update_course,
)
from lms.extensions import db

bp = Blueprint("programme", __name__, url_prefix="/admin/programme")
admin_only = roles_required(Role.LND_ADMIN)


def _save_course(form: CourseForm, course: Course | None) -> Course | None:
    try:
        if form.new_topic.data:
            topic_id = find_or_create_topic(form.new_topic.data, by=current_user, now=now()).id
        else:
            topic_id = int(form.topic_id.data)
        details = form.course_details(topic_id)
        if course is None:
            course = create_course(details, by=current_user, now=now())
        else:
            update_course(course, details, by=current_user, now=now())
    except ProgrammeError as error:
        db.session.rollback()
        show_error(form, error)
        return None
    db.session.commit()
    return course


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
        course = _save_course(form, None)
        if course is not None:
            flash(f"“{course.title}” has been added. Now add its sessions.", "success")
            return redirect(url_for("programme.new_session", course=course.id))
    return render_form("admin/course_form.html", form=form, course=None)


@bp.route("/courses/<int:course_id>", methods=["GET", "POST"])
@admin_only
def edit_course(course_id: int):
    course = db.session.get(Course, course_id) or abort(404)
    form = CourseForm()
    form.topic_id.choices = topic_choices("Choose a topic")
    if request.method == "GET":
        form.load_course(course)
    if form.validate_on_submit() and _save_course(form, course) is not None:
        flash(f"“{course.title}” has been saved.", "success")
        return redirect(url_for("programme.courses"))
    return render_form("admin/course_form.html", form=form, course=course)


@bp.route("/sessions")
@admin_only
def sessions():
    show = request.args.get("show", "upcoming")
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
        course = db.session.get(Course, request.args.get("course", type=int) or 0)
        if course is not None:
            form.course_id.data = str(course.id)
            form.delivery_mode.data = course.delivery_mode.value
    if form.validate_on_submit() and (details := form.session_details()) is not None:
        try:
            session = create_session(details, by=current_user, now=now())
        except ProgrammeError as error:
            db.session.rollback()
            show_error(form, error)
        else:
            db.session.commit()
            flash("The session has been added to the programme.", "success")
            return redirect(url_for("catalogue.detail", session_id=session.id))
    return render_form("admin/session_form.html", form=form, session=None)


@bp.route("/sessions/<int:session_id>/edit", methods=["GET", "POST"])
@admin_only
def edit_session(session_id: int):
    session = db.session.get(CourseSession, session_id) or abort(404)
    form = _session_form()
    if request.method == "GET":
        form.load_session(session)
    if form.validate_on_submit() and (details := form.session_details()) is not None:
        try:
            promoted = booking_services.edit_session(session, details, by=current_user, now=now())
        except DomainError as error:
            db.session.rollback()
            show_error(form, error)
        else:
            db.session.commit()
            extra = f" {len(promoted)} people waiting have been confirmed and told." if promoted else ""
            flash(f"The session has been saved.{extra}", "success")
            return redirect(url_for("catalogue.detail", session_id=session.id))
    return render_form("admin/session_form.html", form=form, session=session)


@bp.route("/sessions/<int:session_id>/cancel", methods=["GET", "POST"])
@admin_only
def cancel(session_id: int):
    session = db.session.get(CourseSession, session_id) or abort(404)
    form = CancelSessionForm()
    if form.validate_on_submit():
        try:
            told = booking_services.cancel_session(
                session, reason=form.reason.data, by=current_user, now=now()
            )
        except DomainError as error:
            db.session.rollback()
            show_error(form, error)
        else:
            db.session.commit()
            flash(
                f"The session has been cancelled. {told} people booked or waiting have been told.",
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
