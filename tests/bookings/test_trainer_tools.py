"""The trainer's tools: the delegate list before the session, the sign-in sheet and register
downloads, "mark everyone attended", walk-ins without an account, and the trainer's own session."""

import csv
import io
from datetime import timedelta

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook
from pypdf import PdfReader

from lms.accounts.models import Role, User
from lms.bookings.models import Attendance, BookingStatus
from lms.bookings.services import (
    BookingError,
    add_delegate,
    book_place,
    cancel_session,
    edit_session,
    mark_attendance,
)
from lms.bookings.sheets import SheetLine, SignInSheet, render_sign_in_sheet
from lms.bookings.trainer_tools import (
    WalkInDetails,
    add_walk_in_person,
    delegate_list,
    mark_rest_attended,
)
from lms.core import clock
from lms.core.audit import AuditEntry
from lms.core.errors import PermissionDenied
from lms.courses.models import DeliveryMode
from lms.courses.services import SessionDetails
from lms.extensions import db
from lms.messages.models import OutboxMessage
from tests.conftest import Mailbox, csrf_token, sign_in
from tests.factories import NOW, create_agency, create_course, create_session, create_user

START = NOW + timedelta(days=10)  # Thursday 14 May 2026, 10:00 in London
STARTED = START + timedelta(minutes=20)


@pytest.fixture
def trainer():
    return create_user("trainer@example.org", roles=(Role.TRAINER,), first_name="Tara", last_name="Trainer")


@pytest.fixture
def session(trainer):
    course = create_course("Neglect: Recognising & Responding")
    return create_session(
        course=course,
        starts_at=START,
        trainer=trainer,
        places=2,
        overbook_percent=0,
        delivery_mode=DeliveryMode.IN_PERSON,
        venue="Room 4, Council House",
    )


@pytest.fixture
def delegates(session):
    police = create_agency("West Midlands Police")
    people = [
        create_user(first_name="Ada", last_name="Able", agency=police),
        create_user(first_name="Bo", last_name="Brown", other_organisation="Little Acorns Nursery"),
    ]
    return [book_place(session, person, by=person, now=NOW) for person in people]


@pytest.fixture
def waiting(session, delegates):
    person = create_user(first_name="Wyn", last_name="Waiting")
    return book_place(session, person, by=person, now=NOW)


def entries(name: str) -> list[AuditEntry]:
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.name == name)))


def other_client(app, user):
    client = app.test_client()
    sign_in(client, user)
    return client


# The delegate list before the session ----------------------------------------------------------


def test_the_trainer_sees_who_is_coming_before_the_start(app_context, session, trainer, delegates, waiting):
    listed = delegate_list(session, by=trainer)
    assert [b.user.last_name for b in listed.delegates] == ["Able", "Brown"]
    assert listed.waiting == 1 and listed.checked_in == 0
    with pytest.raises(PermissionDenied):
        delegate_list(session, by=create_user(roles=(Role.TRAINER,)))


def test_the_register_page_lists_the_delegates_read_only_until_the_start(
    client, session, trainer, delegates, waiting
):
    sign_in(client, trainer)
    page = client.get(f"/sessions/{session.id}/register").get_data(as_text=True)
    assert "The register opens when the session starts" in page
    for text in ("Ada Able", "West Midlands Police", "Bo Brown", "Little Acorns Nursery", "Social worker"):
        assert text in page
    assert "1 person on the waiting list" in page
    assert 'type="radio"' not in page and "Save register" not in page
    assert "Wyn Waiting" not in page


def test_the_session_page_leads_the_trainer_to_the_delegates(client, session, trainer):
    sign_in(client, trainer)
    page = client.get(f"/sessions/{session.id}").get_data(as_text=True)
    assert "Delegates and sign-in sheet" in page


@pytest.mark.parametrize("path", ["register", "register/sign-in-sheet.pdf", "register.csv", "register.xlsx"])
def test_another_trainer_or_a_practitioner_is_refused(app, client, session, delegates, path):
    sign_in(client, create_user(roles=(Role.TRAINER,)))
    assert client.get(f"/sessions/{session.id}/{path}").status_code == 403
    practitioner = other_client(app, delegates[0].user)
    assert practitioner.get(f"/sessions/{session.id}/{path}").status_code == 403
    assert practitioner.get(f"/sessions/999999/{path}").status_code in (403, 404)


def test_l_and_d_see_the_delegates_too(client, session, delegates):
    sign_in(client, create_user(roles=(Role.LND_ADMIN,)))
    page = client.get(f"/sessions/{session.id}/register").get_data(as_text=True)
    assert "Ada Able" in page


# The sign-in sheet and the register as a spreadsheet ---------------------------------------------


