"""Booking pages: book, my bookings, cancel, substitute; L&D's roster; the register."""

from __future__ import annotations

import functools

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm import contains_eager, lazyload

from lms.accounts.models import Role
from lms.accounts.services import registered_person
from lms.bookings.availability import waiting_position_expression
from lms.bookings.forms import (
    AddDelegateForm,
    BookForm,
    PlacesForm,
    SubstituteForm,
    WalkInForm,
    read_register,
)
from lms.bookings.models import Attendance, Booking, BookingStatus
from lms.bookings.registers import closes_automatically_at
from lms.bookings.services import (
    ManagerDetails,
    add_delegate,
    add_walk_in,
    book_place,
    cancel_booking,
    change_places,
    find_colleague,
    keep_register,
    register_of,
    remove_delegate,
    session_for_booking,
    substitute_booking,
    waiting_position,
)
from lms.core.access import roles_required, signed_in
from lms.core.audit import ACTION_TITLES, history_of
from lms.core.clock import now
from lms.core.formatting import plural, plural_word
from lms.core.forms import ButtonForm
from lms.core.web import domain_errors, get_or_404, render_form
from lms.courses.models import CourseSession
from lms.extensions import db

bp = Blueprint("bookings", __name__)
admin_only = roles_required(Role.LND_ADMIN)


def _own_booking_or_404(booking_id: int) -> Booking:
    booking = get_or_404(Booking, booking_id)
    # Someone else's booking is "not found": its existence is not theirs to know.
    if not booking.belongs_to(current_user):
        abort(404)
    return booking


@bp.route("/sessions/<id:session_id>/book", methods=["POST"])
@signed_in
def book(session_id: int):
    session = session_for_booking(session_id) or abort(404)
    form = BookForm()
    if form.validate_on_submit():
        manager = ManagerDetails(name=form.manager_name.data or "", email=form.manager_email.data or "")
        with domain_errors():
            booking = book_place(session, current_user, by=current_user, now=now(), manager=manager)
            flash(booked_message(booking), "success")
    for errors in (form.manager_name.errors, form.manager_email.errors):
        for message in errors:
            flash(message, "error")
    return redirect(url_for("catalogue.detail", session_id=session_id))


def booked_message(booking: Booking) -> str:
    if booking.is_confirmed:
        return "Your place is confirmed. We have emailed you the details and a calendar invitation."
    if booking.is_awaiting_approval:
        if booking.approval.needs_lnd:
            return "Your booking is awaiting the L&D team's approval. We will email you the outcome."
        return (
            "Your booking is awaiting your line manager's approval: we have emailed them a link. "
            "We will email you the outcome."
        )
    return (
        f"The session is full, so you are on the waiting list at number {waiting_position(booking)}. "
        "If a place comes up it is yours and we will email you."
    )


@bp.route("/bookings")
@signed_in
def mine():
    rows = db.session.execute(_my_bookings_statement(), {"user_id": current_user.id}).all()
    moment = now()
    upcoming = [b for b, _ in rows if not b.session.has_started(moment)][::-1]
    past = [b for b, _ in rows if b.session.has_started(moment)]
    positions = {
        b.id: position for b, position in rows if position is not None and not b.session.has_started(moment)
    }
    return render_template(
        "bookings/mine.html", upcoming=upcoming, past=past, positions=positions, now=moment
    )


@functools.cache  # built once, its person bound when it runs
def _my_bookings_statement() -> sa.Select:
    return (
        sa.select(Booking, waiting_position_expression(Booking))
        .join(Booking.session)
        .where(Booking.user_id == sa.bindparam("user_id", type_=sa.Integer))
        .order_by(CourseSession.starts_at.desc(), Booking.id.desc())
        # Each booking's session is the one joined; its person is the one asking.
        .options(contains_eager(Booking.session), lazyload(Booking.user))
    )


@bp.route("/bookings/<id:booking_id>/cancel", methods=["GET", "POST"])
@signed_in
def cancel(booking_id: int):
    booking = _own_booking_or_404(booking_id)
    form = ButtonForm()
    moment = now()
    if form.validate_on_submit():
        with domain_errors(form):
            cancel_booking(booking, by=current_user, now=moment)
            if booking.is_late_cancellation:
                flash(
                    "Your booking is cancelled. This was a late cancellation, so your agency may be charged.",
                    "success",
                )
            else:
                flash("Your booking is cancelled. There is no charge.", "success")
            return redirect(url_for("bookings.mine"))
    return render_form("bookings/cancel.html", form=form, booking=booking, now=moment)


