"""Erasing a person: they become "Former delegate #id", and what the law and the reports need stays."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from lms.accounts.models import RecoveryCode, Role, SignInSession, User
from lms.accounts.services import PersonDetails, find_user_by_email, register_practitioner
from lms.bookings.models import ApprovalRequest, Booking, BookingStatus, CancellationReason
from lms.core.audit import AuditEntry
from lms.core.errors import DomainError
from lms.evaluations.models import Answer, Certificate
from lms.evaluations.services import find_certificate
from lms.extensions import db
from lms.finance.models import Charge, CreditNote, Invoice, InvoiceLine
from lms.finance.reports import agency_summary
from lms.followups.models import FollowUp, ManagerComment
from lms.messages.models import CalendarFeed, OutboxMessage
from lms.privacy.erasure import anonymise_person, erasure_plan, former_name
from lms.reporting.results import evaluation_results, follow_up_results
from lms.reporting.utilisation import Dimension, utilisation
from tests.conftest import csrf_token, sign_in
from tests.factories import NOW, PASSWORD, create_user
from tests.privacy.world import EMAIL, LAST_NAME, NAME, build_world

YEAR = (date(2026, 4, 1), date(2027, 3, 31))
PAST = (date(2026, 4, 1), NOW.date() - timedelta(days=1))


def figures() -> dict:
    """Every total finance and the reports show for the year, and the sessions that ran."""
    total = lambda column: db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(column), 0)))  # noqa: E731
    count = lambda model: db.session.scalar(sa.select(sa.func.count(model.id)))  # noqa: E731
    return {
        "utilisation": {
            dimension: utilisation(dimension, *PAST, now=NOW)
            for dimension in (Dimension.AGENCY, Dimension.COURSE)
        },
        "agencies": agency_summary(*YEAR, agency_id=None, today=NOW.date()),
        "invoiced": (total(Invoice.net_pence), total(Invoice.total_pence), total(InvoiceLine.amount_pence)),
        "credited": total(CreditNote.total_pence),
        "charges": (count(Charge), total(Charge.amount_pence)),
        "bookings": count(Booking),
        "ratings": [(r.course, r.evaluations, r.attendees, r.questions) for r in evaluation_results(*YEAR)],
        "follow_ups": (follow_up_results(*YEAR).invited, follow_up_results(*YEAR).answered),
    }


def test_an_erasure_keeps_every_finance_figure_and_report_total(app_context):
    world = build_world()
    before = figures()
    anonymise_person(world.person, by=world.lnd, now=NOW, reason="erasure request")
    db.session.expire_all()
    assert figures() == before
    lines = db.session.scalars(
        sa.select(InvoiceLine).join(Charge).join(Booking).where(Booking.user_id == world.person.id)
    ).all()
    assert [line.delegate_name for line in lines] == [former_name(world.person.id)]
    assert lines[0].amount_pence > 0 and lines[0].credit_line is not None


def test_the_person_becomes_a_former_delegate_who_can_never_sign_in_again(client, app_context):
    world = build_world()
    person = world.person
    db.session.add(CalendarFeed(user=person, token="t" * 40, created_at=NOW))
    db.session.add(RecoveryCode(user_id=person.id, code_hash="h" * 64, created_at=NOW))
    sign_in(client, person)
    assert db.session.scalar(
        sa.select(sa.func.count(SignInSession.id)).where(SignInSession.user_id == person.id)
    )

    anonymise_person(person, by=world.lnd, now=NOW, reason="erasure request")
    db.session.expire_all()

    assert person.full_name == f"Former delegate #{person.id}" and person.is_erased
    assert person.email.endswith("@erased.invalid") and EMAIL not in person.email
    assert (
        person.password_hash is None
        and person.line_manager_email is None
        and person.roles == {Role.PRACTITIONER}
    )
    assert not person.is_active
    for model in (SignInSession, RecoveryCode, CalendarFeed):
        assert not db.session.scalar(
            sa.select(sa.func.count()).select_from(model).where(model.user_id == person.id)
        )
    assert find_user_by_email(EMAIL) is None
    # The browser that was signed in is signed out; signing in with the old address fails.
    assert client.get("/dashboard").status_code == 302
    response = client.post(
        "/sign-in", data={"email": EMAIL, "password": PASSWORD, "csrf_token": csrf_token(client, "/sign-in")}
    )
    assert response.status_code != 302
    # Registering again with the old address makes a new account, with nothing of the old one.
    register_practitioner(
        PersonDetails("Zoë", LAST_NAME, EMAIL, "Health visitor", world.police.id),
        "a new long passphrase 42",
        now=NOW,
    )
    again = find_user_by_email(EMAIL)
    assert again is not None and again.id != person.id
    assert not db.session.scalar(sa.select(sa.func.count(Booking.id)).where(Booking.user_id == again.id))


def test_what_they_wrote_and_their_manager_s_details_are_removed(app_context):
    world = build_world()
    person = world.person
    # Everything queued so far has gone; the notice of their removal from the session to come is queued
    # by the erasure itself, and is dropped.
    db.session.execute(sa.update(OutboxMessage).values(sent_at=NOW - timedelta(hours=1)))
    anonymise_person(person, by=world.lnd, now=NOW, reason="erasure request")
    db.session.expire_all()
    assert db.session.scalars(sa.select(Answer.text).where(Answer.text.is_not(None))).all() == []
    follow_up = db.session.get(FollowUp, world.follow_up.id)
    assert follow_up.example is None and follow_up.barrier_other is None and follow_up.applied is not None
    comment = db.session.scalar(sa.select(ManagerComment).where(ManagerComment.follow_up_id == follow_up.id))
    assert comment.manager_email == "" and comment.comment is None
    approvals = db.session.scalars(
        sa.select(ApprovalRequest).join(Booking).where(Booking.user_id == person.id)
    ).all()
    assert all(a.manager_email is None and a.manager_name is None for a in approvals)
    # No message to them is waiting; those sent keep no text; none names them.
    to_them = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.user_id == person.id)).all()
    assert len(to_them) == 6 and all(m.body == "" and m.sent_at for m in to_them)
    for message in db.session.scalars(sa.select(OutboxMessage)):
        text = f"{message.recipient} {message.subject} {message.body}".lower()
        assert LAST_NAME.lower() not in text and EMAIL not in text
    for entry in db.session.scalars(sa.select(AuditEntry)):
        assert LAST_NAME.lower() not in str(entry.data).lower() and EMAIL not in str(entry.data)
    erased = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.name == "lms.person.erased"))
    assert erased.subject_id == person.id and erased.actor_id == world.lnd.id
    assert (
        db.session.get(type(world.request), world.request.id).notes == f"Signed by {former_name(person.id)}"
    )


def test_places_still_to_come_are_cancelled_without_a_charge_and_go_to_the_next_waiting(app_context):
    world = build_world()
    upcoming = world.bookings[-1]
    plan = erasure_plan(world.person, now=NOW)
    assert [b.id for b in plan.cancelled] == [upcoming.id] and plan.refused is None
    charges = db.session.scalar(sa.select(sa.func.count(Charge.id)))

    erased = anonymise_person(world.person, by=world.lnd, now=NOW, reason="erasure request")

    assert erased.cancelled == 1
    assert upcoming.status is BookingStatus.CANCELLED
    assert upcoming.cancellation_reason is CancellationReason.REMOVED and not upcoming.is_late_cancellation
    assert db.session.scalar(sa.select(sa.func.count(Charge.id))) == charges
    promoted = db.session.scalar(
        sa.select(Booking).where(Booking.session_id == world.coming.id, Booking.user_id == world.waiting.id)
    )
    assert promoted.status is BookingStatus.CONFIRMED
    # The message telling them of the removal is not sent to an erased person.
    pending = OutboxMessage.sent_at.is_(None) & OutboxMessage.failed_at.is_(None)
    assert not db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.user_id == world.person.id, pending)
    ).all()


def test_a_certificate_stays_genuine_by_number_without_the_name(client, app_context):
    world = build_world()
    number = world.certificate.number
    assert NAME in client.get(f"/certificates/verify/{number}").get_data(as_text=True)
    anonymise_person(world.person, by=world.lnd, now=NOW, reason="erasure request")
    db.session.flush()
    page = client.get(f"/certificates/verify/{number}").get_data(as_text=True)
    assert "This certificate is genuine" in page and world.course.title in page
    assert LAST_NAME not in page and "Not shown" in page
    certificate = find_certificate(number)
    assert db.session.scalar(sa.select(Certificate.pdf).where(Certificate.id == certificate.id)) is None


def test_with_the_name_kept_the_check_still_shows_the_printed_name(client, app, app_context):
    world = build_world()
    app.config["CERTIFICATE_NAME_AFTER_ERASURE"] = "kept"
    try:
        anonymise_person(world.person, by=world.lnd, now=NOW, reason="erasure request")
        db.session.flush()
        page = client.get(f"/certificates/verify/{world.certificate.number}").get_data(as_text=True)
    finally:
        app.config["CERTIFICATE_NAME_AFTER_ERASURE"] = "hidden"
    assert NAME in page and "This certificate is genuine" in page


def test_the_last_l_and_d_admin_cannot_be_erased_nor_anyone_twice(app_context):
    only = create_user(roles=(Role.LND_ADMIN,))
    assert erasure_plan(only, now=NOW).refused.startswith("They are the last L&D admin")
    with pytest.raises(DomainError, match="last L&D admin"):
        anonymise_person(only, by=only, now=NOW, reason="erasure request")
    other = create_user(roles=(Role.LND_ADMIN,))
    anonymise_person(only, by=other, now=NOW, reason="erasure request")
    assert only.is_erased
    with pytest.raises(DomainError, match="already been erased"):
        anonymise_person(only, by=other, now=NOW, reason="erasure request")
    practitioner = create_user()
    with pytest.raises(DomainError, match="Only the L&D team"):
        anonymise_person(
            practitioner, by=create_user(roles=(Role.FINANCE,)), now=NOW, reason="erasure request"
        )


def test_l_and_d_confirm_on_a_page_that_says_what_will_happen(client, app_context):
    world = build_world()
    sign_in(client, world.lnd)
    path = f"/admin/people/{world.person.id}/erase"
    page = client.get(path).get_data(as_text=True)
    assert f"Former delegate #{world.person.id}" in page and "cannot be undone" in page
    assert world.coming.course.title in page and "1 booking" in page
    assert "Erase their data" in client.get(f"/admin/people/{world.person.id}").get_data(as_text=True)
    # Someone with nothing written and no certificate: the page names only what there is.
    quiet = create_user()
    quiet_page = " ".join(client.get(f"/admin/people/{quiet.id}/erase").get_data(as_text=True).split())
    assert "in 0 " not in quiet_page and "certificate" not in quiet_page
    assert "What they wrote is removed: their line manager's name" in quiet_page
    response = client.post(path, data={"csrf_token": csrf_token(client, path)})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(User, world.person.id).is_erased
    person_page = client.get(f"/admin/people/{world.person.id}").get_data(as_text=True)
    assert "was erased on" in person_page and LAST_NAME not in person_page


@pytest.mark.parametrize("role", [Role.PRACTITIONER, Role.TRAINER, Role.FINANCE, Role.TRAINING_CONTACT])
def test_only_l_and_d_may_erase(client, app_context, role):
    person = create_user()
    create_user(roles=(Role.LND_ADMIN,))
    sign_in(client, create_user(roles=(role,)))
    path = f"/admin/people/{person.id}/erase"
    assert client.get(path).status_code == 403
    assert client.post(path, data={"csrf_token": csrf_token(client, "/account")}).status_code == 403
    assert not person.is_erased
