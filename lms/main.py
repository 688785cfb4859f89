"""The home page and each person's dashboard."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user

from lms.core.access import public, signed_in
from lms.core.clock import now
from lms.courses.services import CatalogueFilter, catalogue_query
from lms.extensions import db

bp = Blueprint("main", __name__)


@bp.route("/")
@public
def home():
    if current_user.is_authenticated:
        return redirect(url_for("main.dashboard"))
    return render_template("main/home.html")


@bp.route("/dashboard")
@signed_in
def dashboard():
    upcoming = db.session.scalars(catalogue_query(CatalogueFilter(), now=now()).limit(5)).all()
    return render_template("main/dashboard.html", upcoming=upcoming)


@bp.route("/healthz")
@public
def health():
    db.session.execute(sa.text("SELECT 1"))
    return {"status": "ok"}
