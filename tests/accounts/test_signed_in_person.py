"""Every signed-in request reads the person, their roles and their sign-in in one statement."""

from __future__ import annotations

from dataclasses import fields

import sqlalchemy as sa

from lms.accounts.models import Role
from lms.accounts.security import signed_in_person
from lms.accounts.services import PersonDetails, update_person
from lms.extensions import db
from tests.factories import NOW, create_user


def statements_while(work) -> tuple[object, list[str]]:
    sent: list[str] = []

    def note(conn, cursor, statement, *args) -> None:
        if not statement.startswith(("SAVEPOINT", "RELEASE SAVEPOINT")):  # the test's own transaction
            sent.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", note)
    try:
        result = work()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", note)
    return result, sent


def fresh(person) -> str:
    token = person.session_token
    db.session.commit()
    db.session.expunge_all()
    return token


def test_the_roles_come_with_the_person_and_asking_about_them_sends_nothing(app_context):
    token = fresh(create_user(roles=(Role.PRACTITIONER, Role.TRAINER, Role.TRAINING_CONTACT)))
    person, sent = statements_while(lambda: signed_in_person(token, "no such browser"))
    assert len(sent) == 1
    asked, sent = statements_while(
        lambda: (
            person.roles,
            person.has_role(Role.TRAINER),
            person.has_role(Role.LND_ADMIN),
            person.is_staff,
        )
    )
    assert asked[:3] == ({Role.PRACTITIONER, Role.TRAINER, Role.TRAINING_CONTACT}, True, False)
    assert sent == []


def test_a_person_with_no_roles_left_has_none(app_context):
    person = create_user(roles=())
    token = fresh(person)
    loaded = signed_in_person(token, None)
    assert loaded.roles == set()
    assert not loaded.has_role(*Role)


def test_roles_changed_during_the_request_are_the_ones_asked_about(app_context):
    admin = create_user(roles=(Role.LND_ADMIN, Role.PRACTITIONER), second_factor=False)
    token = fresh(admin)
    me = signed_in_person(token, None)
    assert me.roles == {Role.LND_ADMIN, Role.PRACTITIONER}
    details = PersonDetails(**{part.name: getattr(me, part.name) for part in fields(PersonDetails)})
    update_person(me, details, {Role.LND_ADMIN, Role.FINANCE}, True, by=me, now=NOW)
    assert me.roles == {Role.LND_ADMIN, Role.FINANCE}
    assert me.has_role(Role.FINANCE) and not me.has_role(Role.PRACTITIONER)
    db.session.commit()
    assert signed_in_person(token, None).roles == {Role.LND_ADMIN, Role.FINANCE}
