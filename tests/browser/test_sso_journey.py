"""Signing in with the organisation's own account, in real Chromium, against a real OpenID Connect
provider (the certified `oidc-provider` package run with Node.js; see tests/oidc): a new practitioner
lands in their organisation from their email domain and books; an existing account is linked; and a
tampered state, a token for another audience, an expired token and a token signed by an unknown key
are refused with a clear page, while a provider's rotated key is fetched and accepted."""

from __future__ import annotations

import http.cookiejar
import re
import threading
import urllib.parse
import urllib.request
from datetime import datetime

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from lms import create_app
from lms.accounts.domains import add_email_domain
from lms.accounts.models import Role, User
from lms.accounts.sso import ExternalIdentity
from lms.bookings.models import Booking, BookingStatus
from lms.extensions import db
from tests.browser.conftest import LiveServer
from tests.browser.pages import (
    enter_app_code,
    fill_in,
    flash_message,
    is_signed_in,
    page_heading,
    page_loads,
    page_text,
    press,
    visit,
)
from tests.conftest import free_port, make_config
from tests.factories import NOW, create_agency, create_course, create_session, create_user
from tests.oidc import Client, OidcProvider

pytestmark = pytest.mark.browser

# Each provider set up in the app is a client of the one test provider; all but the first make the
# provider send a bad ID token (see tests/oidc/provider.mjs).
CLIENTS = {
    "partner": ("lms", "", "Partner account"),
    "wrongaud": ("lms-wrong-audience", "wrong-audience", "Wrong audience"),
    "expired": ("lms-expired", "expired", "Expired token"),
    "unknownkey": ("lms-unknown-key", "unknown-key", "Unknown key"),
    "mfa": ("lms-mfa", "mfa", "Provider with MFA"),
}


@pytest.fixture(scope="module")
def provider_and_server(app, smtp_server):
    """The provider, and the app (over HTTP, in a thread) with each of its clients set up."""
    controller, _ = smtp_server
    provider = OidcProvider(port=free_port())
    config = make_config(controller.port)
    config.OIDC_PROVIDERS = {
        name: {
            "issuer": provider.issuer,
            "client_id": client_id,
            "client_secret": "test-client-secret",
            "display_name": title,
            "allowed_domains": (),
        }
        for name, (client_id, _, title) in CLIENTS.items()
    }
    live_app = create_app(config)
    server = make_server("127.0.0.1", 0, live_app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    live_app.config["BASE_URL"] = url
    provider.clients = [
        Client(client_id, f"{url}/sign-in/sso/{name}/callback", mode)
        for name, (client_id, mode, _) in CLIENTS.items()
    ]
    provider.start()
    thread = threading.Thread(target=server.serve_forever, name="sso-live-server", daemon=True)
    thread.start()
    yield provider, LiveServer(url=url), live_app
    server.shutdown()
    thread.join(timeout=10)
    provider.stop()
    with live_app.app_context():
        db.engine.dispose()


@pytest.fixture
def provider(provider_and_server):
    return provider_and_server[0]


@pytest.fixture
def server(provider_and_server):
    return provider_and_server[1]


def keys_the_app_holds(provider_and_server, name: str) -> list[str]:
    """The ids of the provider's keys the app fetched and keeps, for one of its clients."""
    live_app = provider_and_server[2]
    with live_app.app_context():
        client = live_app.extensions["lms.sso"].create_client(name)
        return [key["kid"] for key in client.server_metadata.get("jwks", {}).get("keys", [])]


@pytest.fixture
def police(app):
    """West Midlands Police, its addresses mapped to it, and a session to book."""
    with app.app_context():
        police = create_agency("West Midlands Police")
        lnd = create_user("lnd@example.org", roles=(Role.LND_ADMIN,))
        add_email_domain("westmidlands.police.uk", police, requires_sso=False, by=lnd, now=NOW)
        course = create_course("Child Sexual Exploitation: Awareness")
        session = create_session(course=course, local_start=datetime(2026, 6, 17, 9, 30), places=10)
        db.session.commit()
        return {"agency_id": police.id, "session_id": session.id}


def sign_in_at_the_provider(browser, server, name: str, email: str) -> None:
    """From our sign-in page to the provider's, where any password signs in the address given (unless
    the provider remembers this browser signed in), and back."""
    visit(browser, server, "/sign-in")
    with page_loads(browser):
        browser.find_element("link text", f"Sign in with {CLIENTS[name][2]}").click()
    if not browser.current_url.startswith("http://localhost:"):
        return  # still signed in at the provider from earlier in this browser: straight back
    browser.find_element("name", "login").send_keys(email)
    browser.find_element("name", "password").send_keys("any password")
    with page_loads(browser):
        browser.find_element("css selector", "button[type=submit]").click()


def sign_out(browser) -> None:
    with page_loads(browser):
        press(browser, "Sign out")


def person(app, email: str) -> User | None:
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.email == email))
        if user is not None:
            db.session.expunge(user)
        return user


