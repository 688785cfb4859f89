"""The import pages: L&D uploads a file, reads the check, confirms; others are refused; files that
cannot be read, and tokens that are not the person's, get a clear answer and change nothing."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from lms.accounts.models import Agency, AgencyCategory, Role
from lms.extensions import db
from lms.imports.uploads import MAX_UPLOAD_BYTES
from tests.conftest import Mailbox, csrf_token, sign_in
from tests.factories import create_agency, create_user
from tests.imports.helpers import admin, count, organisation, organisation_coded, sample

PAGE = "/admin/imports"


@pytest.fixture(autouse=True)
def _remove_kept_files(app):
    """Files a check kept for a confirmation that never came are removed with the test."""
    folder = Path(app.instance_path) / "imports"
    before = set(folder.glob("*")) if folder.exists() else set()
    yield
    for path in set(folder.glob("*")) - before if folder.exists() else ():
        path.unlink(missing_ok=True)


@pytest.fixture
def lnd(client):
    person = admin()
    sign_in(client, person)
    return person


def upload(client, kind: str, data: bytes, name: str, **fields):
    form = {"kind": kind, "csrf_token": csrf_token(client, PAGE), "file": (io.BytesIO(data), name), **fields}
    return client.post(PAGE, data=form, content_type="multipart/form-data")


def token_on(page: str) -> str:
    match = re.search(r'name="token"[^>]*value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"[^>]*name="token"', page
    )
    assert match, "no confirm button on the page"
    return match.group(1)


def confirm(client, token: str):
    return client.post(f"{PAGE}/confirm", data={"token": token, "csrf_token": csrf_token(client, PAGE)})


def test_the_page_offers_each_kind_of_file_to_l_and_d(client, lnd):
    page = client.get(PAGE).get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in page and 'type="file"' in page
    for kind in ("Organisations", "People", "Programme: courses and sessions", "Past attendance"):
        assert kind in page
    assert "first_name, last_name, email, organisation, job_role, roles" in page


@pytest.mark.parametrize("role", [Role.PRACTITIONER, Role.TRAINER, Role.FINANCE])
def test_the_pages_are_refused_to_everyone_else(client, role):
    sign_in(client, create_user(roles=(role,)))
    assert client.get(PAGE).status_code == 403
    token = csrf_token(client, "/account")
    assert client.post(f"{PAGE}/confirm", data={"token": "x" * 32, "csrf_token": token}).status_code == 403


def test_the_pages_send_strangers_to_sign_in(client):
    assert client.get(PAGE).status_code == 302
    assert "/sign-in" in client.get(PAGE).headers["Location"]


def test_l_and_d_checks_a_file_then_confirms_it(client, lnd):
    response = upload(client, "organisations", sample("gias-establishments.csv"), "edubasealldata.csv")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "ready to import" in page and "11 created" in page and "Nothing has been changed yet" in page
    assert "Brookvale Learning Trust is added, as the trust" in page
    assert organisation_coded("990001") is None  # the check wrote nothing
    done = confirm(client, token_on(page))
    assert done.status_code == 200
    assert "Imported 11 rows: 11 created, 1 closed and not in the list: left out." in done.get_data(
        as_text=True
    )
    assert organisation_coded("990001").name == "Hawthorn Community Primary School"
    # The same file is imported once only.
    again = confirm(client, token_on(page))
    assert again.status_code == 302
    assert "no longer waiting" in client.get(PAGE).get_data(as_text=True)


def test_a_file_with_problems_lists_each_in_a_table_and_cannot_be_confirmed(client, lnd):
    before = count(Agency)
    response = upload(client, "organisations", sample("organisations-bad.csv"), "organisations-bad.csv")
    page = response.get_data(as_text=True)
    assert "7 problems to put right before importing" in page
    assert '<td class="num">3</td><td>category</td><td>“Schools” is not one of' in page
    assert '<td class="num">8</td><td>postcode</td>' in page
    assert 'name="token"' not in page
    assert count(Agency) == before


def test_new_people_are_emailed_their_invitation_when_the_import_is_confirmed(client, lnd, mailbox):
    create_agency(
        "Meadowbank Primary School", category=AgencyCategory.EDUCATION_SCHOOL, official_code="190001"
    )
    create_agency("Little Acorns Day Nursery", category=AgencyCategory.EDUCATION_EARLY_YEARS)
    create_agency("Townbury Police", short_name="TP")
    page = upload(client, "people", sample("people.csv"), "people.csv", invitations="y").get_data(
        as_text=True
    )
    assert "4 invitations to set a password" in page and mailbox.messages == []
    assert confirm(client, token_on(page)).status_code == 200
    [invitation] = mailbox.delivered().to("chloe.price@example.org")
    assert "/password/reset/" in Mailbox.text(invitation)
    assert len(mailbox.messages) == 4


def test_invitations_can_be_held_back_from_the_page(client, lnd, mailbox):
    create_agency(
        "Meadowbank Primary School", category=AgencyCategory.EDUCATION_SCHOOL, official_code="190001"
    )
    create_agency("Little Acorns Day Nursery", category=AgencyCategory.EDUCATION_EARLY_YEARS)
    create_agency("Townbury Police", short_name="TP")
    page = upload(client, "people", sample("people.csv"), "people.csv").get_data(as_text=True)
    assert confirm(client, token_on(page)).status_code == 200
    assert mailbox.delivered().messages == []


def test_an_excel_workbook_can_be_uploaded(client, lnd):
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["Name", "Category", "Official code"])
    book.active.append(["Oak Tree Nursery", "Education - early years", "EY777"])
    data = io.BytesIO()
    book.save(data)
    page = upload(client, "organisations", data.getvalue(), "organisations.xlsx").get_data(as_text=True)
    assert confirm(client, token_on(page)).status_code == 200
    assert organisation_coded("EY777").name == "Oak Tree Nursery"


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"", "empty.csv", "The file is empty"),
        (b"\x00\x01\x02binary\x00", "photo.csv", "not a CSV file we can read"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "old.xls", "old Excel file"),
        (b"name,name\nA,B\n", "twice.csv", "appears twice"),
        (b"first_name\nA\n", "people.csv", "missing the column"),
    ],
)
def test_files_that_cannot_be_read_get_a_clear_message_beside_the_file_field(
    client, lnd, data, name, message
):
    response = upload(client, "organisations" if name != "people.csv" else "people", data, name)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in page and 'id="file-error"' in page


def test_a_file_over_the_upload_limit_is_refused(client, lnd):
    response = upload(client, "organisations", b"name,category\n" + b"x" * MAX_UPLOAD_BYTES, "big.csv")
    assert response.status_code == 422
    assert "bigger than 20 MB" in response.get_data(as_text=True)


def test_the_form_needs_a_file_and_its_csrf_token(client, lnd):
    response = client.post(PAGE, data={"kind": "people", "csrf_token": csrf_token(client, PAGE)})
    assert response.status_code == 422 and "Choose the file to import." in response.get_data(as_text=True)
    no_token = client.post(
        PAGE,
        data={"kind": "people", "file": (io.BytesIO(b"email\n"), "p.csv")},
        content_type="multipart/form-data",
    )
    assert no_token.status_code == 400


@pytest.mark.parametrize("token", ["../../../etc/passwd", "x" * 32, "", "a" * 500])
def test_a_token_that_names_no_waiting_file_imports_nothing(client, lnd, token):
    response = confirm(client, token)
    assert response.status_code == 302
    assert "no longer waiting" in client.get(PAGE).get_data(as_text=True)


def test_one_persons_checked_file_cannot_be_imported_by_another(app, client, lnd):
    page = upload(client, "organisations", sample("organisations.csv"), "organisations.csv").get_data(
        as_text=True
    )
    token = token_on(page)
    other = app.test_client()
    sign_in(other, admin())
    assert confirm(other, token).status_code == 302
    assert organisation("Meadowbank Primary School") is None


def test_what_changed_between_the_check_and_the_import_is_caught_and_nothing_is_written(client, lnd):
    page = upload(client, "organisations", sample("organisations.csv"), "organisations.csv").get_data(
        as_text=True
    )
    create_agency("Little Acorns Day Nursery", official_code="EY999999")
    db.session.flush()
    response = confirm(client, token_on(page))
    assert response.status_code == 422
    assert "nothing was imported" in response.get_data(as_text=True)
    assert organisation("Meadowbank Primary School") is None


def test_a_file_longer_than_the_page_takes_is_refused_before_anything_is_checked(client, lnd):
    data = b"name,category\n" + b"".join(b"Organisation %d,Police\n" % n for n in range(10_001))
    response = upload(client, "organisations", data, "long.csv")
    assert response.status_code == 422
    assert "more than 10,000 rows" in response.get_data(as_text=True)
    assert count(Agency) == 1
