"""`flask lms generate-bookings`: a large synthetic dataset for measuring the reports.

It fills a database that has no bookings yet with COUNT bookings (a million by default) over the
three financial years before the current one: 60 agencies of every category, 50 courses on 17
topics, a session for about every 25 bookings and a person for every 20. Each session is played
in time order as the booking services would play it: people book weeks ahead; the first to book
take the places up to the bookable limit and the rest wait; some cancel with notice or late, and
a freed place goes to the first person waiting; a few pass their place to a colleague; a few
sessions are cancelled by the partnership; then the register marks each confirmed delegate
attended, partially attended or no-show, so that about two thirds of places offered are attended.

Rows go in with SQLAlchemy core, 10,000 bookings a batch, committed per batch. The ids are chosen
here, so a substitute can name the booking it replaced without reading anything back; on
PostgreSQL the id sequences are moved past them at the end. Nothing else is written: no audit
entries, messages, charges or evaluations. It is for measuring, never for a live database;
everyone shares the hash of a random password nobody knows.
"""

from __future__ import annotations

import bisect
import random
import secrets
import sys
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import click
import sqlalchemy as sa
from flask import current_app

from lms.accounts.models import Agency, AgencyCategory, Role, User, UserRole
from lms.accounts.passwords import hash_password
from lms.bookings.models import Attendance, Booking, BookingStatus, CancellationReason
from lms.bookings.places import bookable_limit
from lms.core.calendar import working_days_before
from lms.core.clock import now as clock_now
from lms.core.db import write_intent
from lms.core.financial_year import financial_year_bounds, financial_year_label, financial_year_of
from lms.core.timezones import london_date, start_of_london_day, to_london
from lms.courses.models import Course, CourseLevel, CourseSession, DeliveryMode, SessionStatus, Topic
from lms.demo import DELIVERY_MODES, email_address, is_training_day, read_csv, session_place, session_times
from lms.demo_data import AGENCIES_CSV, PROGRAMME_CSV
from lms.demo_data.agencies import AGENCY_PROFILES
from lms.demo_data.people import FIRST_NAMES, LAST_NAMES, OTHER_ORGANISATIONS
from lms.demo_data.programme import CANCEL_REASONS, COURSE_PROFILES, PARTNERSHIP_TEAM
from lms.extensions import db

SEED = 20230401
BATCH = 10_000
YEARS = 3
BOOKINGS_PER_PERSON = 20
MIN_PEOPLE = 200  # more than any one session's bookings, so a session never runs out of people
PLACES = (15, 30)
TYPED_OTHER = 0.03  # people who typed their organisation rather than picking an agency
BOOKED_BY_LND = 0.08

# Demand for one session: popular ones fill and people wait; steady ones nearly fill; some do not.
POPULAR, STEADY = 0.35, 0.40
POPULAR_WAITING = (2, 8)
STEADY_SHARE = (0.85, 1.10)  # of places
QUIET_SHARE = (0.45, 0.75)
LEAD_DAYS = (5, 70, 20)  # triangular: most people book about three weeks ahead
# By financial year, oldest first: fewer cancel and fewer fail to come as the policy tightens,
# so utilisation rises by a couple of points a year, as the partnership reported.
CANCEL_CHANCE = (0.23, 0.23, 0.22)  # of the people who book
NO_SHOW_CHANCE = (0.10, 0.10, 0.09)  # of the register
LATE_SHARE = 0.45  # of the people who cancel
PARTIAL_CHANCE = 0.06  # of those who come
WALK_IN_CHANCE = 0.10
SUBSTITUTION_CHANCE = 0.12
SESSION_CANCELLED_CHANCE = 0.02
# Fewer sessions in the school summer holiday; none between Christmas and New Year.
MONTH_WEIGHTS = {8: 0.35, 12: 0.7}

EXTRA_TOPICS = ("Early help", "Child sexual abuse", "Mental health and self-harm", "Information sharing")
EXTRA_COURSES = (  # (title pattern, level, minutes), taken in turn for each topic
    ("Introduction to {topic}", CourseLevel.FOUNDATION, 180),
    ("{Topic}: a refresher", CourseLevel.INTERMEDIATE, 120),
    ("{Topic} for managers and supervisors", CourseLevel.MANAGERS, 180),
    ("{Topic}: advanced practice", CourseLevel.ADVANCED, 360),
)
COURSES = 50

