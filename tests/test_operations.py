"""The production kit: the systemd units, the environment template, nginx in front of the web
workers, production's refusal of demo settings, and a backup restored into a fresh database."""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import shlex
import socket
import sqlite3
import ssl
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from config import BASE_DIR, DEMO_PARTNERSHIP_ADDRESS, DEMO_PARTNERSHIP_NAME, Config
from lms import create_app
from lms.accounts.models import Role
from lms.bookings.models import Attendance, Booking
from lms.bookings.services import book_place, close_register, mark_attendance
from lms.evaluations.models import Certificate, QuestionKind
from lms.evaluations.services import current_question_set, submit_evaluation
from lms.extensions import db
from lms.finance.models import Invoice
from lms.finance.services import run_invoicing
from tests import conftest
from tests.conftest import empty_all_tables, free_port
from tests.factories import NOW, create_agency, create_session, create_user

DEPLOY = BASE_DIR / "deploy"
INSTALLED_AT = "/srv/lms"  # where the units and nginx expect the app; the tests use this checkout
WEB_UNIT = DEPLOY / "systemd" / "lms-web.service"
SCHEDULER_UNIT = DEPLOY / "systemd" / "lms-scheduler.service"
ENV_TEMPLATE = DEPLOY / "lms.env.example"
SERVICE_NAME = "training.example.org"
OWN_PARTNERSHIP = {
    "SECRET_KEY": secrets.token_hex(32),
    "PARTNERSHIP_NAME": '"Northshire Safeguarding Children Partnership"',
    "PARTNERSHIP_ADDRESS": '"County Hall, High Street\\nNorthtown NT1 1AA"',
}


# Reading the kit -------------------------------------------------------------------------------


def unit_settings(path: Path) -> dict[str, dict[str, list[str]]]:
    """A systemd unit as {section: {key: [values]}}, continued lines joined."""
    sections: dict[str, dict[str, list[str]]] = {}
    section: dict[str, list[str]] = {}
    pending = ""
    for raw in path.read_text().splitlines():
        line = pending + raw.strip()
        if line.endswith("\\"):
            pending = line[:-1].rstrip() + " "
            continue
        pending = ""
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        section.setdefault(key.strip(), []).append(value.strip())
    return sections


def service(path: Path) -> dict[str, list[str]]:
    return unit_settings(path)["Service"]


def here(value: str) -> str:
    return value.replace(INSTALLED_AT, str(BASE_DIR))


def exec_start(path: Path) -> list[str]:
    [command] = service(path)["ExecStart"]
    return shlex.split(here(command))


def env_file(tmp_path: Path, **values: str) -> Path:
    """The template with the given settings filled in, as an installer would write it."""
    lines = ENV_TEMPLATE.read_text().splitlines()
    for key, value in values.items():
        found = [n for n, line in enumerate(lines) if line.startswith(f"{key}=")]
        if found:
            lines[found[0]] = f"{key}={value}"
        else:
            lines.append(f"{key}={value}")
    path = tmp_path / "lms.env"
    path.write_text("\n".join(lines) + "\n")
    return path


def with_env(path: Path, *command: str, **kwargs) -> subprocess.CompletedProcess:
    # A bare environment, as systemd gives a service: everything else comes from the file.
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LMS_ENV_FILE": str(path)}
    return subprocess.run(
        [str(DEPLOY / "with-env"), *command],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        **kwargs,
    )


def unit_environment(unit: Path, settings: Path) -> dict[str, str]:
    """What the unit's process sees: its Environment= lines, then the environment file over them."""
    printed = with_env(settings, "env", "-0")
    assert printed.returncode == 0, printed.stderr
    from_file = dict(item.split("=", 1) for item in printed.stdout.split("\0") if item)
    unit_values = dict(item.split("=", 1) for item in service(unit).get("Environment", []))
    return {**unit_values, **from_file}


def template_settings() -> dict[str, str]:
    settings = {}
    for line in ENV_TEMPLATE.read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            settings[key] = value
    return settings


# The systemd units -----------------------------------------------------------------------------


