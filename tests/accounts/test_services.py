import pytest
import sqlalchemy as sa

from lms.accounts.models import AgencyCategory, OrganisationMapping, Role, User
from lms.accounts.security import authenticate
from lms.accounts.services import (
    AccountError,
    AgencyDetails,
    PersonDetails,
    create_agency,
    create_person,
    map_organisation,
    register_practitioner,
    unmapped_organisations,
    update_person,
)
from lms.core.audit import AuditEntry
from lms.extensions import db
from tests.factories import NOW, PASSWORD, create_user
from tests.factories import create_agency as make_agency


def details(agency=None, **overrides) -> PersonDetails:
    values = dict(
        first_name="Priya",
        last_name="Shah",
        email="Priya.Shah@Example.org",
        job_role="Health visitor",
        agency_id=agency.id if agency else None,
        other_organisation=None,
        line_manager_name="Jo Bloggs",
        line_manager_email="jo.bloggs@example.org",
    )
    values.update(overrides)
    return PersonDetails(**values)


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def registered(email: str = "priya.shah@example.org") -> User:
    return db.session.scalar(sa.select(User).where(User.email == email))


def test_registering_creates_a_practitioner_with_a_normalised_email(app_context):
    agency = make_agency("West Midlands Police")
    message = register_practitioner(details(agency), PASSWORD, now=NOW)
    user = registered()
    assert user.roles == {Role.PRACTITIONER}
    assert user.agency == agency
    assert user.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert db.session.scalar(sa.select(AuditEntry.name).where(AuditEntry.subject_id == user.id)) == (
        "lms.user.registered"
    )
    # The address is confirmed by following the emailed link before the account can be used.
    assert user.confirmation_pending
    assert message.recipient == user.email and "/register/confirm/" in message.body


def test_registering_an_address_already_taken_tells_its_owner_instead(app_context):
    agency = make_agency()
    owner = create_user("priya.shah@example.org")
    users_before = count(User)
    message = register_practitioner(details(agency, email="PRIYA.SHAH@example.ORG"), PASSWORD, now=NOW)
    assert count(User) == users_before
    assert message.recipient == owner.email
    assert message.subject == "Someone tried to register with your email address"
    assert "/sign-in" in message.body and "/password/reset/" in message.body


def test_other_needs_the_organisation_name(app_context):
    with pytest.raises(AccountError) as error:
        register_practitioner(details(None, other_organisation="  "), PASSWORD, now=NOW)
    assert error.value.field == "agency"
    assert count(User) == 0


def test_a_weak_password_is_refused_and_nothing_is_written(app_context):
    agency = make_agency()
    for weak in ("short", "aaaaaaaaaaaa", "priya.shah@example.org"):
        with pytest.raises(AccountError) as error:
            register_practitioner(details(agency), weak, now=NOW)
        assert error.value.field == "password"
    assert count(User) == 0


def test_mapping_an_other_organisation_moves_its_people_whatever_the_case(app_context):
    admin = create_user(roles=(Role.LND_ADMIN,))
    hospice = make_agency("Acorns Children's Hospice", category=AgencyCategory.VOLUNTARY)
    first = create_user(other_organisation="Acorns Hospice")
    second = create_user(other_organisation="ACORNS hospice")
    elsewhere = create_user(other_organisation="Little Stars Nursery")
    assert [(o.name.lower(), o.people) for o in unmapped_organisations()] == [
        ("acorns hospice", 2),
        ("little stars nursery", 1),
    ]
    moved = map_organisation("acorns hospice", hospice, by=admin, now=NOW)
    assert moved == 2
    assert first.agency == hospice and first.other_organisation is None
    assert second.agency == hospice
    assert elsewhere.agency is None
    assert [o.name for o in unmapped_organisations()] == ["Little Stars Nursery"]


def test_someone_typing_a_mapped_name_later_joins_the_agency(app_context):
    admin = create_user(roles=(Role.LND_ADMIN,))
    hospice = make_agency("Acorns Children's Hospice")
    map_organisation("Acorns Hospice", hospice, by=admin, now=NOW)
    assert db.session.scalar(sa.select(OrganisationMapping.name_key)) == "acorns hospice"
    register_practitioner(details(None, other_organisation="acorns   HOSPICE"), PASSWORD, now=NOW)
    user = registered()
    assert user.agency == hospice
    assert user.other_organisation is None


def test_agency_names_are_unique_regardless_of_case(app_context):
    make_agency("Birmingham City Council")
    with pytest.raises(AccountError) as error:
        create_agency(
            AgencyDetails(
                name="birmingham  city council",
                short_name=None,
                category=AgencyCategory.LOCAL_AUTHORITY,
            ),
            by=None,
            now=NOW,
        )
    assert error.value.field == "name"


def test_l_and_d_adds_a_trainer_who_is_invited_by_email(app_context):
    admin = create_user(roles=(Role.LND_ADMIN,))
    agency = make_agency()
    user, message = create_person(details(agency), {Role.TRAINER}, by=admin, now=NOW)
    assert user.roles == {Role.TRAINER}
    assert user.password_hash is None
    assert message.recipient == user.email
    assert "/password/reset/" in message.body and "purpose=invitation" in message.body


def test_an_admin_cannot_remove_their_own_admin_role_or_disable_themselves(app_context):
    admin = create_user(roles=(Role.LND_ADMIN,))
    mine = details(admin.agency, email=admin.email)
    with pytest.raises(AccountError):
        update_person(admin, mine, {Role.PRACTITIONER}, True, by=admin, now=NOW)
    with pytest.raises(AccountError):
        update_person(admin, mine, {Role.LND_ADMIN}, False, by=admin, now=NOW)
    assert admin.roles == {Role.LND_ADMIN}


def test_disabling_someone_signs_them_out_and_stops_sign_in(app_context):
    admin = create_user(roles=(Role.LND_ADMIN,))
    person = create_user()
    token = person.session_token
    update_person(
        person,
        details(person.agency, email=person.email),
        {Role.PRACTITIONER},
        False,
        by=admin,
        now=NOW,
    )
    assert person.session_token != token
    assert authenticate(person.email, PASSWORD, address="10.0.0.1", user_agent="", now=NOW).refused


def test_roles_can_be_combined(app_context):
    admin = create_user(roles=(Role.LND_ADMIN,))
    person = create_user()
    update_person(
        person,
        details(person.agency, email=person.email),
        {Role.TRAINER, Role.FINANCE},
        True,
        by=admin,
        now=NOW,
    )
    assert person.roles == {Role.TRAINER, Role.FINANCE}
    assert person.has_role(Role.FINANCE) and not person.has_role(Role.PRACTITIONER)