def sheet_text(pdf: bytes) -> tuple[int, str]:
    reader = PdfReader(io.BytesIO(pdf))
    return len(reader.pages), "\n".join(page.extract_text() for page in reader.pages)


def test_the_sign_in_sheet_lists_names_organisations_and_a_place_to_sign(client, session, trainer, delegates):
    sign_in(client, trainer)
    response = client.get(f"/sessions/{session.id}/register/sign-in-sheet.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert "attachment" in response.headers["Content-Disposition"]
    pages, text = sheet_text(response.data)
    assert pages == 1
    for expected in (
        "Sign-in sheet",
        "Neglect: Recognising & Responding",
        "Thu 14 May 2026, 10:00 to 13:00",
        "Room 4, Council House",
        "Tara Trainer",
        "Ada Able",
        "West Midlands Police",
        "Bo Brown",
        "Little Acorns Nursery",
        "Signature",
        "Page 1 of 1",
    ):
        assert expected in text, expected


def test_a_long_sheet_runs_over_pages_numbered_n_of_m(app_context):
    lines = [SheetLine(f"Delegate Number{n}", "Łódź Community Trust", "Health visitor") for n in range(60)]
    sheet = SignInSheet(
        course_title="Safeguarding Babies",
        when="Thu 14 May 2026, 10:00 to 13:00 (UK time)",
        where="Online",
        trainer="",
        partnership_name="Example Safeguarding Children Partnership",
        lines=lines,
    )
    pdf = render_sign_in_sheet(sheet)
    assert render_sign_in_sheet(sheet) == pdf  # the same data, the same bytes
    pages, text = sheet_text(pdf)
    assert pages >= 3
    assert f"Page 1 of {pages}" in text and f"Page {pages} of {pages}" in text
    assert "Delegate Number0" in text and "Delegate Number59" in text
    assert "Łódź Community Trust" in text
    assert text.count("Signature") == pages  # the header row on every page


def test_the_register_downloads_as_csv_and_as_a_spreadsheet(client, session, trainer, delegates):
    delegates[0].checked_in_at = START - timedelta(minutes=5)
    db.session.flush()
    sign_in(client, trainer)
    response = client.get(f"/sessions/{session.id}/register.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == [
        "First name",
        "Last name",
        "Email",
        "Organisation",
        "Job role",
        "Checked in",
        "Attendance",
        "Walk-in",
    ]
    assert rows[1][:2] == ["Ada", "Able"] and rows[1][3] == "West Midlands Police"
    assert rows[1][5].startswith("2026-05-14 09:55")  # UK time
    assert rows[2][3] == "Little Acorns Nursery" and rows[2][5] == ""

    response = client.get(f"/sessions/{session.id}/register.xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    header_row = next(i for i, row in enumerate(values) if row[0] == "First name")
    assert values[header_row + 1][:2] == ["Ada", "Able"]
    assert sheet.cell(row=header_row + 1, column=1).font.bold


# Everyone attended, then the exceptions -----------------------------------------------------------


def test_everyone_not_yet_marked_is_marked_attended_and_each_mark_audited(
    app_context, session, trainer, delegates
):
    late, came = delegates
    mark_attendance(late, Attendance.PARTIAL, by=trainer, now=STARTED)
    marked = mark_rest_attended(session, by=trainer, now=STARTED + timedelta(minutes=1))
    assert marked == [came]
    assert late.attendance is Attendance.PARTIAL  # an exception already made stays
    assert came.attendance is Attendance.ATTENDED and came.attendance_marked_by_id == trainer.id
    assert {e.subject_id for e in entries("lms.register.marked")} == {late.id, came.id}
    [summary] = entries("lms.register.marked_rest_attended")
    assert summary.subject_id == session.id
    assert mark_rest_attended(session, by=trainer, now=STARTED + timedelta(minutes=2)) == []


def test_marking_everyone_waits_for_the_start_and_for_the_right_trainer(
    app_context, session, trainer, delegates
):
    with pytest.raises(BookingError, match="opens when the session starts"):
        mark_rest_attended(session, by=trainer, now=START - timedelta(minutes=1))
    with pytest.raises(PermissionDenied):
        mark_rest_attended(session, by=create_user(roles=(Role.TRAINER,)), now=STARTED)
    assert all(b.attendance is None for b in delegates)


def test_the_register_page_marks_everyone_then_the_trainer_changes_the_exceptions(
    client, session, trainer, delegates
):
    sign_in(client, trainer)
    clock.freeze(STARTED)
    path = f"/sessions/{session.id}/register"
    page = client.get(path).get_data(as_text=True)
    assert "Mark everyone not yet marked as attended" in page
    response = client.post(f"{path}/mark-rest-attended", data={"csrf_token": csrf_token(client, path)})
    assert response.status_code == 302
    page = client.get(path).get_data(as_text=True)
    assert "2 delegates marked as attended" in page
    assert "Mark everyone not yet marked as attended" not in page
    no_show = delegates[1]
    response = client.post(
        path,
        data={
            f"attendance-{no_show.id}": "no_show",
            "action": "save",
            "csrf_token": csrf_token(client, path),
        },
    )
    assert response.status_code == 302
    db.session.refresh(no_show)
    db.session.refresh(delegates[0])
    assert no_show.attendance is Attendance.NO_SHOW and delegates[0].attendance is Attendance.ATTENDED


def test_another_trainer_cannot_mark_everyone(client, session, delegates):
    sign_in(client, create_user(roles=(Role.TRAINER,)))
    clock.freeze(STARTED)
    path = f"/sessions/{session.id}/register/mark-rest-attended"
    token = csrf_token(client, f"/sessions/{session.id}")
    assert client.post(path, data={"csrf_token": token}).status_code == 403
    assert all(b.attendance is None for b in delegates)


# Walk-ins without an account ---------------------------------------------------------------------


def walk_in(email="new.person@example.org", **changes) -> WalkInDetails:
    values = dict(
        first_name="Nia",
        last_name="Newcomer",
        email=email,
        job_role="Family support worker",
        agency_id=None,
        other_organisation="Hope Street Family Centre",
    )
    values.update(changes)
    return WalkInDetails(**values)


def test_a_walk_in_without_an_account_gets_one_and_an_invitation(app_context, session, trainer, delegates):
    booking, created = add_walk_in_person(session, walk_in(), Attendance.PARTIAL, by=trainer, now=STARTED)
    assert created
    person = booking.user
    assert person.full_name == "Nia Newcomer" and person.other_organisation == "Hope Street Family Centre"
    assert person.password_hash is None and person.confirmation_pending
    assert person.roles == {Role.PRACTITIONER}
    assert booking.is_walk_in and booking.is_confirmed and booking.attendance is Attendance.PARTIAL
    [invitation] = db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.kind == "account.invitation")
    )
    assert invitation.recipient == "new.person@example.org"
    assert "Choose your password" in invitation.body
    [created_entry] = entries("lms.user.created")
    assert created_entry.actor_id == trainer.id


