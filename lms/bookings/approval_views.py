"""Approval pages: the manager's page behind the emailed link (no account needed), and the
"Awaiting approval" page for the L&D team and training contacts."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    get_flashed_messages,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user

from lms.accounts.models import AgencyCategory, Role
from lms.bookings.approvals import (
    approval_for_token,
    approval_outlook,
    approve_booking,
    can_decide,
    choose_categories,
    chosen_categories,
    decline_booking,
    waiting_for_approval,
)
from lms.bookings.forms import ApprovalCategoriesForm, DecisionForm, DeclineForm
from lms.bookings.models import ApprovalRequest
from lms.bookings.rules import late_from
from lms.core.access import public, roles_required
from lms.core.clock import now
from lms.core.formatting import format_date
from lms.core.forms import ButtonForm
from lms.core.web import domain_errors, get_or_404, render_form
from lms.finance.services import charge_amount, is_exempt

bp = Blueprint("approvals", __name__)
deciders = roles_required(Role.LND_ADMIN, Role.TRAINING_CONTACT)

# What the manager's page says when the link can no longer be used, with the status it answers.
CLOSED_TITLES = {
    404: "This link is not valid",
    409: "This booking has already been decided",
    410: "This request has closed",
}


@bp.app_context_processor
def approval_helpers():
    """The booking panel asks whether booking would need approval, and whose."""
    return {"approval_outlook": approval_outlook}


# The manager's page, behind the emailed link ------------------------------------------------------


@bp.after_request
def not_for_search_engines(response):
    """The link's secret is in the address: such pages are never indexed (nor cached: see create_app)."""
    if request.endpoint in {"approvals.decide", "approvals.decided"}:
        response.headers["X-Robots-Tag"] = "noindex"
    return response


def _closed_page(status: int, message: str, approval: ApprovalRequest | None = None):
    return (
        render_template(
            "bookings/approval_closed.html", title=CLOSED_TITLES[status], message=message, approval=approval
        ),
        status,
    )


@bp.route("/approve/<token>", methods=["GET", "POST"])
@public
def decide(token: str):
    approval = approval_for_token(token)
    if approval is None or not approval.manager_email:
        return _closed_page(
            404,
            "Check that the whole link from the email was copied, or ask the delegate "
            "to contact the L&D team.",
        )
    moment = now()
    form = DecisionForm()
    action = request.form.get("action")
    if action in {"approve", "decline"} and form.validate_on_submit():
        with domain_errors(form):
            if action == "approve":
                approve_booking(approval, by=None, now=moment, via_link=True)
            else:
                decline_booking(approval, reason=form.reason.data, by=None, now=moment, via_link=True)
            return redirect(url_for("approvals.decided", token=token))
        status = g.get("error_status")
        if status in CLOSED_TITLES:
            # Someone (or the deadline) got there first: say what the service said, as the page.
            said = get_flashed_messages(category_filter=["error"])
            g.pop("error_status", None)
            return _closed_page(status, said[0] if said else "", approval)
    state = _link_state(approval, moment)
    if state is not None:
        return _closed_page(*state, approval)
    return render_form(
        "bookings/approval.html",
        approval=approval,
        booking=approval.booking,
        session=approval.booking.session,
        form=form,
        no_show_charge=0 if is_exempt(approval.booking.agency) else charge_amount(approval.booking.session),
        late_from=late_from(approval.booking.session),
        now=moment,
    )


def _link_state(approval: ApprovalRequest, moment) -> tuple[int, str] | None:
    """Why the link can no longer be used, as (status, message); None while it can."""
    if approval.decision is not None and not approval.has_lapsed:
        decided = approval.decision.title.lower()
        return 409, f"The booking was {decided} on {_day(approval)}. Nothing more is needed."
    if approval.decided_at is not None or approval.has_expired(moment):
        return 410, "The time to approve this booking has passed, so the request has lapsed."
    if approval.booking.is_confirmed:
        return 409, "The L&D team has already given this delegate a place. Nothing more is needed."
    if not approval.booking.is_awaiting_approval:
        return 410, "The booking has been cancelled, so there is nothing to approve."
    if approval.booking.session.has_started(moment):
        return 410, "The session has started, so the booking can no longer be approved."
    return None


def _day(approval: ApprovalRequest) -> str:
    return format_date(approval.decided_at)


@bp.route("/approve/<token>/done")
@public
def decided(token: str):
    approval = approval_for_token(token)
    if approval is None or approval.decision is None:
        abort(404)
    return render_template("bookings/approval_done.html", approval=approval, booking=approval.booking)


# Awaiting approval: L&D and training contacts ------------------------------------------------------


@bp.route("/approvals")
@deciders
def waiting():
    return _render_waiting(ApprovalCategoriesForm(categories=[c.value for c in chosen_categories()]))


def _render_waiting(categories_form):
    return render_form(
        "bookings/approvals.html",
        approvals=waiting_for_approval(by=current_user),
        button=ButtonForm(),
        decline_form=DeclineForm(),
        categories_form=categories_form,
        choosing=current_app.config["BOOKING_APPROVAL"] == "chosen" and current_user.has_role(Role.LND_ADMIN),
        now=now(),
    )


def _decidable_or_404(approval_id: int) -> ApprovalRequest:
    approval = get_or_404(ApprovalRequest, approval_id)
    # A request the person may not decide is "not found": its existence is not theirs to know.
    if not can_decide(approval, current_user):
        abort(404)
    return approval


@bp.route("/approvals/<id:approval_id>/approve", methods=["POST"])
@deciders
def approve(approval_id: int):
    approval = _decidable_or_404(approval_id)
    if ButtonForm().validate_on_submit():
        with domain_errors():
            booking = approve_booking(approval, by=current_user, now=now())
            where = "has a confirmed place" if booking.is_confirmed else "is on the waiting list"
            flash(f"Approved: {booking.user.full_name} {where}, and has been told.", "success")
    return redirect(url_for("approvals.waiting"))


@bp.route("/approvals/<id:approval_id>/decline", methods=["POST"])
@deciders
def decline(approval_id: int):
    approval = _decidable_or_404(approval_id)
    form = DeclineForm()
    if form.validate_on_submit():
        with domain_errors(form):
            booking = decline_booking(approval, reason=form.reason.data, by=current_user, now=now())
            flash(f"Declined: {booking.user.full_name} has been told why.", "success")
            return redirect(url_for("approvals.waiting"))
    for message in form.reason.errors:
        flash(message, "error")
    return redirect(url_for("approvals.waiting"))


@bp.route("/approvals/categories", methods=["POST"])
@roles_required(Role.LND_ADMIN)
def categories():
    form = ApprovalCategoriesForm()
    if form.validate_on_submit():
        with domain_errors(form):
            chosen = {AgencyCategory(value) for value in form.categories.data or []}
            # The audit entry is about the person, not the proxy.
            choose_categories(chosen, by=current_user._get_current_object(), now=now())
            flash("Saved: the categories whose staff need their line manager's approval.", "success")
            return redirect(url_for("approvals.waiting"))
    return _render_waiting(form)
