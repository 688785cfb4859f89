"""L&D admins manage people, their roles, agencies, and "other" organisation names."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from lms.accounts import throttle
from lms.accounts.contact_views import training_contacts_of
from lms.accounts.forms import (
    AgencyForm,
    MapOrganisationForm,
    OrganisationSearchForm,
    PeopleSearchForm,
    PersonForm,
    SecurityEventSearchForm,
)
from lms.accounts.models import Agency, AgencyCategory, Role, User, UserRole
from lms.accounts.security import (
    EVENT_KINDS,
    event_details,
    kind_title,
    people_named_in,
    reset_second_factor,
    second_factor_required,
    security_events_query,
    unlock_sign_in,
)
from lms.accounts.services import (
    create_agency,
    create_organisation_for,
    create_person,
    map_organisation,
    suggest_organisations,
    unmapped_organisations,
    update_agency,
    update_person,
)
from lms.core.access import ask_for_second_factor, fresh_second_factor, roles_required
from lms.core.audit import ACTION_TITLES
from lms.core.clock import now
from lms.core.formatting import plural
from lms.core.forms import ButtonForm
from lms.core.web import domain_errors, filters_from_query, get_or_404, page_number, query_args, render_form
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
@fresh_second_factor  # it grants roles
def new_person():
    form = PersonForm()
    form.with_organisations()
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
    form.with_organisations(person.agency)
    if request.method == "GET":
        form.load_person(person)
        form.roles.data = [role.value for role in person.roles]
        form.enabled.data = person.is_enabled
    if form.validate_on_submit():
        if form.chosen_roles() != person.roles and (asked := ask_for_second_factor()) is not None:
            return asked  # granting or removing roles needs a recent second factor
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
    return render_form("admin/person_form.html", form=form, person=person, **_sign_in_security(person))


def _sign_in_security(person: User) -> dict:
    return {
        "sign_in_status": throttle.account_status(person.email, now=now()),
        "second_factor_required": second_factor_required(person),
        "button": ButtonForm(),
    }


@bp.route("/people/<id:user_id>/unlock", methods=["POST"])
@admin_only
def unlock_person(user_id: int):
    person = get_or_404(User, user_id)
    if ButtonForm().validate_on_submit():
        with domain_errors():
            unlock_sign_in(person, by=current_user, now=now())
            flash(f"Failed sign-ins for {person.full_name} have been cleared.", "success")
    return redirect(url_for("people.edit_person", user_id=person.id))


@bp.route("/people/<id:user_id>/reset-two-factor", methods=["POST"])
@admin_only
@fresh_second_factor
def reset_two_factor(user_id: int):
    person = get_or_404(User, user_id)
    if ButtonForm().validate_on_submit():
        with domain_errors():
            reset_second_factor(person, by=current_user, now=now())
            flash(
                f"{person.full_name}'s authenticator app has been removed and they have been signed out. "
                "They set up a new one when they next sign in.",
                "success",
            )
    return redirect(url_for("people.edit_person", user_id=person.id))


@bp.route("/security-events")
@admin_only
def security_events():
    form = filters_from_query(
        SecurityEventSearchForm(formdata=None).with_kinds({k: title for k, (title, _) in EVENT_KINDS.items()})
    )
    query = security_events_query(
        person=form.q.data or "", kind=form.kind.data or "", start=form.start.data, end=form.end.data
    )
    page = db.paginate(query, page=page_number(), per_page=PAGE_SIZE, error_out=False)
    return render_template(
        "admin/security_events.html",
        form=form,
        page=page,
        people=people_named_in(page.items),
        kind_title=kind_title,
        titles=ACTION_TITLES,
        details=event_details,
        args=query_args(),
    )


@bp.route("/agencies")
@admin_only
def agencies():
    form = filters_from_query(OrganisationSearchForm(formdata=None))
    query = sa.select(Agency).order_by(Agency.name)
    if form.q.data:
        text = form.q.data.lower()
        query = query.where(
            sa.or_(
                *(
                    sa.func.lower(column).contains(text, autoescape=True)
                    for column in (Agency.name, Agency.short_name, Agency.official_code, Agency.postcode)
                )
            )
        )
    if form.category.data:
        query = query.where(Agency.category == AgencyCategory(form.category.data))
    page = db.paginate(query, page=page_number(), per_page=PAGE_SIZE, error_out=False)
    ids = [a.id for a in page.items]
    counts = dict(
        db.session.execute(
            sa.select(User.agency_id, sa.func.count(User.id))
            .where(User.agency_id.in_(ids))
            .group_by(User.agency_id)
        ).all()
    )
    unmapped = [(org, suggest_organisations(org.name, limit=1)) for org in unmapped_organisations()[:50]]
    return render_template(
        "admin/agencies.html", form=form, page=page, counts=counts, unmapped=unmapped, args=query_args()
    )


@bp.route("/agencies/new", methods=["GET", "POST"])
@admin_only
def new_agency():
    form = AgencyForm().with_parents(None)
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
    form = AgencyForm().with_parents(agency)
    if request.method == "GET":
        form.load_agency(agency)
    if form.validate_on_submit():
        with domain_errors(form):
            update_agency(agency, form.agency_details(), by=current_user, now=now())
            flash(f"{agency.name} has been saved.", "success")
            return redirect(url_for("people.agencies"))
    return render_form("admin/agency_form.html", form=form, agency=agency, **training_contacts_of(agency))


@bp.route("/agencies/map", methods=["GET", "POST"])
@admin_only
def map_other():
    form = MapOrganisationForm()
    if request.method == "GET":
        form.organisation.data = request.args.get("organisation", "")[:200]
    if not form.organisation.data:
        return redirect(url_for("people.agencies"))
    form.offer(suggest_organisations(form.organisation.data))
    if form.validate_on_submit():
        typed = form.organisation.data
        with domain_errors(form):
            if form.target.data == form.NEW:
                agency, moved = create_organisation_for(
                    typed, AgencyCategory(form.category.data), by=current_user, now=now()
                )
            else:
                agency = form.chosen_agency
                moved = map_organisation(typed, agency, by=current_user, now=now())
            people = plural(moved, "person", "people")
            flash(f"“{typed}” now maps to {agency.name}; {people} moved.", "success")
            return redirect(url_for("people.agencies"))
    return render_form("admin/map_organisation.html", form=form)
