"""Approval of bookings: who must approve, the place held meanwhile, the signed link, the deadline
and its sweeps, and the repeated no-show rule.

NOW is Monday 4 May 2026, 10:00 in London, an early May bank holiday: three working days on is
Thursday 7 May, so a request made now lapses at midnight at the end of that Thursday.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from lms.accounts.contacts import add_training_contact
from lms.accounts.models import AgencyCategory, Role
from lms.bookings.approvals import (
    ApprovalError,
    approval_deadline,
    approval_for_token,
    approve_booking,
    choose_categories,
    decline_booking,
    expire_due,
    remind_due,
    waiting_for_approval,
)
from lms.bookings.models import (
    ApprovalDecision,
    Approver,
    Attendance,
    Booking,
    BookingStatus,
    CancellationReason,
)
from lms.bookings.services import (
    BookingError,
    ManagerDetails,
    book_place,
    cancel_booking,
    places_left,
    waiting_position,
)
from lms.core.audit import AuditEntry
from lms.core.errors import PermissionDenied
from lms.core.timezones import london_to_utc
from lms.extensions import db
from lms.messages.models import OutboxMessage
from tests.factories import NOW, create_agency, create_course, create_session, create_user

DEADLINE = london_to_utc(datetime(2026, 5, 8, 0, 0))  # the end of Thursday 7 May
LINK = re.compile(r"/approve/([A-Za-z0-9_-]+)")


@pytest.fixture
def approval_for_all(app, monkeypatch):
    monkeypatch.setitem(app.config, "BOOKING_APPROVAL", "all")


def book(session, person=None, now=NOW, **kwargs):
    person = person or create_user()
    return book_place(session, person, by=person, now=now, **kwargs)


def mail_to(address: str) -> list[OutboxMessage]:
    return list(
        db.session.scalars(
            sa.select(OutboxMessage).where(OutboxMessage.recipient == address).order_by(OutboxMessage.id)
        )
    )


def kinds_to(address: str) -> list[str]:
    return [message.kind for message in mail_to(address)]


def link_in(message: OutboxMessage) -> str:
    return LINK.search(message.body).group(1)


def manager_link(booking: Booking) -> str:
    (request,) = [
        m
        for m in mail_to(booking.approval.manager_email)
        if m.kind == "booking.approval_request" and f"for {booking.user.full_name}" in m.subject
    ]
    return link_in(request)


def audit_names(booking: Booking) -> list[str]:
    return list(
        db.session.scalars(
            sa.select(AuditEntry.name)
            .where(AuditEntry.subject_type == "booking", AuditEntry.subject_id == booking.id)
            .order_by(AuditEntry.id)
        )
    )


def lnd():
    return create_user(roles=(Role.LND_ADMIN,))


# Whether a booking needs approval -----------------------------------------------------------------


def test_bookings_need_no_approval_by_default(app_context):
    booking = book(create_session())
    assert booking.is_confirmed
    assert booking.approval is None


def test_with_approval_for_all_a_booking_awaits_its_manager_and_holds_its_place(
    app_context, approval_for_all
):
    session = create_session(places=2, overbook_percent=0)
    booking = book(session)

    assert booking.status is BookingStatus.AWAITING_APPROVAL and booking.is_live
    approval = booking.approval
    assert approval.approver is Approver.MANAGER and approval.holds_place
    assert approval.manager_email == "manager@example.org"
    assert approval.expires_at == DEADLINE
    assert approval.deadline_text == "the end of Thu 7 May 2026"
    assert places_left(session) == 1
    assert kinds_to(booking.user.email) == ["booking.awaiting_approval"]
    (request,) = mail_to("manager@example.org")
    assert request.kind == "booking.approval_request" and booking.user.full_name in request.subject
    # Only the hash of the link's secret is kept.
    token = link_in(request)
    assert token not in (approval.token_hash or "") and approval_for_token(token) is approval
    assert audit_names(booking) == ["lms.booking.approval_requested"]


def test_the_l_and_d_team_booking_someone_needs_no_approval(app_context, approval_for_all):
    person = create_user()
    booking = book_place(create_session(), person, by=lnd(), now=NOW)
    assert booking.is_confirmed


def test_chosen_courses_and_categories_need_approval_and_others_do_not(app, app_context, monkeypatch):
    monkeypatch.setitem(app.config, "BOOKING_APPROVAL", "chosen")
    chosen_course = create_course()
    chosen_course.needs_approval = True
    plain = create_session()
    school = create_user(agency=create_agency(category=AgencyCategory.EDUCATION_SCHOOL))

    assert book(create_session(course=chosen_course)).is_awaiting_approval
    assert book(plain).is_confirmed
    assert book(plain, school).is_confirmed

    choose_categories({AgencyCategory.EDUCATION_SCHOOL}, by=lnd(), now=NOW)
    assert book(create_session(), school).is_awaiting_approval
    assert book(create_session()).is_confirmed  # police, not chosen


def test_a_booking_awaiting_approval_is_the_persons_one_live_booking(app_context, approval_for_all):
    session = create_session()
    person = create_user()
    book(session, person)
    with pytest.raises(BookingError, match="already have a place"):
        book(session, person)


def test_without_a_manager_on_record_the_booking_asks_for_one(app_context, approval_for_all):
    person = create_user()
    person.line_manager_email = None
    session = create_session()
    with pytest.raises(ApprovalError) as refused:
        book(session, person)
    assert refused.value.field == "manager_email"
    booking = book(
        session, person, manager=ManagerDetails(name="Pat Head", email="Pat.Head@School.example.org")
    )
    assert booking.approval.manager_email == "pat.head@school.example.org"
    assert kinds_to("pat.head@school.example.org") == ["booking.approval_request"]


# Deciding ---------------------------------------------------------------------------------------


def test_the_manager_approves_by_the_link_and_the_delegate_gets_the_confirmation(
    app_context, approval_for_all
):
    booking = book(create_session())
    approval = approval_for_token(manager_link(booking))

    approve_booking(approval, by=None, now=NOW + timedelta(hours=2), via_link=True)

    assert booking.is_confirmed and booking.confirmed_at == NOW + timedelta(hours=2)
    assert approval.decision is ApprovalDecision.APPROVED
    assert approval.decided_by_email == "manager@example.org"
    confirmation = mail_to(booking.user.email)[-1]
    assert confirmation.kind == "booking.confirmed"
    assert confirmation.attachments and "text/calendar" in str(confirmation.attachments[0])
    assert audit_names(booking)[-1] == "lms.booking.approved"


def test_a_link_used_twice_changes_nothing_the_second_time(app_context, approval_for_all):
    booking = book(create_session())
    approval = approval_for_token(manager_link(booking))
    approve_booking(approval, by=None, now=NOW, via_link=True)
    messages = len(mail_to(booking.user.email))

    with pytest.raises(ApprovalError) as again:
        decline_booking(approval, reason="Changed my mind", by=None, now=NOW, via_link=True)
    assert again.value.status == 409
    assert booking.is_confirmed and approval.decision is ApprovalDecision.APPROVED
    assert len(mail_to(booking.user.email)) == messages


def test_declining_needs_a_reason_tells_the_delegate_and_frees_the_place(app_context, approval_for_all):
    session = create_session(places=1, overbook_percent=0)
    first = book(session)
    waiting = book_place(session, second := create_user(), by=lnd(), now=NOW)
    assert waiting.is_waiting and second  # L&D's booking needs no approval, and the place is held
    approval = first.approval

    with pytest.raises(ApprovalError, match="Say why"):
        decline_booking(approval, reason="  ", by=None, now=NOW, via_link=True)
    decline_booking(approval, reason="Caseload too heavy this month", by=None, now=NOW, via_link=True)

    assert first.status is BookingStatus.CANCELLED
    assert first.cancellation_reason is CancellationReason.APPROVAL_DECLINED
    assert not first.is_late_cancellation
    declined = mail_to(first.user.email)[-1]
    assert declined.kind == "booking.declined" and "Caseload too heavy this month" in declined.body
    assert waiting.is_confirmed and waiting.promoted_at == NOW
    assert audit_names(first)[-1] == "lms.booking.declined"


def test_a_place_held_while_waiting_keeps_later_bookers_on_the_waiting_list(app_context, approval_for_all):
    session = create_session(places=1, overbook_percent=0)
    first = book(session)
    second = book(session)
    assert first.approval.holds_place
    assert not second.approval.holds_place  # the only place was held: it waits without one
    approve_booking(second.approval, by=lnd(), now=NOW)
    assert second.is_waiting and waiting_position(second) == 1
    approve_booking(first.approval, by=lnd(), now=NOW)
    assert first.is_confirmed


def test_without_holding_a_place_the_booking_takes_one_only_when_approved(
    app, app_context, approval_for_all, monkeypatch
):
    monkeypatch.setitem(app.config, "APPROVAL_HOLDS_PLACE", False)
    session = create_session(places=1, overbook_percent=0)
    first = book(session)
    assert not first.approval.holds_place and places_left(session) == 1
    other = book_place(session, create_user(), by=lnd(), now=NOW)
    assert other.is_confirmed

    approve_booking(first.approval, by=None, now=NOW, via_link=True)
    assert first.is_waiting
    assert mail_to(first.user.email)[-1].kind == "booking.waitlisted"


def test_only_the_manager_a_training_contact_of_the_organisation_or_l_and_d_may_decide(
    app_context, approval_for_all
):
    agency = create_agency()
    booking = book(create_session(), create_user(agency=agency))
    contact, stranger = create_user(), create_user()
    add_training_contact(agency, contact, by=lnd(), now=NOW)
    add_training_contact(create_agency(), stranger, by=lnd(), now=NOW)

    with pytest.raises(PermissionDenied):
        approve_booking(booking.approval, by=stranger, now=NOW)
    with pytest.raises(PermissionDenied):
        approve_booking(booking.approval, by=booking.user, now=NOW)
    assert waiting_for_approval(by=stranger) == []
    assert waiting_for_approval(by=contact) == [booking.approval]

    approve_booking(booking.approval, by=contact, now=NOW)
    assert booking.is_confirmed and booking.approval.decided_by_id == contact.id


def test_a_cancelled_booking_cannot_be_approved_and_its_place_goes_on(app_context, approval_for_all):
    session = create_session(places=1, overbook_percent=0)
    booking = book(session)
    waiting = book_place(session, create_user(), by=lnd(), now=NOW)
    token = manager_link(booking)

    cancel_booking(booking, by=booking.user, now=NOW)
    assert not booking.is_late_cancellation
    assert waiting.is_confirmed
    assert "awaiting approval" in mail_to(booking.user.email)[-1].body

    with pytest.raises(ApprovalError) as refused:
        approve_booking(approval_for_token(token), by=None, now=NOW, via_link=True)
    assert refused.value.status == 410
    assert booking.status is BookingStatus.CANCELLED


def test_a_tampered_link_opens_nothing(app_context, approval_for_all):
    booking = book(create_session())
    token = manager_link(booking)
    assert approval_for_token(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert approval_for_token("short") is None
    assert approval_for_token("x" * 500) is None


# The deadline and the sweeps --------------------------------------------------------------------


def test_the_deadline_is_never_after_the_session_starts():
    wednesday = london_to_utc(datetime(2026, 5, 6, 9, 30))
    assert approval_deadline(NOW, wednesday, 3) == london_to_utc(datetime(2026, 5, 6, 0, 0))
    same_day = london_to_utc(datetime(2026, 5, 4, 14, 0))
    assert approval_deadline(NOW, same_day, 3) == same_day
    far = london_to_utc(datetime(2026, 6, 4, 9, 30))
    assert approval_deadline(NOW, far, 3) == DEADLINE
    # A Friday request: the weekend does not count.
    friday = london_to_utc(datetime(2026, 5, 8, 16, 0))
    assert approval_deadline(friday, far, 3) == london_to_utc(datetime(2026, 5, 14, 0, 0))


def test_the_manager_is_reminded_once_with_a_link_of_its_own(app_context, approval_for_all):
    booking = book(create_session())
    first_link = manager_link(booking)
    halfway = booking.approval.remind_after

    assert remind_due(halfway - timedelta(minutes=1)) == 0
    assert remind_due(halfway) == 1
    assert remind_due(halfway + timedelta(hours=1)) == 0
    kinds = kinds_to("manager@example.org")
    assert kinds == ["booking.approval_request", "booking.approval_reminder"]
    second_link = link_in(mail_to("manager@example.org")[-1])
    assert second_link != first_link
    assert approval_for_token(first_link) is approval_for_token(second_link) is booking.approval


def test_an_approval_not_given_in_time_lapses_and_the_place_goes_to_the_next_waiting(
    app_context, approval_for_all
):
    session = create_session(places=1, overbook_percent=0)
    booking = book(session)
    waiting = book_place(session, create_user(), by=lnd(), now=NOW)
    token = manager_link(booking)

    assert expire_due(DEADLINE - timedelta(seconds=1)) == 0
    assert expire_due(DEADLINE) == 1
    assert expire_due(DEADLINE + timedelta(hours=1)) == 0  # running again changes nothing

    assert booking.status is BookingStatus.CANCELLED
    assert booking.cancellation_reason is CancellationReason.APPROVAL_EXPIRED
    assert booking.approval.decision is ApprovalDecision.EXPIRED
    assert waiting.is_confirmed
    assert kinds_to(booking.user.email) == ["booking.awaiting_approval", "booking.approval_expired"]
    assert audit_names(booking)[-1] == "lms.booking.approval_expired"
    with pytest.raises(ApprovalError) as late:
        approve_booking(approval_for_token(token), by=None, now=DEADLINE, via_link=True)
    assert late.value.status == 410


def test_an_approval_after_the_deadline_but_before_the_sweep_is_refused(app_context, approval_for_all):
    booking = book(create_session())
    with pytest.raises(ApprovalError) as late:
        approve_booking(booking.approval, by=lnd(), now=DEADLINE)
    assert late.value.status == 410
    assert booking.is_awaiting_approval


# Repeated no-shows ------------------------------------------------------------------------------


def missed(person, *, no_shows: int = 0, late: int = 0, days_ago: int = 30) -> None:
    for _ in range(no_shows):
        session = create_session(starts_at=NOW - timedelta(days=days_ago))
        db.session.add(
            Booking(
                session=session,
                user=person,
                agency_id=person.agency_id,
                status=BookingStatus.CONFIRMED,
                booked_at=session.starts_at - timedelta(days=20),
                attendance=Attendance.NO_SHOW,
            )
        )
    for _ in range(late):
        session = create_session(starts_at=NOW - timedelta(days=days_ago - 1))
        db.session.add(
            Booking(
                session=session,
                user=person,
                agency_id=person.agency_id,
                status=BookingStatus.CANCELLED,
                booked_at=session.starts_at - timedelta(days=20),
                is_late_cancellation=True,
                cancelled_at=NOW - timedelta(days=days_ago),
            )
        )
    db.session.flush()


def test_after_repeated_no_shows_the_l_and_d_team_must_approve_and_the_person_is_told_why(
    app, app_context, monkeypatch
):
    monkeypatch.setitem(app.config, "NO_SHOW_LIMIT", 2)
    person = create_user()
    missed(person, no_shows=1, late=1)
    long_ago = create_user()
    missed(long_ago, no_shows=2, days_ago=400)

    assert book(create_session(), long_ago).is_confirmed
    booking = book(create_session(), person)

    assert booking.is_awaiting_approval
    approval = booking.approval
    assert approval.approver is Approver.LND and approval.missed_count == 2
    assert mail_to("manager@example.org") == []  # no link: this is L&D's decision
    told = mail_to(person.email)[-1]
    assert "2 no-shows or late cancellations" in told.body and "L&D team" in told.body
    contact = create_user()
    add_training_contact(person.agency, contact, by=lnd(), now=NOW)
    with pytest.raises(PermissionDenied):
        approve_booking(approval, by=contact, now=NOW)
    with pytest.raises(PermissionDenied):
        approve_booking(approval, by=None, now=NOW, via_link=True)
    assert waiting_for_approval(by=lnd()) == [approval]
    approve_booking(approval, by=lnd(), now=NOW)
    assert booking.is_confirmed


def test_the_no_show_rule_is_off_by_default(app_context):
    person = create_user()
    missed(person, no_shows=5)
    assert book(create_session(), person).is_confirmed
