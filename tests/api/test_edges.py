"""The API at its edges: an organisation that left, pages past the end, bounds, and odd input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from lms.accounts.models import Role
from lms.extensions import db
from lms.integrations.tokens import Scope
from tests.api.conftest import attended, call, integration_token, make_contact, personal_token
from tests.conftest import sign_in
from tests.factories import NOW, create_agency, create_session, create_user


def test_an_integration_of_an_organisation_made_inactive_reads_nothing(client, app_context):
    police = create_agency("Police")
    admin = create_user(roles=(Role.LND_ADMIN,))
    secret = integration_token(Scope.STAFF_READ, Scope.FINANCE_READ, agency=police, by=admin)
    assert call(client, "/api/v1/staff", secret).status_code == 200
    police.is_active = False
    db.session.flush()
    for path in ("/api/v1/staff", "/api/v1/charges"):
        response = call(client, path, secret)
        assert response.status_code == 401 and response.mimetype == "application/problem+json"


def test_a_page_past_the_end_is_empty_and_points_back(client, app_context):
    create_session()
    body = client.get("/api/v1/sessions?page=40&per_page=10").get_json()
    assert body["items"] == [] and body["meta"]["page"] == 40 and body["meta"]["pages"] == 1
    assert body["meta"]["links"]["next"] is None and "page=1" in body["meta"]["links"]["prev"]


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("per_page=0", 422),
        ("per_page=101", 422),
        ("per_page=100", 200),
        ("page=0", 422),
        ("page=100001", 422),
    ],
)
def test_per_page_and_page_are_bounded(client, app_context, query, status):
    response = client.get(f"/api/v1/sessions?{query}")
    assert response.status_code == status
    if status == 422:
        assert response.mimetype == "application/problem+json"


@pytest.mark.parametrize("ident", ["0", "2147483648", "9" * 40, "-1", "1e3"])
def test_ids_out_of_range_are_404_problems(client, app_context, ident):
    response = client.get(f"/api/v1/sessions/{ident}")
    assert response.status_code == 404 and response.mimetype == "application/problem+json"


def test_very_long_query_strings_are_answered_not_failed(client, app_context):
    assert client.get("/api/v1/sessions?course=" + "1" * 5000).status_code == 422
    assert client.get("/api/v1/sessions?tag=" + "x" * 20000).status_code == 200
    assert client.get("/api/v1/sessions?from=" + "2026-01-01" * 500).status_code == 422


def test_every_answer_says_where_the_caller_stands_against_the_limit(app, client, app_context, monkeypatch):
    monkeypatch.setitem(app.config, "API_TOKEN_RATE_LIMIT", "3 per minute;1000 per hour")
    secret = personal_token(create_user(), Scope.ME_READ)
    answers = [call(client, "/api/v1/me", secret) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert {a.headers["RateLimit-Limit"] for a in answers} == {"3"}  # the limit nearest to being reached
    assert all(0 <= int(a.headers["RateLimit-Reset"]) <= 60 for a in answers)
    assert "Retry-After" in answers[-1].headers
    anonymous = client.get("/api/v1/topics")
    assert anonymous.headers["RateLimit-Limit"] and int(anonymous.headers["RateLimit-Remaining"]) >= 0


def test_after_an_erasure_the_staff_api_counts_the_former_delegate_and_names_nobody(client, app_context):
    from lms.privacy.erasure import anonymise_person

    police = create_agency("Police")
    person = create_user("zoe.quixote@example.org", agency=police, first_name="Zoë", last_name="Quixote")
    attended(person)
    contact = make_contact(police)
    secret = personal_token(contact, Scope.STAFF_READ)
    before = call(client, "/api/v1/staff", secret).get_json()
    records_before = call(client, "/api/v1/training-records", secret).get_json()

    anonymise_person(person, by=create_user(roles=(Role.LND_ADMIN,)), now=NOW, reason="erasure request")
    db.session.flush()

    after = call(client, "/api/v1/staff", secret)
    records = call(client, "/api/v1/training-records", secret)
    for response in (after, records):
        text = response.get_data(as_text=True).lower()
        assert response.status_code == 200 and "quixote" not in text and "zoe.quixote" not in text
    assert after.get_json()["meta"]["total"] == before["meta"]["total"]
    assert records.get_json()["meta"]["total"] == records_before["meta"]["total"]
    former = next(item for item in after.get_json()["items"] if item["id"] == person.id)
    assert (former["first_name"], former["last_name"], former["sessions_attended"]) == (
        "Former delegate",
        f"#{person.id}",
        1,
    )


def test_the_integration_page_says_why_its_tokens_stopped(client, app_context):
    from lms.integrations.models import Integration

    police = create_agency("Police")
    admin = create_user(roles=(Role.LND_ADMIN,))
    integration_token(Scope.STAFF_READ, agency=police, by=admin)
    integration = db.session.scalar(sa.select(Integration).where(Integration.agency_id == police.id))
    police.is_active = False
    db.session.flush()
    sign_in(client, admin)
    for path in (f"/admin/integrations/{integration.id}", "/admin/integrations"):
        assert "Paused" in client.get(path).get_data(as_text=True)


def test_training_records_are_paged_by_the_database_in_a_few_statements(client, app_context):
    police = create_agency("Police")
    for _ in range(30):
        attended(create_user(agency=police))
    contact = make_contact(police)
    secret = personal_token(contact, Scope.STAFF_READ)
    db.session.commit()  # the setting up, audit entries and all, done before counting
    sent: list[str] = []

    def catch(connection, cursor, statement, *args):
        sent.append(statement)

    engine = db.session.get_bind()
    sa.event.listen(engine, "before_cursor_execute", catch)
    try:
        body = call(client, "/api/v1/training-records?per_page=10&page=2", secret).get_json()
    finally:
        sa.event.remove(engine, "before_cursor_execute", catch)
    assert body["meta"]["total"] == 30 and len(body["items"]) == 10
    assert len(sent) <= 12  # not one per record


def test_training_records_from_and_to_are_uk_dates(client, app_context):
    police = create_agency("Police")
    person = create_user(agency=police)
    # 23:30 UTC on 30 April 2026 is 00:30 on 1 May in London.
    booking = attended(person, days_ago=10)
    booking.session.starts_at = datetime(2026, 4, 30, 23, 30, tzinfo=UTC)
    booking.session.ends_at = booking.session.starts_at + timedelta(hours=3)
    db.session.flush()
    secret = personal_token(make_contact(police), Scope.STAFF_READ)
    may = call(client, "/api/v1/training-records?from=2026-05-01", secret).get_json()
    april = call(client, "/api/v1/training-records?to=2026-04-30", secret).get_json()
    assert [row["session_date"] for row in may["items"]] == ["2026-05-01"]
    assert april["items"] == []
