"""Single sign-on pages without a browser: the buttons, a provider that does not answer, an answer
that belongs to no sign-in, and settings that are incomplete. (The journeys against a real
provider are in tests/browser/test_sso_journey.py.)"""

from __future__ import annotations

import pytest

from config import oidc_providers
from lms import create_app
from tests.conftest import free_port, make_config


@pytest.fixture
def sso_app(app):
    """The app with one provider whose server does not answer (nothing listens on its port)."""
    config = make_config(app.config["MAIL_PORT"])
    config.OIDC_TIMEOUT_SECONDS = 2
    config.OIDC_PROVIDERS = {
        "council": {
            "issuer": f"http://127.0.0.1:{free_port()}",
            "client_id": "lms",
            "client_secret": "secret",
            "display_name": "City Council account",
            "allowed_domains": ("council.gov.uk",),
        }
    }
    return create_app(config)


def test_the_sign_in_page_offers_each_provider(sso_app):
    page = sso_app.test_client().get("/sign-in").get_data(as_text=True)
    assert "Sign in with City Council account" in page
    assert 'href="/sign-in/sso/council"' in page


def test_no_buttons_without_providers(client):
    assert "/sign-in/sso/" not in client.get("/sign-in").get_data(as_text=True)


def test_a_provider_that_does_not_answer_gets_a_clear_page(sso_app):
    response = sso_app.test_client().get("/sign-in/sso/council")
    page = response.get_data(as_text=True)
    assert response.status_code == 503
    assert "City Council account is not answering" in page and "Go to the sign-in page" in page


def test_an_unknown_provider_is_not_found(sso_app):
    assert sso_app.test_client().get("/sign-in/sso/nobody").status_code == 404


def test_an_answer_for_no_sign_in_started_here_is_refused(sso_app):
    response = sso_app.test_client().get("/sign-in/sso/council/callback?code=abc&state=forged")
    assert response.status_code == 400
    assert "That sign-in could not be matched" in response.get_data(as_text=True)


def test_a_provider_error_is_shown(sso_app):
    response = sso_app.test_client().get("/sign-in/sso/council/callback?error=access_denied&state=x")
    assert response.status_code == 400
    assert "did not sign you in (access_denied)" in response.get_data(as_text=True)


def test_finishing_with_nothing_checked_goes_back_to_sign_in(sso_app):
    response = sso_app.test_client().get("/sign-in/sso/finish")
    assert response.status_code == 302 and response.headers["Location"].endswith("/sign-in")


@pytest.mark.no_app_db
def test_providers_are_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("OIDC_PROVIDERS", "Entra, google")
    for name, issuer in (("ENTRA", "https://login.microsoftonline.com/tid/v2.0"), ("GOOGLE", "x")):
        monkeypatch.setenv(f"OIDC_{name}_ISSUER", issuer)
        monkeypatch.setenv(f"OIDC_{name}_CLIENT_ID", "id")
        monkeypatch.setenv(f"OIDC_{name}_CLIENT_SECRET", "secret")
    monkeypatch.setenv("OIDC_ENTRA_DISPLAY_NAME", "NHSmail")
    monkeypatch.setenv("OIDC_ENTRA_ALLOWED_DOMAINS", "@NHS.net, council.gov.uk")
    found = oidc_providers()
    assert list(found) == ["entra", "google"]
    assert found["entra"]["display_name"] == "NHSmail"
    assert found["entra"]["allowed_domains"] == ("nhs.net", "council.gov.uk")
    assert found["google"]["display_name"] == "Google" and found["google"]["allowed_domains"] == ()


@pytest.mark.no_app_db
def test_a_provider_without_its_client_secret_stops_the_app_starting(monkeypatch):
    monkeypatch.setenv("OIDC_PROVIDERS", "entra")
    monkeypatch.setenv("OIDC_ENTRA_ISSUER", "https://login.microsoftonline.com/tid/v2.0")
    monkeypatch.setenv("OIDC_ENTRA_CLIENT_ID", "id")
    monkeypatch.delenv("OIDC_ENTRA_CLIENT_SECRET", raising=False)
    with pytest.raises(RuntimeError, match="OIDC_ENTRA_CLIENT_SECRET"):
        oidc_providers()
