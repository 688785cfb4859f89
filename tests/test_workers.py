"""The app served by several gunicorn workers shares its sign-in throttle through Redis."""

from __future__ import annotations

import http.cookiejar
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest

from config import BASE_DIR
from lms.extensions import db
from tests.conftest import empty_all_tables, free_port
from tests.factories import PASSWORD, create_user


class Browser:
    """Just enough of a browser: cookies, and a fresh connection for every request."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=10) as response:
            return response.read().decode()

    def post(self, path: str, data: dict) -> tuple[int, str]:
        body = urllib.parse.urlencode(data).encode()
        try:
            with self.opener.open(self.base + path, data=body, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()


@pytest.fixture
def gunicorn(app):
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "LMS_ENV": "testing",
        "SECRET_KEY": "workers-test-secret",
        "MAIL_BACKEND": "log",
        "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379",
        "RATELIMIT_KEY_PREFIX": f"test-{uuid.uuid4().hex}",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            "3",
            "--bind",
            f"127.0.0.1:{port}",
            "wsgi:app",
        ],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(base + "/healthz", timeout=2).read()
            break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError(process.stderr.read().decode()[-2000:]) from None
            time.sleep(0.2)
    yield base
    process.terminate()
    process.wait(timeout=10)


@pytest.mark.committing
def test_failed_sign_ins_are_counted_across_workers(app, gunicorn):
    with app.app_context():
        email = create_user("target@example.org").email
        db.session.commit()
    try:
        browser = Browser(gunicorn)
        page = browser.get("/sign-in")
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
        for _ in range(5):
            status, page = browser.post(
                "/sign-in", {"email": email, "password": "wrong password", "csrf_token": token}
            )
            assert status == 422
            assert "The email address or password is not right." in page
        status, page = browser.post(
            "/sign-in", {"email": email, "password": PASSWORD, "csrf_token": token}
        )
        assert status == 422
        assert "Too many failed sign-in attempts" in page
    finally:
        with app.app_context():
            empty_all_tables()
