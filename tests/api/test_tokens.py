"""Tokens: who they act for, what they may read, when they stop working, and how often they may call."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from lms.accounts.models import Role, UserRole
from lms.core import clock
from lms.extensions import db
from lms.integrations.models import Integration
from lms.integrations.services import revoke_integration, revoke_token
from lms.integrations.tokens import ApiToken, Scope
from tests.api.conftest import call, integration_token, personal_token
from tests.conftest import sign_in
from tests.factories import NOW, create_user


def token_row(secret: str) -> ApiToken:
    return db.session.scalar(sa.select(ApiToken).where(ApiToken.prefix == secret[:12]))


def test_a_call_without_a_token_to_a_token_route_is_refused_as_a_problem(client, app_context):
    response = call(client, "/api/v1/me")
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json["status"] == 401 and response.json["title"] == "Unauthorized"


def test_a_signed_in_browser_gets_nothing_from_token_routes(client, app_context):
    person = create_user(roles=(Role.FINANCE,))
    sign_in(client, person)
    for path in ("/api/v1/me", "/api/v1/invoices", "/api/v1/staff"):
        assert call(client, path).status_code == 401, path


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer lms_not-a-real-token", "Bearer "])
def test_an_unknown_or_malformed_token_is_refused(client, app_context, header):
    assert client.get("/api/v1/me", headers={"Authorization": header}).status_code == 401


def test_a_token_only_reads_its_scopes(client, app_context):
    secret = personal_token(create_user(roles=(Role.FINANCE,)), Scope.FINANCE_READ)
    assert call(client, "/api/v1/invoices", secret).status_code == 200
    refused = call(client, "/api/v1/me", secret)
    assert refused.status_code == 403 and "me:read" in refused.json["detail"]


def test_a_revoked_token_stops_working(client, app_context):
    person = create_user()
    secret = personal_token(person, Scope.ME_READ)
    revoke_token(token_row(secret), by=person, now=NOW)
    assert call(client, "/api/v1/me", secret).status_code == 401


def test_an_expired_token_stops_working(client, app_context):
    secret = personal_token(create_user(), Scope.ME_READ, expires_at=NOW + timedelta(days=1))
    assert call(client, "/api/v1/me", secret).status_code == 200
    clock.freeze(NOW + timedelta(days=1))
    assert call(client, "/api/v1/me", secret).status_code == 401


def test_a_disabled_persons_token_stops_working(client, app_context):
    person = create_user()
    secret = personal_token(person, Scope.ME_READ)
    person.is_enabled = False
    db.session.flush()
    assert call(client, "/api/v1/me", secret).status_code == 401


def test_a_person_who_loses_the_role_loses_the_scope(client, app_context):
    person = create_user(roles=(Role.PRACTITIONER, Role.FINANCE))
    secret = personal_token(person, Scope.FINANCE_READ, Scope.ME_READ)
    person.role_rows = [UserRole(role=Role.PRACTITIONER)]
    db.session.flush()
    assert call(client, "/api/v1/invoices", secret).status_code == 403
    assert call(client, "/api/v1/me", secret).status_code == 200


def test_revoking_an_integration_stops_its_tokens(client, app_context):
    admin = create_user(roles=(Role.LND_ADMIN,))
    secret = integration_token(Scope.FINANCE_READ, by=admin)
    assert call(client, "/api/v1/charges", secret).status_code == 200
    integration = db.session.scalar(sa.select(Integration))
    revoke_integration(integration, by=admin, now=NOW)
    assert call(client, "/api/v1/charges", secret).status_code == 401
    assert token_row(secret).is_revoked


def test_last_use_is_recorded_at_most_once_a_minute(client, app_context):
    secret = personal_token(create_user(), Scope.ME_READ)
    call(client, "/api/v1/me", secret)
    db.session.expire_all()
    assert token_row(secret).last_used_at == NOW
    clock.freeze(NOW + timedelta(seconds=30))
    call(client, "/api/v1/me", secret)
    db.session.expire_all()
    assert token_row(secret).last_used_at == NOW
    clock.freeze(NOW + timedelta(minutes=2))
    call(client, "/api/v1/me", secret)
    db.session.expire_all()
    assert token_row(secret).last_used_at == NOW + timedelta(minutes=2)


def test_too_many_calls_with_a_token_are_answered_429_with_retry_after(app, client, app_context, monkeypatch):
    monkeypatch.setitem(app.config, "API_TOKEN_RATE_LIMIT", "3 per minute")
    secret = personal_token(create_user(), Scope.ME_READ)
    assert [call(client, "/api/v1/me", secret).status_code for _ in range(3)] == [200, 200, 200]
    refused = call(client, "/api/v1/me", secret)
    assert refused.status_code == 429 and refused.mimetype == "application/problem+json"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    other = personal_token(create_user(), Scope.ME_READ)
    assert call(client, "/api/v1/me", other).status_code == 200


def test_anonymous_calls_are_limited_per_address(app, client, app_context, monkeypatch):
    monkeypatch.setitem(app.config, "API_ANONYMOUS_RATE_LIMIT", "2 per minute")
    assert [call(client, "/api/v1/topics").status_code for _ in range(3)] == [200, 200, 429]
    elsewhere = client.get("/api/v1/topics", environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert elsewhere.status_code == 200


def test_staff_records_need_the_integration_to_belong_to_an_organisation(app_context):
    from lms.core.errors import DomainError

    with pytest.raises(DomainError, match="belong to an organisation"):
        integration_token(Scope.STAFF_READ)


def test_a_persons_token_carries_only_scopes_their_roles_allow(app_context):
    from lms.core.errors import DomainError

    practitioner = create_user()
    for scope in (Scope.STAFF_READ, Scope.FINANCE_READ):
        with pytest.raises(DomainError, match="roles do not allow") as refused:
            personal_token(practitioner, scope)
        assert refused.value.status == 403
    assert personal_token(create_user(roles=(Role.TRAINING_CONTACT,)), Scope.STAFF_READ).startswith("lms_")