@bp.route("/bookings/<id:booking_id>/substitute", methods=["GET", "POST"])
@signed_in
def substitute(booking_id: int):
    booking = _own_booking_or_404(booking_id)
    form = SubstituteForm()
    if form.validate_on_submit():
        with domain_errors(form):
            colleague = find_colleague(booking, form.email.data)
            substitute_booking(booking, colleague, by=current_user, now=now())
            flash(
                f"Your place has passed to {colleague.full_name}. We have emailed you both.",
                "success",
            )
            return redirect(url_for("bookings.mine"))
    return render_form("bookings/substitute.html", form=form, booking=booking)


# L&D: the roster ------------------------------------------------------------------------------


@bp.route("/admin/programme/sessions/<id:session_id>/roster")
@admin_only
def roster(session_id: int):
    session = get_or_404(CourseSession, session_id)
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


@bp.route("/admin/programme/sessions/<id:session_id>/roster/add", methods=["POST"])
@admin_only
def roster_add(session_id: int):
    session = get_or_404(CourseSession, session_id)
    form = AddDelegateForm()
    if form.validate_on_submit():
        with domain_errors(form):
            person = registered_person(form.email.data)
            booking = add_delegate(session, person, by=current_user, now=now())
            where = "confirmed" if booking.is_confirmed else "added to the waiting list"
            flash(f"{person.full_name} is {where}.", "success")
            return redirect(url_for("bookings.roster", session_id=session_id))
    return _render_roster(session, form, PlacesForm(places=session.places))


@bp.route("/admin/programme/sessions/<id:session_id>/roster/<id:booking_id>/remove", methods=["POST"])
@admin_only
def roster_remove(session_id: int, booking_id: int):
    booking = get_or_404(Booking, booking_id)
    if booking.session_id != session_id:
        abort(404)
    if ButtonForm().validate_on_submit():
        with domain_errors():
            remove_delegate(booking, by=current_user, now=now())
            flash(f"{booking.user.full_name} has been removed, without charge, and told.", "success")
    return redirect(url_for("bookings.roster", session_id=session_id))


@bp.route("/admin/programme/sessions/<id:session_id>/places", methods=["POST"])
@admin_only
def roster_places(session_id: int):
    session = get_or_404(CourseSession, session_id)
    form = PlacesForm()
    if form.validate_on_submit():
        with domain_errors(form):
            promoted = change_places(session, form.places.data, by=current_user, now=now())
            extra = ""
            if promoted:
                extra = (
                    f" {plural(len(promoted), 'person', 'people')} waiting "
                    f"{plural_word(len(promoted), 'has', 'have')} been confirmed and told."
                )
            flash(f"The session now has {plural(session.places, 'place')}.{extra}", "success")
            return redirect(url_for("bookings.roster", session_id=session_id))
    return _render_roster(session, AddDelegateForm(), form)


# The register ---------------------------------------------------------------------------------


def _register_session_or_404(session_id: int) -> CourseSession:
    session = get_or_404(CourseSession, session_id)
    if not session.can_run_register(current_user):
        abort(403)
    return session


@bp.route("/sessions/<id:session_id>/register", methods=["GET", "POST"])
@roles_required(Role.TRAINER, Role.LND_ADMIN)
def register(session_id: int):
    session = _register_session_or_404(session_id)
    form = ButtonForm()
    moment = now()
    if form.validate_on_submit():
        close = request.form.get("action") == "close"
        with domain_errors(form):
            outcomes = read_register(request.form, register_of(session))
            keep_register(session, outcomes, close=close, by=current_user, now=moment)
            flash("The register is closed." if close else "The register has been saved.", "success")
            return redirect(url_for("bookings.register", session_id=session_id))
    return _render_register(session, WalkInForm(), moment)


def _render_register(session, walk_in_form, moment, person_form=None):
    from lms.bookings.trainer_views import register_extras  # the trainer's tools on the same page

    return render_form(
        "bookings/register.html",
        session=session,
        bookings=register_of(session),
        outcomes=list(Attendance),
        button=ButtonForm(),
        walk_in_form=walk_in_form,
        now=moment,
        opens=session.has_started(moment),
        auto_close_at=closes_automatically_at(session),
        **register_extras(session, person_form),
    )


@bp.route("/sessions/<id:session_id>/register/walk-in", methods=["POST"])
@roles_required(Role.TRAINER, Role.LND_ADMIN)
def register_walk_in(session_id: int):
    session = _register_session_or_404(session_id)
    form = WalkInForm()
    moment = now()
    if form.validate_on_submit():
        with domain_errors(form):
            person = registered_person(
                form.email.data, "No one is registered with that email address. Ask them to register first."
            )
            add_walk_in(session, person, Attendance(form.outcome.data), by=current_user, now=moment)
            flash(f"{person.full_name} has been added to the register.", "success")
            return redirect(url_for("bookings.register", session_id=session_id))
    return _render_register(session, form, moment)