def test_an_existing_email_adds_the_existing_person(app_context, session, trainer, waiting):
    person = waiting.user
    booking, created = add_walk_in_person(
        session,
        walk_in(person.email.upper(), first_name="Other"),
        Attendance.ATTENDED,
        by=trainer,
        now=STARTED,
    )
    assert not created and booking.user_id == person.id and booking.id == waiting.id
    assert booking.status is BookingStatus.CONFIRMED
    assert person.first_name == "Wyn"  # what was typed does not change their account
    assert (
        db.session.scalar(
            sa.select(sa.func.count(OutboxMessage.id)).where(OutboxMessage.kind == "account.invitation")
        )
        == 0
    )
    with pytest.raises(BookingError, match="already on the register"):
        add_walk_in_person(session, walk_in(person.email), Attendance.ATTENDED, by=trainer, now=STARTED)


def test_a_walk_in_waits_for_the_start_and_the_right_trainer(app_context, session, trainer):
    with pytest.raises(BookingError, match="opens when the session starts"):
        add_walk_in_person(
            session, walk_in(), Attendance.ATTENDED, by=trainer, now=START - timedelta(minutes=5)
        )
    with pytest.raises(PermissionDenied):
        add_walk_in_person(
            session, walk_in(), Attendance.ATTENDED, by=create_user(roles=(Role.TRAINER,)), now=STARTED
        )
    assert db.session.scalar(sa.select(User).where(User.email == "new.person@example.org")) is None


def test_the_trainer_adds_a_walk_in_on_the_register_page(client, session, trainer, mailbox):
    agency = create_agency("Brook Primary School")
    sign_in(client, trainer)
    clock.freeze(STARTED)
    path = f"/sessions/{session.id}/register"
    page = client.get(path).get_data(as_text=True)
    assert "Someone came who was not booked" in page and "Brook Primary School" in page
    data = {
        "email": "teacher@example.org",
        "first_name": "Tom",
        "last_name": "Teacher",
        "organisation": "Brook Primary School",
        "job_role": "",
        "outcome": "attended",
    }
    response = client.post(f"{path}/add-person", data={**data, "csrf_token": csrf_token(client, path)})
    assert response.status_code == 302
    page = client.get(path).get_data(as_text=True)
    assert "Tom Teacher has been added to the register" in page and "invitation" in page
    person = db.session.scalar(sa.select(User).where(User.email == "teacher@example.org"))
    assert person.agency_id == agency.id
    [message] = mailbox.delivered().to("teacher@example.org")
    assert "choose your password" in Mailbox.text(message).lower()


