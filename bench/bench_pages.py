"""How fast the pages people read most are served: gunicorn + PostgreSQL, against GET /healthz.

Run on demand (pytest never collects it):

    .venv/bin/python -m bench.bench_pages [--clients 8] [--requests 500] [--workers 4] [--rounds 5]

It builds a schema of its own in DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/test),
runs the migrations there and fills it with a programme as a partnership runs it: a few dozen
courses, a few hundred sessions over the months to come and the months gone, their bookings, and
readers who each hold about twenty bookings. It counts the round trips to the database of each
page through a relay, then serves the app with gunicorn on 127.0.0.1, signs the readers in and
times, in rounds that take turns so that the machine's drift falls on all alike: GET /healthz,
GET /healthz with a signed-in cookie, the catalogue (20 sessions a page, as it opens and sorted by
places left), a session's page and "My bookings". It ends with RATIO lines, and drops its schema
when it ends, however it ends.
"""

from __future__ import annotations

import argparse
import os
import random
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask_migrate import upgrade

from bench.bench_booking import (
    Delegate,
    Result,
    RoundTripCounter,
    environment,
    in_rounds,
    request,
    run_load,
    serve_env,
    sign_in_everyone,
)
from bench.common import add_load_arguments, check_load_arguments, database_url, in_schema, own_schema, say
from config import BASE_DIR, Config
from lms import create_app
from lms.accounts.models import Role
from lms.bookings.models import Attendance, Booking, BookingStatus, CancellationReason
from lms.core.db import refresh_statistics
from lms.courses.models import CourseLevel, DeliveryMode
from lms.extensions import db
from tests.factories import PASSWORD, create_agency, create_course, create_session, create_topic, create_user
from tests.live import CSRF_TOKEN, serve_with_gunicorn

MAX_REQUESTS = 5000
GOAL_RATIO = 0.5  # each page / GET /healthz
SEED = 13

TOPICS = 12
COURSES_PER_TOPIC = 4
UPCOMING_SESSIONS = 320  # over the next 180 days
PAST_SESSIONS = 120  # over the last 120 days
PEOPLE = 400
READERS = 8  # signed-in people whose pages are timed, each with about 20 bookings
READER_UPCOMING, READER_WAITING, READER_PAST = 10, 2, 8


def say_ok(text: str) -> None:
    say(f"  {text}")


# The programme ---------------------------------------------------------------------------------


@dataclass
class Plan:
    readers: list[Delegate]
    session_id: int  # the session page timed: booked by others, not by the readers
    catalogue_total: int


