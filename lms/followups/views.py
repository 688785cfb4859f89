"""Answering a level-2 follow-up survey."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user

from lms.core.access import public, signed_in
from lms.core.clock import now
from lms.core.web import domain_errors, get_or_404, render_form
from lms.followups.forms import FollowUpForm, ManagerCommentForm
from lms.followups.manager_comments import ManagerCommentError, comment_for_link, submit_manager_comment
from lms.followups.models import FollowUp, PracticeChange
from lms.followups.services import submit_follow_up

bp = Blueprint("followups", __name__, url_prefix="/follow-ups")


@bp.route("/<id:follow_up_id>", methods=["GET", "POST"])
@signed_in
def answer(follow_up_id: int):
    follow_up = get_or_404(FollowUp, follow_up_id)
    if not follow_up.booking.belongs_to(current_user):
        abort(404)
    moment = now()
    if follow_up.submitted_at is not None or not follow_up.is_open(moment):
        message = (
            "You have already answered this survey. Thank you."
            if follow_up.submitted_at
            else ("This survey has closed.")
        )
        flash(message, "info")
        return redirect(url_for("main.dashboard"))
    form = FollowUpForm()
    if form.validate_on_submit():
        with domain_errors(form):
            submit_follow_up(follow_up, form.answers(), by=current_user, now=moment)
            flash("Thank you. Your answers help the partnership improve its training.", "success")
            return redirect(url_for("main.dashboard"))
    return render_form("followups/answer.html", form=form, follow_up=follow_up)


# The line manager's comment (no account: the signed link is the key) --------------------------


@bp.route("/manager/<token>", methods=["GET", "POST"])
@public
def manager_comment(token: str):
    moment = now()
    try:
        record = comment_for_link(token, now=moment)
    except ManagerCommentError as refused:
        return render_template("followups/manager_link.html", message=refused.message), refused.status
    form = ManagerCommentForm()
    if form.validate_on_submit():
        with domain_errors(form):
            change = PracticeChange(form.change.data)
            submit_manager_comment(token, change, form.comment.data or "", now=moment)
            return render_template("followups/manager_thanks.html", record=record)
    return render_form("followups/manager_comment.html", form=form, record=record)
