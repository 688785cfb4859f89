"""Errors of the JSON API as RFC 9457 problem details (application/problem+json).

Every error under /api/ answers this way, whoever raised it: the API's own checks (a missing or
refused token, a scope not granted, too many calls), a query string that does not validate (422 with
the field errors), a domain error, and the app's own error pages (an unknown path, a method not
allowed, a server error), which hand over to `problem_page` for API paths.
"""

from __future__ import annotations

from http import HTTPStatus

from flask import current_app, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

API_PREFIX = "/api/"
MEDIA_TYPE = "application/problem+json"
# The problem types, relative to the API's documentation; "about:blank" when the status says it all.
TYPES = {
    401: "unauthorised",
    403: "forbidden",
    422: "invalid-input",
    429: "too-many-requests",
}


def is_api_request() -> bool:
    return request.path.startswith(API_PREFIX)


def problem(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    errors: dict | None = None,
    headers: dict[str, str] | None = None,
):
    """A problem details response."""
    body: dict = {
        "type": f"/api/v1/problems/{TYPES[status]}" if status in TYPES else "about:blank",
        "title": title or _phrase(status),
        "status": status,
        "detail": detail,
        "instance": request.path,
    }
    if errors:
        body["errors"] = errors
    response = current_app.json.response(body)
    response.status_code = status
    response.mimetype = MEDIA_TYPE
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem_page(code: int, message: str):
    """What the app's error pages answer on an API path: the same status, as problem details."""
    routing = request.routing_exception
    if isinstance(routing, MethodNotAllowed):
        allowed = sorted(routing.valid_methods or [])
        return problem(
            405,
            f"{request.method} is not allowed here; use {', '.join(allowed)}.",
            headers={"Allow": ", ".join(allowed)},
        )
    if code == 404 and routing is not None:
        return problem(
            404, "There is no such endpoint in this API. The endpoints are in /api/v1/openapi.json."
        )
    return problem(code, message)


def http_problem(error: HTTPException):
    """An HTTP error raised inside an API view (webargs' 422 carries the field errors)."""
    data = getattr(error, "data", None) or {}
    code = error.code or 500
    if code == 422:
        messages = data.get("messages") or data.get("errors") or {}
        # webargs groups errors by location ("query"); a caller wants the field names.
        errors = {}
        for value in messages.values() if isinstance(messages, dict) else []:
            if isinstance(value, dict):
                errors.update(value)
        return problem(
            422, "Some values in the request are not valid; see errors.", errors=errors or messages
        )
    headers = dict(data.get("headers") or {})
    if isinstance(error, MethodNotAllowed):
        headers["Allow"] = ", ".join(sorted(error.valid_methods or []))
    return problem(code, data.get("message") or error.description or _phrase(code), headers=headers)
