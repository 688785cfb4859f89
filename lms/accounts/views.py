"""Registering, signing in (with a second step for a code) and out, resetting a password, one's own
profile, authenticator app and sign-ins; and the checks every request passes through on the way in."""

from __future__ import annotations

import base64

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from lms.accounts import security, two_factor
from lms.accounts.forms import (
    CodeForm,
    ForgotPasswordForm,
    ProfileForm,
    RegistrationForm,
    ResetPasswordForm,
    SetUpForm,
    SignInForm,
    SignInLinkForm,
)
from lms.accounts.models import SignInSession
from lms.accounts.security import SignInStep
from lms.accounts.services import (
    AccountError,
    register_practitioner,
    request_password_reset,
    update_own_profile,
    user_for_registration_token,
    user_for_reset_token,
)
from lms.accounts.subject_access import subject_access_zip
from lms.core.access import (
    FRESH_FACTOR_ROUTES,
    PERSONAL_DATA_EXPORTS,
    ask_for_second_factor,
    fresh_second_factor,
    public,
    signed_in,
)
from lms.core.clock import now
from lms.core.forms import ButtonForm
from lms.core.web import domain_errors, download, get_or_404, render_form, safe_next_url, show_error
from lms.extensions import limiter

bp = Blueprint("auth", __name__)

PENDING = "pending_sign_in"
PENDING_NEXT = "pending_next"
SET_UP_SECRET = "set_up_secret"  # noqa: S105 - the name of a session key
SIGN_IN = "sign_in"


def _address() -> str:
    return request.remote_addr or ""


def _user_agent() -> str:
    return request.headers.get("User-Agent", "")[:200]


def _start_session(step: SignInStep, next_url: str | None = None, message: str | None = None):
    """Sign the browser in, with a fresh session (nothing from before survives into it), and go on."""
    session.clear()
    login_user(step.user)
    session[SIGN_IN] = step.token
    session.permanent = True
    for text in (message, step.notice):
        if text:
            flash(text, "success" if text == message else "info")
    return redirect(safe_next_url(next_url))


def _go_on(step: SignInStep, next_url: str | None = None, message: str | None = None):
    """After the first step: signed in, or on to the code or to setting up an authenticator app."""
    if step.next_step == "done":
        return _start_session(step, next_url, message)
    session.clear()
    session[PENDING] = security.pending_record(step, now=now())
    session[PENDING_NEXT] = next_url or ""
    if message:
        flash(message, "success")
    return redirect(url_for("auth.sign_in_code" if step.next_step == "code" else "auth.sign_in_set_up"))


# Registering ----------------------------------------------------------------------------------


@bp.route("/register", methods=["GET", "POST"])
@public
@limiter.limit("20 per hour", methods=["POST"])
def register():
    if current_user.is_authenticated:
        return redirect(url_for("main.dashboard"))
    form = RegistrationForm()
    form.with_organisations()
    if form.validate_on_submit():
        with domain_errors(form):
            register_practitioner(form.person_details(), form.password.data, now=now())
            # The same answer whether or not the address already had an account.
            return redirect(url_for("auth.registration_sent"))
    return render_form("auth/register.html", form=form)


@bp.route("/register/check-your-email")
@public
def registration_sent():
    return render_template("auth/registration_sent.html")


@bp.route("/register/confirm/<token>", methods=["GET", "POST"])
@public
def confirm_registration(token: str):
    user = None
    with domain_errors():
        user = user_for_registration_token(token)
    if user is None:
        return redirect(url_for("auth.sign_in"))
    form = ButtonForm()
    if form.validate_on_submit():
        with domain_errors():
            step = security.confirm_registration(
                user, address=_address(), user_agent=_user_agent(), now=now()
            )
            ready = "Your account is ready. Find a course and book a place."
            return _go_on(step, url_for("catalogue.index"), ready)
    return render_form("auth/confirm_registration.html", form=form, user=user)


