"""Test fixtures: the app on a database built from the migrations, a rolled-back
transaction per test, a frozen clock, and a real SMTP server on loopback.

Requests only write mail to the outbox; a dispatcher sends it later. A test that reads the
mailbox after a request sends the outbox first, as the dispatcher would: `mailbox.delivered()`
(or the `deliver` fixture, which says how many went)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from flask import has_app_context
from flask.globals import _cv_app
from flask.testing import FlaskClient
from flask_migrate import upgrade
from flask_sqlalchemy.session import Session as FlaskSession

from config import BASE_DIR, TestConfig, normalise_database_url
from lms import create_app
from lms.core import clock, deferred
from lms.extensions import db, limiter
from tests.factories import NOW

os.environ.setdefault("LMS_ENV", "testing")


# A real SMTP server --------------------------------------------------------------------------


# Recipients at this domain are refused by the test server, one message at a time.
REFUSED_DOMAIN = "@refused.example.org"


@dataclass
class Mailbox:
    messages: list[EmailMessage]
    lock: threading.Lock
    deliver: Callable[[], int] | None = field(default=None, repr=False)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address.endswith(REFUSED_DOMAIN):
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.messages.append(parsed)
        return "250 Message accepted for delivery"

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()

    def delivered(self) -> Mailbox:
        """The mailbox once the outbox has been sent, as the dispatcher sends it after a request."""
        assert self.deliver is not None, "ask for the `mailbox` fixture"
        self.deliver()
        return self

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if m["To"] == address]

    @staticmethod
    def text(message: EmailMessage) -> str:
        return message.get_body(preferencelist=("plain",)).get_content()


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def smtp_server():
    mailbox = Mailbox(messages=[], lock=threading.Lock())
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, mailbox
    controller.stop()


def deliver_outbox(app) -> int:
    """Send every message that is due, as the dispatcher would. Due by the test's clock or the real
    one, whichever is later: gunicorn's workers write on the real time, in-process requests on the
    frozen clock."""
    from lms.core.db import write_intent
    from lms.messages.delivery import deliver_pending

    moment = max(clock.now(), datetime.now(UTC))
    if has_app_context():  # the test's own work, done before the dispatcher, as a commit would
        deferred.write(db.session())
    with app.app_context(), write_intent():
        return deliver_pending(moment)


@pytest.fixture
def deliver(app) -> Callable[[], int]:
    """Send the outbox now; returns how many messages went."""
    return lambda: deliver_outbox(app)


@pytest.fixture
def mailbox(smtp_server, app):
    _, box = smtp_server
    box.clear()
    box.deliver = lambda: deliver_outbox(app)
    yield box
    box.deliver = None


# The app and its database --------------------------------------------------------------------


# Each run gets its own SQLite file or PostgreSQL schema, so runs never trip over each other.
RUN_ID = f"run{os.getpid()}"


def test_database_url() -> str:
    url = normalise_database_url(os.environ.get("TEST_DATABASE_URL", ""))
    if not url:
        return f"sqlite:///{BASE_DIR / 'instance' / f'test-{RUN_ID}.sqlite3'}"
    if url.startswith("postgresql"):
        joiner = "&" if "?" in url else "?"
        return f"{url}{joiner}options=-csearch_path%3D{RUN_ID}"
    return url


def reset_database(url: str) -> None:
    """An empty database, so the schema comes only from the migrations."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql(f"DROP SCHEMA IF EXISTS {RUN_ID} CASCADE")
        connection.exec_driver_sql(f"CREATE SCHEMA {RUN_ID}")
    engine.dispose()


def drop_database(url: str) -> None:
    if url.startswith("sqlite:///"):
        reset_database(url)
        return
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql(f"DROP SCHEMA IF EXISTS {RUN_ID} CASCADE")
    engine.dispose()


def make_config(smtp_port: int) -> TestConfig:
    config = TestConfig()
    config.SQLALCHEMY_DATABASE_URI = test_database_url()
    config.MAIL_SERVER = "127.0.0.1"
    config.MAIL_PORT = smtp_port
    config.MAIL_TIMEOUT_SECONDS = 5
    config.WTF_CSRF_ENABLED = True
    return config


@pytest.fixture(scope="session")
def app(smtp_server, tmp_path_factory):
    controller, _ = smtp_server
    config = make_config(controller.port)
    reset_database(config.SQLALCHEMY_DATABASE_URI)
    app = create_app(config)
    app.test_client_class = IsolatedClient
    # Files kept for a later step (an import waiting to be confirmed) stay with this run: runs side
    # by side must not find, or clear away, each other's.
    app.instance_path = str(tmp_path_factory.mktemp("instance"))
    with app.app_context():
        upgrade(directory=str(BASE_DIR / "migrations"))
        db.engine.dispose()
    yield app
    with app.app_context():
        db.engine.dispose()
    drop_database(config.SQLALCHEMY_DATABASE_URI)


