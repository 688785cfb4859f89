"""The request boundary: one commit per state-changing request, domain errors as statuses and
messages, no writes on GET, and no view that commits or rolls back by itself."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Blueprint, flash

from lms.core.access import public
from lms.core.errors import Conflict, DomainError, NotFound, PermissionDenied
from lms.core.web import WriteOnSafeRequest, domain_errors
from lms.courses.models import Topic
from lms.extensions import db

PACKAGE = Path(__file__).resolve().parent.parent / "lms"


def view_modules() -> list[Path]:
    return sorted([*PACKAGE.rglob("views.py"), *PACKAGE.rglob("admin_views.py"), PACKAGE / "main.py"])


def test_no_view_module_commits_or_rolls_back():
    offenders = []
    for path in view_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in {"commit", "rollback"}:
                offenders.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} .{node.attr}")
    assert len(view_modules()) >= 9
    assert offenders == []


def test_no_view_module_catches_domain_errors_by_hand():
    # A view turns a domain error into a message through domain_errors(); the boundary does the rest.
    caught = []
    for path in view_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ExceptHandler) and node.type is not None:
                names = {n.id for n in ast.walk(node.type) if isinstance(n, ast.Name)}
                if names & {"DomainError", "BookingError", "FinanceError", "ProgrammeError", "AccountError"}:
                    caught.append(f"{path.name}:{node.lineno}")
    assert caught == []


# A throwaway blueprint exercises the boundary itself ----------------------------------------------

probe = Blueprint("boundary_probe", __name__, url_prefix="/_probe")
RAISES = {
    "conflict": Conflict,
    "not_found": NotFound,
    "not_allowed": PermissionDenied,
    "invalid": DomainError,
}


@probe.route("/add/<name>", methods=["POST"])
@public
def add(name: str):
    db.session.add(Topic(name=name))
    db.session.flush()
    flash("Added.", "success")
    return "added"


@probe.route("/add-then-fail/<kind>", methods=["POST"])
@public
def add_then_fail(kind: str):
    db.session.add(Topic(name=f"never-{kind}"))
    db.session.flush()
    raise RAISES[kind]("The session is full.")


@probe.route("/add-then-show/<name>", methods=["POST"])
@public
def add_then_show(name: str):
    with domain_errors():
        db.session.add(Topic(name=name))
        db.session.flush()
        raise Conflict("Bookings have closed.")
    return "shown", 409


@probe.route("/write-on-get/<name>")
@public
def write_on_get(name: str):
    db.session.add(Topic(name=name))
    db.session.flush()
    return "wrote"


@pytest.fixture(scope="module")
def probing_app(app, smtp_server):
    """A second app on the same database, with the probe's routes (the shared app stays as shipped)."""
    from lms import create_app
    from tests.conftest import IsolatedClient, make_config

    config = make_config(smtp_server[0].port)
    config.WTF_CSRF_ENABLED = False
    probing = create_app(config)
    probing.register_blueprint(probe)
    probing.test_client_class = IsolatedClient
    return probing


@pytest.fixture
def probe_client(probing_app):
    return probing_app.test_client()


def topic_names() -> set[str]:
    return set(db.session.scalars(sa.select(Topic.name)))


def test_a_state_changing_request_commits_once_at_the_end(probe_client):
    assert probe_client.post("/_probe/add/Neglect").status_code == 200
    assert "Neglect" in topic_names()


@pytest.mark.parametrize(
    ("kind", "status"), [("conflict", 409), ("not_found", 404), ("not_allowed", 403), ("invalid", 422)]
)
def test_a_domain_error_undoes_the_request_and_becomes_its_status(probe_client, kind, status):
    response = probe_client.post(f"/_probe/add-then-fail/{kind}")
    assert response.status_code == status
    assert "The session is full." in response.get_data(as_text=True)
    assert f"never-{kind}" not in topic_names()


def test_domain_errors_shows_the_message_and_undoes_the_work(probe_client):
    assert probe_client.post("/_probe/add-then-show/Exploitation").status_code == 409
    assert "Exploitation" not in topic_names()
    with probe_client.session_transaction() as cookie:
        assert ("error", "Bookings have closed.") in cookie["_flashes"]


def test_a_get_that_writes_is_refused_and_saves_nothing(probe_client):
    with pytest.raises(WriteOnSafeRequest):
        probe_client.get("/_probe/write-on-get/Radicalisation")
    assert "Radicalisation" not in topic_names()


@pytest.mark.parametrize("ident", ["0", str(2**31), str(2**63), str(2**64), "9" * 25, "-1", "1e3"])
def test_an_id_outside_the_column_is_not_found(client, ident):
    from tests.conftest import sign_in
    from tests.factories import create_user

    sign_in(client, create_user())
    assert client.get(f"/sessions/{ident}").status_code == 404
    assert client.get(f"/bookings/{ident}/cancel").status_code == 404


@pytest.mark.parametrize("page", ["0", "-1", "x", "9" * 25, "1.5"])
def test_a_page_number_out_of_range_is_a_clear_error(client, page):
    from tests.conftest import sign_in
    from tests.factories import create_user

    sign_in(client, create_user())
    response = client.get(f"/sessions/?page={page}")
    assert response.status_code == 422
    assert "page" in response.get_data(as_text=True)


def test_a_nul_character_anywhere_in_a_request_is_refused_before_any_view(client):
    from tests.conftest import sign_in
    from tests.factories import create_user

    sign_in(client, create_user())
    response = client.get("/sessions/?q=a%00b")
    assert response.status_code == 422 and "NUL" in response.get_data(as_text=True)
    assert client.get("/certificates/verify/a%00b").status_code == 422


def test_a_request_larger_than_the_limit_is_refused_with_a_clear_page(app, client):
    limit = app.config["MAX_CONTENT_LENGTH"]
    response = client.post("/sign-in", data={"email": "x" * (limit + 1)})
    assert response.status_code == 413 and "too large" in response.get_data(as_text=True)
