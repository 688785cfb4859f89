"""The training contact's pages: their organisations' bookings, no-shows, charges and invoices, and
their staff's training records as CSV and XLSX, read back; never another organisation's people or
money, whatever id is put in the path or the query string. And L&D naming contacts on the
organisation's page."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook
from pypdf import PdfReader

from lms.accounts.contacts import add_training_contact, follows
from lms.accounts.models import AgencyCategory, Role
from lms.bookings.models import Attendance
from lms.bookings.services import book_place, close_register, mark_attendance
from lms.extensions import db
from lms.finance.services import issue_credit_note, run_invoicing
from tests.accounts.signing_in import sign_in
from tests.conftest import csrf_token
from tests.factories import NOW, create_agency, create_session, create_user

SCHOOL = AgencyCategory.EDUCATION_SCHOOL
CONTACT_PAGES = [
    "/organisation/",
    "/organisation/staff",
    "/organisation/bookings",
    "/organisation/bookings?show=past",
    "/organisation/bookings?show=waiting",
    "/organisation/bookings?show=approval",
    "/organisation/no-shows",
    "/organisation/charges",
    "/organisation/invoices",
    "/organisation/training-records.csv",
    "/organisation/training-records.xlsx",
]


@pytest.fixture
def world(app_context):
    """A trust with a school, and the police: staff of each at a session that ran (one of each a
    no-show, charged and invoiced), and places booked ahead."""
    trust = create_agency("Oak Learning Trust", category=SCHOOL)
    oak = create_agency("Oak Primary School", category=SCHOOL, parent=trust)
    police = create_agency("County Police")
    lnd = create_user(roles=(Role.LND_ADMIN,))
    trainer = create_user(roles=(Role.TRAINER,))
    people = {
        "oak_came": create_user(agency=oak, first_name="Olivia", last_name="Oakfield"),
        "oak_missed": create_user(agency=oak, first_name="Otto", last_name="Oakley"),
        "police_came": create_user(agency=police, first_name="Percy", last_name="Peelman"),
        "police_missed": create_user(agency=police, first_name="Pam", last_name="Plod"),
    }
    ran = create_session(starts_at=datetime(2026, 4, 21, 9, 30, tzinfo=UTC), trainer=trainer)
    booked = {
        name: book_place(ran, person, by=lnd, now=ran.starts_at - timedelta(days=20))
        for name, person in people.items()
    }
    for name, booking in booked.items():
        outcome = Attendance.NO_SHOW if name.endswith("missed") else Attendance.ATTENDED
        mark_attendance(booking, outcome, by=trainer, now=ran.starts_at + timedelta(minutes=5))
    close_register(ran, by=trainer, now=ran.ends_at)
    ahead = create_session(starts_at=NOW + timedelta(days=30))
    ahead_bookings = {name: book_place(ahead, person, by=person, now=NOW) for name, person in people.items()}
    finance = create_user(roles=(Role.FINANCE,))
    invoices = run_invoicing(date(2026, 4, 1), date(2026, 4, 30), by=finance, now=NOW)
    trust_invoice = next(i for i in invoices if i.agency_id == trust.id)
    police_invoice = next(i for i in invoices if i.agency_id == police.id)
    notes = {
        name: issue_credit_note(invoice, [invoice.lines[0].id], "Register corrected", by=finance, now=NOW)
        for name, invoice in (("trust", trust_invoice), ("police", police_invoice))
    }
    school_contact = create_user(
        "oak.contact@example.org", roles=(Role.TRAINING_CONTACT,), agency=oak, first_name="Cara"
    )
    trust_contact = create_user("trust.contact@example.org", roles=(Role.TRAINING_CONTACT,), agency=trust)
    add_training_contact(oak, school_contact, by=lnd, now=NOW)
    add_training_contact(trust, trust_contact, by=lnd, now=NOW)
    return {
        "trust": trust,
        "oak": oak,
        "police": police,
        "lnd": lnd,
        "people": people,
        "booked": booked,
        "ahead": ahead_bookings,
        "trust_invoice": trust_invoice,
        "police_invoice": police_invoice,
        "notes": notes,
        "school_contact": school_contact,
        "trust_contact": trust_contact,
    }


def signed_in_as(client, person):
    response = sign_in(client, person)
    assert response.status_code == 302
    return client


def text(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


POLICE_NAMES = ("Peelman", "Plod", "County Police")


def shows_no_police(page: str) -> None:
    for word in POLICE_NAMES:
        assert word not in page


# The pages --------------------------------------------------------------------------------------


def test_the_contact_lands_on_their_organisations_page_with_a_navigation_entry(client, world):
    signed_in_as(client, world["school_contact"])
    response = client.get("/dashboard")
    assert response.status_code == 302 and response.headers["Location"] == "/organisation/"
    page = text(client.get("/organisation/"))
    assert "My organisations" in page
    assert "Oak Primary School" in page
    assert "Oak Learning Trust" not in page  # a school's contact does not follow the trust
    shows_no_police(page)


def test_each_list_shows_the_organisations_staff_and_nobody_elses(client, world):
    signed_in_as(client, world["school_contact"])
    upcoming = text(client.get("/organisation/bookings"))
    assert "Oakfield" in upcoming and "Oakley" in upcoming
    shows_no_police(upcoming)
    past = text(client.get("/organisation/bookings?show=past"))
    assert "Oakfield" in past and "Attended" in past and "No-show" in past
    shows_no_police(past)
    missed = text(client.get("/organisation/no-shows"))
    assert "Oakley" in missed and "Oakfield" not in missed
    shows_no_police(missed)
    charges = text(client.get("/organisation/charges"))
    assert "Oakley" in charges and "No-show" in charges
    shows_no_police(charges)
    for page in CONTACT_PAGES[:9]:
        shows_no_police(text(client.get(page)))


def test_waiting_and_awaiting_approval_places_are_listed_apart(client, world):
    signed_in_as(client, world["school_contact"])
    full = create_session(starts_at=NOW + timedelta(days=12), places=1, overbook_percent=0)
    book_place(full, world["people"]["oak_came"], by=world["lnd"], now=NOW)
    book_place(full, world["people"]["oak_missed"], by=world["lnd"], now=NOW)
    waiting = text(client.get("/organisation/bookings?show=waiting"))
    assert "Oakley" in waiting and "Oakfield" not in waiting
    assert "1 booking" in waiting
    assert "No bookings to show" in text(client.get("/organisation/bookings?show=approval"))


def test_invoices_addressed_to_the_organisation_are_listed_and_downloaded(client, world):
    trust_invoice, police_invoice = world["trust_invoice"], world["police_invoice"]
    signed_in_as(client, world["trust_contact"])
    page = text(client.get("/organisation/invoices"))
    assert trust_invoice.number in page and police_invoice.number not in page
    response = client.get(f"/organisation/invoices/{trust_invoice.id}.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    pdf_text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(response.data)).pages)
    assert trust_invoice.number in pdf_text and "Oakley" in pdf_text


def test_credit_notes_on_the_organisations_invoices_are_downloaded_and_no_others(client, world):
    trust_note, police_note = world["notes"]["trust"], world["notes"]["police"]
    signed_in_as(client, world["trust_contact"])
    page = text(client.get("/organisation/invoices"))
    assert trust_note.number in page and police_note.number not in page
    response = client.get(f"/organisation/credit-notes/{trust_note.id}.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    pdf_text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(response.data)).pages)
    assert trust_note.number in pdf_text
    assert client.get(f"/organisation/credit-notes/{police_note.id}.pdf").status_code == 404
    assert client.get("/organisation/credit-notes/99999999.pdf").status_code == 404


def test_the_staff_page_lists_the_organisations_people_with_their_training(client, world):
    signed_in_as(client, world["school_contact"])
    page = text(client.get("/organisation/staff"))
    assert "Olivia Oakfield" in page and "Otto Oakley" in page
    assert "Tue 21 April 2026" in page  # Olivia's last session
    shows_no_police(page)


def test_a_schools_contact_does_not_see_the_invoice_addressed_to_its_trust(client, world):
    signed_in_as(client, world["school_contact"])
    page = text(client.get("/organisation/invoices"))
    assert world["trust_invoice"].number not in page
    assert client.get(f"/organisation/invoices/{world['trust_invoice'].id}.pdf").status_code == 404
    assert client.get(f"/organisation/credit-notes/{world['notes']['trust'].id}.pdf").status_code == 404


def test_guessed_ids_in_paths_and_query_strings_never_reveal_another_organisation(client, world):
    police, police_invoice = world["police"], world["police_invoice"]
    signed_in_as(client, world["trust_contact"])
    assert client.get(f"/organisation/invoices/{police_invoice.id}.pdf").status_code == 404
    assert client.get("/organisation/invoices/99999999.pdf").status_code == 404
    assert client.get("/organisation/invoices/0.pdf").status_code == 404
    for base in CONTACT_PAGES:
        joiner = "&" if "?" in base else "?"
        for query in (
            f"organisation={police.id}",
            f"organisation={police.id}&organisation={world['oak'].id}",
            f"agency={police.id}",
            f"agency_id={police.id}&user_id={world['people']['police_missed'].id}",
            "organisation=-1",
            "organisation=9999999999999999999999",
            "page=2",
            "show=everything",
        ):
            response = client.get(f"{base}{joiner}{query}")
            assert response.status_code in (200, 400, 404, 422), (base, query, response.status_code)
            if response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":
                cells = [
                    str(c.value)
                    for row in load_workbook(io.BytesIO(response.data)).active.iter_rows()
                    for c in row
                ]
                body = " ".join(cells)
            else:
                body = response.get_data(as_text=True)
            shows_no_police(body)
            assert police_invoice.number not in body


def test_choosing_one_of_the_trusts_organisations_narrows_the_lists(client, world):
    signed_in_as(client, world["trust_contact"])
    other_school = create_agency("Ash Academy", category=SCHOOL, parent=world["trust"])
    ash_person = create_user(agency=other_school, last_name="Ashworth")
    book_place(world["ahead"]["oak_came"].session, ash_person, by=ash_person, now=NOW)
    everything = text(client.get("/organisation/bookings"))
    assert "Ashworth" in everything and "Oakfield" in everything
    only_ash = text(client.get(f"/organisation/bookings?organisation={other_school.id}"))
    assert "Ashworth" in only_ash and "Oakfield" not in only_ash


# Downloads ---------------------------------------------------------------------------------------


def test_training_records_download_as_csv(client, world):
    signed_in_as(client, world["trust_contact"])
    response = client.get("/organisation/training-records.csv")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="training-records.csv"'
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [(r["Surname"], r["Organisation"], r["Attendance"]) for r in rows] == [
        ("Oakfield", "Oak Primary School", "Attended")
    ]
    assert rows[0]["Session date"] == "2026-04-21"
    assert rows[0]["CPD hours"] == "3.0"


def test_training_records_download_as_a_spreadsheet_ready_to_filter(client, world):
    signed_in_as(client, world["school_contact"])
    response = client.get("/organisation/training-records.xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    header = [c.value for c in sheet[1]]
    assert header[:3] == ["Surname", "First name", "Email"]
    assert all(c.font.bold for c in sheet[1])
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:J{sheet.max_row}"
    assert sheet.column_dimensions["F"].width >= 30
    [row] = list(sheet.iter_rows(min_row=2))
    values = dict(zip(header, [c.value for c in row], strict=True))
    assert values["Surname"] == "Oakfield"
    assert values["Session date"] == datetime(2026, 4, 21)
    assert row[header.index("Session date")].number_format == "dd/mm/yyyy"
    assert values["CPD hours"] == 3


def test_a_name_that_looks_like_a_formula_is_defused_in_both_downloads(client, world):
    person = world["people"]["oak_came"]
    person.first_name = "=HYPERLINK(1)"
    db.session.flush()
    signed_in_as(client, world["school_contact"])
    csv_text = client.get("/organisation/training-records.csv").get_data(as_text=True)
    assert "'=HYPERLINK(1)" in csv_text
    sheet = load_workbook(io.BytesIO(client.get("/organisation/training-records.xlsx").data)).active
    assert sheet["B2"].value == "'=HYPERLINK(1)"


# Who may open them -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.PRACTITIONER, Role.TRAINER, Role.FINANCE, Role.LND_ADMIN])
def test_other_roles_cannot_open_the_contacts_pages(client, world, role):
    signed_in_as(client, create_user(roles=(role,), agency=world["oak"]))
    for page in CONTACT_PAGES:
        assert client.get(page).status_code == 403, page
    assert client.get(f"/organisation/invoices/{world['trust_invoice'].id}.pdf").status_code == 403
    assert "My organisations" not in text(client.get("/account"))


def test_strangers_are_sent_to_sign_in(client, world):
    for page in CONTACT_PAGES:
        response = client.get(page)
        assert response.status_code == 302 and response.headers["Location"].startswith("/sign-in"), page


def test_a_contact_named_for_nothing_sees_an_empty_page(client, world):
    lonely = create_user(roles=(Role.TRAINING_CONTACT,), agency=world["police"])
    signed_in_as(client, lonely)
    assert "not a training contact for any organisation" in text(client.get("/organisation/"))
    shows_no_police(text(client.get("/organisation/charges")))
    rows = list(
        csv.reader(io.StringIO(client.get("/organisation/training-records.csv").get_data(as_text=True)))
    )
    assert len(rows) == 1  # the header only


# L&D names contacts on the organisation's page ---------------------------------------------------


def test_l_and_d_add_and_remove_a_training_contact_on_the_organisations_page(client, world):
    police = world["police"]
    person = create_user("sergeant@example.org", agency=police, first_name="Sid", last_name="Sarge")
    signed_in_as(client, world["lnd"])
    path = f"/admin/agencies/{police.id}"
    assert "No training contact yet" in text(client.get(path))
    response = client.post(
        f"{path}/training-contacts",
        data={"email": "Sergeant@Example.org ", "csrf_token": csrf_token(client, path)},
    )
    assert response.status_code == 302 and response.headers["Location"] == path
    page = text(client.get(path))
    assert "Sid Sarge" in page and "is now a training contact for County Police" in page
    db.session.expire_all()
    assert follows(person, police)

    response = client.post(
        f"{path}/training-contacts",
        data={"email": "nobody@example.org", "csrf_token": csrf_token(client, path)},
    )
    assert "No one is registered with that email address" in text(client.get(response.headers["Location"]))

    response = client.post(
        f"{path}/training-contacts/{person.id}/remove", data={"csrf_token": csrf_token(client, path)}
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert not follows(person, police)
    assert person.roles == {Role.PRACTITIONER}


def test_only_l_and_d_name_training_contacts(client, world):
    police = world["police"]
    signed_in_as(client, world["trust_contact"])
    token = csrf_token(client, "/organisation/")
    response = client.post(
        f"/admin/agencies/{police.id}/training-contacts",
        data={"email": world["trust_contact"].email, "csrf_token": token},
    )
    assert response.status_code == 403
    assert not follows(world["trust_contact"], police)


def test_the_overview_counts_only_the_organisations_own(client, world):
    signed_in_as(client, world["school_contact"])
    page = text(client.get("/organisation/"))
    # Two Oak places ahead (four booked in all), one Oak no-show (two in all), charged and invoiced.
    assert re.search(r"coming up</a></th><td class=\"num\">2</td>", page)
    assert re.search(r"in the last year</a></th><td class=\"num\">1</td>", page)


def test_downloading_training_records_is_written_to_the_security_events(client, world):
    from lms.core.audit import AuditEntry

    contact = world["trust_contact"]
    signed_in_as(client, contact)
    assert client.get("/organisation/training-records.xlsx").status_code == 200
    assert client.get("/organisation/training-records.csv").status_code == 200
    db.session.expire_all()
    exported = db.session.scalars(
        sa.select(AuditEntry).where(
            AuditEntry.name == "lms.security.exported", AuditEntry.actor_id == contact.id
        )
    ).all()
    assert sorted(e.data["what"] for e in exported) == [
        "Training records of an organisation's staff (CSV)",
        "Training records of an organisation's staff (XLSX)",
    ]
