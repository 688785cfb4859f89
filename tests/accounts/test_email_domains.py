"""Email domains: L&D map a domain onto an organisation, registration and single sign-on place people
there from their address, the "not in the list" queue shrinks, and a domain can require single
sign-on, refusing passwords for its addresses."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from lms.accounts import domains
from lms.accounts.domains import (
    EmailDomain,
    EmailDomainError,
    add_email_domain,
    agency_for_email,
    normalise_domain,
    remove_email_domain,
)
from lms.accounts.models import Role, User
from lms.accounts.services import unmapped_organisations
from lms.accounts.sso import Identity, Provider, SignInProblem, arrival_for, identity_from_claims
from lms.core.audit import AuditEntry
from lms.core.errors import PermissionDenied
from lms.extensions import db
from tests.accounts.test_organisations import registration
from tests.conftest import csrf_token
from tests.factories import NOW, PASSWORD, create_agency, create_user

PROVIDER = {
    "issuer": "https://login.example.net/tenant/v2.0",
    "client_id": "lms",
    "client_secret": "secret",
    "display_name": "Council account",
    "allowed_domains": (),
}


@pytest.fixture
def with_a_provider(app, monkeypatch):
    """A provider set up: requires-SSO only means something while one is."""
    monkeypatch.setitem(app.config, "OIDC_PROVIDERS", {"council": PROVIDER})


def admin():
    return create_user(roles=(Role.LND_ADMIN,))


def people_named(email: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.email == email))


# Domains, as typed and as matched ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("westmidlands.police.uk", "westmidlands.police.uk"),
        ("  @WestMidlands.Police.UK ", "westmidlands.police.uk"),
        ("https://school.sch.uk/", "school.sch.uk"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
    ],
)
def test_a_domain_is_stored_lower_case_without_at_or_scheme(typed, stored):
    assert normalise_domain(typed) == stored


@pytest.mark.parametrize(
    "typed",
    [
        "uk",
        "",
        "not a domain",
        "-bad.example.org",
        "bad-.example.org",
        "a..b.org",
        "a@b.org",
        "a" * 64 + ".org",
    ],
)
def test_what_is_not_a_domain_is_refused(typed):
    with pytest.raises(EmailDomainError):
        normalise_domain(typed)


def test_an_address_belongs_to_its_own_domain_then_the_nearest_mapped_parent(app_context):
    police = create_agency("West Midlands Police")
    ops = create_agency("Operations Unit")
    lnd = admin()
    add_email_domain("westmidlands.police.uk", police, requires_sso=False, by=lnd, now=NOW)
    add_email_domain("ops.westmidlands.police.uk", ops, requires_sso=False, by=lnd, now=NOW)
    assert agency_for_email("sam@westmidlands.police.uk") == police
    assert agency_for_email("Sam@HQ.WestMidlands.Police.UK") == police
    assert agency_for_email("sam@ops.westmidlands.police.uk") == ops
    assert agency_for_email("sam@team.ops.westmidlands.police.uk") == ops
    assert agency_for_email("sam@police.uk") is None
    assert agency_for_email("sam@notwestmidlands.police.uk") is None
    assert agency_for_email("no address") is None


def test_an_organisation_no_longer_in_use_is_not_offered_from_its_domain(app_context):
    school = create_agency("Closed School")
    add_email_domain("closed.sch.uk", school, requires_sso=False, by=admin(), now=NOW)
    school.is_active = False
    assert agency_for_email("head@closed.sch.uk") is None


def test_a_domain_is_mapped_once(app_context):
    lnd = admin()
    add_email_domain("school.sch.uk", create_agency("School"), requires_sso=False, by=lnd, now=NOW)
    with pytest.raises(EmailDomainError, match="already mapped"):
        add_email_domain("School.sch.uk", create_agency("Other"), requires_sso=False, by=lnd, now=NOW)


def test_only_lnd_map_domains(app_context):
    with pytest.raises(PermissionDenied):
        add_email_domain("school.sch.uk", create_agency(), requires_sso=False, by=create_user(), now=NOW)


def test_requiring_sso_needs_a_provider_set_up(app_context):
    with pytest.raises(EmailDomainError, match="No single sign-on provider"):
        add_email_domain("school.sch.uk", create_agency(), requires_sso=True, by=admin(), now=NOW)


# The "not in the list" queue shrinks ------------------------------------------------------------


def test_mapping_a_domain_moves_its_people_out_of_the_not_listed_queue(app_context):
    create_user("a@school.sch.uk", other_organisation="St Marys")
    create_user("b@staff.school.sch.uk", other_organisation="Saint Mary's")
    create_user("c@elsewhere.org", other_organisation="St Marys")
    school = create_agency("St Mary's Primary School")
    assert sum(o.people for o in unmapped_organisations()) == 3

    lnd = admin()
    mapping, moved = add_email_domain("school.sch.uk", school, requires_sso=False, by=lnd, now=NOW)

    assert moved == 2
    assert people_named("a@school.sch.uk").agency == school
    assert people_named("b@staff.school.sch.uk").other_organisation is None
    assert [(o.name, o.people) for o in unmapped_organisations()] == [("St Marys", 1)]
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.name == "lms.agency.email_domain_added"))
    assert entry.actor_id == lnd.id and entry.subject_id == school.id
    assert entry.data == {"domain": "school.sch.uk", "requires_sso": False, "people": 2}

    remove_email_domain(mapping, by=lnd, now=NOW)
    assert db.session.scalar(sa.select(sa.func.count(EmailDomain.id))) == 0
    assert people_named("a@school.sch.uk").agency == school  # people stay where they are
    assert db.session.scalar(
        sa.select(AuditEntry.data).where(AuditEntry.name == "lms.agency.email_domain_removed")
    ) == {"domain": "school.sch.uk", "requires_sso": False}


def test_registering_with_a_mapped_address_lands_in_its_organisation(client):
    police = create_agency("West Midlands Police")
    add_email_domain("westmidlands.police.uk", police, requires_sso=False, by=admin(), now=NOW)
    data = registration(email="pc.jones@westmidlands.police.uk", organisation="")
    response = client.post("/register", data={**data, "csrf_token": csrf_token(client, "/register")})
    assert response.status_code == 302
    assert people_named("pc.jones@westmidlands.police.uk").agency == police


def test_a_not_listed_name_with_a_mapped_address_is_not_queued(client):
    police = create_agency("West Midlands Police")
    add_email_domain("westmidlands.police.uk", police, requires_sso=False, by=admin(), now=NOW)
    data = registration(email="pc.jones@westmidlands.police.uk", organisation="WM Police", not_listed="y")
    response = client.post("/register", data={**data, "csrf_token": csrf_token(client, "/register")})
    assert response.status_code == 302
    person = people_named("pc.jones@westmidlands.police.uk")
    assert person.agency == police and person.other_organisation is None
    assert unmapped_organisations() == []


def test_an_unmapped_address_still_has_to_name_its_organisation(client):
    data = registration(email="someone@unknown.example.org", organisation="")
    response = client.post("/register", data={**data, "csrf_token": csrf_token(client, "/register")})
    assert response.status_code == 422
    assert "Enter the organisation you work for." in response.get_data(as_text=True)


# Domains that require single sign-on --------------------------------------------------------------


def test_password_sign_in_is_refused_for_a_domain_that_requires_sso(client, with_a_provider):
    council = create_agency("City Council")
    add_email_domain("council.gov.uk", council, requires_sso=True, by=admin(), now=NOW)
    person = create_user("officer@council.gov.uk", agency=council)
    token = csrf_token(client, "/sign-in")
    response = client.post(
        "/sign-in", data={"email": person.email, "password": PASSWORD, "next": "", "csrf_token": token}
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "sign in with their organisation" in page and "Sign in with Council account" in page
    # An address nobody has gets the same answer: it says nothing about who has an account.
    response = client.post(
        "/sign-in", data={"email": "nobody@council.gov.uk", "password": "x", "next": "", "csrf_token": token}
    )
    assert "sign in with their organisation" in response.get_data(as_text=True)


def test_password_registration_is_refused_for_a_domain_that_requires_sso(client, with_a_provider):
    council = create_agency("City Council")
    add_email_domain("council.gov.uk", council, requires_sso=True, by=admin(), now=NOW)
    data = registration(email="new.starter@council.gov.uk", organisation="")
    response = client.post("/register", data={**data, "csrf_token": csrf_token(client, "/register")})
    assert response.status_code == 422
    assert "sign in with their organisation" in response.get_data(as_text=True)
    assert people_named("new.starter@council.gov.uk") is None


def test_other_domains_keep_their_passwords(app, with_a_provider):
    council = create_agency("City Council")
    add_email_domain("council.gov.uk", council, requires_sso=True, by=admin(), now=NOW)
    add_email_domain("school.sch.uk", create_agency("School"), requires_sso=False, by=admin(), now=NOW)
    for email in ("teacher@school.sch.uk", "someone@example.org"):
        person = create_user(email)
        client = app.test_client()
        token = csrf_token(client, "/sign-in")
        response = client.post(
            "/sign-in", data={"email": person.email, "password": PASSWORD, "next": "", "csrf_token": token}
        )
        assert response.status_code == 302


def test_without_a_provider_a_domain_marked_sso_does_not_lock_people_out(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "OIDC_PROVIDERS", {"council": PROVIDER})
    council = create_agency("City Council")
    add_email_domain("council.gov.uk", council, requires_sso=True, by=admin(), now=NOW)
    monkeypatch.setitem(app.config, "OIDC_PROVIDERS", {})
    assert domains.password_refused_message("officer@council.gov.uk") is None


def test_lnd_add_list_and_remove_domains_on_their_page(client, with_a_provider):
    from tests.accounts.signing_in import sign_in

    police = create_agency("West Midlands Police")
    sign_in(client, admin())
    page = "/admin/agencies/email-domains"
    form = {"domain": "West.Police.uk", "organisation": "West Midlands Police", "requires_sso": "y"}
    response = client.post(page, data={**form, "csrf_token": csrf_token(client, page)})
    assert response.status_code == 302
    listed = client.get(page).get_data(as_text=True)
    assert "west.police.uk" in listed and "Organisation&#39;s account only" in listed
    mapping = db.session.scalar(sa.select(EmailDomain))
    assert mapping.agency_id == police.id and mapping.requires_sso

    response = client.post(
        page, data={**form, "domain": "not a domain", "csrf_token": csrf_token(client, page)}
    )
    assert response.status_code == 422 and "Enter a domain like" in response.get_data(as_text=True)

    response = client.post(f"{page}/{mapping.id}/remove", data={"csrf_token": csrf_token(client, page)})
    assert response.status_code == 302
    assert db.session.scalar(sa.select(sa.func.count(EmailDomain.id))) == 0


def test_practitioners_cannot_open_the_domains_page(client):
    from tests.accounts.signing_in import sign_in

    sign_in(client, create_user())
    assert client.get("/admin/agencies/email-domains").status_code == 403


# What a provider says about an address ------------------------------------------------------------


def test_an_address_is_verified_when_the_provider_says_so_or_owns_the_domain():
    google = Provider(name="google", **{**PROVIDER, "allowed_domains": ()})
    entra = Provider(name="entra", **{**PROVIDER, "allowed_domains": ("council.gov.uk",)})
    claims = {"sub": "1", "email": "Officer@Council.gov.uk"}
    assert identity_from_claims(google, {**claims, "email_verified": True}, now=NOW).email_verified
    assert not identity_from_claims(google, claims, now=NOW).email_verified
    # Entra sends no email_verified: its allowed domains are the partnership's word for it.
    found = identity_from_claims(entra, {"sub": "1", "preferred_username": "officer@council.gov.uk"}, now=NOW)
    assert found.email == "officer@council.gov.uk" and found.email_verified
    with pytest.raises(SignInProblem, match="cannot sign in here"):
        identity_from_claims(entra, {"sub": "2", "email": "guest@gmail.com"}, now=NOW)
    with pytest.raises(SignInProblem, match="did not tell us your email"):
        identity_from_claims(google, {"sub": "3"}, now=NOW)


def test_an_unverified_address_is_never_linked_to_an_existing_account(app_context):
    create_user("officer@council.gov.uk")
    identity = Identity(provider="google", subject="1", email="officer@council.gov.uk", email_verified=False)
    with pytest.raises(SignInProblem, match="did not confirm"):
        arrival_for(identity)
    identity.email_verified = True
    assert arrival_for(identity).links_account


def test_the_provider_mfa_counts_only_for_second_factor_methods():
    assert Identity(
        provider="p", subject="1", email="a@b.org", email_verified=True, methods=["pwd", "mfa"]
    ).provider_mfa
    assert not Identity(
        provider="p", subject="1", email="a@b.org", email_verified=True, methods=["pwd"]
    ).provider_mfa


def test_a_password_reset_does_not_sign_in_around_a_domain_that_requires_sso(client, with_a_provider):
    from lms.accounts.services import make_reset_token

    council = create_agency("City Council")
    add_email_domain("council.gov.uk", council, requires_sso=True, by=admin(), now=NOW)
    person = create_user("officer@council.gov.uk", agency=council)
    page = f"/password/reset/{make_reset_token(person)}"
    form = {"password": "a brand new passphrase", "confirm_password": "a brand new passphrase"}
    response = client.post(page, data={**form, "csrf_token": csrf_token(client, page)})
    assert response.status_code == 422
    assert "sign in with their organisation" in response.get_data(as_text=True)
