"""L&D loads a partnership's data from a file: upload it, read the check (a dry run), then confirm."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user

from lms.accounts.models import Role
from lms.core.access import roles_required
from lms.core.clock import now
from lms.core.web import domain_errors, render_form
from lms.imports import attendance, organisations, people, programme
from lms.imports.forms import ConfirmForm, UploadForm
from lms.imports.readers import read_lines
from lms.imports.report import ImportKind
from lms.imports.services import run_import
from lms.imports.uploads import keep_upload, received_file, take_upload

bp = Blueprint("imports", __name__, url_prefix="/admin/imports")
admin_only = roles_required(Role.LND_ADMIN)
# The problems a page lists; the rest are counted.
PROBLEMS_SHOWN = 1000
# Rows a file may have on the page: each is checked, then imported, within a request (about a minute
# for 10,000 new people on PostgreSQL). Longer files go through the command, up to MAX_ROWS.
PAGE_MAX_ROWS = 10_000

COLUMNS = {
    ImportKind.ORGANISATIONS: organisations.SIMPLE_COLUMNS,
    ImportKind.PEOPLE: people.COLUMNS,
    ImportKind.PROGRAMME: programme.COLUMNS,
    ImportKind.ATTENDANCE: attendance.COLUMNS,
}


@bp.route("", methods=["GET", "POST"])
@admin_only
def start():
    form = UploadForm()
    if form.validate_on_submit():
        with domain_errors(form):
            data, filename = received_file(form.file.data)
            kind, options = form.chosen_kind(), form.chosen_options()
            report = run_import(
                kind,
                read_lines(data, filename, max_rows=PAGE_MAX_ROWS),
                options,
                by=current_user,
                now=now(),
                dry_run=True,
            )
            confirm = None
            if report.ok:
                token = keep_upload(data, filename, kind, options, user_id=current_user.id, now=now())
                confirm = ConfirmForm(token=token, formdata=None)
            return _report_page(report, filename, confirm)
    return render_form("imports/upload.html", form=form, columns=COLUMNS, max_rows=PAGE_MAX_ROWS)


@bp.route("/confirm", methods=["POST"])
@admin_only
def confirm():
    form = ConfirmForm()
    if not form.validate_on_submit():
        flash("That file is no longer waiting to be imported. Upload it again.", "error")
        return redirect(url_for("imports.start"))
    with domain_errors():
        upload = take_upload(form.token.data, user_id=current_user.id, now=now())
        report = run_import(
            upload.kind,
            read_lines(upload.data, upload.filename, max_rows=PAGE_MAX_ROWS),
            upload.options,
            by=current_user,
            now=now(),
            dry_run=False,
        )
        return _report_page(report, upload.filename, None, status=200 if report.ok else 422)
    return redirect(url_for("imports.start"))


def _report_page(report, filename: str, confirm: ConfirmForm | None, status: int = 200):
    return (
        render_template(
            "imports/report.html",
            report=report,
            filename=filename,
            confirm=confirm,
            problems=report.problems[:PROBLEMS_SHOWN],
            notes=report.notes[:PROBLEMS_SHOWN],
        ),
        status,
    )
