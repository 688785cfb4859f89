"""The app served for real by gunicorn (and its scheduler process), a small browser to talk to
it over HTTP, and a mail server that can fall silent.

Tests that use these commit for real (the workers are other processes, on their own
connections), so they are marked `committing` and empty every table when they finish.
"""

from __future__ import annotations

import html
import http.cookiejar
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask

from config import BASE_DIR
from tests.conftest import free_port

CSRF_TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
FORM = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.S)
INPUT = re.compile(r"<input\b([^>]*)>")
ATTRIBUTE = re.compile(r'([\w-]+)="([^"]*)"')


def hidden_inputs(markup: str) -> dict[str, str]:
    """The hidden fields in a piece of a page, by name."""
    fields = {}
    for attributes in INPUT.findall(markup):
        attribute = dict(ATTRIBUTE.findall(attributes))
        if attribute.get("type") == "hidden" and "name" in attribute:
            fields[attribute["name"]] = html.unescape(attribute.get("value", ""))
    return fields


@dataclass(frozen=True)
class Reply:
    """One HTTP response, redirects not followed."""

    status: int
    location: str
    text: str


class _KeepRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # hand the 3xx back to the caller


class Browser:
    """Just enough of a browser: cookies, and a fresh connection for every request."""

    def __init__(self, base: str, *, timeout: float = 30, address: str | None = None) -> None:
        self.base = base
        self.timeout = timeout
        self.cookies = http.cookiejar.CookieJar()
        cookies = urllib.request.HTTPCookieProcessor(self.cookies)
        self.opener = urllib.request.build_opener(cookies)
        self.no_redirects = urllib.request.build_opener(cookies, _KeepRedirects())
        if address:  # as a proxy in front would say (the app trusts one when PROXY_FIX_COUNT=1)
            for opener in (self.opener, self.no_redirects):
                opener.addheaders.append(("X-Forwarded-For", address))

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=self.timeout) as response:
            return response.read().decode()

    def post(self, path: str, data: dict) -> tuple[int, str]:
        """Send a form and follow any redirect, as a browser would."""
        body = urllib.parse.urlencode(data).encode()
        try:
            with self.opener.open(self.base + path, data=body, timeout=self.timeout) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def submit(self, path: str, data: dict) -> Reply:
        """Send a form and report the response itself, a redirect included."""
        body = urllib.parse.urlencode(data).encode()
        try:
            with self.no_redirects.open(self.base + path, data=body, timeout=self.timeout) as response:
                return Reply(response.status, "", response.read().decode())
        except urllib.error.HTTPError as error:
            return Reply(error.code, error.headers.get("Location", ""), error.read().decode())

    def cookie_header(self) -> str:
        """The Cookie header this browser sends, for clients that make their own requests."""
        return "; ".join(f"{cookie.name}={cookie.value}" for cookie in self.cookies)

    def csrf_token(self, path: str) -> str:
        """Load a page and read the CSRF token of its first form."""
        match = CSRF_TOKEN.search(self.get(path))
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def form(self, path: str, action: str) -> dict[str, str]:
        """Load a page and read the hidden fields (CSRF token, request key) of the form sent to `action`."""
        page = self.get(path)
        for attributes, body in FORM.findall(page):
            if f'action="{action}"' in attributes:
                return hidden_inputs(body)
        raise AssertionError(f"no form for {action} on {path}")

    def sign_in(self, email: str, password: str) -> None:
        token = self.csrf_token("/sign-in")
        reply = self.submit("/sign-in", {"email": email, "password": password, "csrf_token": token})
        assert reply.status == 302, f"sign-in as {email} failed with {reply.status}"


