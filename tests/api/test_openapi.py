"""The OpenAPI document: valid OpenAPI 3.1, and true to the API. Schemathesis generates calls from
the document for every operation, with a token holding every scope and with one holding none, and
checks that none is a server error and every answer matches what the document says of it."""

from __future__ import annotations

from datetime import date

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from lms.accounts.models import Role, TrainingContact
from lms.bookings.models import Attendance
from lms.extensions import db
from lms.finance.services import run_invoicing
from lms.integrations.tokens import Scope
from tests.api.conftest import attended, make_contact, personal_token
from tests.factories import NOW, create_agency, create_session, create_user

EXAMPLES = 25
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]


def test_the_document_is_valid_openapi_3_1(client):
    document = client.get("/api/v1/openapi.json").json
    assert document["openapi"] == "3.1.0"
    schema = schemathesis.openapi.from_dict(document)
    schema.validate()  # against the OpenAPI 3.1 meta-schema
    paths = set(document["paths"])
    assert {"/api/v1/sessions", "/api/v1/me", "/api/v1/staff", "/api/v1/invoices", "/api/v1/charges"} <= paths
    me = document["paths"]["/api/v1/me"]["get"]
    assert me["security"] == [{"bearerAuth": []}]
    assert me["responses"]["401"] == {"$ref": "#/components/responses/UNAUTHORIZED"}
    problem = document["components"]["responses"]["UNAUTHORIZED"]["content"]
    assert list(problem) == ["application/problem+json"]


def a_world() -> dict[str, str]:
    """People with tokens, sessions, a training record and an invoice, to call the API about."""
    trust = create_agency("Northshire Academies Trust")
    school = create_agency("Hill Primary", parent_id=trust.id)
    contact = create_user(roles=(Role.PRACTITIONER, Role.TRAINING_CONTACT, Role.FINANCE), agency=trust)
    make_contact_for = make_contact(trust)
    for person in (contact, make_contact_for, create_user(agency=school)):
        attended(person)
    attended(create_user(agency=school), attendance=Attendance.NO_SHOW)
    create_session()
    run_invoicing(date(2026, 4, 1), date(2026, 5, 3), by=create_user(roles=(Role.FINANCE,)), now=NOW)
    db.session.add(TrainingContact(user_id=contact.id, agency_id=trust.id, added_at=NOW))
    db.session.flush()
    return {
        "every scope": personal_token(contact, *Scope),
        "no scope it needs": personal_token(create_user(), Scope.ME_READ),
        # Refused on every operation, the catalogue included (a token sent is always checked).
        "an unknown token": "lms_" + "x" * 43,
    }


def isolated(app):
    """The app as a WSGI callable whose requests each get their own app context (as IsolatedClient
    gives the test client), while the test keeps its own open with the world in it."""
    from flask.globals import _cv_app

    def wsgi(environ, start_response):
        token = _cv_app.set(None)
        try:
            return app(environ, start_response)
        finally:
            _cv_app.reset(token)

    return wsgi


def explore(operation, token: str, answered: set[int]) -> None:
    """Calls generated for one operation, each answer checked against the document."""

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def call(case):
        response = case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
        answered.add(response.status_code)

    call()


def test_schemathesis_finds_no_server_error_and_no_answer_unlike_the_document(app, app_context, monkeypatch):
    monkeypatch.setitem(app.config, "API_TOKEN_RATE_LIMIT", "100000 per minute")
    monkeypatch.setitem(app.config, "API_ANONYMOUS_RATE_LIMIT", "100000 per minute")
    tokens = a_world()
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", isolated(app))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14
    failures, answered = [], set()
    for holder, token in tokens.items():
        for operation in operations:
            try:
                explore(operation, token, answered)
            except Exception as error:  # noqa: BLE001 - gathered, so one run shows every operation's failure
                failures.append(f"{holder}: {operation.label}: {error}")
    # Then with a limit soon reached: the 429 answers match the document too.
    monkeypatch.setitem(app.config, "API_TOKEN_RATE_LIMIT", "5 per minute")
    limited = personal_token(create_user(), Scope.ME_READ)
    for operation in operations:
        if operation.path in ("/api/v1/me", "/api/v1/sessions/{session_id}"):
            try:
                explore(operation, limited, answered)
            except Exception as error:  # noqa: BLE001
                failures.append(f"rate limited: {operation.label}: {error}")
    assert failures == []
    # It called for real: answers, refused and missing tokens, scopes not granted, ids of nothing,
    # invalid input and too many calls.
    assert {200, 401, 403, 404, 422, 429} <= answered