# Signing in -----------------------------------------------------------------------------------


@bp.route("/sign-in", methods=["GET", "POST"])
@public
def sign_in():
    form = SignInForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")[:2000]
    held_back = False
    if form.validate_on_submit():
        step = security.authenticate(
            form.email.data, form.password.data, address=_address(), user_agent=_user_agent(), now=now()
        )
        if not step.refused:
            return _go_on(step, form.next.data)
        show_error(form, step.error())
        held_back = step.held_back
    return render_form("auth/sign_in.html", form=form, held_back=held_back)


@bp.route("/sign-in/code", methods=["GET", "POST"])
@public
def sign_in_code():
    user = security.pending_user(session.get(PENDING), now=now())
    if user is None or user.second_factor is None:
        return _pending_expired()
    form = CodeForm()
    if form.validate_on_submit():
        step = security.verify_sign_in_code(
            user,
            form.code.data,
            address=_address(),
            user_agent=_user_agent(),
            now=now(),
            method=session[PENDING].get("m", "password"),
        )
        if not step.refused:
            return _start_session(step, session.get(PENDING_NEXT))
        show_error(form, step.error())
    return render_form("auth/sign_in_code.html", form=form)


@bp.route("/sign-in/set-up", methods=["GET", "POST"])
@public
def sign_in_set_up():
    user = security.pending_user(session.get(PENDING), now=now())
    if user is None or user.second_factor is not None:
        return _pending_expired()
    form = SetUpForm()
    secret = _set_up_secret()
    if form.validate_on_submit():
        with domain_errors(form):
            step, codes = security.sign_in_with_new_second_factor(
                user,
                secret,
                form.code.data,
                address=_address(),
                user_agent=_user_agent(),
                now=now(),
                method=session[PENDING].get("m", "password"),
            )
            next_url = safe_next_url(session.get(PENDING_NEXT))
            _start_session(step)
            return render_template("auth/recovery_codes.html", codes=codes, next_url=next_url)
        secret = _set_up_secret()
    return render_form("auth/set_up.html", form=form, during_sign_in=True, **_set_up_context(user, secret))


def _pending_expired():
    session.pop(PENDING, None)
    flash("Sign in again: that sign-in took too long or has already finished.", "info")
    return redirect(url_for("auth.sign_in"))


def _set_up_secret() -> str:
    """The secret offered to an authenticator app, kept (signed) in the session cookie until a code
    from the app shows it was set up, so reloading the page shows the same QR code."""
    secret = session.get(SET_UP_SECRET)
    if not isinstance(secret, str) or not two_factor.is_secret(secret):
        secret = session[SET_UP_SECRET] = two_factor.new_secret()
    return secret


def _set_up_context(user, secret: str) -> dict:
    uri = two_factor.setup_uri(secret, account=user.email, issuer=current_app.config["PARTNERSHIP_NAME"])
    svg = two_factor.qr_svg(uri, title="QR code to scan with your authenticator app")
    return {
        "secret": two_factor.grouped_secret(secret),
        "setup_uri": uri,
        "qr_code": "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode(),
    }


@bp.route("/sign-in/link", methods=["GET", "POST"])
@public
@limiter.limit("10 per hour", methods=["POST"])
def sign_in_link():
    form = SignInLinkForm()
    if request.method == "GET":
        form.email.data = request.args.get("email", "")[:254]
    if form.validate_on_submit():
        security.send_sign_in_link(form.email.data, now=now())
        flash(
            "If that account is being held back by failed sign-in attempts, we have emailed it a link "
            "to sign in. The link works once and expires soon.",
            "success",
        )
        return redirect(url_for("auth.sign_in"))
    return render_form("auth/sign_in_link.html", form=form)


