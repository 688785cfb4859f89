"""The app served by several gunicorn workers shares its sign-in throttle through Redis."""

from __future__ import annotations

import re

import pytest

from lms.extensions import db
from tests.conftest import empty_all_tables
from tests.factories import PASSWORD, create_user
from tests.live import Browser, gunicorn_fixture

gunicorn = gunicorn_fixture(workers=3)


@pytest.mark.committing
def test_failed_sign_ins_are_counted_across_workers(app, gunicorn):
    with app.app_context():
        email = create_user("target@example.org").email
        db.session.commit()
    try:
        browser = Browser(gunicorn)
        page = browser.get("/sign-in")
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
        for attempt in range(5):
            status, page = browser.post(
                "/sign-in", {"email": email, "password": "wrong password", "csrf_token": token}
            )
            assert status == 422
            assert "The email address or password is not right." in page, attempt
        status, page = browser.post("/sign-in", {"email": email, "password": PASSWORD, "csrf_token": token})
        assert status == 422
        assert "Too many failed sign-in attempts" in page
    finally:
        with app.app_context():
            empty_all_tables()
