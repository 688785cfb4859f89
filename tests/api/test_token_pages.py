"""The pages that make and revoke tokens: L&D's Integrations, and a person's own API tokens."""

from __future__ import annotations

import re

import sqlalchemy as sa

from lms.accounts.models import Role
from lms.extensions import db
from lms.integrations.models import Integration
from lms.integrations.tokens import ApiToken, hash_secret
from tests.api.conftest import call
from tests.conftest import csrf_token, sign_in
from tests.factories import create_agency, create_user

SECRET = re.compile(r'id="new-token" type="text" readonly value="(lms_[^"]+)"')


def make_token_on(client, path: str, **fields) -> str:
    data = {"csrf_token": csrf_token(client, path), "name": "Website", **fields}
    response = client.post(path, data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    return SECRET.search(page).group(1)


def test_a_person_makes_a_token_sees_it_once_and_it_is_kept_only_as_a_hash(client, app_context):
    person = create_user()
    sign_in(client, person)
    secret = make_token_on(client, "/account/api-tokens", scopes="me:read")
    token = db.session.scalar(sa.select(ApiToken).where(ApiToken.user_id == person.id))
    assert token.token_hash == hash_secret(secret) and secret not in (token.prefix, token.token_hash)
    assert secret.startswith(token.prefix)
    again = client.get("/account/api-tokens").get_data(as_text=True)
    assert secret not in again and token.prefix in again
    assert call(client, "/api/v1/me", secret).json["email"] == person.email


def test_a_person_cannot_give_their_token_a_scope_their_roles_do_not_allow(client, app_context):
    sign_in(client, create_user())
    data = {
        "csrf_token": csrf_token(client, "/account/api-tokens"),
        "name": "Ledger",
        "scopes": "finance:read",
    }
    response = client.post("/account/api-tokens", data=data)
    assert response.status_code == 422
    assert db.session.scalar(sa.select(sa.func.count(ApiToken.id))) == 0


def test_a_person_revokes_their_token_and_it_stops_working(client, app_context):
    person = create_user()
    sign_in(client, person)
    secret = make_token_on(client, "/account/api-tokens", scopes="me:read")
    token = db.session.scalar(sa.select(ApiToken).where(ApiToken.user_id == person.id))
    path = f"/account/api-tokens/{token.id}/revoke"
    client.post(path, data={"csrf_token": csrf_token(client, "/account/api-tokens")})
    assert call(client, "/api/v1/me", secret).status_code == 401


def test_nobody_revokes_another_persons_token(client, app_context):
    owner = create_user()
    sign_in(client, owner)
    secret = make_token_on(client, "/account/api-tokens", scopes="me:read")
    token = db.session.scalar(sa.select(ApiToken).where(ApiToken.user_id == owner.id))
    other = client.application.test_client()
    sign_in(other, create_user())
    response = other.post(
        f"/account/api-tokens/{token.id}/revoke",
        data={"csrf_token": csrf_token(other, "/account/api-tokens")},
    )
    assert response.status_code == 404
    assert call(client, "/api/v1/me", secret).status_code == 200


def test_l_and_d_register_an_integration_make_it_a_token_and_revoke_it(client, app_context):
    sign_in(client, create_user(roles=(Role.LND_ADMIN,)))
    police = create_agency("Northshire Police")
    data = {
        "csrf_token": csrf_token(client, "/admin/integrations"),
        "name": "Police HR",
        "organisation": police.label,
    }
    response = client.post("/admin/integrations", data=data)
    assert response.status_code == 302
    integration = db.session.scalar(sa.select(Integration).where(Integration.name == "Police HR"))
    assert integration.agency_id == police.id
    page = f"/admin/integrations/{integration.id}"
    secret = make_token_on(client, page, scopes=["staff:read", "finance:read"])
    assert call(client, "/api/v1/organisations", secret).json == [
        {"id": police.id, "name": "Northshire Police", "parent_id": None}
    ]
    client.post(f"{page}/revoke", data={"csrf_token": csrf_token(client, page)})
    assert call(client, "/api/v1/organisations", secret).status_code == 401
    assert "Integrations" in client.get("/admin/integrations").get_data(as_text=True)


def test_only_l_and_d_open_the_integrations_pages(client, app_context):
    sign_in(client, create_user(roles=(Role.FINANCE, Role.TRAINING_CONTACT)))
    assert client.get("/admin/integrations").status_code == 403


def test_the_secret_is_kept_nowhere_in_the_database_not_even_in_the_answer_kept_for_a_resent_form(
    client, app_context
):
    from lms.core.audit import AuditEntry
    from lms.core.idempotency import FIELD, RequestKey

    person = create_user()
    sign_in(client, person)
    page = client.get("/account/api-tokens").get_data(as_text=True)
    key = re.search(rf'name="{FIELD}" value="([^"]+)"', page).group(1)
    data = {
        "csrf_token": csrf_token(client, "/account/api-tokens"),
        FIELD: key,
        "name": "Sheet",
        "scopes": "me:read",
    }
    response = client.post("/account/api-tokens", data=data)
    secret = SECRET.search(client.get(response.headers["Location"]).get_data(as_text=True)).group(1)
    kept = [(row.location, row.page, row.flashes) for row in db.session.scalars(sa.select(RequestKey))] + [
        (entry.name, entry.data) for entry in db.session.scalars(sa.select(AuditEntry))
    ]
    assert kept and secret not in repr(kept) and secret[12:] not in repr(kept)
    resent = client.post("/account/api-tokens", data=data)
    assert secret not in client.get(resent.headers["Location"]).get_data(as_text=True)
