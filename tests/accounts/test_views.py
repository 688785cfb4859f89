import re

import pytest
import sqlalchemy as sa

from lms.accounts.models import Agency, Role, User
from lms.extensions import db
from lms.messages.models import OutboxMessage
from tests.accounts.signing_in import sign_in
from tests.conftest import Mailbox, csrf_token
from tests.factories import PASSWORD, create_agency, create_user


def registration(agency, **overrides):
    data = {
        "first_name": "Priya",
        "last_name": "Shah",
        "email": "priya.shah@example.org",
        "job_role": "Health visitor",
        "organisation": agency.label if agency else "",
        "line_manager_name": "Jo Bloggs",
        "line_manager_email": "jo.bloggs@example.org",
        "password": PASSWORD,
        "confirm_password": PASSWORD,
    }
    data.update(overrides)
    return data


def users() -> int:
    return db.session.scalar(sa.select(sa.func.count(User.id)))


def test_registration_form_has_labelled_fields_and_the_managed_agency_list(client):
    create_agency("West Midlands Police", short_name="WMP")
    page = client.get("/register").get_data(as_text=True)
    for field in ("first_name", "email", "job_role", "organisation", "line_manager_email", "password"):
        assert f'<label for="{field}">' in page
    assert '<option value="West Midlands Police (WMP)">' in page
    assert 'list="organisations"' in page
    assert "My organisation is not in the list" in page


def emailed_link(address: str, path: str) -> str:
    """The path of the link to `path` in the last message queued for `address`."""
    body = db.session.scalars(
        sa.select(OutboxMessage.body).where(OutboxMessage.recipient == address).order_by(OutboxMessage.id)
    ).all()[-1]
    match = re.search(rf"http://localhost({re.escape(path)}\S+)", body)
    assert match, body
    return match.group(1)


def test_a_practitioner_registers_confirms_the_emailed_link_and_is_signed_in(client):
    agency = create_agency()
    data = registration(agency, csrf_token=csrf_token(client, "/register"))
    response = client.post("/register", data=data)
    assert response.status_code == 302
    assert response.headers["Location"] == "/register/check-your-email"
    assert "Check your email" in client.get("/register/check-your-email").get_data(as_text=True)
    user = db.session.scalar(sa.select(User).where(User.email == "priya.shah@example.org"))
    assert user.roles == {Role.PRACTITIONER}
    assert client.get("/dashboard").status_code == 302  # not signed in until the address is confirmed

    link = emailed_link(user.email, "/register/confirm/")
    assert "Confirm and sign in" in client.get(link).get_data(as_text=True)  # a GET changes nothing
    response = client.post(link, data={"csrf_token": csrf_token(client, link)})
    assert response.status_code == 302 and response.headers["Location"] == "/sessions/"
    assert client.get("/dashboard").status_code == 200
    db.session.refresh(user)
    assert not user.confirmation_pending
    # The link has done its work.
    assert client.get(link, follow_redirects=True).status_code == 200
    assert client.post(link, data={"csrf_token": csrf_token(client, "/sign-in")}).status_code == 302


def test_registration_answers_the_same_whether_or_not_the_address_has_an_account(app, client):
    agency = create_agency()
    owner = create_user("taken@example.org", first_name="Tam")

    def register(email: str):
        browser = app.test_client()
        response = browser.post(
            "/register", data=registration(agency, email=email, csrf_token=csrf_token(browser, "/register"))
        )
        cookies = {cookie.key for cookie in browser._cookies.values()}
        after = browser.get(response.headers["Location"])
        return response, cookies, after

    known, known_cookies, known_page = register("Taken@Example.org")
    new, new_cookies, new_page = register("new.person@example.org")

    assert known.status_code == new.status_code == 302
    assert known.headers["Location"] == new.headers["Location"]
    assert known.get_data() == new.get_data()
    assert known_cookies == new_cookies
    assert known_page.status_code == new_page.status_code == 200
    assert known_page.get_data() == new_page.get_data()
    # The owner is told, and nothing about their account changed.
    body = emailed_link(owner.email, "/password/reset/")
    assert body.startswith("/password/reset/")
    message = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.recipient == owner.email)).one()
    assert message.subject == "Someone tried to register with your email address"
    assert "Hello Tam" in message.body and "/sign-in" in message.body
    db.session.refresh(owner)
    assert owner.first_name == "Tam" and not owner.confirmation_pending