@pytest.mark.no_app_db
def test_systemd_accepts_both_units_as_written(tmp_path):
    for unit in (WEB_UNIT, SCHEDULER_UNIT):
        (tmp_path / unit.name).write_text(here(unit.read_text()))
    checked = subprocess.run(
        ["systemd-analyze", "verify", *(str(tmp_path / unit.name) for unit in (WEB_UNIT, SCHEDULER_UNIT))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # systemd only warns about unknown keys and bad values: any output at all is a mistake.
    assert (checked.returncode, checked.stdout + checked.stderr) == (0, "")


@pytest.mark.no_app_db
def test_the_web_unit_runs_several_gunicorn_workers_on_loopback_only():
    command = exec_start(WEB_UNIT)
    assert command[0] == str(BASE_DIR / ".venv" / "bin" / "gunicorn")
    assert command[command.index("--bind") + 1] == "127.0.0.1:8000"
    assert command[-1] == "wsgi:app"
    assert (
        "app = create_app()" in (Path(here(service(WEB_UNIT)["WorkingDirectory"][0])) / "wsgi.py").read_text()
    )
    assert int(dict(item.split("=", 1) for item in service(WEB_UNIT)["Environment"])["WEB_CONCURRENCY"]) > 1
    # nginx hands requests to the same address.
    assert "server 127.0.0.1:8000;" in (DEPLOY / "nginx" / "lms.conf").read_text()


@pytest.mark.no_app_db
def test_exactly_one_unit_runs_the_scheduler_and_its_command_exists(tmp_path):
    commands = {unit.name: exec_start(unit) for unit in (DEPLOY / "systemd").glob("*.service")}
    runs_scheduler = [name for name, command in commands.items() if command[-2:] == ["lms", "scheduler"]]
    assert runs_scheduler == [SCHEDULER_UNIT.name]
    assert commands[SCHEDULER_UNIT.name] == [
        str(BASE_DIR / ".venv/bin/flask"),
        "--app",
        "wsgi",
        "lms",
        "scheduler",
    ]
    assert service(SCHEDULER_UNIT)["KillSignal"] == ["SIGINT"]  # stops as Ctrl+C stops it

    settings = env_file(tmp_path, **OWN_PARTNERSHIP)
    shown = subprocess.run(
        [*commands[SCHEDULER_UNIT.name], "--help"],
        cwd=here(service(SCHEDULER_UNIT)["WorkingDirectory"][0]),
        env=unit_environment(SCHEDULER_UNIT, settings),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert "--once" in shown.stdout


# The environment template ----------------------------------------------------------------------

SETTING_READ = re.compile(r'env_\w+\(\s*"([A-Z0-9_]+)"')
MUST_BE_SET = {
    "LMS_ENV",
    "SECRET_KEY",
    "DATABASE_URL",
    "BASE_URL",
    "PROXY_FIX_COUNT",
    "RATELIMIT_STORAGE_URI",
    "MAIL_SERVER",
    "MAIL_PORT",
    "MAIL_FROM",
    "PARTNERSHIP_NAME",
    "PARTNERSHIP_ADDRESS",
    "PARTNERSHIP_EMAIL",
    "PAYMENT_INSTRUCTIONS",
    "BRAND_COLOUR",
    "BRAND_LOGO",
}


@pytest.mark.no_app_db
def test_the_environment_template_sets_every_required_setting_each_with_a_comment():
    read_by_the_app = set(SETTING_READ.findall((BASE_DIR / "config.py").read_text()))
    settings = template_settings()
    assert set(settings) >= MUST_BE_SET
    assert set(settings) - read_by_the_app == {"WEB_CONCURRENCY"}  # gunicorn's own
    lines = ENV_TEMPLATE.read_text().splitlines()
    for number, line in enumerate(lines):
        if line and not line.startswith("#"):
            # A comment right above it, or above the group of settings it belongs to.
            assert lines[number - 1].strip(), f"{line}: no comment"
    assert settings["LMS_ENV"] == "production"
    assert settings["PROXY_FIX_COUNT"] == "1"  # nginx, the one proxy
    # No secret is shipped: the installer makes their own.
    assert settings["SECRET_KEY"] == "" and settings["MAIL_PASSWORD"] == ""


@pytest.mark.no_app_db
def test_the_template_as_shipped_refuses_to_start_and_says_why(tmp_path):
    started = with_env(env_file(tmp_path), "python", "-c", "from config import Config; Config()")
    assert started.returncode != 0
    assert "SECRET_KEY" in started.stderr


@pytest.mark.no_app_db
def test_the_template_filled_in_starts_in_production_with_its_values(tmp_path):
    script = (
        "from config import Config; c = Config(); "
        "print(c.ENV_NAME, c.PROXY_FIX_COUNT, c.SESSION_COOKIE_SECURE, c.MAIL_PORT, c.MAIL_USE_TLS); "
        "print(c.PARTNERSHIP_NAME); print(c.PARTNERSHIP_ADDRESS); print(c.SQLALCHEMY_DATABASE_URI)"
    )
    started = with_env(env_file(tmp_path, **OWN_PARTNERSHIP), "python", "-c", script)
    assert started.returncode == 0, started.stderr
    assert started.stdout.splitlines() == [
        "production 1 True 587 True",
        "Northshire Safeguarding Children Partnership",
        "County Hall, High Street",
        "Northtown NT1 1AA",
        "postgresql+psycopg://lms@/lms?host=/var/run/postgresql",
    ]


@pytest.mark.no_app_db
def test_with_env_runs_commands_in_the_app_folder_with_its_virtual_environment(tmp_path):
    ran = with_env(
        env_file(tmp_path, **OWN_PARTNERSHIP), "sh", "-c", 'pwd; command -v flask; echo "$BASE_URL"'
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines() == [
        str(BASE_DIR),
        str(BASE_DIR / ".venv" / "bin" / "flask"),
        f"https://{SERVICE_NAME}",
    ]
    missing = with_env(tmp_path / "nowhere.env", "true")
    assert missing.returncode == 1
    assert "Cannot read" in missing.stderr


# nginx ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ports:
    http: int
    https: int
    upstream: int


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    certificate, key = folder / "fullchain.pem", folder / "privkey.pem"
    subprocess.run(
        shlex.split(f"openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN={SERVICE_NAME}")
        + ["-keyout", str(key), "-out", str(certificate)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return certificate, key


def nginx_site(folder: Path, ports: Ports | None) -> Path:
    """Both site files as an installer would put them, inside an nginx.conf of the test's own.

    With ports, they listen on loopback ports of the test's choosing and pass requests to them;
    without, they are exactly as shipped apart from where files are.
    """
    certificate, key = self_signed_certificate(folder)
    sites = []
    for name in ("lms-http.conf", "lms.conf"):
        text = here((DEPLOY / "nginx" / name).read_text())
        text = text.replace(f"/etc/letsencrypt/live/{SERVICE_NAME}/fullchain.pem", str(certificate))
        text = text.replace(f"/etc/letsencrypt/live/{SERVICE_NAME}/privkey.pem", str(key))
        text = text.replace("/var/log/nginx/", f"{folder}/")
        text = text.replace("/var/www/letsencrypt", str(folder / "acme"))
        if ports:
            text = re.sub(r"\n\s*listen \[::\]:\d+[^;]*;", "", text)  # loopback, IPv4 only
            text = text.replace("listen 80;", f"listen 127.0.0.1:{ports.http};")
            text = text.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{ports.https} ssl http2;")
            text = text.replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{ports.upstream};")
        (folder / name).write_text(text)
        sites.append(folder / name)
    temporaries = []
    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (folder / kind).mkdir()
        temporaries.append(f"    {kind}_temp_path {folder / kind};")
    main = folder / "nginx.conf"
    main.write_text(
        # As root, the workers would otherwise run as nobody, who cannot read the test's folder.
        f"""{"user root;" if os.geteuid() == 0 else ""}
pid {folder / "nginx.pid"};
error_log {folder / "error.log"};
{"daemon off;" if ports else ""}
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    access_log off;
{chr(10).join(temporaries)}
    include {sites[0]};
    include {sites[1]};
}}
"""
    )
    return main


def nginx(main: Path, *options: str) -> list[str]:
    return [
        "/usr/sbin/nginx",
        "-p",
        str(main.parent),
        "-e",
        str(main.parent / "error.log"),
        "-c",
        str(main),
        *options,
    ]


@pytest.mark.no_app_db
def test_nginx_accepts_the_configuration(tmp_path):
    checked = subprocess.run(
        nginx(nginx_site(tmp_path, None), "-t"), capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stderr
    assert "test is successful" in checked.stderr


def https(ports: Ports, method: str, path: str, *, headers: dict | None = None, body: str | None = None):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    connection = http.client.HTTPSConnection("127.0.0.1", ports.https, context=context, timeout=30)
    try:
        connection.request(method, path, body=body, headers={"Host": SERVICE_NAME, **(headers or {})})
        response = connection.getresponse()
        return response, response.read()
    finally:
        connection.close()


def announced_upload(ports: Ports, path: str, size: int) -> int:
    """The status nginx answers a POST announcing `size` bytes with, before any is sent (sending
    them all to be refused would race nginx closing the connection)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    connection = http.client.HTTPSConnection("127.0.0.1", ports.https, context=context, timeout=30)
    try:
        connection.putrequest("POST", path, skip_host=True)
        connection.putheader("Host", SERVICE_NAME)
        connection.putheader("Content-Length", str(size))
        connection.endheaders()
        return connection.getresponse().status
    finally:
        connection.close()


def plain_http(ports: Ports, path: str):
    connection = http.client.HTTPConnection("127.0.0.1", ports.http, timeout=30)
    try:
        connection.request("GET", path, headers={"Host": SERVICE_NAME})
        response = connection.getresponse()
        return response, response.read()
    finally:
        connection.close()


@contextmanager
def running(command: list[str], *, log: Path, ready, **kwargs) -> Iterator[subprocess.Popen]:
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, **kwargs)
    try:
        deadline = time.monotonic() + 30
        while not ready():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{command[0]} did not start:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def answers_on(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def web_unit_command(port: int) -> list[str]:
    command = exec_start(WEB_UNIT)
    command[command.index("--bind") + 1] = f"127.0.0.1:{port}"
    return command


@pytest.mark.committing
def test_nginx_in_front_of_the_web_unit_serves_https_only_with_the_headers_the_app_trusts(app, tmp_path):
    ports = Ports(http=free_port(), https=free_port(), upstream=free_port())
    settings = env_file(
        tmp_path,
        **OWN_PARTNERSHIP,
        DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
        WEB_CONCURRENCY="2",
        MAIL_BACKEND="log",
        RATELIMIT_STORAGE_URI="redis://127.0.0.1:6379",
        RATELIMIT_KEY_PREFIX=f"test-{uuid.uuid4().hex}",
        BRAND_COLOUR="#7a1f5c",
    )
    web = running(
        web_unit_command(ports.upstream),
        log=tmp_path / "gunicorn.log",
        ready=lambda: answers_on(ports.upstream),
        cwd=here(service(WEB_UNIT)["WorkingDirectory"][0]),
        env=unit_environment(WEB_UNIT, settings),
    )
    proxy = running(
        nginx(nginx_site(tmp_path, ports)),
        log=tmp_path / "nginx.log",
        ready=lambda: answers_on(ports.https),
    )
    try:
        with proxy, web as workers:
            response, _ = plain_http(ports, "/sign-in?next=%2Fdashboard")
            assert response.status == 301
            assert response.headers["Location"] == f"https://{SERVICE_NAME}/sign-in?next=%2Fdashboard"

            response, body = https(ports, "GET", "/healthz")
            assert (response.status, json.loads(body)) == (200, {"status": "ok"})
            assert response.headers.get_all("Strict-Transport-Security") == [
                "max-age=31536000; includeSubDomains"
            ]

            response, body = https(ports, "GET", "/brand.css")
            assert response.status == 200 and b"--brand: #7a1f5c" in body

            # The app knows the request came over HTTPS for the host nginx names (X-Forwarded-Proto
            # and -Host): its cookie is Secure, and a form posted without a Referer from that host
            # is refused, as Flask-WTF refuses it on HTTPS only.
            response, page = https(ports, "GET", "/sign-in")
            cookie = response.headers["Set-Cookie"]
            assert "Secure" in cookie
            token = re.search(rb'name="csrf_token"[^>]*value="([^"]+)"', page).group(1).decode()
            form = {
                "Cookie": cookie.split(";", 1)[0],
                "Content-Type": "application/x-www-form-urlencoded",
            }
            data = f"email=nobody%40example.org&password=wrong&csrf_token={token}"
            response, _ = https(ports, "POST", "/sign-in", headers=form, body=data)
            assert response.status == 400
            referred = {**form, "Referer": f"https://{SERVICE_NAME}/sign-in"}
            response, page = https(ports, "POST", "/sign-in", headers=referred, body=data)
            assert response.status == 422
            assert b"The email address or password is not right." in page

            # Forms are small; import files may be larger, up to what the import page takes.
            three_megabytes = 3 * 1024 * 1024
            assert announced_upload(ports, "/sign-in", three_megabytes) == 413
            response, _ = https(ports, "POST", "/admin/imports/", headers=form, body="x" * three_megabytes)
            assert response.status not in (413, 502)

            # Static files come from disk: they are still served with the workers stopped.
            workers.terminate()
            workers.wait(timeout=20)
            response, body = https(ports, "GET", "/static/site.css")
            assert response.status == 200
            assert body == (BASE_DIR / "static" / "site.css").read_bytes()
            assert response.headers["Cache-Control"] == "max-age=3600"
            assert response.headers.get_all("Strict-Transport-Security") == [
                "max-age=31536000; includeSubDomains"
            ]
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            response, _ = https(ports, "GET", "/healthz")
            assert response.status == 502
    finally:
        with app.app_context():
            empty_all_tables()


# Production refuses the demo partnership ------------------------------------------------------


def production(monkeypatch, **settings: str) -> None:
    monkeypatch.setenv("LMS_ENV", "production")
    monkeypatch.setenv("DATABASE_URL", "sqlite://")
    values = {
        "SECRET_KEY": OWN_PARTNERSHIP["SECRET_KEY"],
        "PARTNERSHIP_NAME": "Northshire Safeguarding Children Partnership",
        "PARTNERSHIP_ADDRESS": "County Hall, High Street, Northtown NT1 1AA",
        **settings,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)


@pytest.mark.no_app_db
def test_production_starts_with_the_partnerships_own_name_and_address(monkeypatch):
    production(monkeypatch)
    app = create_app(Config())
    assert app.config["PARTNERSHIP_NAME"] == "Northshire Safeguarding Children Partnership"
    assert app.test_client().get("/healthz").status_code == 200


@pytest.mark.no_app_db
@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("PARTNERSHIP_NAME", DEMO_PARTNERSHIP_NAME),
        ("PARTNERSHIP_NAME", "  city safeguarding CHILDREN partnership "),
        ("PARTNERSHIP_NAME", ""),
        ("PARTNERSHIP_ADDRESS", DEMO_PARTNERSHIP_ADDRESS),
        ("PARTNERSHIP_ADDRESS", "Council House\\nVictoria Square\\nBirmingham B1 1BB"),
        ("PARTNERSHIP_ADDRESS", " "),
    ],
)
def test_production_refuses_to_start_with_the_demo_partnership(monkeypatch, setting, value):
    production(monkeypatch, **{setting: value})
    with pytest.raises(RuntimeError, match=f"Set {setting} to your partnership's own"):
        Config()


@pytest.mark.no_app_db
def test_production_refuses_the_demo_partnership_when_nothing_is_set(monkeypatch):
    production(monkeypatch)
    monkeypatch.delenv("PARTNERSHIP_NAME")
    monkeypatch.delenv("PARTNERSHIP_ADDRESS")
    with pytest.raises(RuntimeError, match="PARTNERSHIP_NAME"):
        Config()


@pytest.mark.no_app_db
def test_the_demo_partnership_is_fine_outside_production(monkeypatch):
    monkeypatch.setenv("LMS_ENV", "development")
    monkeypatch.delenv("PARTNERSHIP_NAME", raising=False)
    monkeypatch.delenv("PARTNERSHIP_ADDRESS", raising=False)
    assert Config().PARTNERSHIP_NAME == DEMO_PARTNERSHIP_NAME


@pytest.mark.no_app_db
def test_production_refuses_a_short_secret_key(monkeypatch):
    production(monkeypatch, SECRET_KEY="too-short")
    with pytest.raises(RuntimeError, match="SECRET_KEY must be at least 32 characters"):
        Config()


# Back up and restore ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Records:
    bookings: dict[int, tuple[str, int, str]]  # id: (person's email, session id, status)
    invoices: dict[str, tuple[str, int, list[int]]]  # number: (agency billed, total, line amounts)
    certificates: dict[str, int]  # number: booking id
    schema_version: str


def answers_for(question_set) -> dict:
    return {
        question.id: "4"
        if question.kind is QuestionKind.RATING
        else "Ask about the child's lived experience."
        for question in question_set.questions
    }


def build_records() -> None:
    """A session that ran (one delegate attended and evaluated, two from other agencies did not come),
    an invoicing run, and a booking on a session still to come; all through the services."""
    lnd, finance, trainer = (
        create_user(roles=(role,)) for role in (Role.LND_ADMIN, Role.FINANCE, Role.TRAINER)
    )
    ran = create_session(starts_at=NOW - timedelta(days=3), trainer=trainer)
    booked_at = NOW - timedelta(days=20)
    attended = book_place(ran, create_user(first_name="Łukasz"), by=lnd, now=booked_at)
    absent = [
        book_place(ran, create_user(agency=create_agency(f"Restored agency {n}")), by=lnd, now=booked_at)
        for n in range(2)
    ]
    mark_attendance(attended, Attendance.ATTENDED, by=trainer, now=ran.starts_at + timedelta(minutes=5))
    for booking in absent:
        mark_attendance(booking, Attendance.NO_SHOW, by=trainer, now=ran.starts_at + timedelta(minutes=5))
    close_register(ran, by=trainer, now=ran.ends_at)
    question_set = current_question_set(ran.course, now=NOW)
    submit_evaluation(attended, question_set, answers_for(question_set), by=attended.user, now=NOW)
    run_invoicing(date(2026, 4, 1), date(2026, 6, 30), by=finance, now=NOW)
    book_place(create_session(), create_user(), by=lnd, now=NOW)


def records() -> Records:
    return Records(
        bookings={
            booking.id: (booking.user.email, booking.session_id, booking.status.name)
            for booking in db.session.scalars(sa.select(Booking))
        },
        invoices={
            invoice.number: (
                invoice.bill_to_name,
                invoice.total_pence,
                sorted(li.amount_pence for li in invoice.lines),
            )
            for invoice in db.session.scalars(sa.select(Invoice))
        },
        certificates={
            certificate.number: certificate.booking_id
            for certificate in db.session.scalars(sa.select(Certificate))
        },
        schema_version=db.session.scalar(sa.text("SELECT version_num FROM alembic_version")),
    )


@contextmanager
def restored_postgresql(url: sa.URL, folder: Path) -> Iterator[str]:
    """pg_dump -Fc of this run's schema, restored by pg_restore into a database of its own."""
    schema = url.query["options"].rsplit("=", 1)[1]
    server = url.set(drivername="postgresql", query={})
    dump = folder / "lms.dump"
    subprocess.run(
        [
            "pg_dump",
            "--format=custom",
            f"--schema={schema}",
            f"--file={dump}",
            "--dbname",
            server.render_as_string(hide_password=False),
        ],
        check=True,
        timeout=300,
    )
    fresh = f"restored_{schema}"
    admin = sa.create_engine(url.set(query={}), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {fresh}")
        connection.exec_driver_sql(f"CREATE DATABASE {fresh}")
    try:
        subprocess.run(
            [
                "pg_restore",
                "--no-owner",
                "--exit-on-error",
                "--dbname",
                server.set(database=fresh).render_as_string(hide_password=False),
                str(dump),
            ],
            check=True,
            timeout=300,
        )
        yield url.set(database=fresh).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {fresh} WITH (FORCE)")
        admin.dispose()


@contextmanager
def restored_sqlite(url: sa.URL, folder: Path) -> Iterator[str]:
    """SQLite's online backup into a file, and that file copied back into a fresh database."""
    backup, fresh = folder / "lms-backup.sqlite3", folder / "lms-restored.sqlite3"
    for source, target in ((url.database, backup), (backup, fresh)):
        reading, writing = sqlite3.connect(source), sqlite3.connect(target)
        try:
            reading.backup(writing)
        finally:
            reading.close()
            writing.close()
    yield f"sqlite:///{fresh}"


@pytest.mark.committing
def test_a_backup_restored_into_a_fresh_database_has_every_booking_invoice_and_certificate(app, tmp_path):
    with app.app_context():
        build_records()
        db.session.commit()
        before = records()
        db.engine.dispose()
    assert len(before.bookings) == 4 and len(before.invoices) == 2 and len(before.certificates) == 1
    url = sa.make_url(conftest.test_database_url())
    restore = restored_postgresql if url.get_backend_name() == "postgresql" else restored_sqlite
    try:
        with restore(url, tmp_path) as restored_url:
            config = conftest.TestConfig()
            config.SQLALCHEMY_DATABASE_URI = restored_url
            restored = create_app(config)
            try:
                with restored.app_context():
                    assert records() == before
                [number] = before.certificates
                page = restored.test_client().get(f"/certificates/verify/{number}")
                assert page.status_code == 200
                assert "Łukasz" in page.get_data(as_text=True)
            finally:
                with restored.app_context():
                    db.engine.dispose()
    finally:
        with app.app_context():
            empty_all_tables()
