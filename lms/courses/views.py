"""The catalogue practitioners browse, and a session's page."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user

from lms.accounts.models import Role
from lms.bookings.availability import availability_of
from lms.bookings.models import BookingStatus
from lms.bookings.rules import bookings_close_at, bookings_closed_for
from lms.bookings.services import count_bookings, live_booking, places_left, waiting_position
from lms.core.access import signed_in
from lms.core.clock import now
from lms.core.forms import ButtonForm
from lms.core.web import filters_from_query, get_or_404, page_number, query_args
from lms.courses.forms import CatalogueFilterForm, topic_choices
from lms.courses.models import CourseSession
from lms.courses.services import catalogue_query
from lms.extensions import db

bp = Blueprint("catalogue", __name__, url_prefix="/sessions")
PAGE_SIZE = 20


@bp.route("/")
@signed_in
def index():
    form = CatalogueFilterForm(formdata=None)
    form.topic.choices = topic_choices("Any topic")
    filters_from_query(form)
    query = catalogue_query(form.filters(), now=now())
    page = db.paginate(query, page=page_number(), per_page=PAGE_SIZE, error_out=False)
    available = availability_of(page.items, current_user, now=now())
    args = query_args()
    return render_template("courses/catalogue.html", form=form, page=page, args=args, available=available)


@bp.route("/<id:session_id>")
@signed_in
def detail(session_id: int):
    session = get_or_404(CourseSession, session_id)
    moment = now()
    is_staff = current_user.has_role(Role.LND_ADMIN) or session.trainer_id == current_user.id
    booking = live_booking(session, current_user)
    return render_template(
        "courses/session.html",
        session=session,
        is_staff=is_staff,
        delivers=session.trainer_id is not None and session.trainer_id == current_user.id,
        now=moment,
        booking=booking,
        position=waiting_position(booking) if booking else None,
        places_left=places_left(session),
        availability=availability_of([session], current_user, now=moment)[session.id],
        waiting=count_bookings(session, BookingStatus.WAITING),
        closes_at=bookings_close_at(session),
        closed=bookings_closed_for(session, current_user, moment),
        button=ButtonForm(),
    )
