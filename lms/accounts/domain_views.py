"""L&D map email domains onto organisations, and say which domains must use single sign-on."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, url_for
from flask_login import current_user

from lms.accounts.domains import EmailDomain, add_email_domain, email_domains, remove_email_domain
from lms.accounts.forms import organisation_labels
from lms.accounts.models import Role
from lms.accounts.sso_forms import EmailDomainForm
from lms.core.access import roles_required
from lms.core.clock import now
from lms.core.formatting import plural
from lms.core.forms import ButtonForm
from lms.core.web import domain_errors, get_or_404, render_form

bp = Blueprint("domains", __name__, url_prefix="/admin")

admin_only = roles_required(Role.LND_ADMIN)


def _page(form: EmailDomainForm):
    return render_form(
        "admin/email_domains.html",
        form=form,
        mappings=email_domains(),
        remove_form=ButtonForm(),
        organisation_labels=organisation_labels(),
        sso_available=bool(current_app.config["OIDC_PROVIDERS"]),
    )


@bp.route("/agencies/email-domains", methods=["GET", "POST"])
@admin_only
def email_domain_list():
    form = EmailDomainForm()
    if form.validate_on_submit():
        with domain_errors(form):
            mapping, moved = add_email_domain(
                form.domain.data,
                form.chosen_agency,
                requires_sso=form.requires_sso.data,
                by=current_user,
                now=now(),
            )
            flash(
                f"Addresses at {mapping.domain} now belong to {mapping.agency.name}; "
                f"{plural(moved, 'person', 'people')} moved there from “not in the list”.",
                "success",
            )
            return redirect(url_for("domains.email_domain_list"))
    return _page(form)


@bp.route("/agencies/email-domains/<id:mapping_id>/remove", methods=["POST"])
@admin_only
def remove(mapping_id: int):
    mapping = get_or_404(EmailDomain, mapping_id)
    form = ButtonForm()
    if form.validate_on_submit():
        domain = mapping.domain
        with domain_errors():
            remove_email_domain(mapping, by=current_user, now=now())
            flash(f"{domain} is no longer mapped to an organisation.", "success")
    return redirect(url_for("domains.email_domain_list"))
