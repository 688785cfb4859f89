"""Security by default: every route has an access rule, headers and cookies are set."""

import pytest

from config import Config
from lms import create_app
from lms.accounts.models import Role
from tests.conftest import sign_in
from tests.factories import create_session, create_user

ADMIN_PAGES = [
    "/admin/people",
    "/admin/people/new",
    "/admin/agencies",
    "/admin/agencies/new",
    "/admin/programme/courses",
    "/admin/programme/courses/new",
    "/admin/programme/sessions",
    "/admin/programme/sessions/new",
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
        "/certificates/verify",
        "/certificates/verify/<number>",
        "/healthz",
        "/password/forgot",
        "/password/reset/<token>",
        "/register",
        "/sign-in",
        "/sign-out",
    ]


@pytest.mark.parametrize("path", [*ADMIN_PAGES, "/sessions/", "/dashboard", "/account"])
def test_strangers_are_sent_to_sign_in(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sign-in?next=")


@pytest.mark.parametrize("role", [Role.PRACTITIONER, Role.TRAINER, Role.FINANCE])
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
