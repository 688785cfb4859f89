"""A blueprint of the JSON API: its errors are problem details, its token's use is recorded after
each answer, and it has no CSRF token to check (a cookie never authenticates it)."""

from __future__ import annotations

from flask_smorest import Blueprint
from werkzeug.exceptions import HTTPException

from lms.api.auth import SECURITY_SCHEME, rate_headers_after_request, stamp_after_request
from lms.api.problems import http_problem
from lms.extensions import csrf

PREFIX = "/api/v1"


def api_blueprint(name: str, description: str) -> Blueprint:
    blueprint = Blueprint(name, __name__, url_prefix=PREFIX, description=description)
    blueprint.register_error_handler(HTTPException, http_problem)
    blueprint.after_request(stamp_after_request)
    blueprint.after_request(rate_headers_after_request)
    csrf.exempt(blueprint)
    return blueprint


# The problem answers the document describes, by status (components registered in lms/api/__init__.py).
PROBLEM_RESPONSES = {401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND", 429: "TOO_MANY_REQUESTS"}


def documented(blueprint: Blueprint, *statuses: int, secured: bool = True):
    """A route's problem answers in the OpenAPI document and, for a route that needs a token, its
    security requirement."""

    def decorate(view):
        for status in statuses:
            view = blueprint.alt_response(status, response=PROBLEM_RESPONSES[status])(view)
        return blueprint.doc(security=[{SECURITY_SCHEME: []}])(view) if secured else view

    return decorate
