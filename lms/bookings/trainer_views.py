"""The trainer's tools around a session's register: the sign-in sheet and register download, "mark
everyone attended", adding someone who came without an account, and self check-in by QR code."""

from __future__ import annotations

import segno
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from lms.accounts.models import Role
from lms.bookings.checkin import (
    check_in,
    check_in_problem,
    check_in_token,
    check_in_window,
    session_for_check_in_token,
)
from lms.bookings.models import Attendance, BookingStatus
from lms.bookings.services import count_bookings, live_booking, register_of
from lms.bookings.sheets import SheetLine, SignInSheet, render_sign_in_sheet
from lms.bookings.trainer_forms import WalkInPersonForm
from lms.bookings.trainer_tools import add_walk_in_person, delegate_list, mark_rest_attended
from lms.bookings.views import _render_register
from lms.core.access import roles_required, signed_in
from lms.core.clock import now
from lms.core.errors import DomainError
from lms.core.formatting import format_times, plural
from lms.core.forms import ButtonForm
from lms.core.timezones import to_london
from lms.core.web import domain_errors, download, get_or_404
from lms.courses.models import CourseSession
from lms.messages.services import absolute_url
from lms.reporting.export import table_response

bp = Blueprint("trainer_tools", __name__)
trainer_or_admin = roles_required(Role.TRAINER, Role.LND_ADMIN)


def _session_or_403(session_id: int) -> CourseSession:
    session = get_or_404(CourseSession, session_id)
    if not session.can_run_register(current_user):
        abort(403)
    return session


def _register(session_id: int):
    return redirect(url_for("bookings.register", session_id=session_id))


def register_extras(session: CourseSession, person_form: WalkInPersonForm | None = None) -> dict:
    """What the register page shows besides the marks: the waiting list, who checked in (offered
    "Attended" until the trainer marks them), and the form for someone who came without a place."""
    delegates = register_of(session)
    return {
        "waiting": count_bookings(session, BookingStatus.WAITING),
        "checked_in": sum(b.checked_in_at is not None for b in delegates),
        "selected": {
            b.id: b.attendance or (Attendance.ATTENDED if b.checked_in_at is not None else None)
            for b in delegates
        },
        "unmarked": sum(b.attendance is None for b in delegates),
        "person_form": person_form or WalkInPersonForm().with_organisations(),
    }


# Before the session: the sign-in sheet and the register as a spreadsheet -------------------------


@bp.route("/sessions/<id:session_id>/register/sign-in-sheet.pdf")
@trainer_or_admin
def sign_in_sheet(session_id: int):
    session = _session_or_403(session_id)
    delegates = delegate_list(session, by=current_user)
    sheet = SignInSheet(
        course_title=session.course.title,
        when=f"{format_times(session.starts_at, session.ends_at)} (UK time)",
        where=", ".join(line.strip() for line in (session.venue or "").splitlines() if line.strip())
        or session.delivery_mode.title,
        trainer=session.trainer.full_name if session.trainer else "",
        partnership_name=_partnership(),
        lines=[
            SheetLine(
                b.user.full_name, b.agency.name if b.agency else b.other_organisation or "", b.user.job_role
            )
            for b in delegates.delegates
        ],
    )
    name = f"sign-in-sheet-{to_london(session.starts_at):%Y-%m-%d}-{session.id}.pdf"
    return download(render_sign_in_sheet(sheet), "application/pdf", name)


def _partnership() -> str:
    return current_app.config["PARTNERSHIP_NAME"]


EXPORT_HEADER = (
    "First name",
    "Last name",
    "Email",
    "Organisation",
    "Job role",
    "Checked in",
    "Attendance",
    "Walk-in",
)


@bp.route("/sessions/<id:session_id>/register.<any(csv, xlsx):fmt>")
@trainer_or_admin
def register_export(session_id: int, fmt: str):
    session = _session_or_403(session_id)
    delegates = delegate_list(session, by=current_user)
    rows = [
        (
            b.user.first_name,
            b.user.last_name,
            b.user.email,
            b.agency.name if b.agency else b.other_organisation or "",
            b.user.job_role,
            to_london(b.checked_in_at).replace(tzinfo=None) if b.checked_in_at else None,
            b.attendance.title if b.attendance else "",
            "Yes" if b.is_walk_in else "",
        )
        for b in delegates.delegates
    ]
    name = f"register-{to_london(session.starts_at):%Y-%m-%d}-{session.id}"
    heading = f"{session.course.title}, {format_times(session.starts_at, session.ends_at)}"
    return table_response(fmt, name, "Register", EXPORT_HEADER, rows, heading=heading)


# At the session: everyone attended, then the exceptions; someone who came without an account ------


@bp.route("/sessions/<id:session_id>/register/mark-rest-attended", methods=["POST"])
@trainer_or_admin
def mark_rest(session_id: int):
    session = _session_or_403(session_id)
    if ButtonForm().validate_on_submit():
        with domain_errors():
            marked = mark_rest_attended(session, by=current_user, now=now())
            if marked:
                flash(
                    f"{plural(len(marked), 'delegate')} marked as attended. Now change anyone who "
                    "came late, left early or did not come, and save.",
                    "success",
                )
            else:
                flash("Everyone on the register is already marked.", "success")
    return _register(session_id)


@bp.route("/sessions/<id:session_id>/register/add-person", methods=["POST"])
@trainer_or_admin
def add_person(session_id: int):
    session = _session_or_403(session_id)
    form = WalkInPersonForm().with_organisations()
    moment = now()
    if form.validate_on_submit():
        with domain_errors(form):
            booking, created = add_walk_in_person(
                session, form.walk_in_details(), Attendance(form.outcome.data), by=current_user, now=moment
            )
            invited = " We have emailed them an invitation to their new account." if created else ""
            flash(f"{booking.user.full_name} has been added to the register.{invited}", "success")
            return _register(session_id)
    return _render_register(session, None, moment, person_form=form)


# Self check-in ---------------------------------------------------------------------------------


@bp.route("/sessions/<id:session_id>/check-in-code")
@trainer_or_admin
def check_in_code(session_id: int):
    session = _session_or_403(session_id)
    link = absolute_url("trainer_tools.check_in_page", token=check_in_token(session))
    qr = segno.make_qr(link, error="m", boost_error=False)
    svg = qr.svg_inline(scale=8, border=4, title="QR code: check in to this session", omitsize=True)
    delegates = delegate_list(session, by=current_user)
    return render_template(
        "bookings/trainer/check_in_code.html",
        session=session,
        link=link,
        qr_svg=svg,
        delegates=delegates,
        window=check_in_window(session),
    )


@bp.route("/check-in/<string(maxlength=300):token>", methods=["GET", "POST"])
@signed_in
def check_in_page(token: str):
    try:
        session = session_for_check_in_token(token)
    except DomainError as error:
        return render_template("bookings/trainer/check_in.html", session=None, problem=error.message), 404
    moment = now()
    form = ButtonForm()
    problem = check_in_problem(session, current_user, moment)
    if form.validate_on_submit() and problem is None:
        check_in(session, current_user, now=moment)
        return redirect(url_for("trainer_tools.check_in_page", token=token))
    booking = live_booking(session, current_user)
    page = render_template(
        "bookings/trainer/check_in.html",
        session=session,
        booking=booking,
        checked_in=booking is not None and booking.is_confirmed and booking.checked_in_at is not None,
        problem=problem,
        button=form,
    )
    # A check-in refused (outside the window, no place) changes nothing and says why.
    return page, 409 if (problem is not None and request.method == "POST") else 200
