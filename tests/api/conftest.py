"""Helpers for the JSON API's tests: tokens made through the services, and calls that carry them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lms.accounts.models import Role, TrainingContact
from lms.bookings.models import Attendance
from lms.bookings.services import book_place, close_register, mark_attendance
from lms.extensions import db
from lms.finance.services import run_invoicing
from lms.integrations.services import create_integration, create_integration_token, create_personal_token
from lms.integrations.tokens import Scope
from tests.factories import NOW, create_agency, create_session, create_user


def personal_token(person, *scopes: Scope, expires_at=None) -> str:
    return create_personal_token(person, "Test", scopes, expires_at=expires_at, now=NOW).secret


def integration_token(*scopes: Scope, agency=None, by=None) -> str:
    by = by or create_user(roles=(Role.LND_ADMIN,))
    integration = create_integration(
        f"System {id(scopes)}-{agency.id if agency else 0}-{by.id}",
        description=None,
        contact_email=None,
        agency=agency,
        by=by,
        now=NOW,
    )
    return create_integration_token(integration, "Test", scopes, expires_at=None, by=by, now=NOW).secret


def call(client, path: str, token: str | None = None, **kwargs):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get(path, headers=headers, **kwargs)


def make_contact(*agencies):
    person = create_user(roles=(Role.PRACTITIONER, Role.TRAINING_CONTACT), agency=agencies[0])
    for agency in agencies:
        db.session.add(TrainingContact(user_id=person.id, agency_id=agency.id, added_at=NOW))
    db.session.flush()
    return person


def attended(person, *, days_ago: int = 10, attendance=Attendance.ATTENDED):
    """A session the person went to (or missed), its register closed."""
    trainer = create_user(roles=(Role.TRAINER,))
    session = create_session(starts_at=NOW - timedelta(days=days_ago), trainer=trainer)
    admin = create_user(roles=(Role.LND_ADMIN,))
    booking = book_place(session, person, by=admin, now=session.starts_at - timedelta(days=20))
    mark_attendance(booking, attendance, by=trainer, now=session.starts_at + timedelta(minutes=5))
    close_register(session, by=trainer, now=session.ends_at)
    return booking


@pytest.fixture
def invoiced(app_context):
    """Two organisations each with a no-show invoiced (financial year 2026/27)."""
    from datetime import date

    police, council = create_agency("Northshire Police"), create_agency("Northshire Council")
    for agency in (police, council):
        attended(create_user(agency=agency), days_ago=10, attendance=Attendance.NO_SHOW)
    finance = create_user(roles=(Role.FINANCE,))
    invoices = run_invoicing(date(2026, 4, 1), date(2026, 5, 3), by=finance, now=NOW)
    return police, council, invoices
