"""Certificates: the first render beside a fair baseline, and a download beside GET /healthz.

Run on demand (pytest never collects it):

    .venv/bin/python -m bench.bench_certificates [--count 300] [--downloads 1000] [--no-accel]
    .venv/bin/python -m bench.bench_certificates --render-only

1. Rendering (no database): `render_certificate`, which runs once, when a certificate is issued,
   and a fair baseline: a bare ReportLab page with the same words in one embedded DejaVu face
   and the same QR code drawn the same way (one path), in the same run, taking turns. With
   --no-accel, ReportLab runs without its C accelerator (rl_accel) even when it is installed.
2. Downloading (PostgreSQL, gunicorn, as bench_booking): each client's delegate attends a session,
   evaluates it and so is issued a certificate, through the services the pages use; the app is served
   with the production settings; then GET /healthz, GET /certificates/<booking>.pdf, the same with
   the PDF's ETag in If-None-Match (a browser that kept it: 304, no body) and GET /healthz with the
   delegate's cookie take turns in rounds. Before that, the round trips to the database of one
   download and of one 304 are counted.

It ends with RATIO lines, and drops its schema when it ends, however it ends.
"""

from __future__ import annotations

import sys

if "--no-accel" in sys.argv:
    sys.modules["_rl_accel"] = None  # ReportLab then uses its pure-Python functions

import argparse  # noqa: E402
import http.client  # noqa: E402
import os  # noqa: E402
import secrets  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import urllib.parse  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import UTC, date, datetime, timedelta  # noqa: E402
from io import BytesIO  # noqa: E402

from reportlab.pdfgen.canvas import Canvas  # noqa: E402

from lms.evaluations import pdf  # noqa: E402
from lms.evaluations.pdf import CERTIFICATE_PAGE, CertificateData, render_certificate  # noqa: E402

DATA = CertificateData(
    number="SCP-2026-7K3Q-9XPM",
    delegate_name="Priya Shah",
    course_title="Domestic Abuse Module 1: Understanding Coercive Control & Domestic Violence & Abuse (DVA)",
    session_date=date(2026, 5, 14),
    cpd_hours=3,
    provider="City Training Ltd",
    partnership_name="City Safeguarding Children Partnership",
    verify_url="https://training.example.org/certificates/verify/SCP-2026-7K3Q-9XPM",
    issued_on=date(2026, 5, 20),
)
GOAL_RENDER = 1.5  # first render / fair baseline, at most
GOAL_DOWNLOAD = 0.8  # downloads / healthz per second, at least


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# Rendering ------------------------------------------------------------------------------------


def fair_baseline(data: CertificateData) -> bytes:
    """The floor for the same page: one embedded face, the same words, the same QR code, no layout."""
    face = pdf.fonts()
    buffer = BytesIO()
    canvas = Canvas(buffer, pagesize=CERTIFICATE_PAGE, invariant=1)
    width, height = CERTIFICATE_PAGE
    lines = [
        data.partnership_name,
        "Certificate of attendance",
        data.delegate_name,
        "attended",
        data.course_title,
        f"on {data.session_date:%A %d %B %Y}",
        f"{data.cpd_hours:g} CPD hours",
        f"Delivered by {data.provider}",
        data.number,
        f"Issued by {data.partnership_name} on {data.issued_on:%A %d %B %Y}",
        data.verify_url,
    ]
    canvas.setFont(face.sans, 14)
    for n, text in enumerate(lines):
        canvas.drawCentredString(width / 2, height - 80 - n * 30, text)
    pdf.draw_qr(canvas, data.verify_url, width - 168, 74, pdf.QR_SIZE)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def accelerated() -> bool:
    from reportlab.lib import rl_accel

    return rl_accel.fp_str.__module__ == "_rl_accel"


def time_renders(count: int) -> dict[str, float]:
    """Median milliseconds of each, taking turns, after a warm-up (fonts registered)."""
    kinds = {"certificate": render_certificate, "fair baseline": fair_baseline}
    samples: dict[str, list[float]] = {label: [] for label in kinds}
    for render in kinds.values():
        render(DATA)
    for n in range(count):
        for label, render in kinds.items():
            started = time.perf_counter()
            render(DATA)
            samples[label].append(time.perf_counter() - started)
        if n % 50 == 0:
            say(f"  rendering: {n}/{count}")
    return {label: statistics.median(values) * 1000 for label, values in samples.items()}


# Downloading ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Holder:
    email: str
    booking_id: int
    cookie: str = ""
    etag: str = ""


