"""Security by default: every route has an access rule, headers and cookies are set, and nobody
can lock an account's owner out by failing to sign in to it."""

import re

import pytest

from config import Config
from lms import create_app
from lms.accounts.models import Role
from tests.accounts.signing_in import sign_in
from tests.conftest import empty_all_tables
from tests.factories import PASSWORD, create_session, create_user
from tests.live import Browser, gunicorn_fixture

# Three workers sharing the throttle through Redis, trusting one proxy's X-Forwarded-For, so each
# request can come from an address of its own.
gunicorn = gunicorn_fixture(workers=3, PROXY_FIX_COUNT="1")

ADMIN_PAGES = [
    "/admin/people",
    "/admin/people/new",
    "/admin/agencies",
    "/admin/agencies/new",
    "/admin/programme/courses",
    "/admin/programme/courses/new",
    "/admin/programme/sessions",
    "/admin/programme/sessions/new",
    "/admin/data-requests",
    "/admin/data-requests/new",
    "/admin/data-retention",
]


def test_every_route_declares_who_may_use_it(app):
    unmarked = [
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static" and not hasattr(app.view_functions[rule.endpoint], "access_rule")
    ]
    assert unmarked == []


def test_public_routes_are_only_the_ones_meant_to_be(app):
    public = sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        and getattr(app.view_functions[rule.endpoint], "access_rule", None) == "public"
    )
    assert public == [
        "/",
        "/approve/<token>",
        "/approve/<token>/done",
        "/brand.css",
        "/brand/logo",
        "/calendar/<token>.ics",
        "/certificates/verify",
        "/certificates/verify/<number>",
        "/follow-ups/manager/<token>",
        "/healthz",
        "/password/forgot",
        "/password/reset/<token>",
        "/register",
        "/register/check-your-email",
        "/register/confirm/<token>",
        "/sign-in",
        "/sign-in/code",
        "/sign-in/link",
        "/sign-in/link/<token>",
        "/sign-in/set-up",
        "/sign-in/sso/<name>",
        "/sign-in/sso/<name>/callback",
        "/sign-in/sso/finish",
        "/sign-out",
    ]


def test_the_json_api_is_marked_as_such_and_opens_without_a_token_only_the_catalogue(app):
    marks = {
        rule.rule: getattr(app.view_functions[rule.endpoint], "access_rule", None)
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
    }
    api = {path: mark for path, mark in marks.items() if isinstance(mark, tuple) and mark[0] == "api"}
    assert set(api) == {path for path in marks if path.startswith("/api/")}
    assert sorted(path for path, mark in api.items() if mark[1] is None) == [
        "/api/v1/courses",
        "/api/v1/courses/<id:course_id>",
        "/api/v1/openapi.json",
        "/api/v1/sessions",
        "/api/v1/sessions/<id:session_id>",
        "/api/v1/topics",
    ]
    assert {mark[1] for mark in api.values()} == {None, "me:read", "staff:read", "finance:read"}


