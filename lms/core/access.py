"""Who may open a route. Every view is marked public, signed_in, or roles_required(...);
a test walks the URL map and fails on any view without a mark.

Some actions also need the second factor given recently in this browser (granting roles, running
invoices, exporting personal data): the mark fresh_second_factor on this area's routes, and
FRESH_FACTOR_ROUTES for other areas' routes, both checked by ask_for_second_factor().
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from urllib.parse import urlsplit

from flask import abort, current_app, flash, g, redirect, request, url_for
from flask_login import current_user

from lms.extensions import login_manager

# Routes of other areas that need a recent second factor, with the methods that do the deed.
FRESH_FACTOR_ROUTES: dict[str, frozenset[str]] = {
    "finance.run": frozenset({"POST"}),  # running invoices
    "finance.export_csv": frozenset({"GET"}),  # invoice lines with delegates' names
    "finance.export_xlsx": frozenset({"GET"}),
    "contacts.records_as_csv": frozenset({"GET"}),  # an organisation's staff's training records
    "contacts.records_as_xlsx": frozenset({"GET"}),
    "auth.my_data": frozenset({"GET"}),  # everything held about oneself
    "privacy.request_zip": frozenset({"GET"}),  # everything held about someone who asked for it
    "webhooks.subscription": frozenset({"GET"}),  # shows the signing secret
    "webhooks.delivery": frozenset({"GET"}),  # an event's payload, with names and emails
}
# Downloads of personal data, written to the security events as they are sent.
PERSONAL_DATA_EXPORTS: dict[str, str] = {
    "finance.export_csv": "Invoices and credit notes (CSV), with delegates' names",
    "finance.export_xlsx": "Invoices and credit notes (XLSX), with delegates' names",
    "contacts.records_as_csv": "Training records of an organisation's staff (CSV)",
    "contacts.records_as_xlsx": "Training records of an organisation's staff (XLSX)",
    "auth.my_data": "Everything held about oneself (ZIP)",
    "privacy.request_zip": "Everything held about a person, for their access request (ZIP)",
}


def public(view: Callable) -> Callable:
    view.access_rule = "public"
    return view


def signed_in(view: Callable) -> Callable:
    @wraps(view)
    def wrapper(*args, **kwargs):
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        return view(*args, **kwargs)

    wrapper.access_rule = "signed_in"
    return wrapper


def roles_required(*roles) -> Callable[[Callable], Callable]:
    """Allow people holding any of `roles`; others get 403, strangers go to sign in."""
    if not roles:
        raise ValueError("roles_required needs at least one role")

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if not current_user.has_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        wrapper.access_rule = ("roles", frozenset(roles))
        return wrapper

    return decorate


def may_open(endpoint: str, user=None) -> bool:
    """Whether `user` (the person signed in) may open the route: menus and tabs show only these."""
    user = current_user if user is None else user
    view = current_app.view_functions.get(endpoint)
    rule = getattr(view, "access_rule", None)
    if rule == "public":
        return True
    if not user.is_authenticated:
        return False
    if rule == "signed_in":
        return True
    if isinstance(rule, tuple) and rule[0] == "roles":
        return user.has_role(*rule[1])
    return False


def fresh_second_factor(view: Callable) -> Callable:
    """The route's state-changing requests need the second factor given in the last
    SECOND_FACTOR_FRESH_MINUTES; otherwise the person is asked for a code first."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if request.method == "POST":
            asked = ask_for_second_factor()
            if asked is not None:
                return asked
        return view(*args, **kwargs)

    wrapper.fresh_second_factor = True
    return wrapper


def ask_for_second_factor():
    """A redirect to the page that asks for a code, when this browser's second factor is not
    recent; None when it is, or when the person has no second factor to give."""
    from lms.accounts.security import factor_is_fresh
    from lms.core.clock import now

    if not current_user.is_authenticated:
        return None
    if factor_is_fresh(current_user, g.get("sign_in"), now=now()):
        return None
    flash("For your security, enter a code from your authenticator app to carry on.", "info")
    return redirect(url_for("auth.confirm_second_factor", next=_come_back_to()))


def _come_back_to() -> str:
    """Where to return once the code is given: this page, or for a form the page it was sent from."""
    if request.method == "GET":
        return request.full_path.rstrip("?")
    referrer = urlsplit(request.referrer or "")
    if referrer.netloc == request.host and referrer.path.startswith("/"):
        return referrer.path + (f"?{referrer.query}" if referrer.query else "")
    return url_for("main.dashboard")