def issue_certificates(people: int) -> list[Holder]:
    """Delegates who attended a session last week and evaluated it: each is issued a certificate."""
    from lms.accounts.models import Role
    from lms.bookings.models import Attendance
    from lms.bookings.services import book_place, close_register, mark_attendance
    from lms.evaluations.models import QuestionKind
    from lms.evaluations.services import current_question_set, submit_evaluation
    from lms.extensions import db
    from tests.factories import create_agency, create_session, create_user

    now = datetime.now(UTC)
    agency = create_agency()
    trainer, admin = create_user(roles=(Role.TRAINER,)), create_user(roles=(Role.LND_ADMIN,))
    session = create_session(starts_at=now - timedelta(days=7), trainer=trainer, places=people)
    people_and_bookings = []
    for _ in range(people):
        person = create_user(agency=agency)
        booking = book_place(session, person, by=admin, now=now - timedelta(days=30))
        people_and_bookings.append((person, booking))
    marked_at = session.starts_at + timedelta(minutes=5)
    for _, booking in people_and_bookings:
        mark_attendance(booking, Attendance.ATTENDED, by=trainer, now=marked_at)
    close_register(session, by=trainer, now=session.ends_at)
    questions = current_question_set(session.course, now=now)
    answers = {
        q.id: "4" if q.kind is QuestionKind.RATING else "Ask about the child's lived experience."
        for q in questions.questions
    }
    for person, booking in people_and_bookings:
        submit_evaluation(booking, questions, answers, by=person, now=session.ends_at + timedelta(days=1))
    db.session.commit()
    return [Holder(person.email, booking.id) for person, booking in people_and_bookings]


def count_download_round_trips(database_uri: str, holder: Holder) -> tuple[int, int, int, int]:
    """Round trips of one download, of one 304 and of GET /healthz, and the PDF's size, through the
    counting relay."""
    import sqlalchemy as sa

    from bench.bench_booking import CSRF_TOKEN, RoundTripCounter, environment, serve_env
    from config import Config
    from lms import create_app
    from lms.extensions import db
    from tests.factories import PASSWORD

    address = sa.engine.make_url(database_uri)
    counter = RoundTripCounter(address.host or "127.0.0.1", address.port or 5432)
    try:
        with environment({**serve_env(), "RATELIMIT_STORAGE_URI": "memory://"}):
            config = Config()
        config.SQLALCHEMY_DATABASE_URI = address.set(host="127.0.0.1", port=counter.port).render_as_string(
            hide_password=False
        )
        app = create_app(config)
        client = app.test_client()
        token = CSRF_TOKEN.search(client.get("/sign-in").get_data(as_text=True)).group(1)
        client.post("/sign-in", data={"email": holder.email, "password": PASSWORD, "csrf_token": token})
        client.get(f"/certificates/{holder.booking_id}.pdf")
        counter.take()
        response = client.get(f"/certificates/{holder.booking_id}.pdf")
        download = sum(counter.take().values())
        if response.status_code != 200 or not response.data.startswith(b"%PDF"):
            raise RuntimeError(f"the counted download failed with {response.status_code}")
        unchanged = client.get(
            f"/certificates/{holder.booking_id}.pdf", headers={"If-None-Match": response.headers["ETag"]}
        )
        not_modified = sum(counter.take().values())
        if unchanged.status_code != 304 or unchanged.data:
            raise RuntimeError(f"the counted download with its ETag answered {unchanged.status_code}")
        app.test_client().get("/healthz")
        counter.take()
        app.test_client().get("/healthz")
        health = sum(counter.take().values())
        with app.app_context():
            db.engine.dispose()
    finally:
        counter.close()
    return download, not_modified, health, len(response.data)


def etag_of(port: int, holder: Holder) -> str:
    """The ETag a first download gives the delegate's browser (not timed)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", f"/certificates/{holder.booking_id}.pdf", headers={"Cookie": holder.cookie})
        response = connection.getresponse()
        response.read()
        return response.getheader("ETag", "")
    finally:
        connection.close()


def unchanged_download(port: int, holder: Holder) -> bool:
    """A browser that kept the PDF asks again: 304 and no body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Cookie": holder.cookie, "If-None-Match": holder.etag}
        connection.request("GET", f"/certificates/{holder.booking_id}.pdf", headers=headers)
        response = connection.getresponse()
        return response.status == 304 and response.read() == b""
    finally:
        connection.close()


