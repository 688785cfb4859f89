"""What the phases of the generator share while they fill the database, and how they write rows."""

from __future__ import annotations

import random
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import click
import sqlalchemy as sa

from lms.core.timezones import start_of_london_day
from lms.extensions import db

SEED = 20230401
BATCH = 10_000
YEARS = 3


@dataclass(frozen=True)
class Settings:
    """The partnership's settings that the booking rules take."""

    overbook_percent: int
    notice_working_days: int
    closes_working_days: int
    reminder_days: int
    evaluation_reminder_days: int

    @classmethod
    def from_config(cls, config) -> Settings:
        return cls(
            overbook_percent=config["OVERBOOK_PERCENT"],
            notice_working_days=config["NOTICE_WORKING_DAYS"],
            closes_working_days=config["BOOKING_CLOSES_WORKING_DAYS"],
            reminder_days=config["SESSION_REMINDER_DAYS"],
            evaluation_reminder_days=config["EVALUATION_REMINDER_DAYS"],
        )


@dataclass(frozen=True)
class Workplace:
    """Where people work: an agency (id), or an organisation typed as other."""

    agency_id: int | None
    other_organisation: str | None
    domain: str
    job_roles: tuple[str, ...]


@dataclass(frozen=True)
class Person:
    id: int
    agency_id: int | None
    other_organisation: str | None


@dataclass(frozen=True)
class CourseSpec:
    id: int
    minutes: int
    delivery: str  # as in programme-2024-25.csv: virtual, webinar, in-person, virtual+in-person
    places: int
    cost_pence: int
    trainer_id: int


@dataclass(frozen=True)
class TrainingDay:
    day: date
    year: int  # 0 for the oldest financial year


@dataclass
class Dataset:
    """The generator's state: ids handed out, who exists, and what was made."""

    rng: random.Random
    settings: Settings
    first_year: int  # financial years, by the calendar year they start in
    first_day: date
    last_day: date
    set_up_at: datetime = field(init=False)
    next_id: dict[str, int] = field(default_factory=dict)
    password_hash: str = ""
    agencies: int = 0
    workplaces: list[Workplace] = field(default_factory=list)  # the agencies
    workplace_weights: list[int] = field(default_factory=list)
    topics: int = 0
    courses: list[CourseSpec] = field(default_factory=list)
    course_weights: list[float] = field(default_factory=list)  # cumulative
    lnd_ids: list[int] = field(default_factory=list)
    people: list[Person] = field(default_factory=list)
    colleagues: dict[int, list[Person]] = field(default_factory=dict)  # by agency id
    # By year: the training days, and their cumulative weights.
    days: list[list[TrainingDay]] = field(default_factory=lambda: [[] for _ in range(YEARS)])
    day_weights: list[list[float]] = field(default_factory=lambda: [[] for _ in range(YEARS)])
    sessions_planned: int = 0
    sessions: int = 0
    ran: int = 0  # sessions not cancelled
    places_offered: int = 0
    outcomes: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.set_up_at = start_of_london_day(self.first_day - timedelta(days=120))

    def ids(self, model, count: int) -> range:
        """The next `count` ids of a table, chosen here rather than by the database."""
        name = model.__tablename__
        if name not in self.next_id:
            self.next_id[name] = (db.session.scalar(sa.select(sa.func.max(model.id))) or 0) + 1
        first = self.next_id[name]
        self.next_id[name] += count
        return range(first, first + count)


def add_rows(dataset: Dataset, model, rows: list[dict]) -> list[int]:
    ids = list(dataset.ids(model, len(rows)))
    if rows:
        db.session.execute(
            sa.insert(model.__table__), [row | {"id": i} for row, i in zip(rows, ids, strict=True)]
        )
    return ids


def find_or_add(dataset: Dataset, model, column, rows: list[dict], key: str) -> list[int]:
    """Ids for `rows`, in order: an existing row with the same name, or a new one."""
    table = column.table
    known = {name.lower(): row_id for row_id, name in db.session.execute(sa.select(table.c.id, column))}
    new = [row for row in rows if row[key].lower() not in known]
    known.update(zip((row[key].lower() for row in new), add_rows(dataset, model, new), strict=True))
    return [known[row[key].lower()] for row in rows]


def progress(length: int, label: str):
    """A progress bar on stderr, so the summary alone goes to stdout."""
    return click.progressbar(length=length, label=label, file=sys.stderr)
