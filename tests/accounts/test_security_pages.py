"""The pages of signing in with a second factor, of one's own sign-ins, of L&D's unlock and reset,
of security events; and the recent second factor asked before granting roles, running invoices and
exporting personal data."""

from __future__ import annotations

import base64
import re
from datetime import timedelta

import sqlalchemy as sa
import zxingcpp
from PIL import Image, ImageDraw

from lms.accounts import throttle, two_factor
from lms.accounts.models import Role, SignInSession
from lms.core import clock
from lms.core.audit import AuditEntry, log_action
from lms.extensions import db
from lms.messages.models import OutboxMessage
from tests.accounts.signing_in import CODE_PAGE, enter_code, sign_in
from tests.conftest import csrf_token
from tests.factories import (
    NOW,
    PASSWORD,
    STAFF_TOTP_SECRET,
    create_agency,
    create_integration_with_tokens,
    create_user,
    create_webhook,
    second_factor_code,
)


def later(minutes: int) -> None:
    clock.freeze(NOW + timedelta(minutes=minutes))


def events(name: str) -> list[AuditEntry]:
    query = sa.select(AuditEntry).where(AuditEntry.name == name).order_by(AuditEntry.id)
    return list(db.session.scalars(query))


def post(client, path: str, data: dict | None = None, page: str | None = None):
    return client.post(path, data={**(data or {}), "csrf_token": csrf_token(client, page or path)})


# Signing in with a code -------------------------------------------------------------------------


def test_staff_give_the_password_then_the_code_from_their_app(client):
    admin = create_user(roles=(Role.LND_ADMIN,))
    token = csrf_token(client, "/sign-in")
    response = client.post(
        "/sign-in",
        data={"email": admin.email, "password": PASSWORD, "next": "/admin/people", "csrf_token": token},
    )
    assert response.status_code == 302 and response.headers["Location"] == CODE_PAGE
    assert client.get("/admin/people").status_code == 302  # not in yet
    page = client.get(CODE_PAGE).get_data(as_text=True)
    assert "Enter your code" in page and 'autocomplete="one-time-code"' in page

    wrong = enter_code(client, "000000")
    assert wrong.status_code == 422 and "That code is not right" in wrong.get_data(as_text=True)
    response = enter_code(client, two_factor.code_at(STAFF_TOTP_SECRET, NOW))
    assert response.status_code == 302 and response.headers["Location"] == "/admin/people"
    assert client.get("/admin/people").status_code == 200


