"""Helpers views share: safe redirects, form errors from domain errors, paging."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import flash, request, url_for

from lms.core.errors import DomainError


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
        ):
            return target
    return url_for(fallback_endpoint)


def show_error(form, error: DomainError) -> None:
    """Put a domain error beside its field when the form has it, else at the top of the page."""
    field = getattr(form, error.field, None) if error.field else None
    if field is not None:
        field.errors = [*field.errors, error.message]
    else:
        flash(error.message, "error")


def page_number() -> int:
    try:
        return max(1, int(request.args.get("page", "1")))
    except ValueError:
        return 1


def render_form(template: str, **context):
    """Render a form page; a POST that reaches here failed, so say so with 422."""
    from flask import render_template

    return render_template(template, **context), 422 if request.method == "POST" else 200


def download(data, mimetype: str, filename: str):
    """A file the browser saves rather than shows."""
    from flask import Response

    return Response(
        data, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )
