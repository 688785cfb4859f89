"""The catalogue practitioners browse, and a session's page."""

from __future__ import annotations

from flask import Blueprint, abort, render_template
from flask_login import current_user

from lms.accounts.models import Role
from lms.bookings.availability import session_availability
from lms.bookings.rules import bookings_close_at
from lms.core.access import signed_in
from lms.core.clock import now
from lms.core.forms import ButtonForm
from lms.core.web import filters_from_query, page_number, query_args
from lms.courses.forms import CatalogueFilterForm, topic_choices
from lms.courses.services import catalogue_page

bp = Blueprint("catalogue", __name__, url_prefix="/sessions")
PAGE_SIZE = 20


@bp.route("/")
@signed_in
def index():
    form = CatalogueFilterForm(formdata=None)
    form.topic.choices = topic_choices("Any topic")
    filters_from_query(form)
    page = catalogue_page(form.filters(), current_user, page=page_number(), per_page=PAGE_SIZE, now=now())
    args = query_args()
    return render_template(
        "courses/catalogue.html", form=form, page=page, args=args, available=page.available
    )


@bp.route("/<id:session_id>")
@signed_in
def detail(session_id: int):
    moment = now()
    availability = session_availability(session_id, current_user, now=moment) or abort(404)
    session, booking = availability.session, availability.booking
    is_staff = current_user.has_role(Role.LND_ADMIN) or session.trainer_id == current_user.id
    return render_template(
        "courses/session.html",
        session=session,
        is_staff=is_staff,
        delivers=session.trainer_id is not None and session.trainer_id == current_user.id,
        now=moment,
        booking=booking,
        position=availability.position,
        places_left=availability.places_left,
        availability=availability,
        waiting=availability.waiting,
        closes_at=bookings_close_at(session),
        closed=availability.closed,
        button=ButtonForm(),
    )