# The agencies of agencies.csv, and these: the schools, nurseries, practices and charities a city
# partnership's delegates also come from. (name, category, weight, email domain)
EXTRA_AGENCIES = (
    ("Aston Park Primary School", AgencyCategory.EDUCATION_SCHOOL, 4, "astonpark-primary"),
    ("Erdington Hall Primary School", AgencyCategory.EDUCATION_SCHOOL, 4, "erdingtonhall-primary"),
    ("Handsworth Wood Academy", AgencyCategory.EDUCATION_SCHOOL, 4, "handsworthwood-academy"),
    ("Kings Heath Primary School", AgencyCategory.EDUCATION_SCHOOL, 3, "kingsheath-primary"),
    ("Northfield Manor Academy", AgencyCategory.EDUCATION_SCHOOL, 3, "northfieldmanor-academy"),
    ("Small Heath Secondary School", AgencyCategory.EDUCATION_SCHOOL, 4, "smallheath-secondary"),
    ("Sutton Park Academy", AgencyCategory.EDUCATION_SCHOOL, 3, "suttonpark-academy"),
    ("Yardley Wood Primary School", AgencyCategory.EDUCATION_SCHOOL, 3, "yardleywood-primary"),
    ("Acocks Green Day Nursery", AgencyCategory.EDUCATION_EARLY_YEARS, 2, "acocksgreen-nursery"),
    ("Harborne Little Stars Nursery", AgencyCategory.EDUCATION_EARLY_YEARS, 2, "littlestars-harborne"),
    ("Kingstanding Children's Centre", AgencyCategory.EDUCATION_EARLY_YEARS, 2, "kingstanding-cc"),
    ("Quinton Pre-School", AgencyCategory.EDUCATION_EARLY_YEARS, 1, "quinton-preschool"),
    ("City Sixth Form College", AgencyCategory.EDUCATION_POST16, 2, "citysixthform"),
    ("South Birmingham Training Academy", AgencyCategory.EDUCATION_POST16, 1, "sbta"),
    ("Ladywood Medical Practice", AgencyCategory.HEALTH_PRIMARY, 2, "ladywood-medical"),
    ("Moseley Health Centre", AgencyCategory.HEALTH_PRIMARY, 2, "moseley-health"),
    ("Perry Barr Family Practice", AgencyCategory.HEALTH_PRIMARY, 2, "perrybarr-practice"),
    ("Community Dental Service", AgencyCategory.HEALTH_COMMUNITY, 1, "community-dental"),
    ("City Orthopaedic Hospital", AgencyCategory.HEALTH_ACUTE, 2, "city-orthopaedic"),
    ("Stechford Young People's Project", AgencyCategory.VOLUNTARY, 2, "stechford-ypp"),
    ("Women's Refuge Partnership", AgencyCategory.VOLUNTARY, 2, "refuge-partnership"),
    ("Birmingham Youth Mentoring Trust", AgencyCategory.VOLUNTARY, 2, "youth-mentoring"),
    ("Families First CIC", AgencyCategory.VOLUNTARY, 2, "familiesfirst-cic"),
    ("Longbridge Community Association", AgencyCategory.VOLUNTARY, 1, "longbridge-ca"),
    ("Sparkbrook Mosque Madrasah", AgencyCategory.FAITH, 1, "sparkbrook-madrasah"),
    ("Selly Oak Churches Youth Work", AgencyCategory.FAITH, 1, "sellyoak-churches"),
    ("City Housing Trust", AgencyCategory.HOUSING, 2, "cityhousingtrust"),
    ("Midland Supported Lodgings", AgencyCategory.HOUSING, 1, "midland-lodgings"),
    ("Bright Futures Fostering Agency", AgencyCategory.PRIVATE, 2, "brightfutures-fostering"),
    ("Oakwood Children's Homes", AgencyCategory.PRIVATE, 2, "oakwood-homes"),
    ("Elite Sports Coaching", AgencyCategory.PRIVATE, 1, "elite-coaching"),
    ("British Transport Police", AgencyCategory.POLICE, 2, "btp-police"),
    ("Solihull Metropolitan Borough Council", AgencyCategory.LOCAL_AUTHORITY, 2, "solihull-council"),
    ("Independent Safeguarding Consultant", AgencyCategory.OTHER, 1, "independent-safeguarding"),
)
JOBS_BY_CATEGORY = {
    AgencyCategory.EDUCATION_SCHOOL: ("Teacher", "Designated safeguarding lead", "Teaching assistant"),
    AgencyCategory.EDUCATION_EARLY_YEARS: ("Nursery practitioner", "Nursery manager"),
    AgencyCategory.EDUCATION_POST16: ("Lecturer", "Student welfare officer"),
    AgencyCategory.HEALTH_PRIMARY: ("Practice nurse", "GP", "Receptionist"),
    AgencyCategory.VOLUNTARY: ("Project worker", "Volunteer coordinator", "Youth worker"),
    AgencyCategory.FAITH: ("Youth leader", "Safeguarding officer"),
    AgencyCategory.HOUSING: ("Housing officer", "Support worker"),
    AgencyCategory.PRIVATE: ("Residential care worker", "Supervising social worker", "Coach"),
}
OTHER_JOBS = ("Practitioner", "Safeguarding lead", "Support worker")