@bp.route("/sign-in/link/<token>", methods=["GET", "POST"])
@public
def sign_in_with_link(token: str):
    user = None
    with domain_errors():
        user = security.user_for_sign_in_link(token)
    if user is None:
        return redirect(url_for("auth.sign_in_link"))
    form = ButtonForm()
    if form.validate_on_submit():
        with domain_errors():
            step = security.sign_in_with_link(user, address=_address(), user_agent=_user_agent(), now=now())
            return _go_on(step)
    return render_form("auth/use_sign_in_link.html", form=form, user=user)


@bp.route("/sign-out", methods=["POST"])
@public
def sign_out():
    user = current_user._get_current_object() if current_user.is_authenticated else None
    security.sign_out(user, g.get("sign_in"))
    logout_user()
    session.clear()
    flash("You have signed out.", "success")
    return redirect(url_for("auth.sign_in"))


# Passwords ------------------------------------------------------------------------------------


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
            step = security.reset_password_and_sign_in(
                user, form.password.data, address=_address(), user_agent=_user_agent(), now=now()
            )
            return _go_on(step, message="Your password has been changed.")
    return render_form("auth/reset_password.html", form=form, user=user)


# One's own account ----------------------------------------------------------------------------


@bp.route("/account/my-data.zip")
@signed_in
def my_data():
    """Everything held about the person signed in (their right of access)."""
    data = subject_access_zip(current_user, partnership=current_app.config["PARTNERSHIP_NAME"], now=now())
    return download(data, "application/zip", "my-training-data.zip")


@bp.route("/account", methods=["GET", "POST"])
@signed_in
def profile():
    user = current_user._get_current_object()
    form = ProfileForm()
    form.with_organisations(user.agency)
    if request.method == "GET":
        form.load_person(user)
    if form.validate_on_submit():
        with domain_errors(form):
            update_own_profile(user, form.person_details(), now=now())
            flash("Your details have been saved.", "success")
            return redirect(url_for("auth.profile"))
    return render_form("auth/profile.html", form=form)


@bp.route("/account/security")
@signed_in
def account_security():
    user = current_user._get_current_object()
    return render_template(
        "auth/security.html",
        sign_ins=security.sign_ins_of(user),
        this_sign_in=g.get("sign_in"),
        required=security.second_factor_required(user),
        codes_left=security.recovery_codes_left(user),
        form=ButtonForm(),
    )


@bp.route("/account/two-factor", methods=["GET", "POST"])
@signed_in
def set_up_two_factor():
    user = current_user._get_current_object()
    if request.method == "POST" and user.second_factor is not None:
        asked = ask_for_second_factor()  # replacing the app needs the old one, recently
        if asked is not None:
            return asked
    form = SetUpForm()
    secret = _set_up_secret()
    if form.validate_on_submit():
        with domain_errors(form):
            codes = security.enrol_second_factor(user, secret, form.code.data, now=now())
            session.pop(SET_UP_SECRET, None)
            _mark_factor_given()
            return render_template(
                "auth/recovery_codes.html", codes=codes, next_url=url_for("auth.account_security")
            )
        secret = _set_up_secret()
    return render_form("auth/set_up.html", form=form, during_sign_in=False, **_set_up_context(user, secret))


def _mark_factor_given() -> None:
    """A code from the new app has just been given in this browser: that counts as recent."""
    sign_in = g.get("sign_in")
    if sign_in is not None:
        sign_in.factor_confirmed_at = now()


@bp.route("/account/two-factor/recovery-codes", methods=["POST"])
@signed_in
@fresh_second_factor
def renew_recovery_codes():
    form = ButtonForm()
    if form.validate_on_submit():
        with domain_errors():
            codes = security.renew_recovery_codes(current_user._get_current_object(), now=now())
            return render_template(
                "auth/recovery_codes.html", codes=codes, next_url=url_for("auth.account_security")
            )
    return redirect(url_for("auth.account_security"))