def on_postgresql() -> bool:
    return test_database_url().startswith("postgresql")


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers", "postgresql: about PostgreSQL itself (its server dropping connections); runs only there"
    )
    config.addinivalue_line(
        "markers", "layout: what the browser shows at each width, the same on any database; runs on SQLite"
    )


# The files that take minutes (the demo data's load, the walk of every page in a browser, hostile
# input from every role) go first: with several processes (./scripts/test) none is left to run
# alone at the end. The rest keep their order; so do the tests inside each file.
LONG_FILES = ("tests/test_demo.py", "tests/browser/test_every_page.py", "tests/test_hostile_input.py")


def pytest_collection_modifyitems(config, items) -> None:
    # Not skipped: such a test has nothing to say about the other database, so it is not collected
    # there. A page's layout and accessibility do not depend on the database: walked on SQLite only.
    other = "layout" if on_postgresql() else "postgresql"
    elsewhere = [item for item in items if item.get_closest_marker(other)]
    if elsewhere:
        config.hook.pytest_deselected(items=elsewhere)
        items[:] = [item for item in items if not item.get_closest_marker(other)]
    rank = {path: position for position, path in enumerate(LONG_FILES)}
    items.sort(key=lambda item: rank.get(item.nodeid.partition("::")[0], len(rank)))


def is_committing(request) -> bool:
    return request.node.get_closest_marker("browser") is not None or (
        request.node.get_closest_marker("committing") is not None
    )


class IsolatedClient(FlaskClient):
    """Each request gets its own app context, as in production, even while the test holds one.

    Otherwise Flask reuses the test's context, and `g` (the signed-in user, the CSRF token)
    would leak from one request into the next.
    """

    def open(self, *args, **kwargs):
        if has_app_context():  # the test's own work, done before the request, as a commit would
            deferred.write(db.session())
        token = _cv_app.set(None)
        try:
            return super().open(*args, **kwargs)
        finally:
            _cv_app.reset(token)


class ConnectionBoundSession(FlaskSession):
    """Flask-SQLAlchemy's session picks the engine; in tests it must use the test's connection."""

    def get_bind(self, *args, **kwargs):
        return self.bind


@pytest.fixture(autouse=True)
def _database(request, app):
    """Each test runs inside a transaction that is rolled back; views' commits are savepoints."""
    limiter.reset()
    clock.freeze(NOW)
    if is_committing(request) or request.node.get_closest_marker("no_app_db"):
        yield
        clock.freeze(None)
        return
    with app.app_context():
        connection = db.engine.connect()
        transaction = connection.begin()
        original = db.session
        db.session = db._make_scoped_session(
            {
                "bind": connection,
                "join_transaction_mode": "create_savepoint",
                "class_": ConnectionBoundSession,
            }
        )
        try:
            yield
        finally:
            db.session.remove()
            db.session = original
            transaction.rollback()
            connection.close()
            clock.freeze(None)


@pytest.fixture
def app_context(app):
    with app.app_context():
        yield


@pytest.fixture
def client(app):
    return app.test_client()


def empty_all_tables() -> None:
    """Committing tests clean up after themselves."""
    with db.engine.begin() as connection:
        # Trusts' schools point at them: unhook them first, whatever order the rows are deleted in.
        connection.execute(db.metadata.tables["agency"].update().values(parent_id=None))
        for table in reversed(db.metadata.sorted_tables):
            connection.execute(table.delete())


# Helpers for views ---------------------------------------------------------------------------


def csrf_token(client, path: str) -> str:
    """Load a page and read its CSRF token, as a browser would."""
    import re

    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', page
    )
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def sign_in(client, user, password: str | None = None):
    """Sign in through the pages: the password, then, when asked, the code the person's
    authenticator app shows (L&D and finance made by the factories have one)."""
    from tests.factories import PASSWORD, second_factor_code

    token = csrf_token(client, "/sign-in")
    response = client.post(
        "/sign-in",
        data={"email": user.email, "password": password or PASSWORD, "csrf_token": token},
    )
    if response.status_code == 302 and response.headers["Location"] == "/sign-in/code":
        token = csrf_token(client, "/sign-in/code")
        response = client.post("/sign-in/code", data={"code": second_factor_code(user), "csrf_token": token})
    return response