@dataclass(frozen=True)
class Place:
    """Who can work somewhere: an agency (id), or an organisation typed as other."""

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
    bookings_close_at: datetime
    late_from: datetime  # cancelling from here on is late


@dataclass
class Dataset:
    """What the phases share while they fill the database."""

    rng: random.Random
    first_year: int  # financial years, by the calendar year they start in
    first_day: date
    last_day: date
    overbook_percent: int
    notice_days: int
    set_up_at: datetime = field(init=False)
    next_id: dict[str, int] = field(default_factory=dict)
    password_hash: str = ""
    agencies: int = 0
    places: list[Place] = field(default_factory=list)  # the agencies, as places people work
    place_weights: list[int] = field(default_factory=list)
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
        first_year=current - YEARS,
        first_day=first_day,
        last_day=last_day,
        overbook_percent=config["OVERBOOK_PERCENT"],
        notice_days=config["NOTICE_WORKING_DAYS"],
    )
    add_agencies_and_programme(dataset)
    add_people(dataset, max(count // BOOKINGS_PER_PERSON, MIN_PEOPLE))
    add_training_days(dataset, config["FINANCIAL_YEAR_START"])
    add_sessions_and_bookings(dataset, count)
    finish(dataset)
    return dataset


# Agencies, topics, courses and staff -----------------------------------------------------------


def existing(column) -> dict[str, int]:
    """Rows already there, by lower-case name: they are used, not added again."""
    table = column.table
    return {name.lower(): row_id for row_id, name in db.session.execute(sa.select(table.c.id, column))}


def add_rows(dataset: Dataset, model, rows: list[dict]) -> list[int]:
    ids = list(dataset.ids(model, len(rows)))
    if rows:
        db.session.execute(
            sa.insert(model.__table__), [row | {"id": i} for row, i in zip(rows, ids, strict=True)]
        )
    return ids


def find_or_add(dataset: Dataset, model, column, rows: list[dict], key: str) -> list[int]:
    """Ids for `rows`, in order: an existing row with the same name, or a new one."""
    known = existing(column)
    new = [row for row in rows if row[key].lower() not in known]
    known.update(zip((row[key].lower() for row in new), add_rows(dataset, model, new), strict=True))
    return [known[row[key].lower()] for row in rows]


def agency_places(dataset: Dataset) -> tuple[list[Place], list[int]]:
    """Every agency (added where missing) as a place people work, with its weight."""
    rows, details = [], []
    for row in read_csv(AGENCIES_CSV):
        profile = AGENCY_PROFILES[row["name"]]
        category = AgencyCategory.from_title(row["category"])
        rows.append(
            agency_row(dataset, row["name"], category, row["short_name"] or None)
            | {
                "billing_contact": profile.billing_contact,
                "billing_email": profile.billing_email,
                "billing_address": profile.billing_address,
                "purchase_order": profile.purchase_order,
            }
        )
        details.append((profile.weight, profile.domains[0], profile.job_roles))
    for name, category, weight, domain in EXTRA_AGENCIES:
        billing = {"billing_email": f"accounts@{domain}.example"}
        rows.append(agency_row(dataset, name, category, None) | billing)
        details.append((weight, domain, JOBS_BY_CATEGORY.get(category, OTHER_JOBS)))
    ids = find_or_add(dataset, Agency, Agency.name, rows, "name")
    dataset.agencies = len(ids)
    places = [Place(i, None, domain, jobs) for i, (_, domain, jobs) in zip(ids, details, strict=True)]
    return places, [weight for weight, _, _ in details]


def agency_row(dataset: Dataset, name: str, category: AgencyCategory, short_name: str | None) -> dict:
    return {
        "name": name,
        "short_name": short_name,
        "category": category,
        "billing_contact": "Accounts Payable",
        "billing_email": None,
        "billing_address": f"{name}\nBirmingham",
        "purchase_order": None,
        "is_active": True,
        "created_at": dataset.set_up_at,
    }


def programme() -> list[dict]:
    """Fifty courses: the 2024/25 programme, then introductions, refreshers and the like per topic."""
    courses = []
    for row in read_csv(PROGRAMME_CSV):
        profile = COURSE_PROFILES[row["title"]]
        courses.append(
            {
                "title": row["title"],
                "topic": profile.topic,
                "level": profile.level,
                "minutes": profile.duration_minutes,
                "delivery": row["delivery"],
                "provider": profile.provider,
                "places": profile.places,
                "cost_pence": profile.cost_pounds * 100,
                "weight": int(row["sessions_commissioned"]),
            }
        )
    topics = list(dict.fromkeys(course["topic"] for course in courses)) + list(EXTRA_TOPICS)
    turn = 0
    while len(courses) < COURSES:
        topic = topics[turn % len(topics)]
        pattern, level, minutes = EXTRA_COURSES[turn // len(topics) % len(EXTRA_COURSES)]
        title = pattern.format(topic=topic[0].lower() + topic[1:], Topic=topic)
        turn += 1
        if title.lower() in (course["title"].lower() for course in courses):
            continue
        delivery = ("virtual", "in-person", "virtual+in-person", "webinar")[turn % 4]
        courses.append(
            {
                "title": title,
                "topic": topic,
                "level": level,
                "minutes": minutes,
                "delivery": delivery,
                "provider": PARTNERSHIP_TEAM,
                "places": 20 + turn % 3 * 5,
                "cost_pence": 45_000 + turn % 5 * 5_000,
                "weight": 2 + turn % 3,
            }
        )
    return courses


def add_agencies_and_programme(dataset: Dataset) -> None:
    dataset.places, dataset.place_weights = agency_places(dataset)
    courses = programme()
    names = list(dict.fromkeys(course["topic"] for course in courses))
    topic_ids = dict(
        zip(names, find_or_add(dataset, Topic, Topic.name, [{"name": n} for n in names], "name"), strict=True)
    )
    dataset.topics = len(topic_ids)
    providers = list(dict.fromkeys(course["provider"] for course in courses))
    staff = add_staff(dataset, providers)
    rows = [course_row(dataset, course, topic_ids[course["topic"]]) for course in courses]
    ids = find_or_add(dataset, Course, Course.title, rows, "title")
    cumulative = 0.0
    for course, course_id in zip(courses, ids, strict=True):
        dataset.courses.append(
            CourseSpec(
                id=course_id,
                minutes=course["minutes"],
                delivery=course["delivery"],
                places=min(max(course["places"], PLACES[0]), PLACES[1]),
                cost_pence=course["cost_pence"],
                trainer_id=staff[course["provider"]],
            )
        )
        cumulative += course["weight"]
        dataset.course_weights.append(cumulative)
    db.session.commit()


def course_row(dataset: Dataset, course: dict, topic_id: int) -> dict:
    mode = DELIVERY_MODES[course["delivery"]]
    return {
        "title": course["title"],
        "topic_id": topic_id,
        "description": "",
        "target_audience": "",
        "level": course["level"],
        "delivery_mode": DeliveryMode.WEBINAR if course["delivery"] == "webinar" else mode,
        "duration_minutes": course["minutes"],
        "provider": course["provider"],
        "is_active": True,
        "created_at": dataset.set_up_at,
    }


def add_staff(dataset: Dataset, providers: list[str]) -> dict[str, int]:
    """Two L&D admins, finance, and a trainer per provider; returns trainer ids by provider."""
    partnership = "Safeguarding Children Partnership"
    staff = [
        ("lnd", Role.LND_ADMIN, "Learning and development officer", partnership),
        ("lnd", Role.LND_ADMIN, "Learning and development officer", partnership),
        ("finance", Role.FINANCE, "Finance officer", partnership),
        *(("trainer", Role.TRAINER, "Trainer", provider) for provider in providers),
    ]
    ids = dataset.ids(User, len(staff))
    password_hash = hash_password(secrets.token_urlsafe(24))
    rows = [
        user_row(dataset, i, f"{kind}{i}@generated-staff.example", organisation, job)
        | {"password_hash": password_hash}
        for i, (kind, _, job, organisation) in zip(ids, staff, strict=True)
    ]
    db.session.execute(sa.insert(User.__table__), rows)
    db.session.execute(
        sa.insert(UserRole.__table__),
        [{"user_id": i, "role": role} for i, (_, role, _, _) in zip(ids, staff, strict=True)],
    )
    dataset.lnd_ids = list(ids[:2])
    dataset.password_hash = password_hash
    return dict(zip(providers, ids[3:], strict=True))


def user_row(dataset: Dataset, user_id: int, email: str, other: str | None, job: str) -> dict:
    first, last = dataset.rng.choice(FIRST_NAMES), dataset.rng.choice(LAST_NAMES)
    return {
        "id": user_id,
        "email": email,
        "first_name": first,
        "last_name": last,
        "job_role": job,
        "agency_id": None,
        "other_organisation": other,
        "line_manager_name": None,
        "line_manager_email": None,
        "password_hash": None,
        "session_token": secrets.token_urlsafe(32),
        "is_enabled": True,
        "created_at": dataset.set_up_at,
        "last_sign_in_at": None,
    }


def progress(length: int, label: str):
    """A progress bar on stderr, so the summary alone goes to stdout."""
    return click.progressbar(length=length, label=label, file=sys.stderr)


# People ----------------------------------------------------------------------------------------


def add_people(dataset: Dataset, count: int) -> None:
    """Practitioners spread over the agencies by size, and a few who typed their organisation."""
    rng = dataset.rng
    typed = [Place(None, o.name, o.domain, (o.job_role,)) for o in OTHER_ORGANISATIONS]
    weights = list(dataset.place_weights)
    total = sum(weights)
    # Typed organisations share TYPED_OTHER of the people between them.
    weights += [total * TYPED_OTHER / (1 - TYPED_OTHER) / len(typed)] * len(typed)
    places = rng.choices(dataset.places + typed, weights, k=count)
    with progress(count, "Adding people") as bar:
        for start in range(0, count, BATCH):
            batch = places[start : start + BATCH]
            ids = dataset.ids(User, len(batch))
            rows = [person_row(dataset, i, place) for i, place in zip(ids, batch, strict=True)]
            db.session.execute(sa.insert(User.__table__), rows)
            db.session.execute(
                sa.insert(UserRole.__table__), [{"user_id": i, "role": Role.PRACTITIONER} for i in ids]
            )
            db.session.commit()
            for row in rows:
                person = Person(row["id"], row["agency_id"], row["other_organisation"])
                dataset.people.append(person)
                if person.agency_id is not None:
                    dataset.colleagues.setdefault(person.agency_id, []).append(person)
            bar.update(len(batch))


def person_row(dataset: Dataset, user_id: int, place: Place) -> dict:
    rng = dataset.rng
    row = user_row(dataset, user_id, "", place.other_organisation, rng.choice(place.job_roles))
    manager_first, manager_last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    joined = timedelta(days=rng.randrange(730), minutes=rng.randrange(1440))
    return row | {
        "email": email_address(row["first_name"], row["last_name"], place.domain, user_id),
        "agency_id": place.agency_id,
        "line_manager_name": f"{manager_first} {manager_last}",
        "line_manager_email": email_address(manager_first, manager_last, place.domain),
        "password_hash": dataset.password_hash,
        "created_at": dataset.set_up_at - joined,
    }


# Sessions and bookings -------------------------------------------------------------------------


def add_training_days(dataset: Dataset, year_start: str) -> None:
    """Working days of the three years, with when bookings close and when cancelling turns late."""
    day = dataset.first_day
    while day <= dataset.last_day:
        if is_training_day(day):
            year = financial_year_of(day, year_start) - dataset.first_year
            weights = dataset.day_weights[year]
            dataset.days[year].append(
                TrainingDay(
                    day=day,
                    year=year,
                    bookings_close_at=start_of_london_day(working_days_before(day, 1)),
                    late_from=start_of_london_day(working_days_before(day, max(dataset.notice_days, 1))),
                )
            )
            weights.append((weights[-1] if weights else 0.0) + MONTH_WEIGHTS.get(day.month, 1.0))
        day += timedelta(days=1)


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


def pick(rng: random.Random, items: list, cumulative: list[float]):
    return items[bisect.bisect(cumulative, rng.random() * cumulative[-1])]


def new_session(dataset: Dataset) -> tuple[dict, TrainingDay]:
    rng = dataset.rng
    # The years take turns, so each has a third of the sessions however few there are.
    year = dataset.sessions_planned % YEARS
    dataset.sessions_planned += 1
    day = pick(rng, dataset.days[year], dataset.day_weights[year])
    course = pick(rng, dataset.courses, dataset.course_weights)
    starts_at, ends_at = session_times(day.day, course.minutes, afternoon=rng.random() < 0.4)
    mode = DELIVERY_MODES[course.delivery]
    if course.delivery == "webinar":
        mode = DeliveryMode.WEBINAR
    elif course.delivery == "virtual+in-person" and rng.random() < 0.5:
        mode = DeliveryMode.IN_PERSON
    venue, link = session_place(rng, mode)
    places = min(max(course.places + rng.randint(-3, 3), PLACES[0]), PLACES[1])
    # The partnership began overbooking after the first of the three years.
    overbook = dataset.overbook_percent if day.year > 0 else 0
    created_at = min(starts_at - timedelta(days=90), dataset.set_up_at + timedelta(days=day.year * 365))
    session = {
        "id": dataset.ids(CourseSession, 1)[0],
        "course_id": course.id,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "local_month": to_london(starts_at).strftime("%Y-%m"),
        "delivery_mode": mode,
        "venue": venue,
        "online_link": link,
        "trainer_id": course.trainer_id,
        "places": places,
        "overbook_percent": overbook,
        "cost_pence": course.cost_pence,
        "status": SessionStatus.COMPLETED,
        "cancelled_at": None,
        "cancel_reason": None,
        "sequence": 0,
        "register_closed_at": None,
        "register_closed_by_id": None,
        "created_at": created_at,
        "updated_at": created_at,
    }
    return session, day


@dataclass
class Play:
    """One session while it is played: who holds a place, who waits, every booking made."""

    dataset: Dataset
    session: dict
    day: TrainingDay
    limit: int
    rows: list[dict] = field(default_factory=list)
    on_session: set[int] = field(default_factory=set)  # person ids
    waiting: deque = field(default_factory=deque)
    confirmed: int = 0

    def book(self, person: Person, at: datetime, by: int) -> dict:
        row = booking_row(self.dataset, self.session, person, at, by)
        if self.confirmed < self.limit:
            row["status"], row["confirmed_at"] = BookingStatus.CONFIRMED, at
            self.confirmed += 1
        else:
            row["status"], row["waitlisted_at"] = BookingStatus.WAITING, at
            self.waiting.append(row)
        self.rows.append(row)
        self.on_session.add(person.id)
        return row

    def cancel(self, row: dict, at: datetime) -> None:
        """The delegate cancels, as cancel_booking does; a freed place goes to the first waiting."""
        if row["status"] is BookingStatus.WAITING:
            self.waiting.remove(row)
        elif row["status"] is BookingStatus.CONFIRMED:
            late = at >= self.day.late_from and not row["promoted_without_notice"]
            row["is_late_cancellation"] = late
            self.confirmed -= 1
        else:
            return  # already passed to a colleague
        row |= {
            "status": BookingStatus.CANCELLED,
            "cancelled_at": at,
            "cancelled_by_id": row["user_id"],
            "cancellation_reason": CancellationReason.DELEGATE,
        }
        while self.waiting and self.confirmed < self.limit:
            promoted = self.waiting.popleft()
            promoted |= {
                "status": BookingStatus.CONFIRMED,
                "confirmed_at": at,
                "promoted_at": at,
                # Inside the notice period they had no notice, so a late cancellation is not charged.
                "promoted_without_notice": at >= self.day.late_from,
            }
            self.confirmed += 1

    def substitute(self, at: datetime) -> None:
        """Someone confirmed passes their place to a colleague of the same agency who is free."""
        rng = self.dataset.rng
        held = [
            r
            for r in self.rows
            if r["status"] is BookingStatus.CONFIRMED
            and r["agency_id"] is not None
            and r["confirmed_at"] < at
        ]
        if not held:
            return
        row = rng.choice(held)
        colleagues = self.dataset.colleagues[row["agency_id"]]
        for _ in range(5):
            colleague = rng.choice(colleagues)
            if colleague.id not in self.on_session:
                break
        else:
            return
        row |= {"status": BookingStatus.SUBSTITUTED, "cancelled_at": at, "cancelled_by_id": row["user_id"]}
        replacement = booking_row(self.dataset, self.session, colleague, at, row["user_id"])
        replacement |= {"status": BookingStatus.CONFIRMED, "confirmed_at": at, "substitute_of_id": row["id"]}
        self.rows.append(replacement)
        self.on_session.add(colleague.id)


BOOKING = {
    "promoted_without_notice": False,
    "promoted_at": None,
    "confirmed_at": None,
    "waitlisted_at": None,
    "cancelled_at": None,
    "cancelled_by_id": None,
    "cancellation_reason": None,
    "is_late_cancellation": False,
    "substitute_of_id": None,
    "is_walk_in": False,
    "attendance": None,
    "attendance_marked_at": None,
    "attendance_marked_by_id": None,
    "reminder_sent_at": None,
    "joining_sent_at": None,
    "evaluation_requested_at": None,
    "evaluation_reminded_at": None,
}


def booking_row(dataset: Dataset, session: dict, person: Person, at: datetime, by: int) -> dict:
    return BOOKING | {
        "id": dataset.ids(Booking, 1)[0],
        "session_id": session["id"],
        "user_id": person.id,
        # The delegate's agency when they booked, as the booking service copies it.
        "agency_id": person.agency_id,
        "other_organisation": person.other_organisation,
        "status": None,
        "booked_at": at,
        "booked_by_id": by,
    }


def play_session(dataset: Dataset) -> tuple[dict, list[dict]]:
    """A new session and its bookings, played in time order: booking, cancelling, passing on."""
    rng = dataset.rng
    session, day = new_session(dataset)
    play = Play(dataset, session, day, bookable_limit(session["places"], session["overbook_percent"]))
    cancelled_at = None
    if rng.random() < SESSION_CANCELLED_CHANCE:
        cancelled_at = session["starts_at"] - timedelta(days=rng.randint(2, 10), minutes=rng.randrange(600))
    people, events = booking_events(play, demand(rng, session["places"], play.limit))
    if rng.random() < SUBSTITUTION_CHANCE:
        events.append((session["starts_at"] - timedelta(days=rng.uniform(0.1, 5)), SUBSTITUTE, -1, 0))
    rows: list[dict] = []  # by person's place in `people`
    for at, kind, number, by in sorted(events):
        if cancelled_at is not None and at >= cancelled_at:
            break
        if kind == BOOK:
            rows.append(play.book(people[number], at, by))
        elif kind == CANCEL:
            play.cancel(rows[number], at)
        else:
            play.substitute(at)
    if cancelled_at is not None:
        cancel_session(play, cancelled_at)
    else:
        keep_register(play)
    return session, play.rows


BOOK, CANCEL, SUBSTITUTE = 0, 1, 2  # also the order of events at the same moment


def demand(rng: random.Random, places: int, limit: int) -> int:
    """How many people book: popular sessions fill with people waiting; some never fill."""
    kind = rng.random()
    if kind < POPULAR:
        return limit + rng.randint(*POPULAR_WAITING)
    if kind < POPULAR + STEADY:
        return round(places * rng.uniform(*STEADY_SHARE))
    return round(places * rng.uniform(*QUIET_SHARE))


def booking_events(play: Play, count: int) -> tuple[list[Person], list[tuple]]:
    """Who books, when, who for; and when those who will cancel do so, with notice or late."""
    dataset, day, starts_at = play.dataset, play.day, play.session["starts_at"]
    rng = dataset.rng
    people = rng.sample(dataset.people, count)
    cancel_chance = CANCEL_CHANCE[day.year]
    booked = sorted(
        min(
            starts_at - timedelta(days=rng.triangular(*LEAD_DAYS)),
            day.bookings_close_at - timedelta(minutes=rng.randrange(1, 600)),
        )
        for _ in people
    )
    events = []
    for number, (person, at) in enumerate(zip(people, booked, strict=True)):
        by = rng.choice(dataset.lnd_ids) if rng.random() < BOOKED_BY_LND else person.id
        events.append((at, BOOK, number, by))
        if rng.random() < cancel_chance:
            events.append((cancel_moment(rng, at, day, starts_at), CANCEL, number, by))
    return people, events


def cancel_moment(rng: random.Random, booked_at: datetime, day: TrainingDay, starts_at: datetime) -> datetime:
    """With notice, any time after booking; late, inside the notice period and before the start."""
    first, last = booked_at, day.late_from
    if rng.random() < LATE_SHARE or last - first < timedelta(hours=2):
        first, last = max(booked_at, day.late_from), starts_at - timedelta(minutes=30)
    return first + timedelta(minutes=1) + (last - first - timedelta(minutes=2)) * rng.random()


def cancel_session(play: Play, at: datetime) -> None:
    """The partnership cancelled it: every live booking is cancelled free, as cancel_session does."""
    rng = play.dataset.rng
    lnd = rng.choice(play.dataset.lnd_ids)
    play.session |= {
        "status": SessionStatus.CANCELLED,
        "cancelled_at": at,
        "cancel_reason": rng.choice(CANCEL_REASONS),
        "updated_at": at,
    }
    for row in play.rows:
        if row["status"] in (BookingStatus.CONFIRMED, BookingStatus.WAITING):
            row |= {
                "status": BookingStatus.CANCELLED,
                "cancelled_at": at,
                "cancelled_by_id": lnd,
                "cancellation_reason": CancellationReason.SESSION_CANCELLED,
            }


def keep_register(play: Play) -> None:
    """Mark everyone confirmed; perhaps add a walk-in; close the register; evaluations requested."""
    dataset, session = play.dataset, play.session
    rng, trainer = dataset.rng, session["trainer_id"]
    starts_at, ends_at = session["starts_at"], session["ends_at"]
    no_show = NO_SHOW_CHANCE[play.day.year]
    closed_at = ends_at + timedelta(minutes=rng.randint(10, 24 * 60))
    for row in play.rows:
        if row["status"] is not BookingStatus.CONFIRMED:
            continue
        if rng.random() < no_show:
            outcome = Attendance.NO_SHOW
        else:
            outcome = Attendance.PARTIAL if rng.random() < PARTIAL_CHANCE else Attendance.ATTENDED
        mark(row, outcome, starts_at + timedelta(minutes=rng.randint(5, 60)), trainer)
        # Reminders and joining instructions went before the session, so no sweep sends them again.
        row["reminder_sent_at"] = max(row["confirmed_at"], starts_at - timedelta(days=7))
        row["joining_sent_at"] = max(row["confirmed_at"], starts_at - timedelta(days=2))
    if play.confirmed < play.limit and rng.random() < WALK_IN_CHANCE:
        add_walk_in(play, starts_at + timedelta(minutes=rng.randint(5, 30)))
    for row in play.rows:
        if row["attendance"] in (Attendance.ATTENDED, Attendance.PARTIAL):
            row["evaluation_requested_at"] = closed_at
            row["evaluation_reminded_at"] = closed_at + timedelta(days=7)
    session |= {
        "register_closed_at": closed_at,
        "register_closed_by_id": trainer,
        "updated_at": closed_at,
    }


def mark(row: dict, outcome: Attendance, at: datetime, by: int) -> None:
    row["attendance"], row["attendance_marked_at"], row["attendance_marked_by_id"] = outcome, at, by


def add_walk_in(play: Play, at: datetime) -> None:
    """Someone still waiting came anyway, or someone who never booked, as add_walk_in records it."""
    rng, trainer = play.dataset.rng, play.session["trainer_id"]
    if play.waiting:
        row = play.waiting.popleft()
    else:
        person = rng.choice(play.dataset.people)
        if person.id in play.on_session:
            return
        row = booking_row(play.dataset, play.session, person, at, trainer)
        play.rows.append(row)
    row |= {"status": BookingStatus.CONFIRMED, "confirmed_at": at, "is_walk_in": True}
    mark(row, Attendance.ATTENDED, at, trainer)
    play.confirmed += 1


# Afterwards ------------------------------------------------------------------------------------


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
    else:
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
