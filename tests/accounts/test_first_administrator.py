"""A new installation: the home page says how to make the first administrator, and the command does."""

from __future__ import annotations

import re

import sqlalchemy as sa

from lms.accounts import two_factor
from lms.accounts.models import Role, User
from lms.extensions import db
from tests.accounts.signing_in import enter_code, sign_in
from tests.conftest import Mailbox
from tests.factories import NOW, PASSWORD, create_user


def create_admin(app, *args, input=None):
    return app.test_cli_runner().invoke(args=["lms", "create-admin", *args], input=input)


def person(email: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.email == email))


def test_an_empty_installation_tells_the_installer_which_command_to_run(client):
    page = client.get("/").get_data(as_text=True)
    assert "lms create-admin --email" in page
    create_user(roles=(Role.LND_ADMIN,))
    page = client.get("/").get_data(as_text=True)
    assert "lms create-admin" not in page and "Create an account" in page


def test_create_admin_asks_for_a_password_and_the_administrator_can_sign_in(app, client):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["lms", "create-admin", "--email", "Sam.Patel@Example.org", "--name", "Sam  Patel"],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    assert "Created Sam Patel <sam.patel@example.org>, L&D administrator." in result.output
    admin = person("sam.patel@example.org")
    assert admin.roles == {Role.LND_ADMIN}
    assert admin.other_organisation == app.config["PARTNERSHIP_NAME"]
    assert "set up two-step sign-in" in result.output
    # At the first sign-in they set up an authenticator app, then they are in.
    response = sign_in(client, admin)
    assert response.status_code == 302 and response.headers["Location"] == "/sign-in/set-up"
    assert client.get("/admin/people").status_code == 302
    page = client.get("/sign-in/set-up").get_data(as_text=True)
    secret = re.search(r'<code id="set-up-key">([A-Z2-7 ]+)</code>', page).group(1).replace(" ", "")
    response = enter_code(client, two_factor.code_at(secret, NOW), page="/sign-in/set-up")
    assert response.status_code == 200 and "Your recovery codes" in response.get_data(as_text=True)
    assert client.get("/admin/people").status_code == 200
    assert admin.second_factor.totp_secret == secret


def test_create_admin_for_someone_who_lost_their_app_makes_them_set_up_a_new_one(app):
    admin = create_user("lee@example.org", roles=(Role.LND_ADMIN,))
    assert admin.has_second_factor
    result = create_admin(app, "--email", "lee@example.org", "--name", "Lee Dunn")
    assert result.exit_code == 0, result.output
    db.session.refresh(admin)
    assert not admin.has_second_factor
    assert "set up two-step sign-in" in result.output


def test_create_admin_refuses_a_weak_password_and_writes_nothing(app):
    result = create_admin(app, "--email", "sam@example.org", "--name", "Sam Patel", input="short\nshort\n")
    assert result.exit_code != 0 and "at least" in result.output
    assert person("sam@example.org") is None


def test_create_admin_with_invite_emails_a_link_to_choose_a_password(app, mailbox):
    result = app.test_cli_runner().invoke(
        args=["lms", "create-admin", "--email", "lnd@example.org", "--name", "Lee Dunn", "--invite"]
    )
    assert result.exit_code == 0, result.output
    assert "Invited lnd@example.org" in result.output
    [invitation] = mailbox.to("lnd@example.org")
    assert "/password/reset/" in Mailbox.text(invitation)
    assert person("lnd@example.org").password_hash is None


def test_create_admin_gives_the_role_to_someone_already_registered(app):
    practitioner = create_user("jo@example.org")
    result = create_admin(app, "--email", "jo@example.org", "--name", "Jo X")
    assert result.exit_code == 0, result.output
    db.session.refresh(practitioner)
    assert practitioner.roles == {Role.PRACTITIONER, Role.LND_ADMIN}


def test_create_admin_needs_a_first_and_last_name(app):
    result = create_admin(app, "--email", "x@example.org", "--name", "Cher")
    assert result.exit_code == 2 and "first and a last name" in result.output
