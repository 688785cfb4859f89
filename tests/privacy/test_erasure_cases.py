"""Erasure at the edges: people in the middle of something (waiting, awaiting approval, training,
following an organisation, passing a place on), an erasure by oneself, money still to invoice, the
ways in that must stop working, and the retention sweep meeting an erasure or another sweep."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from lms.accounts.contacts import add_training_contact
from lms.accounts.models import Role, TrainingContact, User
from lms.bookings.approvals import approve_booking
from lms.bookings.models import ApprovalRequest, BookingStatus
from lms.bookings.services import ManagerDetails, book_place, substitute_booking
from lms.core.audit import AuditEntry
from lms.core.db import unit_of_work
from lms.core.errors import DomainError
from lms.core.timezones import london_date
from lms.extensions import db
from lms.finance.models import ChargeReason, ChargeStatus, InvoiceLine
from lms.finance.services import raise_charge, run_invoicing
from lms.integrations.tokens import Scope
from lms.privacy import retention
from lms.privacy.erasure import anonymise_person, erasure_plan, former_name
from lms.privacy.retention import Policy, last_year_past_keeping, sweep_retention
from tests.conftest import empty_all_tables, sign_in
from tests.factories import NOW, create_agency, create_session, create_user


def lnd():
    return create_user(roles=(Role.LND_ADMIN,))


def test_nobody_erases_their_own_data_even_an_l_and_d_admin_with_a_colleague(client, app_context):
    me, colleague = lnd(), lnd()
    plan = erasure_plan(me, now=NOW, by=me)
    assert plan.refused == "You cannot erase your own data: another member of the L&D team must do it."
    with pytest.raises(DomainError, match="your own data"):
        anonymise_person(me, by=me, now=NOW, reason="erasure request")
    sign_in(client, me)
    page = client.get(f"/admin/people/{me.id}/erase").get_data(as_text=True)
    assert "You cannot erase your own data" in page and "Erase their data</button>" not in page
    anonymise_person(me, by=colleague, now=NOW, reason="erasure request")
    assert me.is_erased


def test_a_trainer_of_sessions_to_come_is_erased_only_once_they_have_another_trainer(app_context):
    admin = lnd()
    trainer = create_user(roles=(Role.PRACTITIONER, Role.TRAINER))
    taught = create_session(starts_at=NOW - timedelta(days=60), trainer=trainer)
    coming = create_session(starts_at=NOW + timedelta(days=10), trainer=trainer)
    plan = erasure_plan(trainer, now=NOW, by=admin)
    assert plan.refused.startswith("They are the trainer of 1 session still to come")
    assert coming.course.title in plan.refused and "another trainer first" in plan.refused
    with pytest.raises(DomainError, match="trainer of 1 session"):
        anonymise_person(trainer, by=admin, now=NOW, reason="erasure request")

    coming.trainer = create_user(roles=(Role.TRAINER,))
    anonymise_person(trainer, by=admin, now=NOW, reason="erasure request")
    # The session they trained keeps who trained it, by their former name; the role is gone.
    assert taught.trainer_id == trainer.id and taught.trainer.full_name == former_name(trainer.id)
    assert trainer.roles == {Role.PRACTITIONER}


def test_a_training_contact_is_told_on_the_page_and_stops_following_the_organisation(client, app_context):
    admin = lnd()
    school = create_agency("Oak Primary")
    contact = create_user(agency=school)
    add_training_contact(school, contact, by=admin, now=NOW)
    assert erasure_plan(contact, now=NOW, by=admin).contact_for == ["Oak Primary"]
    sign_in(client, admin)
    page = " ".join(client.get(f"/admin/people/{contact.id}/erase").get_data(as_text=True).split())
    assert "They stop being the training contact for Oak Primary" in page
    anonymise_person(contact, by=admin, now=NOW, reason="erasure request")
    assert not db.session.scalar(sa.select(sa.func.count()).where(TrainingContact.user_id == contact.id))
    assert contact.roles == {Role.PRACTITIONER}


def test_a_place_on_the_waiting_list_and_one_awaiting_approval_are_both_withdrawn(app, app_context):
    admin = lnd()
    person = create_user()
    full = create_session(places=1, overbook_percent=0)
    book_place(full, create_user(), by=admin, now=NOW)
    waiting = book_place(full, person, by=person, now=NOW)
    app.config["BOOKING_APPROVAL"] = "all"
    try:
        manager = ManagerDetails("Lee Manager", "manager@example.org")
        awaiting = book_place(create_session(), person, by=person, now=NOW, manager=manager)
    finally:
        app.config["BOOKING_APPROVAL"] = "off"
    assert waiting.status is BookingStatus.WAITING and awaiting.status is BookingStatus.AWAITING_APPROVAL

    erased = anonymise_person(person, by=admin, now=NOW, reason="erasure request")

    assert erased.cancelled == 2
    assert waiting.status is BookingStatus.CANCELLED and awaiting.status is BookingStatus.CANCELLED
    request = db.session.scalar(sa.select(ApprovalRequest).where(ApprovalRequest.booking_id == awaiting.id))
    # The link emailed to the manager opens nothing any more, and their details are gone.
    assert request.token_hash is None and request.manager_email is None and request.manager_name is None


def test_the_colleague_a_place_was_passed_to_keeps_it_and_the_chain_names_the_former_delegate(app_context):
    admin = lnd()
    police = create_agency()
    person, colleague = create_user(agency=police), create_user(agency=police)
    booking = book_place(create_session(), person, by=person, now=NOW)
    passed = substitute_booking(booking, colleague, by=person, now=NOW)

    anonymise_person(person, by=admin, now=NOW, reason="erasure request")

    assert passed.status is BookingStatus.CONFIRMED and passed.user_id == colleague.id
    assert passed.substitute_of.user.full_name == former_name(person.id)
    assert booking.status is BookingStatus.SUBSTITUTED
    assert not db.session.scalar(
        sa.select(sa.func.count(AuditEntry.id)).where(
            sa.func.lower(sa.cast(AuditEntry.data, sa.Text)).contains(person.last_name.lower())
        )
    )


def test_a_charge_not_yet_invoiced_is_invoiced_later_under_the_former_name(app_context):
    admin = lnd()
    finance = create_user(roles=(Role.FINANCE,))
    person = create_user()
    session = create_session(starts_at=NOW - timedelta(days=3))
    booking = book_place(session, person, by=admin, now=NOW - timedelta(days=20))
    charge = raise_charge(booking, ChargeReason.NO_SHOW, now=NOW - timedelta(days=2))
    assert charge.status is ChargeStatus.RAISED

    anonymise_person(person, by=admin, now=NOW, reason="erasure request")
    run_invoicing(date(2026, 4, 1), NOW.date(), by=finance, now=NOW)

    line = db.session.scalar(sa.select(InvoiceLine).where(InvoiceLine.charge_id == charge.id))
    assert line is not None and line.amount_pence == charge.amount_pence
    assert line.delegate_name == former_name(person.id)


def test_an_erased_person_s_api_token_is_refused(client, app_context):
    from lms.integrations.services import create_personal_token

    admin = lnd()
    person = create_user()
    made = create_personal_token(person, "Mine", [Scope.ME_READ], expires_at=None, now=NOW)
    secret = made.secret
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    anonymise_person(person, by=admin, now=NOW, reason="erasure request")
    db.session.flush()
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_the_sweep_searches_the_shared_tables_a_few_times_however_many_people_it_anonymises(app_context):
    def old_people(n: int):
        for _ in range(n):
            person = create_user()
            person.created_at = person.last_sign_in_at = NOW - timedelta(days=8 * 365)

    def audit_scans(n: int) -> int:
        old_people(n)
        seen: list[str] = []

        def count(conn, cursor, statement, *args):
            if statement.lstrip().upper().startswith("SELECT") and "FROM audit_entry" in statement:
                seen.append(statement)

        engine = db.session.get_bind()
        sa.event.listen(engine, "before_cursor_execute", count)
        try:
            sweep_retention(NOW)
        finally:
            sa.event.remove(engine, "before_cursor_execute", count)
        return len(seen)

    few, many = audit_scans(2), audit_scans(20)
    assert 0 < few == many
    assert not db.session.scalar(
        sa.select(sa.func.count()).select_from(
            retention._inactive_accounts(NOW - timedelta(days=6 * 365)).subquery()
        )
    )


@pytest.mark.parametrize(
    ("moment", "last_year"),
    [
        # 23:59 on 31 March in London (BST): 2019/20 is still kept.
        (datetime(2026, 3, 31, 22, 59, tzinfo=UTC), 2018),
        # 00:30 on 1 April in London, still 31 March in UTC: 2019/20 is past keeping.
        (datetime(2026, 3, 31, 23, 30, tzinfo=UTC), 2019),
    ],
)
def test_finance_turns_at_midnight_london_time_on_1_april(moment, last_year):
    assert last_year_past_keeping(london_date(moment), 6) == last_year


@pytest.mark.postgresql
def test_a_sweep_while_another_runs_does_nothing_and_says_so(app, app_context):
    admin = lnd()
    holder = db.engine.connect()
    try:
        holder.execute(sa.select(sa.func.pg_advisory_lock(retention.SWEEP_LOCK)))
        with pytest.raises(DomainError, match="already running"):
            sweep_retention(NOW, by=admin)
        assert sweep_retention(NOW, policy=Policy.from_config()) == 0
    finally:
        holder.execute(sa.select(sa.func.pg_advisory_unlock(retention.SWEEP_LOCK)))
        holder.close()


def test_links_emailed_before_the_erasure_and_the_calendar_feed_open_nothing(client, app_context):
    from lms.accounts.services import make_reset_token
    from lms.messages.services import reset_calendar_feed

    person = create_user()
    reset = make_reset_token(person)
    link = make_reset_token(person, purpose="sign-in-link")
    feed = reset_calendar_feed(person, by=person, now=NOW).token
    assert client.get(f"/calendar/{feed}.ics").status_code == 200
    assert client.get(f"/password/reset/{reset}").status_code == 200
    assert client.get(f"/sign-in/link/{link}").status_code == 200

    anonymise_person(person, by=lnd(), now=NOW, reason="erasure request")
    db.session.flush()

    assert client.get(f"/calendar/{feed}.ics").status_code == 404
    assert client.get(f"/password/reset/{reset}").status_code == 302  # "no longer valid", ask again
    response = client.get(f"/sign-in/link/{link}")
    assert response.status_code == 302 and response.headers["Location"].endswith("/sign-in/link")


@pytest.mark.postgresql
@pytest.mark.committing
def test_two_sweeps_and_an_erasure_at_once_erase_each_person_once(app):
    try:
        with app.app_context():
            admin_id = lnd().id
            old = []
            for _ in range(12):
                person = create_user()
                person.created_at = person.last_sign_in_at = NOW - timedelta(days=8 * 365)
                old.append(person.id)
            db.session.commit()
        barrier = threading.Barrier(3)
        errors: list[Exception] = []
        refused: list[str] = []

        def sweep():
            with app.app_context():
                barrier.wait()
                with unit_of_work():
                    sweep_retention(NOW)
                db.session.remove()

        def erase():
            with app.app_context():
                barrier.wait()
                try:
                    with unit_of_work():
                        person = db.session.get(User, old[5])
                        anonymise_person(person, by=db.session.get(User, admin_id), now=NOW, reason="request")
                except DomainError as error:
                    refused.append(str(error))
                db.session.remove()

        def guarded(work):
            def run():
                try:
                    work()
                except Exception as exc:  # noqa: BLE001 - reported below
                    errors.append(exc)

            return run

        threads = [threading.Thread(target=guarded(work)) for work in (sweep, sweep, erase)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)

        assert errors == []
        assert refused in (
            [],
            ["This person's data has already been erased: there is nothing more to erase."],
        )
        with app.app_context():
            erased = db.session.scalars(
                sa.select(AuditEntry.subject_id).where(AuditEntry.name == "lms.person.erased")
            ).all()
            assert sorted(erased) == sorted(old)
    finally:
        with app.app_context():
            empty_all_tables()
            db.session.remove()


def test_someone_named_as_line_manager_is_forgotten_where_nothing_still_waits_for_them(app, app_context):
    admin = lnd()
    boss = create_user("boss@example.org", first_name="Robin", last_name="Boss")
    colleague = create_user()
    colleague.line_manager_name, colleague.line_manager_email = "Robin Boss", "Boss@Example.org"
    manager = ManagerDetails("Robin Boss", "boss@example.org")
    app.config["BOOKING_APPROVAL"] = "all"
    try:
        decided = book_place(create_session(), colleague, by=colleague, now=NOW, manager=manager)
        approve_booking(decided.approval, by=None, now=NOW, via_link=True)
        other = create_user()
        other.line_manager_name, other.line_manager_email = "Robin Boss", "boss@example.org"
        waiting = book_place(create_session(), other, by=other, now=NOW, manager=manager)
    finally:
        app.config["BOOKING_APPROVAL"] = "off"

    anonymise_person(boss, by=admin, now=NOW, reason="erasure request")

    db.session.expire_all()
    assert (colleague.line_manager_name, colleague.line_manager_email) == (None, None)
    assert decided.approval.manager_email is None and decided.approval.decided_by_email is None
    # A colleague's booking still waits on the manager's answer: that address stays until it ends.
    assert waiting.approval.manager_email.lower() == "boss@example.org" and waiting.approval.is_open
