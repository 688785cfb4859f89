"""`flask lms generate-bookings`: a large synthetic dataset for measuring the reports.

It fills a database that has no bookings yet with COUNT bookings (a million by default) over the
three financial years before the current one: 60 agencies of every category, 50 courses on 17
topics, a session for about every 25 bookings and a person for every 20 (organisations.py). Each
session is played in time order by the product's booking rules (sessions.py).

Rows go in with SQLAlchemy core, 10,000 bookings a batch, committed per batch. The ids are chosen
here, so a substitute can name the booking it replaced without reading anything back; on
PostgreSQL the id sequences are moved past them at the end. Nothing else is written: no audit
entries, messages, charges or evaluations. It is for measuring, never for a live database;
everyone shares the hash of a random password nobody knows.
"""

from __future__ import annotations

import random
import time
from datetime import datetime

import click
import sqlalchemy as sa
from flask import current_app

from lms.bookings.models import Attendance, Booking, BookingStatus
from lms.core.clock import now as clock_now
from lms.core.db import write_intent
from lms.core.financial_year import financial_year_bounds, financial_year_label, financial_year_of
from lms.core.timezones import london_date
from lms.courses.models import CourseSession, SessionStatus
from lms.datasets.dataset import BATCH, SEED, YEARS, Dataset, Settings, progress
from lms.datasets.organisations import add_agencies_and_programme, add_people
from lms.datasets.sessions import add_training_days, play_session
from lms.extensions import db

BOOKINGS_PER_PERSON = 20
MIN_PEOPLE = 200  # more than any one session's bookings, so a session never runs out of people


def register_generate_command(group: click.Group) -> None:
    @group.command("generate-bookings")
    @click.option(
        "--count",
        default=1_000_000,
        show_default=True,
        type=click.IntRange(min=1),
        help="How many bookings to create.",
    )
    def generate_bookings(count: int):
        """Fill an empty database with COUNT bookings over several years, for benchmarks."""
        with write_intent():
            if db.session.scalar(sa.select(Booking.id).limit(1)) is not None:
                click.echo(
                    "The database already has bookings, so none were generated and nothing was "
                    "changed. Generated bookings go into a database without any (run "
                    "`flask db upgrade` on a new one first)."
                )
                return
            started = time.perf_counter()
            dataset = generate(count, now=clock_now())
        click.echo(summary(dataset, count, time.perf_counter() - started))


def generate(count: int, *, now: datetime) -> Dataset:
    """Agencies, programme, people, then sessions with their bookings; committed batch by batch."""
    config = current_app.config
    current = financial_year_of(london_date(now), config["FINANCIAL_YEAR_START"])
    first_day = financial_year_bounds(current - YEARS, config["FINANCIAL_YEAR_START"])[0]
    last_day = financial_year_bounds(current - 1, config["FINANCIAL_YEAR_START"])[1]
    dataset = Dataset(
        rng=random.Random(SEED),
        settings=Settings.from_config(config),
        first_year=current - YEARS,
        first_day=first_day,
        last_day=last_day,
    )
    add_agencies_and_programme(dataset)
    add_people(dataset, max(count // BOOKINGS_PER_PERSON, MIN_PEOPLE))
    add_training_days(dataset, config["FINANCIAL_YEAR_START"])
    add_sessions_and_bookings(dataset, count)
    finish(dataset)
    return dataset


def add_sessions_and_bookings(dataset: Dataset, count: int) -> None:
    """Sessions on random days until `count` bookings are made; each batch of bookings commits."""
    sessions: list[dict] = []
    bookings: list[dict] = []
    made = 0
    with progress(count, "Adding sessions and bookings") as bar:
        while made < count:
            session, rows = play_session(dataset)
            rows = rows[: count - made]
            sessions.append(session)
            bookings.extend(rows)
            made += len(rows)
            if len(bookings) >= BATCH or made == count:
                db.session.execute(sa.insert(CourseSession.__table__), sessions)
                if bookings:
                    db.session.execute(sa.insert(Booking.__table__), bookings)
                db.session.commit()
                tally(dataset, sessions, bookings)
                bar.update(len(bookings))
                sessions, bookings = [], []


def tally(dataset: Dataset, sessions: list[dict], bookings: list[dict]) -> None:
    dataset.sessions += len(sessions)
    for session in sessions:
        if session["status"] is not SessionStatus.CANCELLED:
            dataset.ran += 1
            dataset.places_offered += session["places"]
    for row in bookings:
        dataset.outcomes[row["attendance"] or row["status"]] += 1
        if row["is_late_cancellation"]:
            dataset.outcomes["late"] += 1
        if row["waitlisted_at"] is not None:
            dataset.outcomes["waited"] += 1


def finish(dataset: Dataset) -> None:
    """Move PostgreSQL's id sequences past the ids chosen here; fresh statistics for the planner."""
    bind = db.session.get_bind()
    if bind.dialect.name == "postgresql":
        quote = bind.dialect.identifier_preparer.quote
        for table, next_id in dataset.next_id.items():
            db.session.execute(
                sa.text("SELECT setval(pg_get_serial_sequence(:table, 'id'), :next, false)"),
                {"table": quote(table), "next": next_id},
            )
    db.session.execute(sa.text("ANALYZE"))
    db.session.commit()


def summary(dataset: Dataset, count: int, seconds: float) -> str:
    out = dataset.outcomes
    attended = out[Attendance.ATTENDED] + out[Attendance.PARTIAL]
    utilisation = attended / dataset.places_offered if dataset.places_offered else 0
    first, last = dataset.first_year, dataset.first_year + YEARS - 1
    years = f"{financial_year_label(first)} to {financial_year_label(last)}"
    return "\n".join(
        (
            f"Generated {count:,} bookings in {seconds:.1f} s, from {years}:",
            f"  {dataset.agencies} agencies, {len(dataset.courses)} courses on {dataset.topics} topics, "
            f"{len(dataset.people):,} people, {dataset.sessions:,} sessions "
            f"({dataset.sessions - dataset.ran} cancelled by the partnership).",
            f"  Attended {out[Attendance.ATTENDED]:,}, partially attended {out[Attendance.PARTIAL]:,}, "
            f"no-shows {out[Attendance.NO_SHOW]:,}; cancelled {out[BookingStatus.CANCELLED]:,} "
            f"({out['late']:,} late), still waiting {out[BookingStatus.WAITING]:,}, "
            f"passed to a colleague {out[BookingStatus.SUBSTITUTED]:,}; "
            f"{out['waited']:,} joined a waiting list.",
            f"  Utilisation: {attended:,} attended of {dataset.places_offered:,} places offered, "
            f"{utilisation:.1%}.",
        )
    )