def create_plan(now: datetime) -> Plan:
    """Topics, courses, sessions to come and gone, their bookings, and the readers' own bookings."""
    rng = random.Random(SEED)
    day = now.replace(hour=9, minute=30, second=0, microsecond=0)
    agencies = [create_agency() for _ in range(10)]
    trainers = [create_user(roles=(Role.PRACTITIONER, Role.TRAINER), agency=agencies[0]) for _ in range(4)]
    courses = []
    levels, modes = list(CourseLevel), list(DeliveryMode)
    for _ in range(TOPICS):
        topic = create_topic()
        for _ in range(COURSES_PER_TOPIC):
            courses.append(
                create_course(
                    topic=topic,
                    level=rng.choice(levels),
                    delivery_mode=rng.choice(modes),
                    duration_minutes=rng.choice((90, 180, 360)),
                    description="What the course covers, who leads it and what to bring. " * 6,
                    target_audience="Practitioners in every agency who work with children and families. " * 2,
                )
            )
    say_ok(f"{len(courses)} courses on {TOPICS} topics; {PEOPLE} people")
    people = [create_user(agency=rng.choice(agencies)) for _ in range(PEOPLE)]

    def session(starts_at: datetime):
        return create_session(
            course=rng.choice(courses),
            starts_at=starts_at,
            hours=rng.choice((1.5, 3, 6)),
            places=rng.choice((12, 16, 20, 24, 30)),
            trainer_id=rng.choice(trainers).id if rng.random() < 0.5 else None,
        )

    upcoming = [
        session(day + timedelta(days=1 + 180 * n // UPCOMING_SESSIONS)) for n in range(UPCOMING_SESSIONS)
    ]
    past = [session(day - timedelta(days=1 + 120 * n // PAST_SESSIONS)) for n in range(PAST_SESSIONS)]
    say_ok(f"{len(upcoming)} sessions to come, {len(past)} gone")
    bookings = 0
    for s in upcoming + past:
        is_past = s.starts_at < now
        # A fifth of the sessions are full with people waiting; the rest anywhere from empty to nearly full.
        full = rng.random() < 0.2
        wanted = s.bookable_limit + rng.randint(1, 5) if full else rng.randint(0, s.bookable_limit - 1)
        for n, person in enumerate(rng.sample(people, wanted)):
            status = BookingStatus.CONFIRMED if n < s.bookable_limit else BookingStatus.WAITING
            if is_past and status is BookingStatus.WAITING:
                break
            add_booking(s, person, status, s.starts_at - timedelta(days=rng.randint(5, 40)))
            bookings += 1
        for person in rng.sample(people, rng.randint(0, 3)):  # a few cancelled
            add_booking(s, person, BookingStatus.CANCELLED, s.starts_at - timedelta(days=40))
            bookings += 1
    db.session.flush()
    readers = [create_user(agency=agencies[n % len(agencies)]) for n in range(READERS)]
    full_sessions = [s for s in upcoming if s.bookable_limit <= confirmed_count(s)]
    open_sessions = [s for s in upcoming if s.bookable_limit > confirmed_count(s) + READERS]
    for reader in readers:
        for s in rng.sample(open_sessions, READER_UPCOMING):
            add_booking(s, reader, BookingStatus.CONFIRMED, now - timedelta(days=3))
        for s in rng.sample(full_sessions, READER_WAITING):
            add_booking(s, reader, BookingStatus.WAITING, now - timedelta(days=3))
        for n, s in enumerate(rng.sample(past, READER_PAST)):
            if n == 0:
                add_booking(s, reader, BookingStatus.CANCELLED, s.starts_at - timedelta(days=20))
            else:
                attended = Attendance.NO_SHOW if n == 1 else Attendance.ATTENDED
                add_booking(s, reader, BookingStatus.CONFIRMED, s.starts_at - timedelta(days=20), attended)
        bookings += READER_UPCOMING + READER_WAITING + READER_PAST
    # A month ahead: open for booking, its bookings not yet closed.
    viewed = next(
        s for s in open_sessions if s.trainer_id is not None and s.starts_at > now + timedelta(days=30)
    )
    db.session.flush()
    say_ok(
        f"{bookings} bookings; {READERS} readers with {READER_UPCOMING + READER_WAITING + READER_PAST} each"
    )
    plan = Plan(
        readers=[Delegate(r.id, r.agency_id, r.email) for r in readers],
        session_id=viewed.id,
        catalogue_total=len(upcoming),
    )
    db.session.commit()
    return plan


def add_booking(
    session, person, status: BookingStatus, at: datetime, attendance: Attendance | None = None
) -> None:
    booking = Booking(
        session=session,
        user=person,
        agency_id=person.agency_id,
        status=status,
        booked_at=at,
        booked_by_id=person.id,
        confirmed_at=at if status is BookingStatus.CONFIRMED else None,
        waitlisted_at=at if status is BookingStatus.WAITING else None,
        attendance=attendance,
        attendance_marked_at=session.ends_at if attendance else None,
    )
    if status is BookingStatus.CANCELLED:
        booking.confirmed_at = at
        booking.cancelled_at = at + timedelta(days=1)
        booking.cancelled_by_id = person.id
        booking.cancellation_reason = CancellationReason.DELEGATE
    db.session.add(booking)


def confirmed_count(session) -> int:
    return db.session.scalar(
        sa.select(sa.func.count(Booking.id)).where(
            Booking.session_id == session.id, Booking.status == BookingStatus.CONFIRMED
        )
    )


# The pages -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    label: str
    path: str
    signed_in: bool
    shows: str  # a piece of text the page must show, checked when its round trips are counted
    ratio: str | None  # the RATIO line's name; None for a baseline


def pages(plan: Plan) -> list[Page]:
    return [
        Page("GET /healthz", "/healthz", False, '"status"', None),
        Page("GET /healthz, signed in", "/healthz", True, '"status"', None),
        Page("catalogue", "/sessions/", True, f"{plan.catalogue_total} upcoming sessions", "catalogue"),
        Page(
            "catalogue, by places left",
            "/sessions/?sort=places",
            True,
            f"{plan.catalogue_total} upcoming sessions",
            "catalogue_by_places",
        ),
        Page("session page", f"/sessions/{plan.session_id}", True, "Book a place", "session_page"),
        Page("My bookings", "/bookings", True, "Waiting list, number", "my_bookings"),
    ]


# Round trips of one request --------------------------------------------------------------------


def count_round_trips(database_uri: str, plan: Plan, shown: Sequence[Page]) -> list[Counter]:
    """The app in this process, with the production settings, its database reached through the relay:
    one reader signs in, then each page is asked for three times and the last is counted."""
    address = sa.engine.make_url(database_uri)
    counter = RoundTripCounter(address.host or "127.0.0.1", address.port or 5432)
    relayed = address.set(host="127.0.0.1", port=counter.port).render_as_string(hide_password=False)
    try:
        with environment({**serve_env(), "RATELIMIT_STORAGE_URI": "memory://"}):
            config = Config()
        config.SQLALCHEMY_DATABASE_URI = relayed
        app = create_app(config)
        reader, stranger = app.test_client(), app.test_client()
        token = CSRF_TOKEN.search(reader.get("/sign-in").get_data(as_text=True)).group(1)
        email = plan.readers[0].email
        reader.post("/sign-in", data={"email": email, "password": PASSWORD, "csrf_token": token})
        counts = []
        for page in shown:
            client = reader if page.signed_in else stranger
            for _ in range(3):
                settle()
                counter.take()
                response = client.get(page.path)
                settle()
            counts.append(counter.take())
            text = response.get_data(as_text=True)
            if response.status_code != 200 or page.shows not in text:
                raise RuntimeError(f"{page.path} answered {response.status_code} without {page.shows!r}")
        with app.app_context():
            db.engine.dispose()
    finally:
        counter.close()
    return counts


def settle() -> None:
    """Let the relay pass on what the request's end sent (its ROLLBACK) before the count is taken."""
    time.sleep(0.05)


# Timing, in rounds -----------------------------------------------------------------------------


def page_job(port: int, path: str, cookie: str) -> Callable[[Any], bool]:
    return lambda _: request(port, "GET", path, expect=200, cookie=cookie)


def measure(app, plan: Plan, shown: Sequence[Page], args) -> list[Result]:
    """Every page in each round, one after the other, round after round."""
    with serve_with_gunicorn(app, workers=args.workers, extra_env=serve_env()) as server:
        port = urllib.parse.urlsplit(server.url).port
        say(f"gunicorn: {args.workers} sync workers on {server.url}")
        readers = sign_in_everyone(server.url, plan.readers, "/sessions/", args.workers)
        cookies = [r.cookie for r in readers]

        def jobs(page: Page, count: int) -> list[Callable[[Any], bool]]:
            return [
                page_job(port, page.path, cookies[n % len(cookies)] if page.signed_in else "")
                for n in range(count)
            ]

        run_load("warming up", [job for page in shown for job in jobs(page, 4 * args.clients)], args.clients)
        loads = [(page, jobs(page, args.requests)) for page in shown]
        results = [Result(page.label, [], 0.0, 0) for page, _ in loads]
        chunks = [in_rounds(all_jobs, args.rounds) for _, all_jobs in loads]
        for turn in range(args.rounds):
            say(f"round {turn + 1}/{args.rounds}")
            for result, (page, _), rounds in zip(results, loads, chunks, strict=True):
                result.add(run_load(page.label, rounds[turn], args.clients))
        if "Traceback" in server.log():
            say(server.log()[-3000:])
    return results


# The report ------------------------------------------------------------------------------------


def report(
    results: Sequence[Result], trips: Sequence[Counter], shown: Sequence[Page], args, schema: str
) -> None:
    health, signed_health = results[0], results[1]
    print()
    print(
        f"Page benchmark: {args.workers} gunicorn sync workers, {args.clients} clients, "
        f"{args.rounds} rounds taking turns, production settings, PostgreSQL (schema {schema}), "
        f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
    )
    header = f"{'':26} {'requests':>8} {'errors':>6} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8}"
    print(f"{header} {'trips':>5} {'/healthz':>8} {'/signed':>8}")
    for result, counts in zip(results, trips, strict=True):
        print(
            f"{result.label:26} {len(result.latencies):8} {result.errors:6} {result.rate:8.1f} "
            f"{result.ms(50):8.1f} {result.ms(95):8.1f} {sum(counts.values()):5} "
            f"{result.rate / health.rate:8.2f} {result.rate / signed_health.rate:8.2f}"
        )
    print("Round trips to the database (each message the driver sends and then waits on), by page:")
    for page, counts in zip(shown, trips, strict=True):
        print(f"  {page.label}: {sum(counts.values())}")
        for sql, times in counts.items():
            print(f"    {times} x {sql}")
    for page, result in zip(shown, results, strict=True):
        if page.ratio:
            print(f"RATIO {page.ratio}_over_healthz {result.rate / health.rate:.2f} goal >= {GOAL_RATIO}")


# The run ---------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_load_arguments(parser, requests=500, of="page")
    parser.add_argument(
        "--round-trips-only", action="store_true", help="count each page's round trips and stop (no load)"
    )
    args = parser.parse_args(argv)
    check_load_arguments(parser, args, MAX_REQUESTS)
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    url = database_url()
    with own_schema(url, "bench_pages") as schema:
        config = Config()
        config.SQLALCHEMY_DATABASE_URI = in_schema(url, schema)
        app = create_app(config)
        with app.app_context():
            say("Running the migrations")
            upgrade(directory=str(BASE_DIR / "migrations"))
            say("Filling the programme")
            plan = create_plan(datetime.now(UTC))
            db.session.commit()
            refresh_statistics()
            db.engine.dispose()
        shown = pages(plan)
        say("Counting round trips")
        trips = count_round_trips(config.SQLALCHEMY_DATABASE_URI, plan, shown)
        if args.round_trips_only:
            for page, counts in zip(shown, trips, strict=True):
                print(f"{page.label}: {sum(counts.values())} round trips")
                for sql, times in counts.items():
                    print(f"    {times} x {sql}")
            return
        results = measure(app, plan, shown, args)
        report(results, trips, shown, args, schema)


if __name__ == "__main__":
    main()
