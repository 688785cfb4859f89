"""A register left open: the trainer is reminded once, then it closes itself if anyone was marked."""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from lms.accounts.models import Role
from lms.bookings.models import Attendance
from lms.bookings.registers import close_open_registers, closes_automatically_at, remind_open_registers
from lms.bookings.services import book_place, mark_attendance
from lms.core import clock
from lms.core.audit import AuditEntry
from lms.courses.models import SessionStatus
from lms.extensions import db
from lms.finance.models import Charge, ChargeReason
from lms.messages.models import OutboxMessage
from tests.conftest import sign_in
from tests.factories import create_session, create_user

# Thursday 11 June 2026, 09:30 to 12:30 in London. Working days after: Fri 12, Mon 15, Tue 16.
THURSDAY = datetime(2026, 6, 11, 8, 30, tzinfo=UTC)
FRIDAY_MORNING = datetime(2026, 6, 11, 23, 0, tzinfo=UTC)  # 00:00 Friday in London
TUESDAY_MORNING = datetime(2026, 6, 15, 23, 0, tzinfo=UTC)  # 00:00 Tuesday in London


@pytest.fixture
def trainer():
    return create_user(roles=(Role.TRAINER,))


@pytest.fixture
def session(trainer):
    return create_session(starts_at=THURSDAY, trainer=trainer)


def booked(session, count):
    admin = create_user(roles=(Role.LND_ADMIN,))
    when = THURSDAY - timedelta(days=20)
    return [book_place(session, create_user(), by=admin, now=when) for _ in range(count)]


def reminders():
    return list(db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.kind == "register.reminder")))


def test_the_trainer_is_reminded_once_a_working_day_after_and_told_what_closing_does(
    app_context, session, trainer
):
    booked(session, 2)
    assert remind_open_registers(FRIDAY_MORNING - timedelta(minutes=1)) == 0
    assert remind_open_registers(FRIDAY_MORNING) == 1
    assert remind_open_registers(FRIDAY_MORNING + timedelta(hours=5)) == 0
    [message] = reminders()
    assert message.recipient == trainer.email
    assert "2 delegates not yet marked" in message.body
    assert "no-shows are charged" in message.body
    assert "16 June 2026" in message.body


def test_a_session_without_a_trainer_reminds_the_l_and_d_team(app_context, app):
    session = create_session(starts_at=THURSDAY)
    booked(session, 1)
    remind_open_registers(FRIDAY_MORNING)
    [message] = reminders()
    assert message.recipient == app.config["PARTNERSHIP_EMAIL"]


def test_a_closed_or_cancelled_register_gets_no_reminder(app_context, trainer):
    cancelled = create_session(starts_at=THURSDAY, trainer=trainer, status=SessionStatus.CANCELLED)
    assert cancelled.status is SessionStatus.CANCELLED
    assert remind_open_registers(FRIDAY_MORNING) == 0


def test_a_marked_register_closes_by_itself_and_the_unmarked_are_no_shows(app_context, session, trainer):
    came, forgot = booked(session, 2)
    mark_attendance(came, Attendance.ATTENDED, by=trainer, now=THURSDAY + timedelta(hours=1))
    assert closes_automatically_at(session) == TUESDAY_MORNING
    assert close_open_registers(TUESDAY_MORNING - timedelta(minutes=1)) == 0
    assert session.register_closed_at is None
    assert close_open_registers(TUESDAY_MORNING) == 1
    assert session.register_closed_at == TUESDAY_MORNING
    assert session.register_closed_by_id is None
    assert session.status is SessionStatus.COMPLETED
    assert came.attendance is Attendance.ATTENDED
    assert forgot.attendance is Attendance.NO_SHOW
    charge = db.session.scalar(sa.select(Charge).where(Charge.booking_id == forgot.id))
    assert charge is not None and charge.reason is ChargeReason.NO_SHOW
    assert came.evaluation_requested_at == TUESDAY_MORNING
    closed = sa.select(AuditEntry).where(AuditEntry.name == "lms.register.closed_automatically")
    entry = db.session.scalar(closed)
    assert entry is not None
    # Running again changes nothing.
    assert close_open_registers(TUESDAY_MORNING + timedelta(hours=1)) == 0
    assert db.session.scalar(sa.select(sa.func.count(Charge.id))) == 1


def test_a_register_nobody_marked_stays_open_rather_than_charging_everyone(app_context, session):
    booked(session, 3)
    assert close_open_registers(TUESDAY_MORNING + timedelta(days=30)) == 0
    assert session.register_closed_at is None
    assert db.session.scalar(sa.select(sa.func.count(Charge.id))) == 0


def test_automatic_closing_can_be_turned_off(app_context, app, session, trainer):
    [booking] = booked(session, 1)
    mark_attendance(booking, Attendance.ATTENDED, by=trainer, now=THURSDAY + timedelta(hours=1))
    app.config["REGISTER_CLOSE_WORKING_DAYS"] = 0
    try:
        assert closes_automatically_at(session) is None
        assert close_open_registers(TUESDAY_MORNING + timedelta(days=30)) == 0
    finally:
        app.config["REGISTER_CLOSE_WORKING_DAYS"] = 3


def test_the_register_page_says_what_closing_does_and_when_it_closes_itself(client, session, trainer):
    booked(session, 1)
    sign_in(client, trainer)
    clock.freeze(THURSDAY + timedelta(hours=1))
    page = client.get(f"/sessions/{session.id}/register").get_data(as_text=True)
    assert "no-shows are charged to their organisation" in page
    assert "16 June 2026" in page
