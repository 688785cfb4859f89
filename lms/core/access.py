"""Who may open a route. Every view is marked public, signed_in, or roles_required(...);
a test walks the URL map and fails on any view without a mark."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import abort
from flask_login import current_user

from lms.extensions import login_manager


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
