"""Booking pages: book, my bookings, cancel, substitute; L&D's roster; the register."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from lms.accounts.models import Role
from lms.accounts.services import find_user_by_email
from lms.bookings.forms import (
    AddDelegateForm,
    PlacesForm,
    SubstituteForm,
    WalkInForm,
    read_register,
)
from lms.bookings.models import Attendance, Booking, BookingStatus
from lms.bookings.rules import is_late_cancellation
from lms.bookings.services import (
    BookingError,
    add_delegate,
    add_walk_in,
    book_place,
    cancel_booking,
    change_places,
    close_register,
    find_colleague,
    mark_attendance,
    register_of,
    remove_delegate,
    substitute_booking,
    waiting_position,
)
from lms.core.access import roles_required, signed_in
from lms.core.audit import ACTION_TITLES, history_of
from lms.core.clock import now
from lms.core.errors import DomainError
from lms.core.forms import ButtonForm
from lms.core.web import render_form, show_error
from lms.courses.models import CourseSession
from lms.extensions import db

bp = Blueprint("bookings", __name__)
admin_only = roles_required(Role.LND_ADMIN)


def _session_or_404(session_id: int) -> CourseSession:
    return db.session.get(CourseSession, session_id) or abort(404)


def _own_booking_or_404(booking_id: int) -> Booking:
    booking = db.session.get(Booking, booking_id)
    # Someone else's booking is "not found": its existence is not theirs to know.
    if booking is None or not booking.belongs_to(current_user):
        abort(404)
    return booking


@bp.route("/sessions/<int:session_id>/book", methods=["POST"])
@signed_in
def book(session_id: int):
    session = _session_or_404(session_id)
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        booking = book_place(session, current_user, by=current_user, now=now())
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
    else:
        db.session.commit()
        if booking.is_confirmed:
            flash(
                "Your place is confirmed. We have emailed you the details and a calendar invitation.",
                "success",
            )
        else:
            flash(
                f"The session is full, so you are on the waiting list at number {waiting_position(booking)}. "
                "If a place comes up it is yours and we will email you.",
                "success",
            )
    return redirect(url_for("catalogue.detail", session_id=session_id))


@bp.route("/bookings")
@signed_in
def mine():
    bookings = db.session.scalars(
        sa.select(Booking)
        .join(Booking.session)
        .where(Booking.user_id == current_user.id)
        .order_by(CourseSession.starts_at.desc(), Booking.id.desc())
    ).all()
    moment = now()
    upcoming = [b for b in bookings if not b.session.has_started(moment)][::-1]
    past = [b for b in bookings if b.session.has_started(moment)]
    positions = {b.id: waiting_position(b) for b in upcoming if b.is_waiting}
    return render_template(
        "bookings/mine.html", upcoming=upcoming, past=past, positions=positions, now=moment
    )


@bp.route("/bookings/<int:booking_id>/cancel", methods=["GET", "POST"])
@signed_in
def cancel(booking_id: int):
    booking = _own_booking_or_404(booking_id)
    form = ButtonForm()
    moment = now()
    if form.validate_on_submit():
        try:
            cancel_booking(booking, by=current_user, now=moment)
        except DomainError as error:
            db.session.rollback()
            flash(error.message, "error")
        else:
            db.session.commit()
            if booking.is_late_cancellation:
                flash(
                    "Your booking is cancelled. This was a late cancellation, so your agency may be charged.",
                    "success",
                )
            else:
                flash("Your booking is cancelled. There is no charge.", "success")
            return redirect(url_for("bookings.mine"))
    late = is_late_cancellation(booking, moment)
    return render_form("bookings/cancel.html", form=form, booking=booking, late=late, now=moment)


@bp.route("/bookings/<int:booking_id>/substitute", methods=["GET", "POST"])
@signed_in
def substitute(booking_id: int):
    booking = _own_booking_or_404(booking_id)
    form = SubstituteForm()
    if form.validate_on_submit():
        try:
            colleague = find_colleague(booking, form.email.data)
            substitute_booking(booking, colleague, by=current_user, now=now())
        except DomainError as error:
            db.session.rollback()
            show_error(form, error)
        else:
            db.session.commit()
            flash(
                f"Your place has passed to {colleague.full_name}. We have emailed you both.",
                "success",
            )
            return redirect(url_for("bookings.mine"))
    return render_form("bookings/substitute.html", form=form, booking=booking)


# L&D: the roster ------------------------------------------------------------------------------


@bp.route("/admin/programme/sessions/<int:session_id>/roster")
@admin_only
def roster(session_id: int):
    session = _session_or_404(session_id)
    return _render_roster(session, AddDelegateForm(), PlacesForm(places=session.places))


def _render_roster(session, add_form, places_form):
    bookings = db.session.scalars(
        sa.select(Booking).where(Booking.session_id == session.id).order_by(Booking.booked_at, Booking.id)
    ).all()
    groups = {status: [b for b in bookings if b.status is status] for status in BookingStatus}
    groups[BookingStatus.WAITING].sort(key=lambda b: b.id)
    history = history_of([("course_session", [session.id]), ("booking", [b.id for b in bookings])])
    return render_form(
        "bookings/roster.html",
        session=session,
        history=history,
        names={b.id: b.user.full_name for b in bookings},
        titles=ACTION_TITLES,
        groups=groups,
        BookingStatus=BookingStatus,
        add_form=add_form,
        places_form=places_form,
        button=ButtonForm(),
    )


@bp.route("/admin/programme/sessions/<int:session_id>/roster/add", methods=["POST"])
@admin_only
def roster_add(session_id: int):
    session = _session_or_404(session_id)
    form = AddDelegateForm()
    if form.validate_on_submit():
        person = find_user_by_email(form.email.data)
        try:
            if person is None:
                raise BookingError("No one is registered with that email address.", field="email")
            booking = add_delegate(session, person, by=current_user, now=now())
        except DomainError as error:
            db.session.rollback()
            show_error(form, error)
        else:
            db.session.commit()
            where = "confirmed" if booking.is_confirmed else "added to the waiting list"
            flash(f"{person.full_name} is {where}.", "success")
            return redirect(url_for("bookings.roster", session_id=session_id))
    return _render_roster(session, form, PlacesForm(places=session.places))


@bp.route("/admin/programme/sessions/<int:session_id>/roster/<int:booking_id>/remove", methods=["POST"])
@admin_only
def roster_remove(session_id: int, booking_id: int):
    booking = db.session.get(Booking, booking_id)
    if booking is None or booking.session_id != session_id:
        abort(404)
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        remove_delegate(booking, by=current_user, now=now())
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
    else:
        db.session.commit()
        flash(f"{booking.user.full_name} has been removed, without charge, and told.", "success")
    return redirect(url_for("bookings.roster", session_id=session_id))


@bp.route("/admin/programme/sessions/<int:session_id>/places", methods=["POST"])
@admin_only
def roster_places(session_id: int):
    session = _session_or_404(session_id)
    form = PlacesForm()
    if form.validate_on_submit():
        try:
            promoted = change_places(session, form.places.data, by=current_user, now=now())
        except DomainError as error:
            db.session.rollback()
            show_error(form, error)
        else:
            db.session.commit()
            extra = f" {len(promoted)} people waiting have been confirmed and told." if promoted else ""
            flash(f"The session now has {session.places} places.{extra}", "success")
            return redirect(url_for("bookings.roster", session_id=session_id))
    return _render_roster(session, AddDelegateForm(), form)


# The register ---------------------------------------------------------------------------------


def _register_session_or_404(session_id: int) -> CourseSession:
    session = _session_or_404(session_id)
    if not session.can_run_register(current_user):
        abort(403)
    return session


@bp.route("/sessions/<int:session_id>/register", methods=["GET", "POST"])
@roles_required(Role.TRAINER, Role.LND_ADMIN)
def register(session_id: int):
    session = _register_session_or_404(session_id)
    form = ButtonForm()
    moment = now()
    if form.validate_on_submit():
        try:
            for booking, outcome in read_register(request.form, register_of(session)).items():
                mark_attendance(booking, outcome, by=current_user, now=moment)
            if request.form.get("action") == "close":
                close_register(session, by=current_user, now=moment)
        except (DomainError, ValueError) as error:
            db.session.rollback()
            flash(getattr(error, "message", str(error)), "error")
        else:
            db.session.commit()
            closed = request.form.get("action") == "close"
            flash("The register is closed." if closed else "The register has been saved.", "success")
            return redirect(url_for("bookings.register", session_id=session_id))
    return _render_register(session, WalkInForm(), moment)


def _render_register(session, walk_in_form, moment):
    return render_form(
        "bookings/register.html",
        session=session,
        bookings=register_of(session),
        button=ButtonForm(),
        walk_in_form=walk_in_form,
        now=moment,
        opens=session.has_started(moment),
    )


@bp.route("/sessions/<int:session_id>/register/walk-in", methods=["POST"])
@roles_required(Role.TRAINER, Role.LND_ADMIN)
def register_walk_in(session_id: int):
    session = _register_session_or_404(session_id)
    form = WalkInForm()
    moment = now()
    if form.validate_on_submit():
        person = find_user_by_email(form.email.data)
        try:
            if person is None:
                raise BookingError(
                    "No one is registered with that email address. Ask them to register first.",
                    field="email",
                )
            add_walk_in(session, person, Attendance(form.outcome.data), by=current_user, now=moment)
        except DomainError as error:
            db.session.rollback()
            show_error(form, error)
        else:
            db.session.commit()
            flash(f"{person.full_name} has been added to the register.", "success")
            return redirect(url_for("bookings.register", session_id=session_id))
    return _render_register(session, form, moment)