def test_bad_registration_shows_messages_beside_the_fields_and_writes_nothing(client):
    agency = create_agency()
    token = csrf_token(client, "/register")
    response = client.post(
        "/register",
        data=registration(
            None,
            email="not-an-email",
            confirm_password="different",
            line_manager_name="",
            csrf_token=token,
        ),
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "There is a problem" in page
    assert "Enter an email address like name@example.org." in page
    assert "Enter the organisation you work for." in page
    assert "The two passwords do not match." in page
    assert "Enter your line manager&#39;s name." in page
    assert 'aria-invalid="true"' in page
    assert users() == 0
    assert agency.id  # the agency list is untouched


def test_a_form_without_its_csrf_token_is_refused(client):
    agency = create_agency()
    response = client.post("/register", data=registration(agency))
    assert response.status_code == 400
    assert "The form has expired" in response.get_data(as_text=True)
    assert users() == 0


def test_sign_in_starts_a_new_session(client):
    user = create_user()
    with client.session_transaction() as session:
        session["planted"] = "by someone else"
    assert sign_in(client, user).status_code == 302
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["_user_id"] == user.session_token


@pytest.mark.parametrize(
    ("next_url", "expected"),
    [
        ("/sessions/", "/sessions/"),
        ("https://evil.example/steal", "/dashboard"),
        ("//evil.example/steal", "/dashboard"),
        ("/\\evil.example", "/dashboard"),
        ("javascript:alert(1)", "/dashboard"),
    ],
)
def test_after_sign_in_only_local_pages_are_followed(client, next_url, expected):
    user = create_user()
    token = csrf_token(client, "/sign-in")
    response = client.post(
        "/sign-in",
        data={"email": user.email, "password": PASSWORD, "next": next_url, "csrf_token": token},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == expected


def test_a_wrong_password_says_so_without_saying_which_part_was_wrong(client):
    user = create_user()
    response = sign_in(client, user, password="not my password")
    assert response.status_code == 422
    assert "The email address or password is not right." in response.get_data(as_text=True)


def test_repeated_failed_sign_ins_are_throttled(client):
    user = create_user()
    for _ in range(5):
        assert sign_in(client, user, password="wrong password").status_code == 422
    response = sign_in(client, user)
    assert response.status_code == 422
    assert "Too many failed sign-in attempts" in response.get_data(as_text=True)


def test_sign_out_needs_a_post_with_a_token(client):
    user = create_user()
    sign_in(client, user)
    assert client.get("/sign-out").status_code == 405
    assert client.post("/sign-out").status_code == 400
    token = csrf_token(client, "/dashboard")
    assert client.post("/sign-out", data={"csrf_token": token}).status_code == 302
    assert client.get("/dashboard").status_code == 302


def reset_link(mailbox: Mailbox, address: str) -> str:
    [message] = mailbox.delivered().to(address)
    match = re.search(r"http://localhost(/password/reset/\S+)", Mailbox.text(message))
    assert match, Mailbox.text(message)
    return match.group(1)


def test_a_forgotten_password_is_reset_by_an_emailed_link_that_works_once(client, mailbox):
    user = create_user("casey@example.org")
    token = csrf_token(client, "/password/forgot")
    response = client.post("/password/forgot", data={"email": "Casey@Example.org", "csrf_token": token})
    assert response.status_code == 302
    link = reset_link(mailbox, "casey@example.org")
    new_password = "a brand new pass phrase"
    token = csrf_token(client, link)
    response = client.post(
        link, data={"password": new_password, "confirm_password": new_password, "csrf_token": token}
    )
    assert response.status_code == 302
    client.post("/sign-out", data={"csrf_token": csrf_token(client, "/dashboard")})
    assert sign_in(client, user, password=new_password).status_code == 302
    # The link has been used.
    response = client.get(link)
    assert response.status_code == 302 and "/password/forgot" in response.headers["Location"]


def test_an_expired_reset_link_is_refused(app, client, mailbox):
    create_user("casey@example.org")
    client.post(
        "/password/forgot",
        data={"email": "casey@example.org", "csrf_token": csrf_token(client, "/password/forgot")},
    )
    link = reset_link(mailbox, "casey@example.org")
    app.config["PASSWORD_RESET_MAX_AGE_SECONDS"] = -1
    try:
        response = client.get(link, follow_redirects=True)
    finally:
        app.config["PASSWORD_RESET_MAX_AGE_SECONDS"] = 3600
    assert "This link has expired" in response.get_data(as_text=True)


def test_asking_to_reset_an_unknown_address_says_the_same_and_sends_nothing(client, mailbox):
    token = csrf_token(client, "/password/forgot")
    response = client.post(
        "/password/forgot",
        data={"email": "nobody@example.org", "csrf_token": token},
        follow_redirects=True,
    )
    assert "If an account uses that address" in response.get_data(as_text=True)
    assert mailbox.delivered().messages == []


def test_a_reset_email_waits_in_the_outbox_when_the_mail_server_is_down(app, client):
    from lms.messages.delivery import deliver_pending
    from lms.messages.models import OutboxMessage
    from tests.factories import NOW

    create_user("casey@example.org")
    port = app.config["MAIL_PORT"]
    app.config["MAIL_PORT"] = 1  # nothing listens there
    try:
        client.post(
            "/password/forgot",
            data={
                "email": "casey@example.org",
                "csrf_token": csrf_token(client, "/password/forgot"),
            },
        )
        assert deliver_pending(NOW) == 0  # the dispatcher finds the server down
    finally:
        app.config["MAIL_PORT"] = port
    message = db.session.scalar(sa.select(OutboxMessage))
    # An outage is no message's fault: it waits, with the reason, and uses up none of its attempts.
    assert message.sent_at is None and message.attempts == 0 and message.last_error
    assert deliver_pending(NOW) == 1
    db.session.refresh(message)
    assert message.sent_at is not None


def test_people_see_and_correct_their_own_details(client):
    user = create_user()
    other_agency = create_agency("Birmingham Children's Trust")
    sign_in(client, user)
    token = csrf_token(client, "/account")
    data = registration(other_agency, email=user.email, job_role="Team manager", csrf_token=token)
    assert client.post("/account", data=data).status_code == 302
    db.session.refresh(user)
    assert user.job_role == "Team manager"
    assert user.agency_id == other_agency.id


def test_admin_maps_an_other_organisation_through_the_page(client):
    admin = create_user(roles=(Role.LND_ADMIN,))
    person = create_user(other_organisation="Acorns Hospice")
    hospice = create_agency("Acorns Children's Hospice")
    sign_in(client, admin)
    page = client.get("/admin/agencies").get_data(as_text=True)
    assert "Acorns Hospice" in page
    token = csrf_token(client, "/admin/agencies/map?organisation=Acorns+Hospice")
    response = client.post(
        "/admin/agencies/map",
        data={"organisation": "Acorns Hospice", "target": str(hospice.id), "csrf_token": token},
    )
    assert response.status_code == 302
    db.session.refresh(person)
    assert person.agency_id == hospice.id


def test_admin_adds_an_agency_with_billing_details(client):
    admin = create_user(roles=(Role.LND_ADMIN,))
    sign_in(client, admin)
    token = csrf_token(client, "/admin/agencies/new")
    data = {
        "name": "Sandwell Children's Trust",
        "short_name": "SCT",
        "category": "childrens_social_care",
        "billing_contact": "Accounts Payable",
        "billing_email": "AP@sct.example",
        "billing_address": "1 High Street\nWest Bromwich",
        "purchase_order": "PO-1234",
        "is_active": "y",
        "csrf_token": token,
    }
    assert client.post("/admin/agencies/new", data=data).status_code == 302
    agency = db.session.scalar(sa.select(Agency).where(Agency.short_name == "SCT"))
    assert agency.billing_email == "ap@sct.example"
    assert agency.purchase_order == "PO-1234"
    response = client.post("/admin/agencies/new", data=data | {"name": "sandwell children's trust"})
    assert response.status_code == 422
    assert "An agency with this name already exists." in response.get_data(as_text=True)


def test_admin_gives_someone_the_finance_role(client):
    admin = create_user(roles=(Role.LND_ADMIN,))
    person = create_user()
    sign_in(client, admin)
    path = f"/admin/people/{person.id}"
    token = csrf_token(client, path)
    data = registration(person.agency, email=person.email, csrf_token=token)
    data.pop("password"), data.pop("confirm_password")
    data["roles"] = ["practitioner", "finance"]
    data["enabled"] = "y"
    assert client.post(path, data=data).status_code == 302
    db.session.refresh(person)
    assert person.roles == {Role.PRACTITIONER, Role.FINANCE}
