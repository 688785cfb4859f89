"""The place fees page: which organisations pay a fee per place, and each course's fee."""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app, flash, redirect, url_for
from flask_login import current_user

from lms.accounts.models import AgencyCategory, Role
from lms.core.access import roles_required
from lms.core.clock import now
from lms.core.formatting import format_money, format_pounds_plain
from lms.core.web import domain_errors, get_or_404, render_form
from lms.courses.models import Course
from lms.extensions import db
from lms.finance.forms import PlaceFeeForm
from lms.finance.services import place_fee, place_fee_categories, set_place_fee
from lms.finance.views import bp, finance_or_lnd


def _unknown_categories() -> list[str]:
    """Entries of PLACE_FEE_CATEGORIES that name no category (a typing slip charges nobody)."""
    known = {name.lower() for c in AgencyCategory for name in (c.value, c.title)}
    chosen = current_app.config["PLACE_FEE_CATEGORIES"]
    return [value for value in chosen if value.strip().lower() not in known]


def _typed(pence: int | None) -> str:
    return "" if pence is None else format_pounds_plain(pence)


def _page(form: PlaceFeeForm | None = None, chosen: Course | None = None):
    courses = db.session.scalars(sa.select(Course).where(Course.is_active).order_by(Course.title)).all()
    return render_form(
        "finance/place_fees.html",
        categories=place_fee_categories(),
        unknown=_unknown_categories(),
        default_pence=current_app.config["PLACE_FEE_PENCE"],
        # Each course, the fee its places cost, and its own fee as typed ("" when it has none).
        courses=[(course, place_fee(course), _typed(course.place_fee_pence)) for course in courses],
        form=form or PlaceFeeForm(),
        chosen=chosen,
    )


@bp.route("/place-fees")
@finance_or_lnd
def place_fees():
    return _page()


@bp.route("/place-fees/<id:course_id>", methods=["POST"])
@roles_required(Role.LND_ADMIN)
def set_course_place_fee(course_id: int):
    course = get_or_404(Course, course_id)
    form = PlaceFeeForm()
    if form.validate_on_submit():
        with domain_errors(form):
            set_place_fee(course, form.pence, by=current_user, now=now())
            flash(f"The fee per place for {course.title} is {format_money(place_fee(course))}.", "success")
            return redirect(url_for("finance.place_fees"))
    return _page(form, course)
