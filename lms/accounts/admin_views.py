"""L&D admins manage people, their roles, agencies, and "other" organisation names."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from lms.accounts.forms import (
    AgencyForm,
    MapOrganisationForm,
    PeopleSearchForm,
    PersonForm,
    agency_choices,
)
from lms.accounts.models import Agency, Role, User, UserRole
from lms.accounts.services import (
    create_agency,
    create_person,
    map_organisation,
    unmapped_organisations,
    update_agency,
    update_person,
)
from lms.core.access import roles_required
from lms.core.clock import now
from lms.core.formatting import plural
from lms.core.web import domain_errors, filters_from_query, get_or_404, page_number, render_form
from lms.extensions import db

bp = Blueprint("people", __name__, url_prefix="/admin")
admin_only = roles_required(Role.LND_ADMIN)
PAGE_SIZE = 50


@bp.route("/people")
@admin_only
def people():
    form = filters_from_query(PeopleSearchForm(formdata=None))
    query = sa.select(User).order_by(User.last_name, User.first_name, User.id)
    if form.q.data:
        pattern = f"%{form.q.data.lower()}%"
        query = query.where(
            sa.or_(
                sa.func.lower(User.first_name + " " + User.last_name).like(pattern),
                User.email.like(pattern),
            )
        )
    if form.role.data:
        query = query.where(
            User.id.in_(sa.select(UserRole.user_id).where(UserRole.role == Role(form.role.data)))
        )
    page = db.paginate(query, page=page_number(), per_page=PAGE_SIZE, error_out=False)
    return render_template("admin/people.html", form=form, page=page)


@bp.route("/people/new", methods=["GET", "POST"])
@admin_only
def new_person():
    form = PersonForm()
    form.agency.choices = agency_choices()
    if request.method == "GET":
        form.roles.data = [Role.TRAINER.value]
    if form.validate_on_submit():
        with domain_errors(form):
            user, _ = create_person(form.person_details(), form.chosen_roles(), by=current_user, now=now())
            flash(
                f"{user.full_name} has been added and emailed a link to choose a password.",
                "success",
            )
            return redirect(url_for("people.people"))
    return render_form("admin/person_form.html", form=form, person=None)


@bp.route("/people/<id:user_id>", methods=["GET", "POST"])
@admin_only
def edit_person(user_id: int):
    person = get_or_404(User, user_id)
    form = PersonForm()
    form.agency.choices = agency_choices(include_inactive_id=person.agency_id)
    if request.method == "GET":
        form.load_person(person)
        form.roles.data = [role.value for role in person.roles]
        form.enabled.data = person.is_enabled
    if form.validate_on_submit():
        with domain_errors(form):
            update_person(
                person,
                form.person_details(),
                form.chosen_roles(),
                form.enabled.data,
                by=current_user,
                now=now(),
            )
            flash(f"{person.full_name}'s details have been saved.", "success")
            return redirect(url_for("people.people"))
    return render_form("admin/person_form.html", form=form, person=person)


@bp.route("/agencies")
@admin_only
def agencies():
    counts = dict(
        db.session.execute(sa.select(User.agency_id, sa.func.count(User.id)).group_by(User.agency_id)).all()
    )
    rows = db.session.scalars(sa.select(Agency).order_by(Agency.name)).all()
    unmapped = unmapped_organisations()
    return render_template("admin/agencies.html", agencies=rows, counts=counts, unmapped=unmapped)


@bp.route("/agencies/new", methods=["GET", "POST"])
@admin_only
def new_agency():
    form = AgencyForm()
    if form.validate_on_submit():
        with domain_errors(form):
            agency = create_agency(form.agency_details(), by=current_user, now=now())
            flash(f"{agency.name} has been added.", "success")
            return redirect(url_for("people.agencies"))
    return render_form("admin/agency_form.html", form=form, agency=None)


@bp.route("/agencies/<id:agency_id>", methods=["GET", "POST"])
@admin_only
def edit_agency(agency_id: int):
    agency = get_or_404(Agency, agency_id)
    form = AgencyForm()
    if request.method == "GET":
        form.load_agency(agency)
    if form.validate_on_submit():
        with domain_errors(form):
            update_agency(agency, form.agency_details(), by=current_user, now=now())
            flash(f"{agency.name} has been saved.", "success")
            return redirect(url_for("people.agencies"))
    return render_form("admin/agency_form.html", form=form, agency=agency)


@bp.route("/agencies/map", methods=["GET", "POST"])
@admin_only
def map_other():
    form = MapOrganisationForm()
    form.agency.choices = [
        SelectChoice("", "Choose the agency"),
        *[c for c in agency_choices() if c.value not in ("", "other")],
    ]
    if request.method == "GET":
        form.organisation.data = request.args.get("organisation", "")
    if not form.organisation.data:
        return redirect(url_for("people.agencies"))
    if form.validate_on_submit():
        agency = db.session.get(Agency, int(form.agency.data)) or abort(404)
        with domain_errors(form):
            moved = map_organisation(form.organisation.data, agency, by=current_user, now=now())
            flash(
                f"“{form.organisation.data}” now maps to {agency.name}; "
                f"{plural(moved, 'person', 'people')} moved.",
                "success",
            )
            return redirect(url_for("people.agencies"))
    return render_form("admin/map_organisation.html", form=form)
