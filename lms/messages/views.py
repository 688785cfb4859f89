"""Calendars: add one session to a calendar, and a personal feed that calendar apps subscribe to."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, request, url_for
from flask_login import current_user

from lms.bookings.services import live_booking
from lms.core.access import public, signed_in
from lms.core.clock import now
from lms.core.forms import ButtonForm
from lms.core.web import domain_errors, get_or_404, render_form
from lms.courses.models import CourseSession
from lms.messages import calendar
from lms.messages.services import absolute_url, calendar_feed_of, feed_owner, reset_calendar_feed

bp = Blueprint("calendar", __name__)

# Calendar apps poll a feed; they may keep it this long, but no shared cache may keep it at all.
FEED_MAX_AGE_SECONDS = 300
ICS = "text/calendar; charset=utf-8"


@bp.route("/sessions/<id:session_id>/calendar.ics")
@signed_in
def session_download(session_id: int):
    session = get_or_404(CourseSession, session_id)
    booking = live_booking(session, current_user)
    if booking is None or not booking.is_confirmed:
        abort(404)  # the venue and joining link are for confirmed delegates only
    response = Response(calendar.download(booking, now=now()), content_type=ICS)
    response.headers["Content-Disposition"] = f'attachment; filename="session-{session.id}.ics"'
    return response


@bp.route("/account/calendar", methods=["GET", "POST"])
@signed_in
def feed_page():
    form = ButtonForm()
    if form.validate_on_submit():
        person = current_user._get_current_object()  # the audit entry is about the person, not the proxy
        with domain_errors(form):
            reset_calendar_feed(person, by=person, now=now())
            flash("Your calendar has a new address. The old one no longer works.", "success")
            return redirect(url_for("calendar.feed_page"))
    feed = calendar_feed_of(current_user)
    address = absolute_url("calendar.feed", token=feed.token) if feed else None
    # webcal:// asks the computer's calendar app to subscribe, rather than the browser to download.
    subscribe = "webcal://" + address.partition("://")[2] if address else None
    return render_form("messages/calendar_feed.html", form=form, address=address, subscribe=subscribe)


@bp.route("/calendar/<token>.ics")
@public
def feed(token: str):
    person = feed_owner(token)
    if person is None:
        abort(404)
    response = Response(calendar.feed(person.id, now=now()), content_type=ICS)
    response.headers["Cache-Control"] = f"private, max-age={FEED_MAX_AGE_SECONDS}"
    response.headers["X-Robots-Tag"] = "noindex"
    response.add_etag()
    return response.make_conditional(request)
