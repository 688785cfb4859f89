"""L&D's Integrations pages (other systems and their API tokens), and a person's own API tokens
under My account.

A token's secret is shown once. Making it redirects to the list, which shows it: the secret travels
in the signed session cookie of the browser that made it (never in the database, where the answer
kept for a form sent twice would have held it) and is taken out of the cookie as it is shown."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, session, url_for
from flask_login import current_user

from lms.accounts.forms import organisation_labels
from lms.accounts.models import Role
from lms.core.access import roles_required, signed_in
from lms.core.clock import now
from lms.core.errors import NotFound
from lms.core.forms import ButtonForm
from lms.core.timezones import end_of_london_day
from lms.core.web import domain_errors, get_or_404, render_form
from lms.integrations.forms import IntegrationForm, TokenForm
from lms.integrations.models import Integration
from lms.integrations.services import (
    all_integrations,
    create_integration,
    create_integration_token,
    create_personal_token,
    revoke_integration,
    revoke_token,
    scopes_for_integration,
    scopes_for_person,
    tokens_of_integration,
    tokens_of_person,
)
from lms.integrations.tokens import ApiToken

bp = Blueprint("integrations", __name__)
admin_only = roles_required(Role.LND_ADMIN)


NEW_SECRET = "new_api_token"  # noqa: S105 - the name of a key in the session


def _keep_secret(new) -> None:
    session[NEW_SECRET] = {"token_id": new.token.id, "secret": new.secret}


def _take_secret(tokens: list[ApiToken]) -> str | None:
    """The secret of a token just made, when it is one of these; gone from the cookie either way."""
    kept = session.pop(NEW_SECRET, None)
    if isinstance(kept, dict) and any(token.id == kept.get("token_id") for token in tokens):
        return kept.get("secret")
    return None


def _expiry(form: TokenForm):
    return end_of_london_day(form.expires_on.data) if form.expires_on.data else None


# L&D: integrations ----------------------------------------------------------------------------


def _list_page(form: IntegrationForm):
    return render_form(
        "integrations/list.html",
        form=form,
        integrations=all_integrations(),
        organisation_labels=organisation_labels(),
    )


@bp.route("/admin/integrations", methods=["GET", "POST"])
@admin_only
def integrations():
    form = IntegrationForm()
    if form.validate_on_submit():
        with domain_errors(form):
            integration = create_integration(
                form.name.data,
                description=form.description.data,
                contact_email=form.contact_email.data,
                agency=form.chosen_agency,
                by=current_user,
                now=now(),
            )
            flash(f"{integration.name} is registered. Make it a token to call the API with.", "success")
            return redirect(url_for("integrations.integration", integration_id=integration.id))
    return _list_page(form)


def _integration_page(integration: Integration, form: TokenForm):
    tokens = tokens_of_integration(integration)
    return render_form(
        "integrations/integration.html",
        integration=integration,
        form=form,
        tokens=tokens,
        button=ButtonForm(),
        new_secret=_take_secret(tokens),
        now=now(),
    )


@bp.route("/admin/integrations/<id:integration_id>", methods=["GET", "POST"])
@admin_only
def integration(integration_id: int):
    found = get_or_404(Integration, integration_id)
    form = TokenForm().offer(scopes_for_integration(found))
    if form.validate_on_submit():
        with domain_errors(form):
            new = create_integration_token(
                found,
                form.name.data,
                form.chosen_scopes,
                expires_at=_expiry(form),
                by=current_user,
                now=now(),
            )
            _keep_secret(new)
            return redirect(url_for("integrations.integration", integration_id=found.id))
    return _integration_page(found, form)


@bp.route("/admin/integrations/<id:integration_id>/revoke", methods=["POST"])
@admin_only
def revoke(integration_id: int):
    found = get_or_404(Integration, integration_id)
    if ButtonForm().validate_on_submit():
        with domain_errors():
            revoke_integration(found, by=current_user, now=now())
            flash(f"{found.name} is revoked: none of its tokens works any more.", "success")
    return redirect(url_for("integrations.integration", integration_id=found.id))


@bp.route("/admin/integrations/<id:integration_id>/tokens/<id:token_id>/revoke", methods=["POST"])
@admin_only
def revoke_integration_token(integration_id: int, token_id: int):
    token = get_or_404(ApiToken, token_id)
    if token.integration_id != integration_id:
        raise NotFound("No such token.")
    if ButtonForm().validate_on_submit():
        with domain_errors():
            revoke_token(token, by=current_user, now=now())
            flash(f"The token {token.prefix}… is revoked.", "success")
    return redirect(url_for("integrations.integration", integration_id=integration_id))


# A person's own tokens ------------------------------------------------------------------------


def _own_page(form: TokenForm):
    tokens = tokens_of_person(current_user)
    return render_form(
        "integrations/my_tokens.html",
        form=form,
        tokens=tokens,
        button=ButtonForm(),
        new_secret=_take_secret(tokens),
        now=now(),
    )


@bp.route("/account/api-tokens", methods=["GET", "POST"])
@signed_in
def my_tokens():
    form = TokenForm().offer(scopes_for_person(current_user))
    if form.validate_on_submit():
        with domain_errors(form):
            new = create_personal_token(
                current_user._get_current_object(),
                form.name.data,
                form.chosen_scopes,
                expires_at=_expiry(form),
                now=now(),
            )
            _keep_secret(new)
            return redirect(url_for("integrations.my_tokens"))
    return _own_page(form)


@bp.route("/account/api-tokens/<id:token_id>/revoke", methods=["POST"])
@signed_in
def revoke_my_token(token_id: int):
    token = get_or_404(ApiToken, token_id)
    if token.user_id != current_user.id:
        raise NotFound("No such token.")
    if ButtonForm().validate_on_submit():
        with domain_errors():
            revoke_token(token, by=current_user, now=now())
            flash(f"The token {token.prefix}… is revoked.", "success")
    return redirect(url_for("integrations.my_tokens"))
