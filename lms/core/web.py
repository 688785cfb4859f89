"""The request boundary, and the helpers views share.

How a request flows (in the manner of Indico's RH.process): the route's access mark lets the person
in; the view parses its input (URL converters and forms with bounds), loads its objects and calls
one service; the boundary then commits once, for every state-changing request, or rolls back if
anything was raised. A DomainError becomes its status and message: beside the form's field or above
the form when the view wraps the service call in ``domain_errors(form)``, otherwise on an error
page with the error's status. No view commits or rolls back by itself.

A lost database connection (a restart or failover) is not the person's problem: a transaction whose
connection drops before it commits is rolled back and the view run again from the start on a fresh
connection (a few times at most, then the page says the service is busy); nothing was committed, so
that is safe. A state-changing request first claims its key (lms.core.idempotency) and stores its
outcome with its change, so a request whose COMMIT was lost (did it land?) or that arrives twice is
answered with the first outcome instead of acting twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from flask import Flask, flash, g, has_request_context, redirect, request, session, url_for
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_login import current_user
from itsdangerous import BadSignature
from markupsafe import Markup
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session
from werkzeug.routing import BaseConverter, ValidationError

from lms.core import idempotency
from lms.core.clock import now
from lms.core.db import set_write_intent
from lms.core.errors import DomainError, InvalidInput
from lms.extensions import db

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Ids are 32-bit integer columns on PostgreSQL: anything larger cannot exist, so it is "not found".
MAX_ID = 2**31 - 1
MAX_PAGE = 100_000


class WriteOnSafeRequest(RuntimeError):
    """A GET (or HEAD) changed the database: it should have been a POST."""


class DatabaseUnavailable(RuntimeError):
    """The database connection was lost on every attempt at a request."""


# A permanent session's cookie is signed again, renewing its expiry, at most this often.
RENEW_COOKIE_AFTER = timedelta(minutes=1)


class SlidingCookieSession(SecureCookieSessionInterface):
    """Flask's signed cookie session, except that a permanent session's unchanged cookie is signed
    again and sent (to renew its expiry) only when it is a minute old, not with every response: a
    sign-in still lasts SESSION_LIFETIME_MINUTES from the last request, to within a minute."""

    def open_session(self, app: Flask, request) -> SecureCookieSession | None:
        serializer = self.get_signing_serializer(app)
        if serializer is None:
            return None
        value = request.cookies.get(self.get_cookie_name(app))
        if not value:
            return self.session_class()
        max_age = int(app.permanent_session_lifetime.total_seconds())
        try:
            data, signed_at = serializer.loads(value, max_age=max_age, return_timestamp=True)
        except BadSignature:
            return self.session_class()
        opened = self.session_class(data)
        opened.signed_at = signed_at
        return opened

    def should_set_cookie(self, app: Flask, session) -> bool:
        if session.modified:
            return True
        if not (session.permanent and app.config["SESSION_REFRESH_EACH_REQUEST"]):
            return False
        signed_at = getattr(session, "signed_at", None)
        return signed_at is None or datetime.now(UTC) - signed_at >= RENEW_COOKIE_AFTER


class Boundary(Flask):
    """Flask, with every view run inside the one transaction the request commits at its end."""

    session_interface = SlidingCookieSession()

    def preprocess_request(self):  # type: ignore[override]
        # Before any hook reads the database (who is signed in), so SQLite begins a writer's
        # transaction with its write lock (BEGIN IMMEDIATE) rather than upgrading to it later.
        set_write_intent(request.method not in SAFE_METHODS)
        return _on_fresh_connections(super().preprocess_request, "its checks")

    def dispatch_request(self):  # type: ignore[override]
        form_key = None
        if request.method not in SAFE_METHODS:
            # The same key on every attempt: one after a lost COMMIT finds the outcome if it landed.
            form_key = idempotency.form_key(request.form.get(idempotency.FIELD))
        return _on_fresh_connections(lambda: self._run_view(form_key), "the view")

    def _run_view(self, form_key: str | None):
        if form_key is None:  # a safe request: nothing to claim, nothing to commit
            result = super().dispatch_request()
            finish_transaction()
            return result
        key = idempotency.stored_key(form_key, _user_id())
        done = idempotency.stored_outcome(key)
        if done is not None:  # a twin has answered already: the view does not run again
            db.session.rollback()
            return replay(done)
        before = _RequestState()
        flashed_before = before.cookie.get("_flashes", [])
        response = self.make_response(super().dispatch_request())
        if response.status_code >= 400:
            # Nothing was done, so no key is kept and the same form sent again runs again; unless
            # a twin finished while this ran (and this failed because it had), whose answer counts.
            done = idempotency.stored_outcome(key)
        elif idempotency.record(key, outcome_of(response, flashed_before), now=now()):
            done = None
        else:  # a twin stored the key first: this one's work is undone
            done = idempotency.stored_outcome(key) or ALREADY_DONE
        if done is not None:
            db.session.rollback()
            before.restore()
            return replay(done)
        finish_transaction()
        return response


# A lost connection is not the person's problem: the work starts again on a fresh one. Once is
# usually enough; a database being restarted, or failing over, may drop a few in a row.
ATTEMPTS = 6
RECONNECT_PAUSE_SECONDS = 0.5


def _on_fresh_connections(run, what: str):
    """Run `run` in the request's transaction; when the connection is lost before it commits (or
    while committing, when the request's key tells whether that landed), roll back and run it again
    from the start on a fresh connection. Nothing was committed, so running it again is safe."""
    for attempt in range(1, ATTEMPTS + 1):
        before = _RequestState()
        try:
            return run()
        except DBAPIError as error:
            db.session.rollback()
            before.restore()
            if not _lost_connection(error):
                raise
            if attempt == ATTEMPTS:
                raise DatabaseUnavailable(str(error.orig)) from error
            log.warning("Connection lost in %s %s; running %s again", request.method, request.path, what)
            if error.statement is None:  # the database would not take a connection: give it a moment
                time.sleep(RECONNECT_PAUSE_SECONDS)
        except BaseException:
            db.session.rollback()
            before.restore_cookie()
            raise
    raise AssertionError("unreachable")


def _lost_connection(error: DBAPIError) -> bool:
    """The connection dropped (a restart, a failover), or no new one could be made."""
    return error.connection_invalidated or (isinstance(error, OperationalError) and error.statement is None)


class _RequestState:
    """The signed cookie and `g` as a view found them, to put back before the view runs again."""

    def __init__(self) -> None:
        self.cookie = {k: (list(v) if isinstance(v, list) else v) for k, v in session.items()}
        self.globals = dict(vars(g._get_current_object()))

    def restore_cookie(self) -> None:
        # Nothing was saved, so no "saved" message (nor a sign-in) may survive into the next page.
        if dict(session) != self.cookie:
            session.clear()
            session.update(self.cookie)

    def restore(self) -> None:
        self.restore_cookie()
        current = vars(g._get_current_object())
        current.clear()
        current.update(self.globals)


def _user_id() -> int | None:
    return current_user.id if current_user.is_authenticated else None


def outcome_of(response, flashed_before: list) -> idempotency.Outcome:
    """What to answer the same form with, if it comes again: the redirect, or the page itself."""
    flashed = list(session.get("_flashes", []))
    if flashed[: len(flashed_before)] == flashed_before:
        flashed = flashed[len(flashed_before) :]
    page = None
    if response.mimetype == "text/html" and not response.is_streamed and not response.location:
        page = response.get_data(as_text=True)
    return idempotency.Outcome(
        status=response.status_code,
        location=response.headers.get("Location"),
        flashes=[(category, message) for category, message in flashed],
        page=page,
    )


# The answer to a twin whose first's answer has since been forgotten (keys are kept for a day).
ALREADY_DONE = idempotency.Outcome(status=409, location=None, flashes=[], page=None)


def replay(done: idempotency.Outcome):
    """The first request's answer, given again: nothing is done twice."""
    from flask import current_app, render_template

    for category, message in done.flashes:
        flash(message, category)
    if done.location:
        return redirect(done.location, code=done.status)
    if done.page is not None:
        return current_app.response_class(done.page, status=done.status, mimetype="text/html")
    title, message = "Already done", "That form was sent before and has been done; it was not done again."
    return render_template("errors/error.html", title=title, message=message), done.status