def test_the_walk_in_form_explains_what_is_missing(client, session, trainer):
    sign_in(client, trainer)
    clock.freeze(STARTED)
    path = f"/sessions/{session.id}/register"
    response = client.post(
        f"{path}/add-person",
        data={"email": "someone@example.org", "outcome": "attended", "csrf_token": csrf_token(client, path)},
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Enter their first name." in page and "Enter the organisation" in page
    assert db.session.scalar(sa.select(User).where(User.email == "someone@example.org")) is None


def test_an_existing_account_needs_only_the_email_on_the_page(client, session, trainer):
    known = create_user("known@example.org", first_name="Kai")
    sign_in(client, trainer)
    clock.freeze(STARTED)
    path = f"/sessions/{session.id}/register"
    response = client.post(
        f"{path}/add-person",
        data={"email": "known@example.org", "outcome": "partial", "csrf_token": csrf_token(client, path)},
    )
    assert response.status_code == 302
    page = client.get(path).get_data(as_text=True)
    assert f"{known.full_name} has been added to the register." in page
    assert "We have emailed them an invitation" not in page


def test_another_trainer_cannot_add_a_walk_in(client, session):
    sign_in(client, create_user(roles=(Role.TRAINER,)))
    clock.freeze(STARTED)
    token = csrf_token(client, f"/sessions/{session.id}")
    response = client.post(
        f"/sessions/{session.id}/register/add-person",
        data={
            "email": "x@example.org",
            "first_name": "X",
            "last_name": "Y",
            "organisation": "Z",
            "not_listed": "y",
            "outcome": "attended",
            "csrf_token": token,
        },
    )
    assert response.status_code == 403
    assert db.session.scalar(sa.select(User).where(User.email == "x@example.org")) is None


# The trainer's own session ---------------------------------------------------------------------


def test_the_trainer_is_not_offered_a_place_on_their_own_session(client, session, trainer):
    sign_in(client, trainer)
    page = client.get(f"/sessions/{session.id}").get_data(as_text=True)
    assert "You deliver this session" in page
    assert "Book a place" not in page and "Join the waiting list" not in page
    response = client.post(
        f"/sessions/{session.id}/book", data={"csrf_token": csrf_token(client, f"/sessions/{session.id}")}
    )
    assert response.status_code == 302
    page = client.get(f"/sessions/{session.id}").get_data(as_text=True)
    assert "You deliver this session, so you cannot book a place on it." in page


def test_the_service_refuses_the_trainer_a_place_whoever_asks(app_context, session, trainer):
    with pytest.raises(BookingError, match="You deliver this session") as refused:
        book_place(session, trainer, by=trainer, now=NOW)
    assert refused.value.status == 409
    with pytest.raises(BookingError, match="Tara Trainer delivers this session"):
        add_delegate(session, trainer, by=create_user(roles=(Role.LND_ADMIN,)), now=NOW)
    other_session = create_session(starts_at=START)
    assert book_place(other_session, trainer, by=trainer, now=NOW).is_confirmed


def details_of(session, **changes) -> SessionDetails:
    values = dict(
        course_id=session.course_id,
        starts_at=session.starts_at,
        ends_at=session.ends_at,
        delivery_mode=session.delivery_mode,
        places=session.places,
        overbook_percent=session.overbook_percent,
        cost_pence=session.cost_pence,
        venue=session.venue,
        online_link=session.online_link,
        trainer_id=session.trainer_id,
    )
    values.update(changes)
    return SessionDetails(**values)


def test_the_trainer_is_emailed_when_their_session_moves_or_is_cancelled(
    app_context, session, trainer, delegates, mailbox
):
    admin = create_user(roles=(Role.LND_ADMIN,))
    edit_session(session, details_of(session, places=3), by=admin, now=NOW)  # places only: nobody told
    edit_session(session, details_of(session, venue="Room 9, Council House"), by=admin, now=NOW)
    cancel_session(session, reason="Venue flooded", by=admin, now=NOW + timedelta(hours=1))
    changed, cancelled = mailbox.delivered().to("trainer@example.org")
    assert changed["Subject"].startswith("Session you deliver changed: 14 May 2026")
    assert "Room 9, Council House" in Mailbox.text(changed)
    assert "2 delegates have a confirmed place" in Mailbox.text(changed)
    assert cancelled["Subject"].startswith("Session you deliver cancelled: 14 May 2026")
    assert "Venue flooded" in Mailbox.text(cancelled)


def test_a_session_without_a_trainer_emails_no_trainer(app_context, delegates):
    session = create_session(starts_at=START)
    cancel_session(session, reason="Low numbers", by=create_user(roles=(Role.LND_ADMIN,)), now=NOW)
    kinds = db.session.scalars(sa.select(OutboxMessage.kind)).all()
    assert "session.trainer_cancelled" not in kinds
