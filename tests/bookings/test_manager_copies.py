"""The line manager hears of the booking (a setting), of a no-show, a late cancellation and a charge,
in a message of their own that carries nothing private to the delegate."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from lms.accounts.models import AgencyCategory, Role
from lms.bookings.models import Attendance
from lms.bookings.services import (
    book_place,
    cancel_booking,
    close_register,
    mark_attendance,
    substitute_booking,
)
from lms.extensions import db
from lms.messages.models import OutboxMessage
from tests.factories import NOW, create_agency, create_course, create_session, create_user

EARLIER = NOW - timedelta(days=20)
MANAGER = "manager@example.org"  # every person the factories make names this line manager


@pytest.fixture
def copies_on(app):
    app.config["COPY_MANAGER_ON_CONFIRMATION"] = True
    yield
    app.config["COPY_MANAGER_ON_CONFIRMATION"] = False


def delivered(mailbox):
    """What the mailbox holds once this test's outbox is sent (written, as a request would commit it)."""
    db.session.flush()
    return mailbox.delivered()


def to_manager(address=MANAGER):
    return list(
        db.session.scalars(
            sa.select(OutboxMessage).where(OutboxMessage.recipient == address).order_by(OutboxMessage.id)
        )
    )


def test_the_manager_is_not_copied_on_confirmations_by_default(app, app_context):
    assert app.config["COPY_MANAGER_ON_CONFIRMATION"] is False
    person = create_user()
    book_place(create_session(), person, by=person, now=NOW)
    assert to_manager() == []


def test_a_confirmation_goes_to_the_manager_in_words_for_them_without_the_delegates_links(
    app_context, copies_on, mailbox
):
    session = create_session(course=create_course("Neglect: recognising and responding"))
    person = create_user(first_name="Priya", last_name="Shah")
    book_place(session, person, by=person, now=NOW)
    [message] = delivered(mailbox).to(MANAGER)
    [own] = mailbox.to(person.email)
    body = mailbox.text(message)
    assert message["Subject"].startswith("Place confirmed for Priya Shah: ")
    assert message["Cc"] is None and own["Cc"] is None  # two messages, never a copy of one
    assert "Hello Lee Manager," in body and "Priya Shah, who gave you as their line manager" in body
    assert "Neglect: recognising and responding" in body
    # Nothing private to the delegate: no joining link, no calendar invitation, no link to their bookings.
    assert session.online_link not in body and session.online_link in mailbox.text(own)
    assert "/bookings" not in body
    assert not list(message.iter_attachments()) and list(own.iter_attachments())


def test_a_place_from_the_waiting_list_is_copied_too(app_context, copies_on):
    session = create_session(places=1, overbook_percent=0)
    first, second = create_user(), create_user()
    booking = book_place(session, first, by=first, now=NOW)
    book_place(session, second, by=second, now=NOW)
    assert [m.kind for m in to_manager()] == ["manager.booking_confirmed"]
    cancel_booking(booking, by=first, now=NOW)
    kinds = [m.kind for m in to_manager()]
    assert kinds == ["manager.booking_confirmed", "manager.booking_confirmed"]
    assert second.full_name in to_manager()[-1].subject


def test_a_colleague_given_the_place_has_their_own_manager_told(app_context, copies_on):
    agency = create_agency()
    first, colleague = create_user(agency=agency), create_user(agency=agency, first_name="Kim")
    colleague.line_manager_email = "kims.manager@example.org"
    booking = book_place(create_session(), first, by=first, now=NOW)
    substitute_booking(booking, colleague, by=first, now=NOW)
    [message] = to_manager("kims.manager@example.org")
    assert message.kind == "manager.booking_confirmed" and colleague.full_name in message.subject


def test_nobody_is_written_to_without_a_managers_address(app_context, copies_on):
    person = create_user()
    person.line_manager_email = None
    booking = book_place(create_session(starts_at=NOW + timedelta(days=1)), person, by=person, now=EARLIER)
    cancel_booking(booking, by=person, now=NOW)  # a late cancellation, charged
    kinds = db.session.scalars(sa.select(OutboxMessage.kind)).all()
    assert "charge.raised" in kinds and not any(kind.startswith("manager.") for kind in kinds)


def test_the_manager_always_hears_of_a_late_cancellation_and_its_charge(app_context, mailbox):
    person = create_user(first_name="Tom", last_name="Jones")
    booking = book_place(create_session(starts_at=NOW + timedelta(days=1)), person, by=person, now=EARLIER)
    cancel_booking(booking, by=person, now=NOW)
    [message] = delivered(mailbox).to(MANAGER)
    body = mailbox.text(message)
    assert message["Subject"].startswith("Non-attendance for Tom Jones: ")
    assert "Tom Jones, who gave you as their line manager, cancelled their place" in body
    assert "late cancellation" in body and "£25.00" in body


def test_the_manager_always_hears_of_a_no_show_and_of_a_place_fee(app, app_context, mailbox):
    app.config.update(PLACE_FEE_CATEGORIES=["private"], PLACE_FEE_PENCE=6000)
    try:
        trainer = create_user(roles=(Role.TRAINER,))
        session = create_session(starts_at=NOW - timedelta(days=2), trainer=trainer)
        lnd = create_user(roles=(Role.LND_ADMIN,))
        missing = create_user(first_name="Ann", last_name="Lee")
        paying = create_user(
            first_name="Bo", last_name="Chen", agency=create_agency(category=AgencyCategory.PRIVATE)
        )
        paying.line_manager_email = "head@bright.example.org"
        outcomes = {missing: Attendance.NO_SHOW, paying: Attendance.ATTENDED}
        for person, outcome in outcomes.items():
            booking = book_place(session, person, by=lnd, now=NOW - timedelta(days=30))
            mark_attendance(booking, outcome, by=trainer, now=session.starts_at)
        close_register(session, by=trainer, now=session.ends_at)
        delivered(mailbox)
        [no_show] = mailbox.to(MANAGER)
        assert "Ann Lee, who gave you as their line manager, did not attend" in mailbox.text(no_show)
        assert "£25.00" in mailbox.text(no_show)
        [fee] = mailbox.to("head@bright.example.org")
        assert fee["Subject"].startswith("Place fee for Bo Chen: ")
        assert "a place fee of £60.00 has been raised" in " ".join(mailbox.text(fee).split())
    finally:
        app.config.update(PLACE_FEE_CATEGORIES=[], PLACE_FEE_PENCE=0)


def test_an_organisation_never_charged_sends_no_notice_to_anyone(app, app_context):
    app.config["CHARGE_EXEMPT_CATEGORIES"] = ["voluntary"]
    try:
        person = create_user(agency=create_agency(category=AgencyCategory.VOLUNTARY))
        booking = book_place(
            create_session(starts_at=NOW + timedelta(days=1)), person, by=person, now=EARLIER
        )
        cancel_booking(booking, by=person, now=NOW)
        assert to_manager() == []
    finally:
        app.config["CHARGE_EXEMPT_CATEGORIES"] = []