def request_key_field() -> Markup:
    """The hidden field each state-changing form carries, so sending it twice acts once."""
    field = Markup('<input type="hidden" name="{}" value="{}">')
    return field.format(idempotency.FIELD, idempotency.new_form_key())


def finish_transaction() -> None:
    """Commit a state-changing request; a safe request must not have written anything."""
    if request.method in SAFE_METHODS:
        if g.pop("wrote_to_database", False) or _has_pending_changes():
            db.session.rollback()
            message = f"{request.method} {request.path} wrote to the database"
            if _strict():
                raise WriteOnSafeRequest(message)
            log.error(message)
        return
    db.session.commit()


def _has_pending_changes() -> bool:
    current = db.session()
    return bool(current.new or current.dirty or current.deleted)


def _strict() -> bool:
    from flask import current_app

    return current_app.testing or current_app.debug


@event.listens_for(Session, "after_flush")
def _note_write(session, flush_context) -> None:
    if has_request_context() and request.method in SAFE_METHODS:
        g.wrote_to_database = True


@contextmanager
def domain_errors(form=None) -> Iterator[None]:
    """Run a service call; a DomainError undoes its work and shows beside the form's field or above it.

    The view carries on after the block: it re-renders the form (with the error's status, through
    render_form) or redirects. Errors of other kinds go on to the boundary.
    """
    try:
        yield
    except DomainError as error:
        db.session.rollback()
        g.error_status = error.status
        show_error(form, error)


def show_error(form, error: DomainError) -> None:
    """Put a domain error beside its field when the form has it, else at the top of the page."""
    name = getattr(form, "error_fields", {}).get(error.field, error.field)
    field = getattr(form, name, None) if (form is not None and name) else None
    if field is not None and hasattr(field, "errors"):
        field.errors = [*field.errors, error.message]
    else:
        flash(error.message, "error")


