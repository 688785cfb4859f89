"""A partnership goes live from an empty database, following docs/operations.md: the first
administrator, the official organisation lists, people, the programme and past attendance, then
a practitioner registers with their school, books, does not come, and each school is invoiced."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from lms.accounts.models import Agency, User
from lms.bookings.models import Booking
from lms.core import clock
from lms.core.financial_year import financial_year_bounds
from lms.courses.models import CourseSession
from lms.extensions import db
from lms.finance.models import Invoice
from lms.reporting.utilisation import Dimension, utilisation
from tests.accounts.signing_in import finish_sign_in
from tests.conftest import Mailbox, csrf_token
from tests.factories import NOW, PASSWORD

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "imports"
OPERATIONS = (ROOT / "docs" / "operations.md").read_text()


def flask_lms(app, *args: str, input: str | None = None):
    result = app.test_cli_runner().invoke(args=["lms", *args], input=input)
    return result


def post_form(client, page: str, data: dict, action: str | None = None):
    return client.post(action or page, data={**data, "csrf_token": csrf_token(client, page)})


def sign_out(client):
    client.post("/sign-out", data={"csrf_token": csrf_token(client, "/password/forgot")})


def sign_in_as(client, email: str):
    sign_out(client)
    response = post_form(client, "/sign-in", {"email": email, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)
    finish_sign_in(client, response, email)  # staff set up, then use, their authenticator app
    assert client.get("/dashboard").status_code == 200


def choose_password(client, invitation) -> None:
    link = re.search(r"https?://\S+/password/reset/\S+", Mailbox.text(invitation)).group(0)
    path = link.split("://", 1)[1].split("/", 1)[1]
    response = post_form(client, "/" + path, {"password": PASSWORD, "confirm_password": PASSWORD})
    assert response.status_code == 302


def test_every_command_in_the_operations_guide_exists(app):
    documented = set(re.findall(r"flask --app wsgi lms ([a-z-]+)", OPERATIONS))
    documented |= set(re.findall(r"`(import-[a-z]+) FILE`", OPERATIONS))
    assert {"create-admin", "import-organisations", "import-people", "import-programme"} <= documented
    assert "import-attendance" in documented
    registered = set(app.cli.commands["lms"].commands)
    assert documented <= registered, documented - registered


def test_a_partnership_goes_live_from_an_empty_database(app, client, mailbox):
    # 1. The home page of the empty installation says what to run; the installer runs it.
    assert "lms create-admin" in client.get("/").get_data(as_text=True)
    admin = ("--email", "sam.patel@example.org", "--name", "Sam Patel")
    made = flask_lms(app, "create-admin", *admin, input=f"{PASSWORD}\n" * 2)
    assert made.exit_code == 0, made.output

    # 2. Organisations: the DfE schools extract, the NHS GP practice file, and the rest in the simple layout.
    bad = flask_lms(app, "import-organisations", str(DATA / "organisations-bad.csv"), "--dry-run")
    assert bad.exit_code == 1 and "line 3" in bad.output and "line 5" in bad.output
    assert db.session.scalar(sa.select(sa.func.count(Agency.id))) == 0
    lists = (("gias-establishments.csv", "gias"), ("epraccur.csv", "ods"), ("organisations.csv", None))
    for name, layout in lists:
        args = ["import-organisations", str(DATA / name)] + (["--layout", layout] if layout else [])
        assert flask_lms(app, *args, "--dry-run").exit_code == 0
        result = flask_lms(app, *args)
        assert result.exit_code == 0, result.output
    schools = {a.official_code: a for a in db.session.scalars(sa.select(Agency)) if a.official_code}
    assert {"990001", "M99001", "190001"} <= set(schools)
    closed = schools.get("990004")  # Old Mill Junior School, closed in the extract: never offered
    assert closed is None or not closed.is_active

    # 3. People (invited by email), the programme and past attendance.
    for kind in ("people", "programme", "attendance"):
        result = flask_lms(app, f"import-{kind}", str(DATA / f"{kind}.csv"))
        assert result.exit_code == 0, result.output
    assert mailbox.to("amira.khan@example.org"), "imported people are invited"

    # 4. L&D adds a finance officer, who chooses a password from the invitation.
    sign_in_as(client, "sam.patel@example.org")
    page = "/admin/people/new"
    response = post_form(
        client,
        page,
        {
            "first_name": "Fola",
            "last_name": "Adeyemi",
            "email": "finance@example.org",
            "job_role": "Finance officer",
            "organisation": "Townbury Police",
            "line_manager_name": "Pat Lead",
            "line_manager_email": "pat@example.org",
            "roles": "finance",
            "enabled": "y",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    sign_out(client)
    choose_password(client, mailbox.delivered().to("finance@example.org")[-1])

    # 5. A practitioner registers, choosing their school from the list, and books.
    sign_out(client)
    hawthorn = schools["990001"]
    response = post_form(
        client,
        "/register",
        {
            "first_name": "Hana",
            "last_name": "Begum",
            "email": "hana.begum@example.org",
            "job_role": "Class teacher",
            "organisation": hawthorn.label,
            "line_manager_name": "Head Teacher",
            "line_manager_email": "head@example.org",
            "password": PASSWORD,
            "confirm_password": PASSWORD,
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    confirmation = Mailbox.text(mailbox.delivered().to("hana.begum@example.org")[-1])
    link = re.search(r"https?://[^/\s]+(/register/confirm/\S+)", confirmation).group(1)
    assert post_form(client, link, {}).status_code == 302
    session = db.session.scalar(
        sa.select(CourseSession).where(CourseSession.starts_at == datetime(2026, 6, 16, 8, 30, tzinfo=UTC))
    )
    assert post_form(client, f"/sessions/{session.id}", {}, f"/sessions/{session.id}/book").status_code == 302
    # L&D book an imported teacher (whose academy's trust pays) and a nursery worker on it too.
    sign_in_as(client, "sam.patel@example.org")
    for email in ("amira.khan@example.org", "chloe.price@example.org"):
        roster = f"/admin/programme/sessions/{session.id}/roster"
        assert post_form(client, roster, {"email": email}, roster + "/add").status_code == 302

    # 6. The session runs; nobody comes; the register is closed.
    clock.freeze(datetime(2026, 6, 16, 12, 0, tzinfo=UTC))
    try:
        bookings = db.session.scalars(sa.select(Booking).where(Booking.session_id == session.id)).all()
        assert len(bookings) == 3
        register = f"/sessions/{session.id}/register"
        marks = {f"attendance-{b.id}": "no_show" for b in bookings}
        assert post_form(client, register, {**marks, "action": "close"}).status_code == 302

        # 7. Finance invoices the period: each school separately, the academy through its trust.
        sign_in_as(client, "finance@example.org")
        response = post_form(client, "/finance/run", {"start": "2026-06-01", "end": "2026-06-30"})
        assert response.status_code == 302, response.get_data(as_text=True)
    finally:
        clock.freeze(NOW)
    invoices = db.session.scalars(sa.select(Invoice).order_by(Invoice.sequence)).all()
    assert sorted(i.bill_to_name for i in invoices) == [
        "Hawthorn Community Primary School",
        "Hollyfield Learning Trust",
        "Little Acorns Day Nursery",
    ]
    assert all(i.total_pence == 2500 for i in invoices)

    # 8. Last year's figures come from the imported attendance.
    start, end = financial_year_bounds(2025)
    previous = utilisation(Dimension.AGENCY, start, end, now=NOW)
    # attendance.csv: two sessions last year; three came (one for part of it), one did not.
    assert (previous.total.sessions, previous.total.no_shows) == (2, 1)
    assert previous.total.attended + previous.total.partial == 3
    amira = db.session.scalar(sa.select(User).where(User.email == "amira.khan@example.org"))
    assert amira is not None
