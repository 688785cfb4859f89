"""A person downloads everything held about them: a ZIP of their data as JSON and their certificates."""

from __future__ import annotations

import io
import json
import zipfile

import sqlalchemy as sa
from pypdf import PdfReader

from lms.core.audit import AuditEntry
from lms.extensions import db
from tests.conftest import sign_in
from tests.factories import create_user
from tests.test_reporting_results import evaluated_session


def test_a_person_downloads_their_bookings_answers_and_certificates_and_nobody_else_s(client):
    session, [mine, theirs] = evaluated_session(["5", "3"], comment="Ask the child first")
    person = mine.user
    sign_in(client, person)
    assert "Download everything held about you" in client.get("/account").get_data(as_text=True)

    response = client.get("/account/my-data.zip")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    assert "README.txt" in archive.namelist()
    data = json.loads(archive.read("personal_data.json"))
    assert data["account"]["email"] == person.email
    [booking] = data["bookings"]
    assert booking["course"] == session.course.title and booking["attendance"] == "Attended"
    answers = {answer["question"]: answer for answer in booking["evaluation"]["answers"]}
    assert any(answer["text"] == "Ask the child first" for answer in answers.values())
    assert any(answer["rating"] == 5 for answer in answers.values())
    number = booking["certificate"]["number"]
    pdf = PdfReader(io.BytesIO(archive.read(f"certificates/{number}.pdf")))
    assert person.full_name in pdf.pages[0].extract_text()
    # Nothing about the other delegate of the same session.
    everything = json.dumps(data) + " ".join(archive.namelist())
    assert theirs.user.email not in everything and theirs.user.last_name not in everything
    # The download of personal data is a security event of the account.
    exported = (AuditEntry.name == "lms.security.exported", AuditEntry.actor_id == person.id)
    logged = db.session.scalars(sa.select(AuditEntry).where(*exported)).all()
    assert logged


def test_someone_with_no_bookings_gets_their_account_and_nothing_else(client):
    person = create_user()
    sign_in(client, person)
    archive = zipfile.ZipFile(io.BytesIO(client.get("/account/my-data.zip").data))
    data = json.loads(archive.read("personal_data.json"))
    assert data["bookings"] == [] and data["account"]["email"] == person.email
    assert [name for name in archive.namelist() if name.startswith("certificates/")] == []


def test_a_stranger_is_sent_to_sign_in(client):
    response = client.get("/account/my-data.zip")
    assert response.status_code == 302 and "/sign-in" in response.headers["Location"]
