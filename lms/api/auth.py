"""Who a call to the JSON API acts for: the bearer token, never the session cookie.

Each API route carries one mark, the API's counterpart of lms.core.access: `open_to_all` (the public
catalogue; a token is optional) or `requires(scope)`. Both also count the call against the rate
limits: per token for a call with one, per address for one without.

The only write an API call makes is its token's last use, and not inside the request's transaction:
the boundary (lms.core.web) refuses any write on a GET, and a read should not take the write lock
that writing takes on SQLite. So, once the view has answered, `stamp_after_request` records it in a
transaction of its own, at most once a minute per token (an UPDATE that checks the time it replaces,
so concurrent calls write it once). If the database is busy the stamp is skipped; the call is not
refused for it.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from functools import wraps

from flask import current_app, g, request
from limits import parse_many
from sqlalchemy.exc import SQLAlchemyError

from lms.api.problems import problem
from lms.core.clock import now
from lms.core.db import unit_of_work
from lms.extensions import db, limiter
from lms.integrations.tokens import ApiToken, Scope, stamp_last_used, token_for_secret

log = logging.getLogger(__name__)

BEARER = "bearer "
SECURITY_SCHEME = "bearerAuth"


class Refused(Exception):
    """The call is answered with a problem before the view runs."""

    def __init__(self, response) -> None:
        super().__init__(response.status)
        self.response = response


def current_token() -> ApiToken | None:
    return g.get("api_token")


def _unauthorised(detail: str) -> Refused:
    return Refused(problem(401, detail, headers={"WWW-Authenticate": 'Bearer realm="api"'}))


def _authenticate(*, required: bool) -> ApiToken | None:
    header = request.headers.get("Authorization", "")
    if not header:
        if required:
            raise _unauthorised("Send a token: Authorization: Bearer <token>.")
        return None
    if not header.lower().startswith(BEARER):
        raise _unauthorised("Only bearer tokens are accepted: Authorization: Bearer <token>.")
    token = token_for_secret(header[len(BEARER) :].strip())
    if token is None or not token.works(now()):
        # One answer for unknown, revoked, expired and disabled: a caller learns nothing from it.
        raise _unauthorised("The token is not valid: it is unknown, revoked or expired.")
    g.api_token = token
    return token


def _rate_headers(item, stats) -> dict[str, str]:
    """Where the caller stands against one limit: RateLimit-Limit, -Remaining and -Reset (seconds)."""
    return {
        "RateLimit-Limit": str(item.amount),
        "RateLimit-Remaining": str(max(stats.remaining, 0)),
        "RateLimit-Reset": str(max(math.ceil(stats.reset_time - time.time()), 0)),
    }


def _check_rate(token: ApiToken | None) -> None:
    """Count the call against each limit; refuse it (429) once one is reached. The limit nearest to
    being reached is kept for the answer's RateLimit-* headers."""
    if token is not None:
        setting, key = "API_TOKEN_RATE_LIMIT", f"token-{token.id}"
    else:
        setting, key = "API_ANONYMOUS_RATE_LIMIT", f"address-{request.remote_addr or 'unknown'}"
    strategy = limiter.limiter
    prefix = current_app.config["RATELIMIT_KEY_PREFIX"]
    nearest = None
    for item in parse_many(current_app.config[setting]):
        allowed = strategy.hit(item, "api", prefix, key)
        stats = strategy.get_window_stats(item, "api", prefix, key)
        if not allowed:
            wait = max(math.ceil(stats.reset_time - time.time()), 1)
            g.api_rate = None
            raise Refused(
                problem(
                    429,
                    f"Too many calls: at most {item.amount} per {item.get_expiry()} seconds. "
                    f"Try again in {wait} seconds.",
                    headers={**_rate_headers(item, stats), "Retry-After": str(wait)},
                )
            )
        if nearest is None or stats.remaining < nearest[1].remaining:
            nearest = (item, stats)
    g.api_rate = _rate_headers(*nearest) if nearest else None


def rate_headers_after_request(response):
    """Tell the caller where they stand against the rate limit, on every answer that counted."""
    for name, value in (g.pop("api_rate", None) or {}).items():
        response.headers.setdefault(name, value)
    return response


def _guarded(view: Callable, scope: Scope | None, *, required: bool) -> Callable:
    @wraps(view)
    def wrapper(*args, **kwargs):
        try:
            try:
                token = _authenticate(required=required)
            except Refused:
                _check_rate(None)  # guessing at tokens counts against the address
                raise
            _check_rate(token)
            if scope is not None and not token.grants(scope):
                raise Refused(problem(403, f"The token does not carry the {scope.value} scope."))
        except Refused as refused:
            return refused.response
        return view(*args, **kwargs)

    return wrapper


def open_to_all(view: Callable) -> Callable:
    """An API route anyone may call without a token (a token given is still checked and counted)."""
    wrapper = _guarded(view, None, required=False)
    wrapper.access_rule = ("api", None)
    return wrapper


def requires(scope: Scope) -> Callable[[Callable], Callable]:
    """An API route for a token carrying `scope` (and, on a person's token, the role it needs)."""

    def decorate(view: Callable) -> Callable:
        wrapper = _guarded(view, scope, required=True)
        wrapper.access_rule = ("api", scope.value)
        return wrapper

    return decorate


def stamp_after_request(response):
    """Record the token's last use, in a transaction of its own once the view has answered."""
    token = g.pop("api_token", None)
    if token is None:
        return response
    moment = now()
    if not token.needs_stamp(moment):
        return response
    token_id, prefix = token.id, token.prefix
    db.session.rollback()  # the request's own (read-only) transaction ends here
    try:
        with unit_of_work():
            stamp_last_used(token_id, moment)
    except SQLAlchemyError as error:
        log.warning("Could not record the last use of API token %s: %s", prefix, error)
    return response
