"""Training contacts: who follows which organisation (a trust's contact follows its schools, a
school's contact only the school), what L&D's naming and removing does to the role, and the monthly
summary that goes once a month however often its sweep runs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from lms.accounts.contact_reports import month_summary
from lms.accounts.contact_summary import month_due, send_contact_summaries
from lms.accounts.contacts import (
    TrainingContactError,
    add_training_contact,
    contacts_for,
    follows,
    organisations_followed_by,
    remove_training_contact,
    staff_of,
)
from lms.accounts.models import AgencyCategory, ContactSummarySent, Role, TrainingContact, User
from lms.bookings.services import book_place, cancel_booking
from lms.core.audit import AuditEntry
from lms.core.errors import PermissionDenied
from lms.extensions import db
from lms.messages.models import OutboxMessage
from tests.factories import NOW, create_agency, create_session, create_user
from tests.finance.test_finance import no_shows, session_that_ran

SCHOOL = AgencyCategory.EDUCATION_SCHOOL


@pytest.fixture
def orgs(app_context):
    trust = create_agency("Oak Learning Trust", category=SCHOOL)
    return {
        "trust": trust,
        "oak": create_agency("Oak Primary School", category=SCHOOL, parent=trust),
        "ash": create_agency("Ash Academy", category=SCHOOL, parent=trust),
        "police": create_agency("County Police"),
    }


def admin():
    return create_user(roles=(Role.LND_ADMIN,))


def contact_for(*agencies, **fields):
    person = create_user(roles=(Role.PRACTITIONER,), agency=agencies[0], **fields)
    lnd = admin()
    for agency in agencies:
        add_training_contact(agency, person, by=lnd, now=NOW)
    return person


# Who follows what -------------------------------------------------------------------------------


def test_a_trusts_contact_follows_the_trust_and_its_schools_but_not_others(orgs):
    contact = contact_for(orgs["trust"])
    assert follows(contact, orgs["trust"])
    assert follows(contact, orgs["oak"])
    assert follows(contact, orgs["ash"].id)
    assert not follows(contact, orgs["police"])
    assert [a.name for a in organisations_followed_by(contact)] == [
        "Ash Academy",
        "Oak Learning Trust",
        "Oak Primary School",
    ]


def test_a_schools_contact_follows_only_that_school(orgs):
    contact = contact_for(orgs["oak"])
    assert follows(contact, orgs["oak"])
    assert not follows(contact, orgs["trust"])
    assert not follows(contact, orgs["ash"])
    assert [a.name for a in organisations_followed_by(contact)] == ["Oak Primary School"]


def test_a_contact_may_follow_several_organisations(orgs):
    contact = contact_for(orgs["oak"], orgs["police"])
    assert follows(contact, orgs["oak"]) and follows(contact, orgs["police"])
    assert not follows(contact, orgs["ash"])


def test_nobody_else_follows_anything(orgs):
    practitioner = create_user(agency=orgs["oak"])
    lnd = admin()
    finance = create_user(roles=(Role.FINANCE,), agency=orgs["oak"])
    for person in (practitioner, lnd, finance, None):
        assert not follows(person, orgs["oak"])
        assert organisations_followed_by(person) == []
    contact = contact_for(orgs["oak"])
    assert not follows(contact, None)


def test_taking_the_role_away_or_disabling_the_person_stops_everything(orgs):
    contact = contact_for(orgs["oak"])
    contact.role_rows = [row for row in contact.role_rows if row.role is not Role.TRAINING_CONTACT]
    db.session.flush()
    assert not follows(contact, orgs["oak"])
    assert db.session.scalars(staff_of(contact)).all() == []

    other = contact_for(orgs["ash"])
    other.is_enabled = False
    db.session.flush()
    assert not follows(other, orgs["ash"])


def test_staff_of_lists_only_the_followed_organisations_people(orgs):
    oak_1 = create_user(agency=orgs["oak"], last_name="Adams")
    ash_1 = create_user(agency=orgs["ash"], last_name="Baker")
    police_1 = create_user(agency=orgs["police"], last_name="Cole")
    trust_contact = contact_for(orgs["trust"])
    school_contact = contact_for(orgs["oak"])

    trust_staff = db.session.scalars(staff_of(trust_contact)).all()
    assert oak_1 in trust_staff and ash_1 in trust_staff and police_1 not in trust_staff
    school_staff = db.session.scalars(staff_of(school_contact)).all()
    assert oak_1 in school_staff and ash_1 not in school_staff and police_1 not in school_staff
    assert db.session.scalars(staff_of([orgs["police"]])).all() == [police_1]


# L&D names and removes contacts -----------------------------------------------------------------


def test_naming_a_contact_gives_the_role_and_is_audited(orgs):
    lnd = admin()
    person = create_user(agency=orgs["oak"])
    add_training_contact(orgs["oak"], person, by=lnd, now=NOW)
    assert person.roles == {Role.PRACTITIONER, Role.TRAINING_CONTACT}
    assert contacts_for(orgs["oak"]) == [person]
    names = db.session.scalars(sa.select(AuditEntry.name).where(AuditEntry.actor_id == lnd.id)).all()
    assert "lms.training_contact.added" in names
    assert "lms.security.roles_changed" in names


def test_only_l_and_d_name_contacts_and_not_twice(orgs):
    person = create_user(agency=orgs["oak"])
    with pytest.raises(PermissionDenied):
        add_training_contact(orgs["oak"], person, by=create_user(roles=(Role.FINANCE,)), now=NOW)
    with pytest.raises(PermissionDenied):
        add_training_contact(orgs["oak"], person, by=person, now=NOW)
    lnd = admin()
    add_training_contact(orgs["oak"], person, by=lnd, now=NOW)
    with pytest.raises(TrainingContactError):
        add_training_contact(orgs["oak"], person, by=lnd, now=NOW)
    with pytest.raises(TrainingContactError):
        add_training_contact(orgs["ash"], create_user(enabled=False), by=lnd, now=NOW)


def test_removing_the_last_organisation_takes_the_role_away(orgs):
    lnd = admin()
    contact = contact_for(orgs["oak"], orgs["ash"])
    remove_training_contact(orgs["oak"], contact, by=lnd, now=NOW)
    assert Role.TRAINING_CONTACT in contact.roles
    assert follows(contact, orgs["ash"]) and not follows(contact, orgs["oak"])
    remove_training_contact(orgs["ash"], contact, by=lnd, now=NOW)
    assert contact.roles == {Role.PRACTITIONER}
    with pytest.raises(TrainingContactError):
        remove_training_contact(orgs["ash"], contact, by=lnd, now=NOW)
    removed = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.name == "lms.training_contact.removed")
    ).all()
    assert {entry.subject_id for entry in removed} == {orgs["oak"].id, orgs["ash"].id}


def test_a_contact_with_no_other_role_becomes_a_practitioner_when_removed(orgs):
    lnd = admin()
    person = create_user(roles=(Role.TRAINING_CONTACT,), agency=orgs["police"])
    add_training_contact(orgs["police"], person, by=lnd, now=NOW)
    remove_training_contact(orgs["police"], person, by=lnd, now=NOW)
    assert person.roles == {Role.PRACTITIONER}


def test_a_person_or_organisation_deleted_takes_its_contact_rows_with_it(orgs):
    empty = create_agency("Closed Nursery", category=AgencyCategory.EDUCATION_EARLY_YEARS)
    contact = contact_for(orgs["police"], empty)
    db.session.execute(sa.delete(empty.__table__).where(empty.__table__.c.id == empty.id))
    assert db.session.scalar(sa.select(sa.func.count()).where(TrainingContact.user_id == contact.id)) == 1
    contact_id = contact.id
    db.session.execute(sa.delete(User.__table__).where(User.__table__.c.id == contact_id))
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).where(TrainingContact.user_id == contact_id)) == 0


# The monthly summary -----------------------------------------------------------------------------


def april_at_oak(orgs):
    """In April 2026: two Oak staff at a session (one no-show), an Ash no-show, a police no-show,
    and an Oak late cancellation."""
    ran = session_that_ran(starts_at=datetime(2026, 4, 21, 9, 30, tzinfo=UTC))
    [oak_no_show, ash_no_show, police_no_show] = no_shows(ran, [orgs["oak"], orgs["ash"], orgs["police"]])
    soon = create_session(starts_at=datetime(2026, 4, 29, 9, 30, tzinfo=UTC))
    leaver = create_user(agency=orgs["oak"], last_name="Leaver")
    booking = book_place(soon, leaver, by=leaver, now=datetime(2026, 4, 1, 9, 0, tzinfo=UTC))
    cancel_booking(booking, by=leaver, now=datetime(2026, 4, 28, 9, 0, tzinfo=UTC))
    return oak_no_show, ash_no_show, police_no_show, booking


def test_month_summary_counts_only_the_organisations_in_scope(orgs):
    oak_no_show, _, police_no_show, late = april_at_oak(orgs)
    assert late.is_late_cancellation
    summary = month_summary({orgs["oak"].id}, date(2026, 4, 1))
    assert summary.no_shows == [oak_no_show]
    assert summary.late_cancellations == [late]
    assert {c.booking_id for c in summary.charges} == {oak_no_show.id, late.id}
    assert summary.booked == 2
    police = month_summary({orgs["police"].id}, date(2026, 4, 1))
    assert police.no_shows == [police_no_show]
    assert month_summary({orgs["oak"].id}, date(2026, 3, 1)).is_empty


def test_the_summary_is_due_from_the_day_of_the_month_set(app, orgs):
    app.config["CONTACT_SUMMARY_DAY"] = 3
    try:
        assert month_due(datetime(2026, 5, 2, 12, 0, tzinfo=UTC)) is None
        assert month_due(datetime(2026, 5, 3, 0, 30, tzinfo=UTC)) == date(2026, 4, 1)
        assert month_due(datetime(2027, 1, 20, 12, 0, tzinfo=UTC)) == date(2026, 12, 1)
    finally:
        app.config["CONTACT_SUMMARY_DAY"] = 1
    # Midnight in London on the 1st is still the previous day in UTC during summer time.
    assert month_due(datetime(2026, 4, 30, 23, 30, tzinfo=UTC)) == date(2026, 4, 1)


def test_the_monthly_sweep_run_twice_sends_each_contact_one_summary(orgs, mailbox):
    april_at_oak(orgs)
    school = contact_for(orgs["oak"], email="oak.contact@example.org", first_name="Olu")
    trust = contact_for(orgs["trust"], email="trust.contact@example.org")
    police = contact_for(orgs["police"], email="police.contact@example.org")
    police.is_enabled = False  # a disabled contact gets nothing
    db.session.flush()

    assert send_contact_summaries(NOW) == 2
    assert send_contact_summaries(NOW) == 0
    assert send_contact_summaries(NOW + timedelta(days=10)) == 0
    mailbox.deliver()
    mailbox.deliver()

    [to_school] = mailbox.to("oak.contact@example.org")
    [to_trust] = mailbox.to("trust.contact@example.org")
    assert mailbox.to("police.contact@example.org") == []
    assert to_school["Subject"] == "Your staff's safeguarding training: April 2026"
    text = mailbox.text(to_school)
    assert "Hello Olu," in text
    assert "Late cancellations: 1" in text
    assert "Oak Primary School" in text
    assert "Ash Academy" not in text and "County Police" not in text
    assert "/organisation/" in text
    trust_text = mailbox.text(to_trust)
    assert "Ash Academy" in trust_text and "Oak Primary School" in trust_text
    assert "County Police" not in trust_text
    sent = db.session.scalars(sa.select(ContactSummarySent).order_by(ContactSummarySent.user_id)).all()
    assert [(s.user_id, s.month) for s in sent] == [
        (school.id, date(2026, 4, 1)),
        (trust.id, date(2026, 4, 1)),
    ]

    # The next month brings the next summary, once.
    june = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    assert send_contact_summaries(june) == 2
    assert send_contact_summaries(june) == 0
    assert (
        db.session.scalar(
            sa.select(sa.func.count(OutboxMessage.id)).where(OutboxMessage.kind == "contact.summary")
        )
        == 4
    )


# The people import -------------------------------------------------------------------------------


def test_the_people_import_makes_a_training_contact_for_their_own_organisation(orgs):
    from lms.imports.report import ImportKind
    from tests.imports.helpers import lines_from_text, run

    lnd = admin()
    existing = create_user("head@example.org", agency=orgs["oak"])
    text = (
        "first_name,last_name,email,organisation,job_role,roles\n"
        "Tara,Trust,tara@example.org,Oak Learning Trust,HR officer,Training contact\n"
        "Hal,Head,head@example.org,Oak Primary School,Head teacher,practitioner; training contact\n"
    )
    report = run(ImportKind.PEOPLE, lines_from_text(text), by=lnd)
    assert report.written, report.problems
    tara = db.session.scalar(sa.select(User).where(User.email == "tara@example.org"))
    assert tara.roles == {Role.TRAINING_CONTACT}
    assert follows(tara, orgs["oak"]) and follows(tara, orgs["trust"])
    assert follows(existing, orgs["oak"]) and not follows(existing, orgs["ash"])
    again = run(ImportKind.PEOPLE, lines_from_text(text), by=lnd)
    assert again.counts == {"unchanged": 2}
