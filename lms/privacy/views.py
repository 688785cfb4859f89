"""L&D's pages for personal data: requests that arrive by letter, erasing a person, and retention."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from lms.accounts.models import Role, User
from lms.accounts.subject_access import subject_access_zip
from lms.core.access import fresh_second_factor, roles_required
from lms.core.clock import now
from lms.core.formatting import format_date, plural
from lms.core.forms import ButtonForm
from lms.core.timezones import london_date
from lms.core.web import (
    domain_errors,
    download,
    filters_from_query,
    get_or_404,
    page_number,
    render_form,
)
from lms.extensions import db
from lms.privacy.erasure import anonymise_person, erasure_plan, former_name
from lms.privacy.forms import DataRequestForm, RequestFilterForm
from lms.privacy.models import DataRequest
from lms.privacy.requests import (
    complete_access_request,
    erase_for_request,
    log_data_request,
    requests_query,
)
from lms.privacy.retention import Policy, retention_plan, sweep_retention

bp = Blueprint("privacy", __name__, url_prefix="/admin")
admin_only = roles_required(Role.LND_ADMIN)
PAGE_SIZE = 50


# Requests ---------------------------------------------------------------------------------------


@bp.route("/data-requests")
@admin_only
def requests():
    form = filters_from_query(RequestFilterForm(formdata=None))
    show_all = form.show.data == "all"
    page = db.paginate(
        requests_query(open_only=not show_all), page=page_number(), per_page=PAGE_SIZE, error_out=False
    )
    return render_template(
        "privacy/requests.html", form=form, page=page, today=london_date(now()), show_all=show_all
    )


@bp.route("/data-requests/new", methods=["GET", "POST"])
@admin_only
def new_request():
    form = DataRequestForm()
    if request.method == "GET":
        form.received_on.data = london_date(now())
        asked = request.args.get("user_id", "")
        person = db.session.get(User, int(asked)) if asked.isdigit() and len(asked) <= 9 else None
        if person is not None and not person.is_erased:
            form.email.data = person.email
    if form.validate_on_submit():
        with domain_errors(form):
            logged = log_data_request(form.details(), by=current_user, now=now())
            flash(f"The request is logged: the answer is due by {format_date(logged.deadline)}.", "success")
            return redirect(url_for("privacy.request_detail", request_id=logged.id))
    return render_form("privacy/request_form.html", form=form)


@bp.route("/data-requests/<id:request_id>")
@admin_only
def request_detail(request_id: int):
    data_request = get_or_404(DataRequest, request_id)
    return render_template(
        "privacy/request.html",
        data_request=data_request,
        today=london_date(now()),
        button=ButtonForm(),
    )


@bp.route("/data-requests/<id:request_id>/data.zip")
@admin_only
def request_zip(request_id: int):
    """Everything held about the person who asked, as they would download it themselves."""
    data_request = get_or_404(DataRequest, request_id)
    person = data_request.person
    data = subject_access_zip(person, partnership=current_app.config["PARTNERSHIP_NAME"], now=now())
    return download(data, "application/zip", f"personal-data-request-{data_request.id}.zip")


@bp.route("/data-requests/<id:request_id>/complete", methods=["POST"])
@admin_only
def complete_request(request_id: int):
    data_request = get_or_404(DataRequest, request_id)
    if ButtonForm().validate_on_submit():
        with domain_errors():
            complete_access_request(data_request, by=current_user, now=now())
            flash("The request is marked as answered.", "success")
    return redirect(url_for("privacy.request_detail", request_id=data_request.id))


@bp.route("/data-requests/<id:request_id>/erase", methods=["GET", "POST"])
@admin_only
@fresh_second_factor
def erase_for(request_id: int):
    data_request = get_or_404(DataRequest, request_id)
    if not data_request.is_erasure:
        return redirect(url_for("privacy.request_detail", request_id=data_request.id))
    form = ButtonForm()
    if form.validate_on_submit():
        with domain_errors():
            erase_for_request(data_request, by=current_user, now=now())
            flash(f"Their data is erased: they are now {former_name(data_request.user_id)}.", "success")
            return redirect(url_for("privacy.request_detail", request_id=data_request.id))
    plan = erasure_plan(data_request.person, now=now(), by=current_user)
    action = url_for("privacy.erase_for", request_id=data_request.id)
    return render_form("privacy/erase.html", plan=plan, form=form, action=action, data_request=data_request)


# Erasing a person from their page ----------------------------------------------------------------


@bp.route("/people/<id:user_id>/erase", methods=["GET", "POST"])
@admin_only
@fresh_second_factor
def erase_person(user_id: int):
    person = get_or_404(User, user_id)
    form = ButtonForm()
    if form.validate_on_submit():
        with domain_errors():
            anonymise_person(person, by=current_user, now=now(), reason="erased by the L&D team")
            flash(f"Their data is erased: they are now {former_name(person.id)}.", "success")
            return redirect(url_for("people.edit_person", user_id=person.id))
    plan = erasure_plan(person, now=now(), by=current_user)
    action = url_for("privacy.erase_person", user_id=person.id)
    return render_form("privacy/erase.html", plan=plan, form=form, action=action, data_request=None)


# Retention --------------------------------------------------------------------------------------


@bp.route("/data-retention")
@admin_only
def retention():
    moment = now()
    return render_template(
        "privacy/retention.html",
        plan=retention_plan(moment),
        policy=Policy.from_config(),
        button=ButtonForm(),
    )


@bp.route("/data-retention/run", methods=["POST"])
@admin_only
def run_retention():
    if ButtonForm().validate_on_submit():
        with domain_errors():
            done = sweep_retention(now(), by=current_user._get_current_object())
            flash(
                f"The sweep dealt with {plural(done, 'record')}." if done else "Nothing was due.", "success"
            )
    return redirect(url_for("privacy.retention"))
