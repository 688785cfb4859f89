"""Registering, signing in and out, resetting a password, and one's own profile."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, session, url_for
from flask_login import current_user, login_user, logout_user

from lms.accounts.forms import (
    ForgotPasswordForm,
    ProfileForm,
    RegistrationForm,
    ResetPasswordForm,
    SignInForm,
    agency_choices,
)
from lms.accounts.services import (
    authenticate,
    register_practitioner,
    request_password_reset,
    reset_password,
    update_own_profile,
    user_for_reset_token,
)
from lms.core.access import public, signed_in
from lms.core.clock import now
from lms.core.web import domain_errors, render_form, safe_next_url
from lms.extensions import limiter

bp = Blueprint("auth", __name__)


def _start_session(user) -> None:
    # A fresh session on sign-in: nothing from before survives into the signed-in one.
    session.clear()
    login_user(user)
    session.permanent = True


@bp.route("/register", methods=["GET", "POST"])
@public
@limiter.limit("20 per hour", methods=["POST"])
def register():
    if current_user.is_authenticated:
        return redirect(url_for("main.dashboard"))
    form = RegistrationForm()
    form.agency.choices = agency_choices()
    if form.validate_on_submit():
        with domain_errors(form):
            user = register_practitioner(form.person_details(), form.password.data, now=now())
            _start_session(user)
            flash("Your account is ready. Find a course and book a place.", "success")
            return redirect(url_for("catalogue.index"))
    return render_form("auth/register.html", form=form)


@bp.route("/sign-in", methods=["GET", "POST"])
@public
def sign_in():
    form = SignInForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        with domain_errors(form):
            user = authenticate(
                form.email.data, form.password.data, address=request.remote_addr or "", now=now()
            )
            _start_session(user)
            return redirect(safe_next_url(form.next.data))
    return render_form("auth/sign_in.html", form=form)


@bp.route("/sign-out", methods=["POST"])
@public
def sign_out():
    logout_user()
    session.clear()
    flash("You have signed out.", "success")
    return redirect(url_for("auth.sign_in"))


@bp.route("/password/forgot", methods=["GET", "POST"])
@public
@limiter.limit("10 per hour", methods=["POST"])
def forgot_password():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        request_password_reset(form.email.data, now=now())
        flash(
            "If an account uses that address, we have emailed it a link to reset the password. "
            "The link works once and expires soon.",
            "success",
        )
        return redirect(url_for("auth.sign_in"))
    return render_form("auth/forgot_password.html", form=form)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
@public
def reset_password_page(token: str):
    purpose = request.args.get("purpose", "password-reset")
    if purpose not in {"password-reset", "invitation"}:
        purpose = "password-reset"
    user = None
    with domain_errors():  # an expired, used or tampered link says so, then offers a new one
        user = user_for_reset_token(token, purpose=purpose)
    if user is None:
        return redirect(url_for("auth.forgot_password"))
    form = ResetPasswordForm()
    if form.validate_on_submit():
        with domain_errors(form):
            reset_password(user, form.password.data, now=now())
            _start_session(user)
            flash("Your password has been changed.", "success")
            return redirect(url_for("main.dashboard"))
    return render_form("auth/reset_password.html", form=form, user=user)


@bp.route("/account", methods=["GET", "POST"])
@signed_in
def profile():
    user = current_user._get_current_object()
    form = ProfileForm()
    form.agency.choices = agency_choices(include_inactive_id=user.agency_id)
    if request.method == "GET":
        form.load_person(user)
    if form.validate_on_submit():
        with domain_errors(form):
            update_own_profile(user, form.person_details(), now=now())
            flash("Your details have been saved.", "success")
            return redirect(url_for("auth.profile"))
    return render_form("auth/profile.html", form=form)
