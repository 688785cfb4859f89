"""An organisation's staff and their training records (scope staff:read).

Which organisations a token covers is never worked out here: a training contact's own token covers
what lms/accounts/contacts.py says they follow (nothing once they lose the role), and an agency's
integration covers what a contact named for that agency would follow. The records themselves come
from lms/accounts/contact_reports.py, as the contact's pages and downloads do.
"""

from __future__ import annotations

import sqlalchemy as sa

from lms.accounts.contact_reports import record_row, staff_summary, training_records_query
from lms.accounts.contacts import followed_ids, organisations_covered
from lms.accounts.models import Agency
from lms.api import schemas
from lms.api.auth import current_token, requires
from lms.api.blueprint import api_blueprint, documented
from lms.api.paging import envelope, paged
from lms.core.errors import NotFound
from lms.extensions import db
from lms.integrations.tokens import Scope

blp = api_blueprint("api_staff", "Organisations' staff and their training records (scope staff:read)")
NOT_COVERED = "There is no such organisation among those the token covers."


def covered_ids() -> set[int]:
    """The organisations the token's holder may see the staff of."""
    token = current_token()
    if token.user is not None:
        return followed_ids(token.user)
    agency_id = token.integration.agency_id if token.integration is not None else None
    return organisations_covered({agency_id}) if agency_id is not None else set()


def _scope(args: dict) -> set[int]:
    ids = covered_ids()
    chosen = args.get("organisation")
    if chosen is None:
        return ids
    if chosen not in ids:
        raise NotFound(NOT_COVERED, field="organisation")
    return {chosen}


_documented = documented(blp, 401, 403, 404, 429)


@blp.route("/organisations")
@_documented
@requires(Scope.STAFF_READ)
@blp.response(200, schemas.Organisation(many=True))
def organisations():
    """The organisations the token covers, by name."""
    ids = covered_ids() or {-1}
    found = db.session.scalars(
        sa.select(Agency).where(Agency.id.in_(ids)).order_by(sa.func.lower(Agency.name))
    )
    return [{"id": agency.id, "name": agency.name, "parent_id": agency.parent_id} for agency in found]


@blp.route("/staff")
@_documented
@requires(Scope.STAFF_READ)
@blp.arguments(schemas.StaffQuery, location="query", as_kwargs=False)
@blp.response(200, schemas.page_of(schemas.StaffMember, "StaffPage"))
def staff(args):
    """The organisations' people, by surname, with the sessions they attended and missed."""
    people, members = staff_summary(_scope(args), page=args["page"], per_page=args["per_page"])
    items = [
        {
            "id": member.person.id,
            "first_name": member.person.first_name,
            "last_name": member.person.last_name,
            "email": member.person.email,
            "job_role": member.person.job_role,
            "organisation_id": member.person.agency_id,
            "sessions_attended": member.sessions_attended,
            "last_attended": member.last_attended,
            "no_shows": member.no_shows,
        }
        for member in members
    ]
    return envelope(items, page=args["page"], per_page=args["per_page"], total=people.total or 0)


RECORD_FIELDS = (
    "last_name",
    "first_name",
    "email",
    "job_role",
    "organisation",
    "course",
    "level",
    "session_date",
    "cpd_hours",
    "attendance",
)


@blp.route("/training-records")
@_documented
@requires(Scope.STAFF_READ)
@blp.arguments(schemas.StaffRecordQuery, location="query", as_kwargs=False)
@blp.response(200, schemas.page_of(schemas.StaffRecord, "StaffRecordPage"))
def records(args):
    """Each session the staff attended, by person then date: what the training-records download holds."""
    query = training_records_query(_scope(args), since=args.get("from_"), until=args.get("to"))
    return paged(
        query, args, lambda bookings: [dict(zip(RECORD_FIELDS, record_row(b), strict=True)) for b in bookings]
    )
