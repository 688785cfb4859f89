"""People come in matched on their email address: new people are invited to choose a password,
people already registered are brought up to date and keep every role they had."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from lms.accounts.models import Role, User
from lms.core.audit import AuditEntry
from lms.extensions import db
from lms.imports.readers import ReadError
from lms.imports.report import ImportKind
from lms.messages.delivery import deliver_pending
from lms.messages.models import OutboxMessage
from tests.conftest import Mailbox
from tests.factories import NOW, create_agency, create_user
from tests.imports.helpers import admin, count, lines_from_text, organisation, problems, run

PEOPLE = ImportKind.PEOPLE


@pytest.fixture
def by():
    lnd = admin()
    assert run(ImportKind.ORGANISATIONS, "organisations.csv", by=lnd).written
    return lnd


def person(email: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.email == email))


def test_new_people_are_added_to_their_organisations_and_invited_to_choose_a_password(by, mailbox):
    report = run(PEOPLE, "people.csv", by=by)
    assert report.written and report.counts == {"created": 4, "invitations": 4}
    amira = person("amira.khan@example.org")
    assert amira.agency == organisation("Meadowbank Primary School")
    assert amira.job_role == "Designated safeguarding lead" and amira.roles == {Role.PRACTITIONER}
    assert amira.password_hash is None
    # By official code, by short name, and with the email address in any case.
    assert person("ben.osei@example.org").agency == organisation("Meadowbank Primary School")
    trainer = person("trainer@example.org")
    assert trainer.agency == organisation("Townbury Police")
    assert trainer.roles == {Role.PRACTITIONER, Role.TRAINER}
    assert deliver_pending(NOW) == 4
    [invitation] = mailbox.to("amira.khan@example.org")
    assert "/password/reset/" in Mailbox.text(invitation)


def test_invitations_can_be_held_back(by, mailbox):
    report = run(PEOPLE, "people.csv", by=by, invitations=False)
    assert report.counts == {"created": 4}
    assert count(OutboxMessage) == 0
    assert deliver_pending(NOW) == 0 and mailbox.messages == []
    assert person("chloe.price@example.org") is not None


def test_importing_the_same_file_again_changes_nothing(by):
    run(PEOPLE, "people.csv", by=by)
    entries, messages = count(AuditEntry), count(OutboxMessage)
    again = run(PEOPLE, "people.csv", by=by)
    assert again.counts == {"unchanged": 4}
    assert (count(AuditEntry), count(OutboxMessage), count(User)) == (entries, messages, 5)


def test_people_already_registered_are_updated_and_keep_roles_nobody_listed(by):
    finance = create_user("amira.khan@example.org", roles=(Role.FINANCE,), first_name="Amy")
    report = run(
        PEOPLE,
        lines_from_text(
            "email,first_name,last_name,organisation,job_role,roles\n"
            "Amira.Khan@example.org,Amira,Khan,Townbury Police,Analyst,trainer\n"
        ),
        by=by,
    )
    assert report.counts == {"updated": 1}
    db.session.refresh(finance)
    assert finance.first_name == "Amira" and finance.job_role == "Analyst"
    assert finance.agency == organisation("Townbury Police")
    assert finance.roles == {Role.FINANCE, Role.TRAINER}
    assert count(OutboxMessage) == 0  # no invitation for someone already registered


def test_blank_cells_leave_a_registered_persons_details_as_they_are(by):
    someone = create_user("sam@example.org", agency=organisation("Townbury Police"))
    job, agency = someone.job_role, someone.agency_id
    report = run(
        PEOPLE,
        lines_from_text("email,first_name,last_name,organisation,job_role\nsam@example.org,,,,\n"),
        by=by,
    )
    assert report.counts == {"unchanged": 1}
    assert (someone.job_role, someone.agency_id) == (job, agency)


def test_a_dry_run_of_a_file_with_bad_rows_lists_each_problem_and_writes_nothing(by):
    report = run(PEOPLE, "people-bad.csv", by=by, dry_run=True)
    assert problems(report) == [
        (2, "organisation"),
        (3, "email"),
        (4, "roles"),
        (5, "email"),
        (6, "job_role"),
        (7, "organisation"),
    ]
    reasons = [p.reason for p in report.problems]
    assert "Did you mean “Meadowbank Primary School, B12 9QQ”?" in reasons[0]
    assert "“manager” is not a role" in reasons[2]
    assert "already on line 2" in reasons[3]
    assert "closed" in reasons[5]
    assert count(User) == 1 and count(OutboxMessage) == 0


def test_a_real_run_with_a_bad_row_writes_nothing_and_sends_nothing(by, mailbox):
    report = run(PEOPLE, "people-bad.csv", by=by)
    assert not report.written
    assert person("grace.lee@example.org") is None and count(OutboxMessage) == 0
    assert deliver_pending(NOW) == 0


def test_a_file_without_the_email_column_is_refused():
    with pytest.raises(ReadError, match="missing the column email"):
        run(PEOPLE, lines_from_text("first_name,last_name\nA,B\n"), by=admin())


def test_the_command_brings_someone_already_registered_up_to_date():
    agency = create_agency("Townbury Police")
    person = create_user("sam@example.org", agency=agency, first_name="Sam")
    report = run(PEOPLE, lines_from_text("email,first_name,last_name\nsam@example.org,Samuel,Tester\n"))
    assert report.written and report.counts == {"updated": 1} and not report.problems
    assert (person.first_name, person.last_name) == ("Samuel", "Tester")
