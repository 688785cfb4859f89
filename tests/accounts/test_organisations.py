"""Organisations: each school and practice its own record, found as people type, settled from the
"not in the list" queue with fuzzy suggestions, and billed to itself or to the parent that pays."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from lms.accounts.models import AgencyCategory, Role, User
from lms.accounts.services import (
    AccountError,
    AgencyDetails,
    create_agency,
    create_organisation_for,
    map_organisation,
    organisation_named,
    suggest_organisations,
    update_agency,
)
from lms.bookings.models import Booking
from lms.extensions import db
from lms.finance.models import Charge
from lms.finance.services import preview_invoice_run, run_invoicing
from tests.accounts.signing_in import sign_in
from tests.conftest import csrf_token
from tests.factories import NOW, PASSWORD, create_user
from tests.factories import create_agency as make_agency
from tests.finance.test_finance import PERIOD, no_shows, session_that_ran

SCHOOL = AgencyCategory.EDUCATION_SCHOOL


def school(name, *, code=None, postcode=None, parent=None):
    return make_agency(name, category=SCHOOL, official_code=code, postcode=postcode, parent=parent)


def admin():
    return create_user(roles=(Role.LND_ADMIN,))


def test_a_typed_organisation_is_found_by_name_list_label_short_name_or_code(app_context):
    st_marys = school("St Mary's C of E Primary School", code="103991", postcode="B12 9QT")
    make_agency("West Midlands Police", short_name="WMP")
    assert organisation_named("st mary's c of e primary school") == st_marys
    assert organisation_named("St Mary's C of E Primary School, B12 9QT") == st_marys
    assert organisation_named("103991") == st_marys
    assert organisation_named("wmp").name == "West Midlands Police"
    assert organisation_named("St Marys") is None


def test_fuzzy_suggestions_put_the_likely_school_first(app_context):
    school("St Mary's C of E Primary School")
    school("St Michael's Catholic Primary School")
    school("Hillcrest Secondary School")
    found = [a.name for a in suggest_organisations("St Marys Primary")]
    assert found[0] == "St Mary's C of E Primary School"
    assert "Hillcrest Secondary School" not in found[:2]


def test_registration_finds_the_school_chosen_from_the_list(client):
    st_marys = school("St Mary's C of E Primary School", postcode="B12 9QT")
    data = registration(organisation="St Mary's C of E Primary School, B12 9QT")
    response = client.post("/register", data={**data, "csrf_token": csrf_token(client, "/register")})
    assert response.status_code == 302
    person = db.session.scalar(sa.select(User).where(User.email == data["email"]))
    assert person.agency_id == st_marys.id and person.other_organisation is None


def test_a_name_not_in_the_list_is_refused_with_suggestions_unless_not_listed_is_ticked(client):
    school("St Mary's C of E Primary School")
    data = registration(organisation="St Marys Primary")
    response = client.post("/register", data={**data, "csrf_token": csrf_token(client, "/register")})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "is not in the list" in page and "St Mary&#39;s C of E Primary School" in page
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == 0

    data["not_listed"] = "y"
    response = client.post("/register", data={**data, "csrf_token": csrf_token(client, "/register")})
    assert response.status_code == 302
    person = db.session.scalar(sa.select(User).where(User.email == data["email"]))
    assert person.agency_id is None and person.other_organisation == "St Marys Primary"


def registration(**overrides):
    data = {
        "first_name": "Priya",
        "last_name": "Shah",
        "email": "priya.shah@example.org",
        "job_role": "Teaching assistant",
        "organisation": "",
        "line_manager_name": "Jo Bloggs",
        "line_manager_email": "jo.bloggs@example.org",
        "password": PASSWORD,
        "confirm_password": PASSWORD,
    }
    data.update(overrides)
    return data


def test_settling_a_name_moves_its_people_bookings_and_unbilled_charges(app_context):
    session = session_that_ran(days_ago=10)
    [booking] = no_shows(session, [None])  # typed "Little Stars Nursery"
    charge = db.session.scalar(sa.select(Charge).where(Charge.booking_id == booking.id))
    assert charge.agency_id is None and preview_invoice_run(*PERIOD).waiting_for_an_agency == 1
    nursery, moved = create_organisation_for(
        "Little Stars Nursery", AgencyCategory.EDUCATION_EARLY_YEARS, by=admin(), now=NOW
    )
    assert moved == 1
    db.session.refresh(booking)
    db.session.refresh(charge)
    assert booking.agency_id == nursery.id and charge.agency_id == nursery.id
    [bill] = preview_invoice_run(*PERIOD).bills
    assert bill.agency == nursery and preview_invoice_run(*PERIOD).waiting_for_an_agency == 0


def test_the_settle_page_offers_the_closest_names_and_can_add_a_new_organisation(client):
    school("St Mary's C of E Primary School")
    typed = create_user(other_organisation="St Marys Primary")
    sign_in(client, admin())
    page = client.get("/admin/agencies/map?organisation=St+Marys+Primary").get_data(as_text=True)
    assert page.index("St Mary&#39;s C of E Primary School") < page.index("Another organisation")
    token = csrf_token(client, "/admin/agencies/map?organisation=St+Marys+Primary")
    refused = client.post(
        "/admin/agencies/map",
        data={"organisation": "St Marys Primary", "target": "new", "csrf_token": token},
    )
    assert refused.status_code == 422 and "Choose the new organisation" in refused.get_data(as_text=True)
    response = client.post(
        "/admin/agencies/map",
        data={
            "organisation": "St Marys Primary",
            "target": "new",
            "category": "education_school",
            "csrf_token": token,
        },
    )
    assert response.status_code == 302
    db.session.refresh(typed)
    assert typed.agency.name == "St Marys Primary" and typed.agency.category is SCHOOL


def test_each_school_gets_its_own_invoice_and_a_trust_pays_for_its_schools(app_context):
    trust = make_agency("Oakfield Academy Trust", category=SCHOOL, billing_address="1 Trust Way")
    hillcrest = school("Hillcrest Academy", parent=trust)
    meadow = school("Meadow Academy", parent=trust)
    st_marys = school("St Mary's C of E Primary School")
    st_johns = school("St John's Primary School")
    no_shows(session_that_ran(days_ago=10), [hillcrest, meadow, st_marys, st_johns, st_johns])
    invoices = run_invoicing(*PERIOD, by=create_user(roles=(Role.FINANCE,)), now=NOW)
    assert [(i.bill_to_name, len(i.lines), i.total_pence) for i in invoices] == [
        ("Oakfield Academy Trust", 2, 5000),
        ("St John's Primary School", 2, 5000),
        ("St Mary's C of E Primary School", 1, 2500),
    ]
    trust_lines = sorted(line.delegate_label for line in invoices[0].lines)
    assert [label.split(" (")[1] for label in trust_lines] == ["Hillcrest Academy)", "Meadow Academy)"]
    assert all(line.organisation_name is None for line in invoices[1].lines)


def test_a_parent_that_pays_is_one_level_and_never_the_organisation_itself(app_context):
    trust = make_agency("Oakfield Academy Trust", category=SCHOOL)
    academy = school("Hillcrest Academy", parent=trust)
    other = school("Meadow Academy")
    details = AgencyDetails(name="Meadow Academy", short_name=None, category=SCHOOL, parent_id=academy.id)
    with pytest.raises(AccountError, match="itself paid for"):
        update_agency(other, details, by=admin(), now=NOW)
    details.parent_id = other.id
    with pytest.raises(AccountError, match="own parent"):
        update_agency(other, details, by=admin(), now=NOW)
    trust_details = AgencyDetails(name=trust.name, short_name=None, category=SCHOOL, parent_id=other.id)
    with pytest.raises(AccountError, match="cannot have a parent"):
        update_agency(trust, trust_details, by=admin(), now=NOW)


def test_official_codes_are_unique_and_postcodes_written_as_posted(app_context):
    create_agency(
        AgencyDetails(
            name="Hillcrest Academy",
            short_name=None,
            category=SCHOOL,
            official_code="140001",
            postcode="b129qt",
        ),
        by=admin(),
        now=NOW,
    )
    hillcrest = organisation_named("140001")
    assert hillcrest.postcode == "B12 9QT"
    with pytest.raises(AccountError, match="already has the code"):
        create_agency(
            AgencyDetails(name="Other School", short_name=None, category=SCHOOL, official_code=" 140001 "),
            by=admin(),
            now=NOW,
        )


def test_a_mapping_made_before_charges_moves_later_bookings_too(app_context):
    person = create_user(other_organisation="Acorns Hospice")
    hospice = make_agency("Acorns Children's Hospice", category=AgencyCategory.VOLUNTARY)
    session = session_that_ran(days_ago=10)
    from lms.bookings.services import book_place

    booking = book_place(session, person, by=admin(), now=session.starts_at - timedelta(days=20))
    assert booking.agency_id is None
    map_organisation("ACORNS hospice", hospice, by=admin(), now=NOW)
    assert db.session.get(Booking, booking.id).agency_id == hospice.id
