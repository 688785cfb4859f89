"""Signing in with the organisation's own account (OpenID Connect).

Starting sends the browser to the provider with a fresh state, nonce and PKCE challenge. The
provider sends it back to the callback, which exchanges the code and checks the ID token (both
requests to the provider are the sign-in itself, with short timeouts), then keeps the checked
identity in the session: the callback is a GET, and a GET writes nothing. The person then confirms
(or, the first time, adds what the provider did not say) with a POST, which links and signs in.
"""

from __future__ import annotations

import logging

import requests
from authlib.integrations.base_client import MismatchingStateError, OAuthError
from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from flask_login import current_user
from joserfc.errors import ExpiredTokenError, JoseError

from lms.accounts import sso
from lms.accounts.sso_forms import FirstSignInForm
from lms.accounts.views import _address, _go_on, _user_agent
from lms.core.access import public
from lms.core.clock import now
from lms.core.errors import DomainError
from lms.core.forms import ButtonForm
from lms.core.web import domain_errors, render_form

log = logging.getLogger(__name__)

bp = Blueprint("sso", __name__)
bp.record_once(lambda state: sso.init_app(state.app))

IDENTITY = "sso_identity"
NEXT = "sso_next"
# Set in a session that a trusted provider's own second factor signed in (see OIDC_TRUST_PROVIDER_MFA).
PROVIDER_MFA = "sso_provider_mfa"


@bp.app_context_processor
def sign_in_providers():
    return {"sso_providers": sso.providers}


def _problem(title: str, message: str, status: int, provider: sso.Provider | None = None):
    return render_template("auth/sso_problem.html", title=title, message=message, provider=provider), status


def _provider_or_404(name: str) -> sso.Provider:
    provider = sso.provider_named(name)
    if provider is None:
        raise DomainError("There is no sign-in provider of that name.", status=404)
    return provider


@bp.route("/sign-in/sso/<name>")
@public
def start(name: str):
    provider = _provider_or_404(name)
    if current_user.is_authenticated:
        return redirect(url_for("main.dashboard"))
    next_url = request.args.get("next", "")[:2000]
    callback = current_app.config["BASE_URL"] + url_for("sso.callback", name=provider.name)
    try:
        response = sso.client_for(provider).authorize_redirect(callback)
    except (requests.RequestException, ValueError, RuntimeError) as error:
        log.warning("Sign-in provider %s did not answer: %s", provider.name, error)
        return _provider_down(provider)
    session[NEXT] = next_url
    return response


def _provider_down(provider: sso.Provider):
    return _problem(
        f"{provider.display_name} is not answering",
        f"We could not reach {provider.display_name} to sign you in. Try again in a few minutes, or sign "
        "in with your password if you have one.",
        503,
        provider,
    )


@bp.route("/sign-in/sso/<name>/callback")
@public
def callback(name: str):
    provider = _provider_or_404(name)
    if request.args.get("error"):
        return _problem(
            "You were not signed in",
            f"{provider.display_name} did not sign you in ({request.args.get('error', '')[:100]}). "
            "Try again, or sign in with your password.",
            400,
            provider,
        )
    client = sso.client_for(provider)
    try:
        token = client.authorize_access_token()
    except MismatchingStateError:
        return _problem(
            "That sign-in could not be matched",
            "This answer from the provider does not belong to a sign-in started in this browser (it may "
            "be old, used already or altered). Start again from the sign-in page.",
            400,
            provider,
        )
    except ExpiredTokenError:
        return _problem(
            "That sign-in has expired",
            f"The proof of identity {provider.display_name} sent has expired. Start again from the "
            "sign-in page; if this keeps happening, check this computer's clock.",
            400,
            provider,
        )
    except JoseError as error:
        log.warning("ID token from %s refused: %r", provider.name, error)
        return _refused(provider)
    except OAuthError as error:
        log.warning("Sign-in provider %s refused the code: %s", provider.name, error)
        return _refused(provider)
    except (requests.RequestException, ValueError, RuntimeError) as error:
        log.warning("Sign-in provider %s did not answer: %s", provider.name, error)
        return _provider_down(provider)
    claims = token.get("userinfo")
    if not claims or client.server_metadata.get("issuer") != provider.issuer:
        log.warning("Sign-in provider %s: no ID token, or an issuer other than the one set up", provider.name)
        return _refused(provider)
    try:
        identity = sso.identity_from_claims(provider, dict(claims), now=now())
    except DomainError as error:
        return _problem("You were not signed in", error.message, error.status, provider)
    next_url = session.get(NEXT, "")
    session.clear()
    session[IDENTITY] = identity.as_record()
    session[NEXT] = next_url
    return redirect(url_for("sso.finish"))


def _refused(provider: sso.Provider):
    return _problem(
        "That sign-in did not pass our checks",
        f"The proof of identity from {provider.display_name} was not one we can accept (its signature, "
        "its issuer or the service it was meant for did not match). You have not been signed in. Start "
        "again from the sign-in page, and tell the L&D team if it happens again.",
        400,
        provider,
    )


@bp.route("/sign-in/sso/finish", methods=["GET", "POST"])
@public
def finish():
    identity = sso.Identity.from_record(session.get(IDENTITY), now=now())
    if identity is None:
        return redirect(url_for("auth.sign_in"))
    provider = sso.provider_named(identity.provider)
    try:
        arrival = sso.arrival_for(identity)
    except DomainError as error:
        return _problem("You were not signed in", error.message, error.status, provider)
    if arrival.action == "register":
        return _first_sign_in(identity, provider)
    form = ButtonForm()
    if form.validate_on_submit():
        with domain_errors():
            step = sso.sign_in_with_identity(
                identity, address=_address(), user_agent=_user_agent(), now=now()
            )
            return _signed_in(identity, step)
        return redirect(url_for("auth.sign_in"))
    return render_form(
        "auth/sso_continue.html", form=form, identity=identity, provider=provider, arrival=arrival
    )


def _first_sign_in(identity: sso.Identity, provider: sso.Provider | None):
    form = FirstSignInForm()
    suggested = sso.suggested_details(identity)
    form.with_organisations()
    form.identity_email = identity.email
    if request.method == "GET":
        form.for_identity(
            identity.email, {"first_name": suggested["first_name"], "last_name": suggested["last_name"]}
        )
        if suggested["agency"] is not None:
            form.organisation.data = suggested["agency"].label
    if form.validate_on_submit():
        with domain_errors(form):
            step = sso.register_with_identity(
                identity, form.person_details(), address=_address(), user_agent=_user_agent(), now=now()
            )
            return _signed_in(identity, step, "Your account is ready. Find a course and book a place.")
    return render_form(
        "auth/sso_first_sign_in.html", form=form, identity=identity, provider=provider, suggested=suggested
    )


def _signed_in(identity: sso.Identity, step, message: str | None = None):
    next_url = session.get(NEXT) or url_for("catalogue.index")
    response = _go_on(step, next_url, message)
    if step.next_step == "done" and current_app.config["OIDC_TRUST_PROVIDER_MFA"] and identity.provider_mfa:
        session[PROVIDER_MFA] = True
    return response