def test_the_code_page_needs_a_recent_password(client):
    admin = create_user(roles=(Role.LND_ADMIN,))
    assert client.get(CODE_PAGE).status_code == 302  # nobody half-way through
    token = csrf_token(client, "/sign-in")
    client.post("/sign-in", data={"email": admin.email, "password": PASSWORD, "csrf_token": token})
    token = csrf_token(client, CODE_PAGE)
    later(11)
    response = client.post(CODE_PAGE, data={"code": second_factor_code(admin), "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/sign-in"
    assert client.get("/admin/people").status_code == 302


def test_the_set_up_qr_code_reads_back_as_the_apps_set_up_address():
    uri = two_factor.setup_uri(STAFF_TOTP_SECRET, account="sam@example.org", issuer="City SCP")
    svg = two_factor.qr_svg(uri)
    size = int(re.search(r'viewBox="0 0 (\d+) \d+"', svg).group(1))
    scale = 8
    image = Image.new("L", (size * scale, size * scale), 255)
    draw = ImageDraw.Draw(image)
    for x, y in re.findall(r"M(\d+) (\d+)h1v1h-1z", svg):
        x, y = int(x) * scale, int(y) * scale
        draw.rectangle([x, y, x + scale - 1, y + scale - 1], fill=0)
    [found] = zxingcpp.read_barcodes(image)
    assert found.text == uri
    assert uri.startswith("otpauth://totp/City%20SCP:sam%40example.org?secret=" + STAFF_TOTP_SECRET)


def test_a_practitioner_may_turn_on_two_step_sign_in_and_is_asked_for_codes_after(client):
    person = create_user()
    sign_in(client, person)
    page = client.get("/account/two-factor").get_data(as_text=True)
    secret = re.search(r'<code id="set-up-key">([A-Z2-7 ]+)</code>', page).group(1).replace(" ", "")
    qr = re.search(r'src="data:image/svg\+xml;base64,([^"]+)"', page).group(1)
    assert base64.b64decode(qr).startswith(b"<svg")
    again = client.get("/account/two-factor").get_data(as_text=True)
    assert two_factor.grouped_secret(secret) in again  # reloading shows the same set-up

    response = post(client, "/account/two-factor", {"code": two_factor.code_at(secret, NOW)})
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "This is the only time they are shown" in page
    codes = re.findall(r"<li><code>([a-z2-9-]{19})</code></li>", page)
    assert len(codes) == 10
    assert codes[0] not in client.get("/account/security").get_data(as_text=True)

    client.post("/sign-out", data={"csrf_token": csrf_token(client, "/account")})
    response = sign_in(client, person, code=codes[0])
    assert response.status_code == 302
    assert "9 codes left" in client.get("/dashboard", follow_redirects=True).get_data(as_text=True)


def test_staff_already_signed_in_without_an_app_are_sent_to_set_one_up(client):
    finance = create_user(roles=(Role.FINANCE,), second_factor=False)
    client.application.config["STAFF_TWO_FACTOR"] = False
    try:
        assert sign_in(client, finance).status_code == 302
    finally:
        client.application.config["STAFF_TWO_FACTOR"] = True
    response = client.get("/finance/")
    assert response.status_code == 302 and response.headers["Location"] == "/account/two-factor"
    assert client.get("/account/two-factor").status_code == 200
    assert client.get("/certificates/verify").status_code == 200  # public pages stay open


# A recent second factor -----------------------------------------------------------------------


def test_granting_roles_needs_a_code_given_in_the_last_minutes(client):
    admin = create_user(roles=(Role.LND_ADMIN,))
    person = create_user()
    sign_in(client, admin)
    path = f"/admin/people/{person.id}"
    form = {
        "first_name": person.first_name,
        "last_name": person.last_name,
        "email": person.email,
        "job_role": "Team manager",
        "organisation": person.agency.label,
        "line_manager_name": "Lee Manager",
        "line_manager_email": "manager@example.org",
        "roles": ["practitioner"],
        "enabled": "y",
    }
    later(30)
    # Details alone need no code...
    assert post(client, path, form).status_code == 302
    # ...roles do.
    response = client.post(
        path,
        data={**form, "roles": ["practitioner", "finance"], "csrf_token": csrf_token(client, path)},
        headers={"Referer": f"http://localhost{path}"},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"/account/confirm?next=/admin/people/{person.id}"
    db.session.refresh(person)
    assert person.roles == {Role.PRACTITIONER}

    confirm = response.headers["Location"]
    assert "Confirm it is you" in client.get(confirm).get_data(as_text=True)
    response = post(client, confirm, {"code": two_factor.code_at(STAFF_TOTP_SECRET, clock.now())})
    assert response.status_code == 302 and response.headers["Location"] == path
    assert post(client, path, {**form, "roles": ["practitioner", "finance"]}).status_code == 302
    db.session.refresh(person)
    assert person.roles == {Role.PRACTITIONER, Role.FINANCE}
    [event] = events("lms.security.roles_changed")
    assert event.data == {"before": ["practitioner"], "after": ["finance", "practitioner"]}


def test_running_invoices_needs_a_recent_second_factor(client):
    finance = create_user(roles=(Role.FINANCE,))
    sign_in(client, finance)
    later(16)
    response = post(client, "/finance/run", {"start": "2026-04-01", "end": "2026-05-04"})
    assert response.status_code == 302 and response.headers["Location"].startswith("/account/confirm?next=")
    assert client.get("/finance/run").status_code == 200  # looking needs no code


def test_exporting_personal_data_needs_a_recent_second_factor_and_is_written_down(client):
    finance = create_user(roles=(Role.FINANCE,))
    sign_in(client, finance)
    assert client.get("/finance/export.csv").status_code == 200
    [event] = events("lms.security.exported")
    assert event.actor_id == finance.id and event.data["path"] == "/finance/export.csv"

    later(20)
    response = client.get("/finance/export.csv?start=2026-04-01")
    assert response.status_code == 302
    assert response.headers["Location"] == "/account/confirm?next=/finance/export.csv?start%3D2026-04-01"
    assert len(events("lms.security.exported")) == 1
    post(client, response.headers["Location"], {"code": two_factor.code_at(STAFF_TOTP_SECRET, clock.now())})
    assert client.get("/finance/export.csv?start=2026-04-01").status_code == 200
    assert len(events("lms.security.exported")) == 2


def test_a_webhooks_secret_and_its_events_payloads_need_a_recent_second_factor(client):
    lnd = create_user(roles=(Role.LND_ADMIN,))
    integration = create_integration_with_tokens(create_agency(), create_user(), lnd)
    webhook, delivery = create_webhook(integration, lnd)
    sign_in(client, lnd)
    pages = [f"/admin/webhooks/{webhook.id}", f"/admin/webhooks/deliveries/{delivery.id}"]
    assert [client.get(page).status_code for page in pages] == [200, 200]
    later(20)
    for page in pages:
        response = client.get(page)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/account/confirm?next=")
        assert webhook.secret not in response.get_data(as_text=True)


# One's own sign-ins ---------------------------------------------------------------------------


def test_people_see_where_they_are_signed_in_and_sign_one_browser_out(app):
    person = create_user()
    laptop, phone = app.test_client(), app.test_client()
    sign_in(laptop, person)
    sign_in(phone, person)
    page = laptop.get("/account/security").get_data(as_text=True)
    assert "2 browsers" in page and "this browser" in page
    rows = db.session.scalars(sa.select(SignInSession).order_by(SignInSession.id)).all()
    phone_row = rows[1]
    response = post(laptop, f"/account/sign-ins/{phone_row.id}/end", page="/account/security")
    assert response.status_code == 302
    assert phone.get("/dashboard").status_code == 302  # the phone is signed out
    assert laptop.get("/dashboard").status_code == 200
    assert events("lms.security.sign_in_ended")[0].subject_id == person.id
    # Someone else's sign-in cannot be ended.
    other = create_user()
    sign_in(phone, other)
    theirs = db.session.scalars(sa.select(SignInSession).where(SignInSession.user_id == other.id)).one()
    assert post(laptop, f"/account/sign-ins/{theirs.id}/end", page="/account/security").status_code == 404
    assert phone.get("/dashboard").status_code == 200


def test_signing_out_everywhere_signs_out_every_browser(app):
    person = create_user()
    laptop, phone = app.test_client(), app.test_client()
    sign_in(laptop, person)
    sign_in(phone, person)
    response = post(laptop, "/account/sign-ins/end-all", page="/account/security")
    assert response.status_code == 302 and response.headers["Location"] == "/sign-in"
    assert laptop.get("/dashboard").status_code == 302
    assert phone.get("/dashboard").status_code == 302
    assert db.session.scalar(sa.select(sa.func.count(SignInSession.id))) == 0
    assert events("lms.security.signed_out_everywhere")[0].data == {"sign_ins": 2}


def test_signing_out_ends_this_browsers_sign_in(client):
    person = create_user()
    sign_in(client, person)
    assert db.session.scalar(sa.select(sa.func.count(SignInSession.id))) == 1
    post(client, "/sign-out", page="/account")
    assert db.session.scalar(sa.select(sa.func.count(SignInSession.id))) == 0


# Held back, and the emailed link --------------------------------------------------------------


def test_someone_held_back_by_an_attack_is_offered_an_emailed_link(client):
    owner = create_user()
    for n in range(12):
        throttle.record_failure(f"203.0.113.{n}", owner.email, now=NOW)
    response = sign_in(client, owner)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Too many failed sign-in attempts on this account from other places" in page
    assert "email me a link to sign in" in page

    asked = post(client, "/sign-in/link", {"email": owner.email})
    assert asked.status_code == 302
    message = db.session.scalars(sa.select(OutboxMessage).where(OutboxMessage.recipient == owner.email)).one()
    link = re.search(r"http://localhost(/sign-in/link/\S+)", message.body).group(1)
    assert "Sign in as" in client.get(link).get_data(as_text=True)
    response = post(client, link)
    assert response.status_code == 302
    assert client.get("/dashboard").status_code == 200
    # Asking for a link about an address with no account looks just the same, and sends nothing.
    other = post(client.application.test_client(), "/sign-in/link", {"email": "nobody@example.org"})
    assert other.status_code == 302 and other.headers["Location"] == asked.headers["Location"]
    assert db.session.scalar(sa.select(sa.func.count(OutboxMessage.id))) == 1


# L&D: unlock, reset, events -------------------------------------------------------------------


def test_l_and_d_see_failed_sign_ins_on_the_persons_page_and_clear_them(client):
    admin = create_user(roles=(Role.LND_ADMIN,))
    owner = create_user()
    for n in range(12):
        throttle.record_failure(f"203.0.113.{n}", owner.email, now=NOW)
    sign_in(client, admin)
    page = client.get(f"/admin/people/{owner.id}").get_data(as_text=True)
    assert "12 failed attempts from 12 addresses" in page and "New places are being slowed down" in page
    response = post(client, f"/admin/people/{owner.id}/unlock", page=f"/admin/people/{owner.id}")
    assert response.status_code == 302
    page = client.get(f"/admin/people/{owner.id}").get_data(as_text=True)
    assert "0 failed attempts from 0 addresses" in page
    assert events("lms.security.unlocked")[0].actor_id == admin.id


def test_l_and_d_reset_a_lost_app_with_a_recent_second_factor(client):
    admin = create_user(roles=(Role.LND_ADMIN,))
    finance = create_user(roles=(Role.FINANCE,))
    sign_in(client, admin)
    path = f"/admin/people/{finance.id}"
    assert "Reset two-step sign-in" in client.get(path).get_data(as_text=True)
    assert post(client, f"{path}/reset-two-factor", page=path).status_code == 302
    db.session.refresh(finance)
    assert not finance.has_second_factor
    assert "Not set up (their role needs it)" in client.get(path).get_data(as_text=True)


def test_l_and_d_search_security_events_by_person_kind_and_dates(client):
    admin = create_user(roles=(Role.LND_ADMIN,), first_name="Ada")
    target = create_user("kim.lee@example.org", first_name="Kim", last_name="Lee")
    for day in range(60):
        moment = NOW - timedelta(days=day)
        log_action("lms.security.sign_in_failed", subject=target, actor=None, now=moment, address="192.0.2.1")
    log_action("lms.security.unlocked", subject=target, actor=admin, now=NOW, failures=3, addresses=2)
    log_action("lms.booking.cancelled", subject=target, actor=target, now=NOW)  # not a security event
    db.session.flush()
    sign_in(client, admin)

    page = client.get("/admin/security-events?q=kim+lee").get_data(as_text=True)
    assert "61 events" in page and "Page 1 of 2" in page and "Cancelled" not in page
    page = client.get("/admin/security-events?q=KIM.LEE@&page=2").get_data(as_text=True)
    assert "Page 2 of 2" in page
    page = client.get("/admin/security-events?q=kim&kind=unlock").get_data(as_text=True)
    assert "1 event" in page and "Failed sign-ins cleared" in page and "failures: 3" in page
    page = client.get("/admin/security-events?kind=failure&start=2026-05-01&end=2026-05-02")
    assert "2 events" in page.get_data(as_text=True) and "address: 192.0.2.1" in page.get_data(as_text=True)
    page = client.get("/admin/security-events?start=2026-05-04&end=2026-05-01").get_data(as_text=True)
    assert "The end date must be on or after the start date." in page
    assert client.get("/admin/security-events?kind=nonsense&page=1").status_code == 200
    # The admin's own sign-in is there too, under sign-ins.
    page = client.get("/admin/security-events?q=ada&kind=sign_in").get_data(as_text=True)
    assert "1 event" in page and "Signed in" in page and "method: password" in page


def test_only_l_and_d_open_security_events(client):
    sign_in(client, create_user(roles=(Role.FINANCE,)))
    assert client.get("/admin/security-events").status_code == 403