def render_form(template: str, **context):
    """Render a form page; a POST that reaches here failed, so say so with its status (422 by default)."""
    from flask import render_template

    status = g.pop("error_status", 422) if request.method == "POST" else 200
    return render_template(template, **context), status


ERROR_TITLES = {
    403: "You cannot do that",
    404: "Not found",
    409: "That cannot be done now",
    422: "That could not be done",
}


def register_boundary(app: Flask, page) -> None:
    """Domain errors that reach the boundary become an error page with their status and message."""

    @app.errorhandler(DomainError)
    def domain_error(error: DomainError):
        db.session.rollback()
        return page(error.status, ERROR_TITLES.get(error.status, ERROR_TITLES[422]), error.message)

    @app.errorhandler(DatabaseUnavailable)
    def database_unavailable(error: DatabaseUnavailable):
        from flask_login import AnonymousUserMixin

        log.error("No database connection for %s %s: %s", request.method, request.path, error)
        g._login_user = AnonymousUserMixin()  # the page must not need the database to say so
        return page(
            503,
            "The service is busy",
            "The database did not answer. Send the form again in a moment: if it was done, "
            "you will see so, and it will not be done twice.",
        )

    app.url_map.converters["id"] = IdConverter
    app.jinja_env.globals["query_args"] = query_args
    app.jinja_env.globals["request_key_field"] = request_key_field
    app.before_request(refuse_unstorable_input)


FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def refuse_unstorable_input() -> None:
    """No database stores a NUL character in text (PostgreSQL refuses it): a request carrying one in
    its path, query or form is refused whole, with a message, before any view sees it."""
    values = [request.path]
    # Only a form's content type has fields to read (werkzeug parses no other body into the form).
    sources = (request.args, request.form) if request.mimetype in FORM_TYPES else (request.args,)
    for data in sources:
        for key, listed in data.lists():
            values += [key, *listed]
    if any("\x00" in value for value in values):
        raise InvalidInput(
            "The request contains a character that cannot be saved (a NUL byte). Remove it and try again."
        )


# Input ------------------------------------------------------------------------------------------


class IdConverter(BaseConverter):
    """A database id in a path: digits within the column's range, otherwise the page is not found."""

    regex = r"\d{1,10}"
    part_isolating = True

    def to_python(self, value: str) -> int:
        number = int(value)
        if not 1 <= number <= MAX_ID:
            raise ValidationError()
        return number

    def to_url(self, value) -> str:
        return str(int(value))


def page_number() -> int:
    """The ?page= of a list: 1 when absent; a clear error when it is not a page number."""
    raw = request.args.get("page", "").strip()
    if not raw:
        return 1
    if not (raw.isdigit() and len(raw) <= 6 and 1 <= int(raw) <= MAX_PAGE):
        raise InvalidInput(f"“page” must be a whole number from 1 to {MAX_PAGE:,}.")
    return int(raw)


def get_or_404(model, ident: int):
    """The row with this id, or a 404 page."""
    from flask import abort

    if not isinstance(ident, int) or not 1 <= ident <= MAX_ID:
        abort(404)
    return db.session.get(model, ident) or abort(404)


def filters_from_query(form, formdata=None):
    """Read a filter form from the query string. A value that is not valid is shown beside its field
    and left out of the filter (its data becomes None), so the list still shows; ``form.valid`` says
    whether every value was accepted."""
    form.process(formdata if formdata is not None else request.args)
    form.valid = form.validate() if request.args else True
    for name, _ in form.errors.items():
        field = getattr(form, name, None)
        if field is not None:
            field.data = None
    return form


# Names a link must not pass on: url_for's own arguments, and the routes' path parameters.
RESERVED_ARGS = frozenset({"endpoint", "values", "fmt"})


def query_args(*, exclude: tuple[str, ...] = ("page",)) -> dict[str, str]:
    """The current query string, to carry into paging, export and tab links: only plain lower-case
    names, never one that url_for or the route would read as its own."""
    return {
        key: value
        for key, value in request.args.items()
        if value
        and key not in exclude
        and key not in RESERVED_ARGS
        and key.isascii()
        and key.replace("_", "a").isalpha()
        and key[0].isalpha()
        and key.islower()
    }


# Redirects and downloads -------------------------------------------------------------------------


def safe_next_url(target: str | None, fallback_endpoint: str = "main.dashboard") -> str:
    """Only a path on this site, never another host: no open redirect after sign-in."""
    if target:
        parts = urlsplit(target)
        if (
            not parts.scheme
            and not parts.netloc
            and target.startswith("/")
            and not target.startswith("//")
            and "\\" not in target
            and not any(ord(c) < 32 for c in target)
        ):
            return target
    return url_for(fallback_endpoint)


def download(data, mimetype: str, filename: str):
    """A file the browser saves rather than shows."""
    from flask import Response

    return Response(
        data, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )
