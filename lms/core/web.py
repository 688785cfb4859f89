"""The request boundary, and the helpers views share.

How a request flows (in the manner of Indico's RH.process): the route's access mark lets the person
in; the view parses its input (URL converters and forms with bounds), loads its objects and calls
one service; the boundary then commits once, for every state-changing request, or rolls back if
anything was raised. A DomainError becomes its status and message: beside the form's field or above
the form when the view wraps the service call in ``domain_errors(form)``, otherwise on an error
page with the error's status. No view commits or rolls back by itself.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from flask import Flask, flash, g, has_request_context, request, session, url_for
from sqlalchemy import event
from sqlalchemy.orm import Session
from werkzeug.routing import BaseConverter, ValidationError

from lms.core.errors import DomainError, InvalidInput
from lms.extensions import db

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Ids are 32-bit integer columns on PostgreSQL: anything larger cannot exist, so it is "not found".
MAX_ID = 2**31 - 1
MAX_PAGE = 100_000


class WriteOnSafeRequest(RuntimeError):
    """A GET (or HEAD) changed the database: it should have been a POST."""


class Boundary(Flask):
    """Flask, with every view run inside the one transaction the request commits at its end."""

    def dispatch_request(self):  # type: ignore[override]
        try:
            result = super().dispatch_request()
        except BaseException:
            db.session.rollback()
            raise
        finish_transaction()
        return result


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
    try:
        db.session.commit()
    except BaseException:
        db.session.rollback()
        # Nothing was saved, so no "saved" message may survive into the next page.
        session.pop("_flashes", None)
        raise


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

    app.url_map.converters["id"] = IdConverter
    app.jinja_env.globals["query_args"] = query_args
    app.before_request(refuse_unstorable_input)


def refuse_unstorable_input() -> None:
    """No database stores a NUL character in text (PostgreSQL refuses it): a request carrying one in
    its path, query or form is refused whole, with a message, before any view sees it."""
    values = [request.path]
    for data in (request.args, request.form):
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

