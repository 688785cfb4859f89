"""What each endpoint shows, and that nobody sees another person's or organisation's data."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lms.accounts.models import Role
from lms.bookings.models import Attendance
from lms.bookings.services import book_place
from lms.courses.models import DeliveryMode, SessionStatus
from lms.integrations.tokens import Scope
from tests.api.conftest import attended, call, integration_token, make_contact, personal_token
from tests.factories import NOW, create_agency, create_course, create_session, create_topic, create_user

# The catalogue -----------------------------------------------------------------------------------


def test_the_catalogue_lists_upcoming_sessions_with_places_left_in_utc_and_london_time(client, app_context):
    session = create_session(
        starts_at=NOW + timedelta(days=30), places=2, overbook_percent=0, delivery_mode=DeliveryMode.IN_PERSON
    )
    book_place(session, create_user(), by=create_user(roles=(Role.LND_ADMIN,)), now=NOW)
    create_session(starts_at=NOW - timedelta(days=1))  # has started
    create_session(status=SessionStatus.CANCELLED)
    body = call(client, "/api/v1/sessions").json
    assert [item["id"] for item in body["items"]] == [session.id]
    item = body["items"][0]
    assert item["starts_at"] == "2026-06-03T09:00:00+00:00"
    assert item["starts_at_london"] == "2026-06-03T10:00:00+01:00"
    assert (item["places"], item["places_left"], item["status"]) == (2, 1, "few")
    assert item["venue"] == "Training Room 1, Council House"
    assert item["url"].endswith(f"/sessions/{session.id}")


def test_an_online_sessions_joining_link_is_never_in_the_catalogue(client, app_context):
    create_session(delivery_mode=DeliveryMode.ONLINE_LIVE, online_link="https://meet.example.org/secret")
    page = call(client, "/api/v1/sessions").get_data(as_text=True)
    assert "meet.example.org" not in page and '"venue":null' in page


def test_the_catalogue_filters_by_course_topic_dates_and_places(client, app_context):
    safeguarding = create_topic("Safeguarding")
    course = create_course(topic=safeguarding)
    early = create_session(course=course, starts_at=NOW + timedelta(days=10))
    late = create_session(course=course, starts_at=NOW + timedelta(days=60))
    full = create_session(starts_at=NOW + timedelta(days=20), places=1, overbook_percent=0)
    book_place(full, create_user(), by=create_user(roles=(Role.LND_ADMIN,)), now=NOW)

    def ids(query: str) -> list[int]:
        return [item["id"] for item in call(client, f"/api/v1/sessions?{query}").json["items"]]

    assert ids(f"course={course.id}") == [early.id, late.id]
    assert ids(f"topic={safeguarding.id}&from=2026-06-01") == [late.id]
    assert ids("to=2026-05-30") == [early.id, full.id]
    assert full.id not in ids("has_places=true")
    assert ids("has_places=false") == [full.id]
    # Tomorrow's session has places, but its bookings closed before today began.
    closed = create_session(starts_at=NOW + timedelta(days=1))
    assert closed.id not in ids("has_places=true") and early.id in ids("has_places=true")
    assert ids("has_places=false") == [closed.id, full.id]


def test_pages_carry_totals_and_links(client, app_context):
    for days in range(1, 6):
        create_session(starts_at=NOW + timedelta(days=days + 3))
    body = call(client, "/api/v1/sessions?per_page=2&page=2&topic=").json
    assert len(body["items"]) == 2
    meta = body["meta"]
    assert (meta["page"], meta["per_page"], meta["total"], meta["pages"]) == (2, 2, 5, 3)
    assert "page=3" in meta["links"]["next"] and "page=1" in meta["links"]["prev"]
    assert call(client, "/api/v1/sessions?per_page=2&page=9").json["items"] == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("per_page=101", "per_page"),
        ("page=0", "page"),
        ("page=abc", "page"),
        ("from=2026-02-30", "from"),
        ("from=2026-06-01&to=2026-05-01", "to"),
        ("course=99999999999", "course"),
        ("mode=carrier-pigeon", "mode"),
        ("has_places=perhaps", "has_places"),
    ],
)
def test_a_bad_filter_is_a_422_problem_naming_the_field(client, app_context, query, field):
    response = call(client, f"/api/v1/sessions?{query}")
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert field in response.json["errors"]


def test_unknown_paths_and_methods_are_problems_too(client, app_context):
    missing = call(client, "/api/v1/no-such-thing")
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"
    assert call(client, "/api/v1/sessions/2147483647").json["status"] == 404
    posted = client.post("/api/v1/sessions")
    assert posted.status_code == 405 and "GET" in posted.headers["Allow"]
    assert posted.mimetype == "application/problem+json"


def test_courses_and_topics(client, app_context):
    course = create_course("Working Together", topic=create_topic("Multi-agency working"))
    create_course("Retired", is_active=False)
    courses = call(client, "/api/v1/courses").json["items"]
    assert [c["title"] for c in courses] == ["Working Together"]
    assert call(client, f"/api/v1/courses/{course.id}").json["topic"]["name"] == "Multi-agency working"
    assert "Multi-agency working" in [t["name"] for t in call(client, "/api/v1/topics").json]


# A person's own -------------------------------------------------------------------------------------


def test_a_person_reads_their_own_bookings_and_record_and_nobody_elses(client, app_context):
    me, other = create_user(), create_user()
    mine = attended(me)
    attended(other)
    upcoming = create_session()
    book_place(upcoming, me, by=me, now=NOW)
    token = personal_token(me, Scope.ME_READ)
    assert call(client, "/api/v1/me", token).json["id"] == me.id
    bookings = call(client, "/api/v1/me/bookings", token).json["items"]
    assert {b["session"]["id"] for b in bookings} == {mine.session_id, upcoming.id}
    assert [
        b["session"]["id"] for b in call(client, "/api/v1/me/bookings?view=upcoming", token).json["items"]
    ] == [upcoming.id]
    record = call(client, "/api/v1/me/training-record", token).json
    assert [line["booking_id"] for line in record["lines"]] == [mine.id]
    assert record["total_cpd_hours"] == 3.0


# Organisations' staff -----------------------------------------------------------------------------


def test_a_training_contact_sees_their_organisations_staff_and_the_schools_they_pay_for(client, app_context):
    trust = create_agency("Northshire Academies Trust")
    school = create_agency("Hill Primary", parent_id=trust.id)
    elsewhere = create_agency("Northshire Police")
    teacher, officer = create_user(agency=school, last_name="Teacher"), create_user(agency=elsewhere)
    attended(teacher)
    attended(officer)
    contact = make_contact(trust)
    token = personal_token(contact, Scope.STAFF_READ)
    organisations = call(client, "/api/v1/organisations", token).json
    assert {o["id"] for o in organisations} == {trust.id, school.id}
    staff = call(client, "/api/v1/staff", token).json["items"]
    assert teacher.id in {s["id"] for s in staff} and officer.id not in {s["id"] for s in staff}
    assert next(s for s in staff if s["id"] == teacher.id)["sessions_attended"] == 1
    records = call(client, "/api/v1/training-records", token).json["items"]
    assert {r["email"] for r in records} == {teacher.email}
    refused = call(client, f"/api/v1/staff?organisation={elsewhere.id}", token)
    assert refused.status_code == 404 and refused.mimetype == "application/problem+json"
    assert (
        call(client, f"/api/v1/training-records?organisation={school.id}", token).json["meta"]["total"] == 1
    )


def test_an_agencys_integration_sees_what_a_contact_of_that_agency_would(client, app_context):
    trust = create_agency("Northshire Academies Trust")
    school = create_agency("Hill Primary", parent_id=trust.id)
    attended(create_user(agency=school))
    attended(create_user(agency=create_agency("Northshire Police")))
    for agency, expected in ((trust, {trust.id, school.id}), (school, {school.id})):
        token = integration_token(Scope.STAFF_READ, agency=agency)
        assert {o["id"] for o in call(client, "/api/v1/organisations", token).json} == expected
        records = call(client, "/api/v1/training-records", token).json["items"]
        assert {r["organisation"] for r in records} == {"Hill Primary"}


def test_a_contact_who_loses_the_role_sees_no_staff(client, app_context):
    from lms.accounts.models import UserRole
    from lms.extensions import db

    school = create_agency()
    attended(create_user(agency=school))
    contact = make_contact(school)
    token = personal_token(contact, Scope.STAFF_READ, Scope.ME_READ)
    contact.role_rows = [UserRole(role=Role.PRACTITIONER)]
    db.session.flush()
    assert call(client, "/api/v1/staff", token).status_code == 403


# Finance --------------------------------------------------------------------------------------------


def test_finance_reads_invoices_with_lines_and_charges(client, invoiced):
    police, council, invoices = invoiced
    token = personal_token(create_user(roles=(Role.FINANCE,)), Scope.FINANCE_READ)
    body = call(client, "/api/v1/invoices", token).json
    assert body["meta"]["total"] == 2
    first = body["items"][0]
    assert first["total_pence"] == sum(line["amount_pence"] for line in first["lines"]) + first["vat_pence"]
    assert first["outstanding_pence"] == first["total_pence"] and first["status"] == "issued"
    one = call(client, f"/api/v1/invoices/{invoices[0].id}", token).json
    assert one["number"] == invoices[0].number and len(one["lines"]) == 1
    assert call(client, f"/api/v1/invoices?organisation={police.id}", token).json["meta"]["total"] == 1
    assert call(client, "/api/v1/invoices?status=paid", token).json["meta"]["total"] == 0
    assert call(client, "/api/v1/invoices?financial_year=2026", token).json["meta"]["total"] == 2
    assert call(client, "/api/v1/invoices?financial_year=2025", token).json["meta"]["total"] == 0
    charges = call(client, "/api/v1/charges?status=invoiced", token).json
    assert charges["meta"]["total"] == 2
    assert {c["reason"] for c in charges["items"]} == {"no_show"}
    assert call(client, "/api/v1/charges?status=raised", token).json["meta"]["total"] == 0


def test_an_integration_with_finance_read_reads_invoices_and_nothing_else(client, invoiced):
    token = integration_token(Scope.FINANCE_READ)
    assert call(client, "/api/v1/invoices", token).json["meta"]["total"] == 2
    assert call(client, "/api/v1/staff", token).status_code == 403
    assert call(client, "/api/v1/me", token).status_code == 403


def test_a_practitioner_cannot_read_invoices_with_their_token(client, invoiced):
    token = personal_token(create_user(), Scope.ME_READ)
    assert call(client, "/api/v1/invoices", token).status_code == 403


def test_unknown_ids_are_404_problems(client, invoiced):
    token = personal_token(create_user(roles=(Role.FINANCE,)), Scope.FINANCE_READ)
    response = call(client, "/api/v1/invoices/999999", token)
    assert response.status_code == 404 and response.json["detail"] == "There is no such invoice."


def test_no_shows_are_counted_for_the_staff(client, app_context):
    school = create_agency()
    person = create_user(agency=school)
    attended(person, attendance=Attendance.NO_SHOW)
    token = personal_token(make_contact(school), Scope.STAFF_READ)
    staff = call(client, "/api/v1/staff", token).json["items"]
    assert next(s for s in staff if s["id"] == person.id)["no_shows"] == 1