@bp.route("/account/two-factor/remove", methods=["POST"])
@signed_in
@fresh_second_factor
def remove_two_factor():
    form = ButtonForm()
    if form.validate_on_submit():
        with domain_errors():
            security.remove_second_factor(current_user._get_current_object(), now=now())
            flash("Two-step sign-in is off. Your password alone now signs you in.", "success")
    return redirect(url_for("auth.account_security"))


@bp.route("/account/confirm", methods=["GET", "POST"])
@signed_in
def confirm_second_factor():
    next_url = request.args.get("next", "")[:2000]
    sign_in = g.get("sign_in")
    if sign_in is None or current_user.second_factor is None:
        return redirect(safe_next_url(next_url))
    form = CodeForm()
    if form.validate_on_submit():
        problem = security.confirm_second_factor(sign_in, form.code.data, address=_address(), now=now())
        if problem is None:
            return redirect(safe_next_url(next_url))
        show_error(form, AccountError(problem, field="code"))
    return render_form("auth/confirm_second_factor.html", form=form)


@bp.route("/account/sign-ins/<id:sign_in_id>/end", methods=["POST"])
@signed_in
def end_sign_in(sign_in_id: int):
    sign_in = get_or_404(SignInSession, sign_in_id)
    form = ButtonForm()
    if form.validate_on_submit():
        # Someone else's sign-in is "not found", as one that does not exist.
        security.end_sign_in(sign_in, by=current_user._get_current_object(), now=now())
        flash("That browser has been signed out.", "success")
    return redirect(url_for("auth.account_security"))


@bp.route("/account/sign-ins/end-all", methods=["POST"])
@signed_in
def sign_out_everywhere():
    form = ButtonForm()
    if not form.validate_on_submit():
        return redirect(url_for("auth.account_security"))
    security.sign_out_everywhere(current_user._get_current_object(), now=now())
    logout_user()
    session.clear()
    flash("You have been signed out everywhere, this browser too.", "success")
    return redirect(url_for("auth.sign_in"))


# On the way in, every request ---------------------------------------------------------------

# What someone who must set up an authenticator app may open before they have, besides public pages.
SET_UP_ALLOWED = frozenset({"auth.set_up_two_factor"})


@bp.before_app_request
def check_the_sign_in():
    """The browser's sign-in must not have been ended; staff without a required authenticator app
    set one up first; some routes need a recent second factor; exports of personal data are noted."""
    if request.endpoint in (None, "static") or not current_user.is_authenticated:
        return None
    user = current_user._get_current_object()
    g.sign_in = security.current_sign_in(user, session.get(SIGN_IN))
    if g.sign_in is None:
        # Ended from another browser, or by L&D, or from before sign-ins were recorded.
        logout_user()
        session.clear()
        return None
    # A provider's own second factor stands in for ours when OIDC_TRUST_PROVIDER_MFA trusts it.
    provider_mfa = session.get("sso_provider_mfa") is True
    if user.second_factor is None and security.second_factor_required(user) and not provider_mfa:
        view = current_app.view_functions.get(request.endpoint)
        if request.endpoint not in SET_UP_ALLOWED and getattr(view, "access_rule", None) != "public":
            flash("Your role needs two-step sign-in. Set up an authenticator app to carry on.", "info")
            return redirect(url_for("auth.set_up_two_factor"))
    methods = FRESH_FACTOR_ROUTES.get(request.endpoint)
    if methods and request.method in methods:
        asked = ask_for_second_factor()
        if asked is not None:
            return asked
    if request.endpoint in PERSONAL_DATA_EXPORTS:
        what, path = PERSONAL_DATA_EXPORTS[request.endpoint], request.full_path.rstrip("?")
        g.security_events = [security.export_event(user, what=what, path=path, now=now())]
    return None


@bp.after_app_request
def write_events_of_a_read(response):
    events = g.pop("security_events", None)
    if events and response.status_code == 200:
        security.write_events_of_a_read(events)
    return response
