"""`flask lms demo-data` builds a believable financial year, and only in an empty database."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from lms.accounts.models import Agency, Role, User, UserRole
from lms.accounts.passwords import verify_password
from lms.accounts.services import unmapped_organisations
from lms.core.audit import AuditEntry
from lms.core.calendar import is_working_day
from lms.core.timezones import london_date
from lms.courses.models import Course, CourseSession, DeliveryMode, SessionStatus
from lms.demo import DEMO_PASSWORD, financial_year
from lms.extensions import db
from tests.factories import NOW, create_agency

# The clock is frozen at 4 May 2026 (tests/factories.py), so this is the current year.
YEAR_START, YEAR_END = date(2026, 4, 1), date(2027, 3, 31)


@pytest.fixture
def run_demo(app):
    runner = app.test_cli_runner()
    return lambda: runner.invoke(args=["lms", "demo-data"])


@pytest.fixture
def loaded(run_demo):
    result = run_demo()
    assert result.exit_code == 0, result.output
    return result


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def people_with_role(role: Role) -> list[User]:
    return list(
        db.session.scalars(sa.select(User).join(UserRole).where(UserRole.role == role).order_by(User.id))
    )


def test_the_financial_year_runs_from_1_april_to_31_march():
    assert financial_year(date(2026, 11, 21), "04-01") == (YEAR_START, YEAR_END)
    assert financial_year(date(2027, 3, 31), "04-01") == (YEAR_START, YEAR_END)
    assert financial_year(date(2026, 4, 1), "04-01") == (YEAR_START, YEAR_END)
    assert financial_year(date(2026, 3, 31), "04-01") == (date(2025, 4, 1), date(2026, 3, 31))


def test_it_loads_every_agency_and_the_whole_programme(loaded):
    assert count(Agency) == 26
    assert count(Course) == 16
    assert count(CourseSession) == 68
    police = db.session.scalar(sa.select(Agency).where(Agency.short_name == "WMP"))
    assert police.billing_email and police.billing_address and police.purchase_order


def test_every_session_is_on_a_working_day_of_the_current_year(loaded):
    for session in db.session.scalars(sa.select(CourseSession)):
        day = london_date(session.starts_at)
        assert YEAR_START <= day <= YEAR_END
        assert is_working_day(day), day
        assert session.ends_at > session.starts_at
        assert session.trainer is not None
        if session.delivery_mode is DeliveryMode.IN_PERSON:
            assert session.venue
        else:
            assert session.online_link.startswith("https://")


def test_a_few_sessions_earlier_in_the_year_were_cancelled(loaded):
    cancelled = db.session.scalars(
        sa.select(CourseSession).where(CourseSession.status == SessionStatus.CANCELLED)
    ).all()
    assert 1 <= len(cancelled) <= 3
    for session in cancelled:
        assert session.starts_at < NOW
        assert session.cancelled_at < session.starts_at
        assert session.cancel_reason


def test_hundreds_of_practitioners_some_of_whom_typed_their_organisation(loaded):
    assert len(people_with_role(Role.PRACTITIONER)) >= 300
    typed = db.session.scalars(sa.select(User).where(User.other_organisation.is_not(None))).all()
    assert typed
    assert all(person.agency_id is None for person in typed)
    # Names differing only in case are grouped for L&D to map in one go.
    assert any(group.people > 1 for group in unmapped_organisations())


def test_there_is_a_demo_sign_in_for_each_role(loaded):
    accounts = {
        "practitioner@demo.example": Role.PRACTITIONER,
        "trainer@demo.example": Role.TRAINER,
        "lnd@demo.example": Role.LND_ADMIN,
        "finance@demo.example": Role.FINANCE,
    }
    for email, role in accounts.items():
        user = db.session.scalar(sa.select(User).where(User.email == email))
        assert user.roles == {role}
        assert verify_password(user.password_hash, DEMO_PASSWORD)
        assert email in loaded.output
    assert DEMO_PASSWORD in loaded.output
    assert len(people_with_role(Role.TRAINER)) >= 5


def test_the_demo_trainer_has_sessions_still_to_come(loaded):
    trainer = db.session.scalar(sa.select(User).where(User.email == "trainer@demo.example"))
    upcoming = db.session.scalars(
        sa.select(CourseSession).where(CourseSession.trainer_id == trainer.id, CourseSession.starts_at > NOW)
    ).all()
    assert upcoming


def test_running_it_again_changes_nothing(loaded, run_demo):
    before = [count(model) for model in (Agency, User, Course, CourseSession, AuditEntry)]
    again = run_demo()
    assert again.exit_code == 0
    assert "not empty" in again.output
    assert [count(model) for model in (Agency, User, Course, CourseSession, AuditEntry)] == before


def test_it_refuses_a_database_that_already_has_an_agency(run_demo):
    create_agency("West Midlands Police")
    result = run_demo()
    assert result.exit_code == 0
    assert "not empty" in result.output
    assert count(Agency) == 1
    assert count(User) == 0