@pytest.mark.parametrize("path", [*ADMIN_PAGES, "/sessions/", "/dashboard", "/account"])
def test_strangers_are_sent_to_sign_in(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sign-in?next=")


@pytest.mark.parametrize("role", [Role.PRACTITIONER, Role.TRAINER, Role.FINANCE, Role.TRAINING_CONTACT])
def test_only_l_and_d_admins_open_admin_pages(client, role):
    sign_in(client, create_user(roles=(role,)))
    for path in ADMIN_PAGES:
        assert client.get(path).status_code == 403, path


def test_l_and_d_admins_open_every_admin_page(client):
    sign_in(client, create_user(roles=(Role.LND_ADMIN,)))
    for path in ADMIN_PAGES:
        assert client.get(path).status_code == 200, path


def test_only_trainers_see_the_trainer_page(client):
    trainer = create_user(roles=(Role.TRAINER,))
    sign_in(client, create_user())
    assert client.get("/admin/programme/my-sessions").status_code == 403
    client.post("/sign-out")
    other = create_user(roles=(Role.TRAINER,))
    mine = create_session(trainer=trainer)
    theirs = create_session(trainer=other)
    client = client.application.test_client()
    sign_in(client, trainer)
    page = client.get("/admin/programme/my-sessions").get_data(as_text=True)
    assert f"/sessions/{mine.id}" in page
    assert f"/sessions/{theirs.id}" not in page


def test_pages_carry_security_headers(client):
    response = client.get("/sign-in")
    headers = response.headers
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cache-Control"] == "no-store"


def test_session_cookie_is_httponly_and_samesite(client):
    sign_in(client, create_user())
    cookie = client.get_cookie("session")
    assert cookie.http_only
    assert cookie.same_site == "Lax"


def test_cookies_are_secure_and_hsts_is_sent_in_production(monkeypatch):
    monkeypatch.setenv("LMS_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "a-production-secret-from-the-environment")
    monkeypatch.setenv("DATABASE_URL", "sqlite://")
    monkeypatch.setenv("PARTNERSHIP_NAME", "Northshire Safeguarding Children Partnership")
    monkeypatch.setenv("PARTNERSHIP_ADDRESS", "County Hall, Northtown NT1 1AA")
    config = Config()
    assert config.SESSION_COOKIE_SECURE and config.REMEMBER_COOKIE_SECURE
    app = create_app(config)
    response = app.test_client().get("/sign-in")
    assert "max-age=31536000" in response.headers["Strict-Transport-Security"]


def test_production_refuses_to_start_without_a_secret_key(monkeypatch):
    monkeypatch.setenv("LMS_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        Config()


def test_a_bad_setting_is_explained(monkeypatch):
    monkeypatch.setenv("OVERBOOK_PERCENT", "ten")
    with pytest.raises(RuntimeError, match="OVERBOOK_PERCENT must be a whole number"):
        Config()


def test_a_sign_in_limit_that_does_not_read_is_explained(monkeypatch):
    monkeypatch.setenv("SIGN_IN_ACCOUNT_ADDRESS_LIMIT", "five a minute")
    with pytest.raises(RuntimeError, match="SIGN_IN_ACCOUNT_ADDRESS_LIMIT must read like"):
        Config()


def test_routes_that_need_a_recent_second_factor_exist(app):
    from lms.core.access import FRESH_FACTOR_ROUTES, PERSONAL_DATA_EXPORTS

    methods = {rule.endpoint: rule.methods for rule in app.url_map.iter_rules()}
    for endpoint, needed in FRESH_FACTOR_ROUTES.items():
        assert endpoint in methods and needed <= methods[endpoint], endpoint
    assert set(PERSONAL_DATA_EXPORTS) <= set(FRESH_FACTOR_ROUTES)
    marked = {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if getattr(app.view_functions[rule.endpoint], "fresh_second_factor", False)
    }
    assert {
        "people.new_person",
        "people.reset_two_factor",
        "auth.renew_recovery_codes",
        "auth.remove_two_factor",
    } <= marked


class FromAddress(Browser):
    """A browser whose requests arrive, through the trusted proxy, from one address."""

    def __init__(self, base: str, address: str) -> None:
        super().__init__(base)
        for opener in (self.opener, self.no_redirects):
            opener.addheaders = [("X-Forwarded-For", address)]

    def try_password(self, email: str, password: str):
        page = self.get("/sign-in")
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
        return self.submit("/sign-in", {"email": email, "password": password, "csrf_token": token})


@pytest.mark.committing
def test_a_hundred_guesses_from_a_hundred_addresses_across_workers_leave_the_owner_able_to_sign_in(
    app, gunicorn
):
    from lms.extensions import db

    with app.app_context():
        email = create_user("owner@example.org").email
        db.session.commit()
    try:
        assert FromAddress(gunicorn, "192.0.2.10").try_password(email, PASSWORD).status == 302

        slowed = 0
        for n in range(100):
            reply = FromAddress(gunicorn, f"203.0.113.{n}").try_password(email, "a wrong guess")
            assert reply.status == 422
            slowed += "from other places" in reply.text
        assert slowed > 80  # the workers shared the count: most guesses had to wait

        owner = FromAddress(gunicorn, "192.0.2.10")
        assert owner.try_password(email, PASSWORD).status == 302
        assert "Hello" in owner.get("/dashboard")
        # From a new place the owner is at most slowed down (the delay runs on the workers' real
        # clock, so it may be over by now), never locked out, and is offered a link meanwhile.
        elsewhere = FromAddress(gunicorn, "198.51.100.7").try_password(email, PASSWORD)
        assert elsewhere.status == 302 or (
            "Try again in" in elsewhere.text and "email me a link to sign in" in elsewhere.text
        )
    finally:
        with app.app_context():
            empty_all_tables()