def links_of(app, email: str) -> list[tuple[str, str]]:
    with app.app_context():
        return db.session.execute(
            sa.select(ExternalIdentity.provider, ExternalIdentity.subject)
            .join(ExternalIdentity.user)
            .where(User.email == email)
        ).all()


def test_a_new_practitioner_signs_in_lands_in_their_organisation_and_books(app, browser, server, police):
    sign_in_at_the_provider(browser, server, "partner", "priya.patel@westmidlands.police.uk")

    assert page_heading(browser) == "Finish creating your account"
    assert "confirmed that you are priya.patel@westmidlands.police.uk" in page_text(browser)
    assert browser.find_element("id", "first_name").get_property("value") == "Priya"
    assert browser.find_element("id", "last_name").get_property("value") == "Patel"
    assert browser.find_element("id", "organisation").get_property("value") == "West Midlands Police"
    assert browser.find_elements("id", "password") == [] and browser.find_elements("id", "email") == []
    fill_in(browser, "Job role", "Detective constable")
    fill_in(browser, "Line manager's name", "Sam Okafor")
    fill_in(browser, "Line manager's email address", "sam.okafor@westmidlands.police.uk")
    with page_loads(browser):
        press(browser, "Create account")
    assert is_signed_in(browser)
    assert "Your account is ready" in flash_message(browser)

    visit(browser, server, f"/sessions/{police['session_id']}")
    with page_loads(browser):
        press(browser, "Book a place")
    assert "Your place is confirmed" in flash_message(browser)

    priya = person(app, "priya.patel@westmidlands.police.uk")
    assert priya.agency_id == police["agency_id"] and priya.other_organisation is None
    assert priya.password_hash is None and not priya.confirmation_pending
    assert links_of(app, priya.email) == [("partner", "priya.patel@westmidlands.police.uk")]
    with app.app_context():
        booking = db.session.scalar(sa.select(Booking).where(Booking.user_id == priya.id))
        assert booking.status is BookingStatus.CONFIRMED and booking.agency_id == police["agency_id"]

    # Next time the provider's sign-in is enough: no questions, one press to continue.
    sign_out(browser)
    sign_in_at_the_provider(browser, server, "partner", "priya.patel@westmidlands.police.uk")
    assert "already have an account" not in page_text(browser)
    with page_loads(browser):
        press(browser, "Continue")
    assert is_signed_in(browser)


def test_the_first_sign_in_links_the_account_with_the_same_verified_address(
    app, browser, server, provider, provider_and_server
):
    with app.app_context():
        create_user("jo.bloggs@school.example.org", first_name="Jo")
        db.session.commit()

    sign_in_at_the_provider(browser, server, "partner", "jo.bloggs@school.example.org")
    assert "You already have an account here with that address" in page_text(browser)
    with page_loads(browser):
        press(browser, "Continue")
    assert is_signed_in(browser)
    assert links_of(app, "jo.bloggs@school.example.org") == [("partner", "jo.bloggs@school.example.org")]

    # The provider rotates its signing key: the next token names a key not seen before, so the app
    # fetches the provider's keys again, and accepts it.
    sign_out(browser)
    provider.rotate_keys()
    held_before = keys_the_app_holds(provider_and_server, "partner")
    sign_in_at_the_provider(browser, server, "partner", "jo.bloggs@school.example.org")
    with page_loads(browser):
        press(browser, "Continue")
    assert is_signed_in(browser)
    assert provider.keys[0]["kid"] not in held_before
    assert keys_the_app_holds(provider_and_server, "partner") == [provider.keys[0]["kid"]]


