"""The home page and each person's dashboard."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user

from lms.accounts.models import Role
from lms.accounts.services import has_administrator
from lms.bookings.models import Booking
from lms.core.access import public, signed_in
from lms.core.clock import now
from lms.core.timezones import london_date
from lms.courses.models import CourseSession
from lms.courses.services import CatalogueFilter, catalogue_query
from lms.evaluations.services import pending_evaluations
from lms.extensions import db
from lms.followups.services import open_follow_ups
from lms.reporting.work import SHOWN, finance_work, lnd_work

bp = Blueprint("main", __name__)


@bp.route("/")
@public
def home():
    if current_user.is_authenticated:
        return redirect(url_for("main.dashboard"))
    # A new installation says how to make its first administrator; nobody becomes one through the web.
    return render_template("main/home.html", needs_administrator=not has_administrator())


@bp.route("/dashboard")
@signed_in
def dashboard():
    if current_user.roles == {Role.TRAINING_CONTACT}:
        # Someone who only follows an organisation's training lands on that organisation's page.
        return redirect(url_for("contacts.dashboard"))
    moment = now()
    upcoming = db.session.scalars(catalogue_query(CatalogueFilter(), now=moment).limit(5)).all()
    return render_template(
        "main/dashboard.html",
        lnd_work=lnd_work(moment) if current_user.has_role(Role.LND_ADMIN) else None,
        finance_work=finance_work(london_date(moment)) if current_user.has_role(Role.FINANCE) else None,
        shown=SHOWN,
        upcoming=upcoming,
        to_evaluate=pending_evaluations(current_user),
        follow_ups=open_follow_ups(current_user, moment),
        my_next=db.session.scalars(
            sa.select(Booking)
            .join(Booking.session)
            .where(Booking.user_id == current_user.id, Booking.is_live, CourseSession.starts_at > moment)
            .order_by(CourseSession.starts_at)
            .limit(5)
        ).all(),
    )


@bp.route("/healthz")
@public
def health():
    db.session.execute(sa.text("SELECT 1"))
    return {"status": "ok"}
