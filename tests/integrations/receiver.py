"""A webhook receiver on loopback for the tests: it checks each signature as docs/webhooks.md tells
a receiver to, and answers as the test scripts it (taken, an error, or no answer at all)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def verify(secret: str, headers, body: bytes) -> bool:
    """The check in docs/webhooks.md: any v1 signature made with the secret over id.timestamp.body."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        hmac.compare_digest(expected, signature.removeprefix("v1,"))
        for signature in headers["webhook-signature"].split()
        if signature.startswith("v1,")
    )


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified: bool

    @property
    def event(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str = ""
    secret: str = ""
    received: list[Received] = field(default_factory=list)
    # What the next requests get: an HTTP status, or "hang" (no answer for `hang_seconds`).
    script: list = field(default_factory=list)
    hang_seconds: float = 3.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self):
        with self.lock:
            return self.script.pop(0) if self.script else 200

    def events(self, kind: str | None = None) -> list[dict]:
        return [r.event for r in self.received if kind is None or r.event["type"] == kind]

    def clear(self) -> None:
        self.received.clear()
        self.script.clear()


def start_receiver() -> tuple[ThreadingHTTPServer, Receiver]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers["content-length"]))
            headers = {k.lower(): v for k, v in self.headers.items()}
            answer = receiver.answer()
            if answer == "hang":
                time.sleep(receiver.hang_seconds)
                return
            with receiver.lock:
                receiver.received.append(Received(headers, body, verify(receiver.secret, headers, body)))
            self.send_response(answer)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, receiver