def test_an_address_the_provider_did_not_verify_is_not_linked(app, browser, server):
    with app.app_context():
        create_user("unverified.lee@example.org")
        db.session.commit()
    sign_in_at_the_provider(browser, server, "partner", "unverified.lee@example.org")
    assert page_heading(browser) == "You were not signed in"
    assert "did not confirm that the address is yours" in page_text(browser)
    assert not is_signed_in(browser)
    assert links_of(app, "unverified.lee@example.org") == []


@pytest.mark.parametrize(
    ("name", "heading"),
    [
        ("wrongaud", "That sign-in did not pass our checks"),
        ("expired", "That sign-in has expired"),
        ("unknownkey", "That sign-in did not pass our checks"),
    ],
)
def test_a_bad_id_token_is_refused_with_a_clear_page(app, browser, server, name, heading):
    sign_in_at_the_provider(browser, server, name, "mallory@westmidlands.police.uk")
    assert page_heading(browser) == heading
    assert "Go to the sign-in page" in page_text(browser)
    assert not is_signed_in(browser)
    assert person(app, "mallory@westmidlands.police.uk") is None


class Arrived(Exception):  # noqa: N818 - not an error: where the provider sent the browser back to
    def __init__(self, url: str) -> None:
        self.url = url


def callback_from_another_browser(server, name: str, email: str) -> str:
    """A genuine answer from the provider, for a sign-in started by some other browser (an
    attacker's, say): the address the provider sends that browser back to, not followed."""

    class StopAtCallback(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, req, fp, code, msg, headers, newurl):
            if newurl.startswith(f"{server.url}/sign-in/sso/{name}/callback"):
                raise Arrived(newurl)
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), StopAtCallback
    )
    with opener.open(f"{server.url}/sign-in/sso/{name}", timeout=10) as response:
        login_page, at = response.read().decode(), response.geturl()
    action = re.search(r'<form[^>]*action="([^"]+)"', login_page).group(1)
    form = urllib.parse.urlencode({"prompt": "login", "login": email, "password": "x"}).encode()
    try:
        opener.open(urllib.parse.urljoin(at, action), data=form, timeout=10)
    except Arrived as arrived:
        return arrived.url
    raise AssertionError("the provider did not send the browser back")


def test_a_tampered_or_foreign_state_is_refused(app, browser, server):
    foreign = callback_from_another_browser(server, "partner", "mallory@westmidlands.police.uk")
    parts = urllib.parse.urlsplit(foreign)
    query = dict(urllib.parse.parse_qsl(parts.query))
    assert query["code"] and query["state"]

    # This browser started a sign-in of its own, then is sent the other browser's answer.
    visit(browser, server, "/sign-in/sso/partner")
    visit(browser, server, foreign.removeprefix(server.url))
    assert page_heading(browser) == "That sign-in could not be matched"
    assert not is_signed_in(browser)

    tampered = urllib.parse.urlencode({**query, "state": query["state"][:-2] + "xx"})
    visit(browser, server, f"{parts.path}?{tampered}")
    assert page_heading(browser) == "That sign-in could not be matched"
    assert not is_signed_in(browser)
    assert person(app, "mallory@westmidlands.police.uk") is None


@pytest.mark.parametrize(
    ("name", "trusted", "has_app", "asked_for_code"),
    [
        ("partner", True, True, True),  # the provider asserted no second factor
        ("mfa", False, True, True),  # it did, but the setting does not trust it
        ("mfa", True, True, False),
        ("mfa", True, False, False),  # nor is an authenticator app to be set up
    ],
)
def test_staff_give_our_second_factor_unless_the_providers_is_trusted(
    app, browser, server, provider_and_server, monkeypatch, name, trusted, has_app, asked_for_code
):
    monkeypatch.setitem(provider_and_server[2].config, "OIDC_TRUST_PROVIDER_MFA", trusted)
    with app.app_context():
        create_user("lnd.lead@example.org", roles=(Role.LND_ADMIN,), second_factor=has_app)
        db.session.commit()
    sign_in_at_the_provider(browser, server, name, "lnd.lead@example.org")
    with page_loads(browser):
        press(browser, "Continue")
    assert (page_heading(browser) == "Enter your code") is asked_for_code
    if asked_for_code:
        enter_app_code(browser)
    assert is_signed_in(browser)
    visit(browser, server, "/admin/agencies")
    assert page_heading(browser) == "Organisations"
