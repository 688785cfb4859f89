"""Requests about personal data that arrive by letter: logged with their deadline, answered with the
same ZIP a person downloads themselves, or carried out by erasing."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import date

import pytest
import sqlalchemy as sa

from lms.accounts.models import Role
from lms.core.audit import AuditEntry
from lms.extensions import db
from lms.privacy.models import DataRequest, ReceivedHow, RequestKind, RequestStatus, one_month_after
from lms.privacy.requests import RequestDetails, log_data_request
from tests.conftest import csrf_token, sign_in
from tests.factories import NOW, create_user


@pytest.mark.parametrize(
    ("received", "due"),
    [
        (date(2028, 1, 31), date(2028, 2, 29)),  # a Tuesday in a leap year
        (date(2026, 3, 31), date(2026, 4, 30)),
        (date(2026, 12, 15), date(2027, 1, 15)),
        (date(2026, 1, 31), date(2026, 3, 2)),  # 28 February 2026 is a Saturday: the Monday after
        (date(2026, 2, 28), date(2026, 3, 30)),  # 28 March is a Saturday
        (date(2026, 12, 1), date(2027, 1, 4)),  # 1 January is a bank holiday, then a weekend
    ],
)
def test_the_answer_is_due_one_calendar_month_after_the_request_arrived(received, due):
    # The same day of the next month (or its last day), moved to the next working day if need be.
    assert one_month_after(received) == due


def log(person, lnd, kind=RequestKind.ACCESS, received=date(2026, 4, 30)) -> DataRequest:
    return log_data_request(RequestDetails(kind, person, received, ReceivedHow.LETTER, ""), by=lnd, now=NOW)


def test_l_and_d_log_a_letter_and_see_it_overdue_on_the_list_and_the_dashboard(client, app_context):
    lnd = create_user(roles=(Role.LND_ADMIN,))
    person = create_user("writer@example.org", first_name="Wren", last_name="Letterwriter")
    sign_in(client, lnd)
    path = "/admin/data-requests/new"
    assert "writer@example.org" in client.get(f"{path}?user_id={person.id}").get_data(as_text=True)
    response = client.post(
        path,
        data={
            "kind": "access",
            "email": "Writer@Example.org",
            "received_on": "2026-01-31",
            "received_how": "letter",
            "notes": "Identity checked against their staff card",
            "csrf_token": csrf_token(client, path),
        },
    )
    assert response.status_code == 302
    request = db.session.scalar(sa.select(DataRequest).where(DataRequest.user_id == person.id))
    assert request.deadline == date(2026, 3, 2) and request.status is RequestStatus.OPEN
    assert request.is_overdue(NOW.date())
    listing = client.get("/admin/data-requests").get_data(as_text=True)
    assert "Wren Letterwriter" in listing and "Mon 2 March 2026" in listing and "Overdue" in listing
    dashboard = client.get("/dashboard").get_data(as_text=True)
    assert "Requests about personal data" in dashboard and "Wren Letterwriter" in dashboard


def test_a_request_due_within_a_week_is_on_the_dashboard_and_later_ones_are_not(client, app_context):
    lnd = create_user(roles=(Role.LND_ADMIN,))
    soon = create_user(first_name="Sunny", last_name="Soonest")
    later = create_user(first_name="Lara", last_name="Laterday")
    log(soon, lnd, received=date(2026, 4, 8))  # due 8 May: in four days
    log(later, lnd, received=date(2026, 4, 30))  # due 30 May
    sign_in(client, lnd)
    dashboard = client.get("/dashboard").get_data(as_text=True)
    assert "Sunny Soonest" in dashboard and "Lara Laterday" not in dashboard
    listing = client.get("/admin/data-requests").get_data(as_text=True)
    assert "Due in 4 days" in listing and "Lara Laterday" in listing


def test_a_request_in_the_future_or_for_nobody_is_refused(client, app_context):
    lnd = create_user(roles=(Role.LND_ADMIN,))
    create_user("known@example.org")
    sign_in(client, lnd)
    path = "/admin/data-requests/new"
    form = {"kind": "access", "received_how": "email", "csrf_token": csrf_token(client, path)}
    nobody = client.post(path, data=form | {"email": "nobody@example.org", "received_on": "2026-05-01"})
    assert nobody.status_code == 422 and "No one is registered" in nobody.get_data(as_text=True)
    future = client.post(path, data=form | {"email": "known@example.org", "received_on": "2026-05-05"})
    assert future.status_code == 422 and "cannot be in the future" in future.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(DataRequest.id))) == 0


def test_l_and_d_download_the_person_s_zip_and_the_download_is_in_the_audit_trail(client, app_context):
    lnd = create_user(roles=(Role.LND_ADMIN,))
    person = create_user("asker@example.org", first_name="Ash", last_name="Asker")
    other = create_user("bystander@example.org")
    request = log(person, lnd)
    sign_in(client, lnd)
    detail = client.get(f"/admin/data-requests/{request.id}").get_data(as_text=True)
    assert "Download everything held about them" in detail and "Thu 30 April 2026" in detail

    response = client.get(f"/admin/data-requests/{request.id}/data.zip")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    assert "README.txt" in archive.namelist()
    data = json.loads(archive.read("personal_data.json"))
    assert data["account"]["email"] == "asker@example.org" and other.email not in json.dumps(data)
    exported = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.name == "lms.security.exported", AuditEntry.actor_id == lnd.id)
    ).all()
    assert [entry.data["path"] for entry in exported] == [f"/admin/data-requests/{request.id}/data.zip"]

    path = f"/admin/data-requests/{request.id}/complete"
    assert (
        client.post(
            path, data={"csrf_token": csrf_token(client, f"/admin/data-requests/{request.id}")}
        ).status_code
        == 302
    )
    db.session.expire_all()
    request = db.session.get(DataRequest, request.id)
    assert request.status is RequestStatus.COMPLETED and request.completed_by_id == lnd.id
    assert "Ash Asker" not in client.get("/admin/data-requests").get_data(as_text=True)
    assert "Ash Asker" in client.get("/admin/data-requests?show=all").get_data(as_text=True)


def test_an_erasure_request_is_carried_out_from_its_page_and_completed(client, app_context):
    lnd = create_user(roles=(Role.LND_ADMIN,))
    person = create_user("forget.me@example.org", first_name="Fergus", last_name="Forgetme")
    request = log(person, lnd, kind=RequestKind.ERASURE)
    sign_in(client, lnd)
    detail = f"/admin/data-requests/{request.id}"
    assert "Erase their data" in client.get(detail).get_data(as_text=True)
    path = f"{detail}/erase"
    assert "cannot be undone" in client.get(path).get_data(as_text=True)
    assert client.post(path, data={"csrf_token": csrf_token(client, path)}).status_code == 302
    db.session.expire_all()
    request = db.session.get(DataRequest, request.id)
    assert request.status is RequestStatus.COMPLETED and request.person.is_erased
    page = client.get(detail).get_data(as_text=True)
    assert f"Former delegate #{person.id}" in page and "Forgetme" not in page and "forget.me" not in page


@pytest.mark.parametrize("role", [Role.PRACTITIONER, Role.TRAINER, Role.FINANCE, Role.TRAINING_CONTACT])
def test_only_l_and_d_handle_requests_and_retention(client, app_context, role):
    lnd = create_user(roles=(Role.LND_ADMIN,))
    request = log(create_user(), lnd)
    sign_in(client, create_user(roles=(role,)))
    for path in (
        "/admin/data-requests",
        "/admin/data-requests/new",
        f"/admin/data-requests/{request.id}",
        f"/admin/data-requests/{request.id}/data.zip",
        f"/admin/data-requests/{request.id}/erase",
        "/admin/data-retention",
    ):
        assert client.get(path).status_code == 403, path
    token = csrf_token(client, "/account")
    for path in (f"/admin/data-requests/{request.id}/complete", "/admin/data-retention/run"):
        assert client.post(path, data={"csrf_token": token}).status_code == 403, path
    assert request.status is RequestStatus.OPEN