@dataclass(frozen=True)
class Gunicorn:
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def serve_with_gunicorn(
    app: Flask,
    *,
    workers: int = 3,
    threads: int = 1,
    extra_env: dict[str, str] | None = None,
    start_timeout: float = 30,
) -> Iterator[Gunicorn]:
    """Serve wsgi:app with gunicorn on 127.0.0.1, on `app`'s database, until the block ends.

    The workers build their own app from the environment, so they share the database but not
    the test's frozen clock: they run on the real time. Sign-in throttling goes through Redis,
    under a key prefix of its own.
    """
    port = free_port()
    env = live_env(app, extra_env)
    command = [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--bind", f"127.0.0.1:{port}"]
    if threads > 1:
        command += ["--threads", str(threads)]
    with tempfile.TemporaryDirectory(prefix="gunicorn-") as folder:
        log_path = Path(folder) / "gunicorn.log"
        # A file, not a pipe: a pipe nobody reads fills up and stalls the workers.
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [*command, "wsgi:app"], cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        server = Gunicorn(url=f"http://127.0.0.1:{port}", log_path=log_path)
        try:
            _wait_until_serving(server, process, start_timeout)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def live_env(app: Flask, extra_env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a process serving `app`'s database: a web worker or the scheduler."""
    return {
        **os.environ,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "LMS_ENV": "testing",
        "SECRET_KEY": "live-test-secret",
        "MAIL_BACKEND": "log",
        "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379",
        "RATELIMIT_KEY_PREFIX": f"test-{uuid.uuid4().hex}",
        **(extra_env or {}),
    }


@contextmanager
def run_scheduler(app: Flask, *, extra_env: dict[str, str] | None = None) -> Iterator[Gunicorn]:
    """`flask lms scheduler`, as production runs it, on `app`'s database, until the block ends.

    It sends the outbox (woken by NOTIFY on PostgreSQL, every few seconds otherwise) and runs
    the other sweeps, on the real time."""
    command = [sys.executable, "-m", "flask", "--app", "wsgi", "lms", "scheduler"]
    with tempfile.TemporaryDirectory(prefix="scheduler-") as folder:
        log_path = Path(folder) / "scheduler.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command, cwd=BASE_DIR, env=live_env(app, extra_env), stdout=log, stderr=subprocess.STDOUT
            )
        scheduler = Gunicorn(url="", log_path=log_path)
        try:
            deadline = time.monotonic() + 30
            while "Scheduler running" not in scheduler.log():
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"the scheduler did not start:\n{scheduler.log()[-3000:]}")
                time.sleep(0.1)
            yield scheduler
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class FickleMailServer:
    """A mail server on loopback that can fall silent.

    While silent it accepts each connection and never says a word, as a hung server does; a
    sender waits for its greeting until its own timeout. Otherwise it passes each connection on
    to the real server at `target_port`. `answer()` ends the silence (and the waiting connections).
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.silent = threading.Event()
        self.ignored = 0  # connections accepted while silent
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, name="fickle-smtp", daemon=True).start()

    def go_silent(self) -> None:
        self.silent.set()

    def answer(self) -> None:
        self.silent.clear()
        with self._lock:
            held, self._held = self._held, []
        for connection in held:
            connection.close()

    def close(self) -> None:
        self.answer()
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return  # closed
            if self.silent.is_set():
                with self._lock:
                    self.ignored += 1
                    self._held.append(connection)
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=10)
            except OSError:
                connection.close()
                continue
            for source, sink in ((connection, upstream), (upstream, connection)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    for end in (source, sink):
        with suppress(OSError):
            end.shutdown(socket.SHUT_RDWR)
        end.close()


def _wait_until_serving(server: Gunicorn, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(server.url + "/healthz", timeout=2).read()
            return
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"gunicorn did not start:\n{server.log()[-3000:]}") from None
            time.sleep(0.2)


def gunicorn_fixture(*, workers: int = 3, threads: int = 1, scope: str = "function", **extra_env: str):
    """A fixture serving the test app with gunicorn; it yields the base URL.

    Assign it to the name the tests ask for: `gunicorn = gunicorn_fixture(workers=3)`.
    """

    @pytest.fixture(scope=scope)
    def serve(app):
        with serve_with_gunicorn(app, workers=workers, threads=threads, extra_env=extra_env) as server:
            yield server.url

    return serve