def measure_downloads(args) -> tuple[list, tuple[int, int, int, int]]:
    from flask_migrate import upgrade

    from bench.bench_booking import Result, request, run_load, serve_env
    from bench.common import database_url, in_schema, run_ddl
    from config import BASE_DIR, Config
    from lms import create_app
    from lms.extensions import db
    from tests.factories import PASSWORD
    from tests.live import Browser, serve_with_gunicorn

    url = database_url()
    schema = f"bench_cert_{os.getpid()}_{secrets.token_hex(3)}"
    say(f"Creating schema {schema}")
    run_ddl(url, f"CREATE SCHEMA {schema}")
    try:
        config = Config()
        config.SQLALCHEMY_DATABASE_URI = in_schema(url, schema)
        config.MAIL_BACKEND = "log"
        app = create_app(config)
        with app.app_context():
            upgrade(directory=str(BASE_DIR / "migrations"))
            say(f"  issuing {args.clients} certificates")
            holders = issue_certificates(args.clients)
            db.engine.dispose()
        trips = count_download_round_trips(config.SQLALCHEMY_DATABASE_URI, holders[0])
        with serve_with_gunicorn(app, workers=args.workers, extra_env=serve_env()) as server:
            port = urllib.parse.urlsplit(server.url).port
            signed = []
            for holder in holders:
                browser = Browser(server.url)
                browser.sign_in(holder.email, PASSWORD)
                cookie = browser.cookie_header()
                tag = etag_of(port, Holder(holder.email, holder.booking_id, cookie))
                signed.append(Holder(holder.email, holder.booking_id, cookie, tag))

            def download(holder: Holder):
                path = f"/certificates/{holder.booking_id}.pdf"
                return lambda _: request(port, "GET", path, expect=200, cookie=holder.cookie)

            def unchanged(holder: Holder):
                return lambda _: unchanged_download(port, holder)

            def health(_):
                return request(port, "GET", "/healthz", expect=200)

            def signed_in_health(holder: Holder):
                # The floor for any page of a signed-in person: the cookie read, the person loaded.
                return lambda _: request(port, "GET", "/healthz", expect=200, cookie=holder.cookie)

            downloads = [download(signed[n % len(signed)]) for n in range(args.downloads)]
            run_load("warming up", downloads[: 4 * args.clients] + [health] * 4 * args.clients, args.clients)
            unchanged_ones = [unchanged(signed[n % len(signed)]) for n in range(args.downloads)]
            signed_in = [signed_in_health(signed[n % len(signed)]) for n in range(args.downloads)]
            labels = (
                "GET /healthz",
                "GET certificate PDF",
                "GET certificate PDF, 304",
                "GET /healthz, signed in",
            )
            results = [Result(label, [], 0.0, 0) for label in labels]
            per_round = args.downloads // args.rounds
            for turn in range(args.rounds):
                say(f"round {turn + 1}/{args.rounds}")
                part = slice(turn * per_round, (turn + 1) * per_round)
                loads = ([health] * per_round, downloads[part], unchanged_ones[part], signed_in[part])
                for result, jobs in zip(results, loads, strict=True):
                    result.add(run_load(result.label, jobs, args.clients))
        with app.app_context():
            db.engine.dispose()
        return results, trips
    finally:
        say(f"Dropping schema {schema}")
        run_ddl(url, f"DROP SCHEMA IF EXISTS {schema} CASCADE")


# The run --------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300, help="renders of each kind, 10-2,000 (300)")
    parser.add_argument("--downloads", type=int, default=1000, help="downloads (and healthz requests) (1000)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients, 1-64 (8)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers, 1-16 (4)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds the requests are split into (5)")
    parser.add_argument("--no-accel", action="store_true", help="without ReportLab's C accelerator")
    parser.add_argument("--render-only", action="store_true", help="no database, no gunicorn")
    args = parser.parse_args()
    if not (10 <= args.count <= 2000 and 1 <= args.clients <= 64 and 1 <= args.workers <= 16):
        parser.error("use 10-2,000 renders, 1-64 clients and 1-16 workers")
    if not (1 <= args.rounds <= 20 and args.clients * args.rounds <= args.downloads <= 5000):
        parser.error("use 1-20 rounds and between --clients times --rounds and 5,000 downloads")
    return args


def main() -> None:
    args = parse_args()
    renders = time_renders(args.count)
    downloads = None if args.render_only else measure_downloads(args)
    print()
    print(
        f"Certificates: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, ReportLab's C accelerator "
        f"{'in use' if accelerated() else 'not in use'}; {args.count} renders of each, taking turns"
    )
    print(f"  {'':26}{'median ms':>10}{'per second':>12}")
    for label, median in renders.items():
        print(f"  {label:26}{median:10.2f}{1000 / median:12.1f}")
    render_ratio = renders["certificate"] / renders["fair baseline"]
    if downloads is not None:
        results, (download_trips, not_modified_trips, health_trips, size) = downloads
        served = f"{args.workers} gunicorn sync workers, {args.clients} clients, {args.rounds} rounds"
        print(f"  Downloads of an issued certificate beside GET /healthz: {served}")
        print(f"  {'':26}{'requests':>10}{'req/s':>10}{'p50 ms':>9}{'p95 ms':>9}{'round trips':>13}")
        for result, trips in zip(
            results, (health_trips, download_trips, not_modified_trips, None), strict=True
        ):
            print(
                f"  {result.label:26}{len(result.latencies):10}{result.rate:10.1f}"
                f"{result.ms(50):9.1f}{result.ms(95):9.1f}{'' if trips is None else trips:>13}"
            )
        print(
            f"  download / signed-in healthz: {results[1].rate / results[3].rate:.2f}; "
            f"304 / signed-in healthz: {results[2].rate / results[3].rate:.2f}"
        )
        print(f"  The stored PDF is {size:,} bytes; {sum(r.errors for r in results)} requests failed.")
    print(f"RATIO certificate_first_render_over_fair_baseline {render_ratio:.2f} goal <= {GOAL_RENDER}")
    if downloads is not None:
        health, download, *_ = downloads[0]
        ratio = download.rate / health.rate
        print(f"RATIO certificate_download_over_healthz {ratio:.2f} goal >= {GOAL_DOWNLOAD}")


if __name__ == "__main__":
    main()
