"""Demo data: a believable financial year for a city safeguarding children partnership.

`flask lms demo-data` fills an empty database with the partnership's agencies, its staff and
trainers, the programme of courses with their sessions spread over the current financial year,
and a few hundred practitioners; then the year so far (lms/demo_data/history.py): bookings,
cancellations, waiting lists and the registers of the sessions that have run. Every demo account
shares one published password, so demo data is for trying the system out and never for a live
database.
"""

from __future__ import annotations

import csv
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

import click
import sqlalchemy as sa
from flask import current_app

from lms.accounts.models import Agency, AgencyCategory, Role, User, UserRole
from lms.accounts.passwords import hash_password
from lms.accounts.services import AgencyDetails, PersonDetails, create_agency
from lms.core.calendar import is_working_day, working_days_before
from lms.core.clock import now as clock_now
from lms.core.db import write_intent
from lms.core.timezones import london_date, london_to_utc
from lms.courses.models import Course, CourseSession, DeliveryMode
from lms.courses.services import (
    CourseDetails,
    SessionDetails,
    create_course,
    create_session,
    find_or_create_topic,
)
from lms.demo_data import AGENCIES_CSV, PROGRAMME_CSV
from lms.demo_data.agencies import AGENCY_PROFILES
from lms.demo_data.history import add_booking_history, year_so_far
from lms.demo_data.people import (
    DEMO_LND_ADMIN,
    DEMO_SIGN_INS,
    FIRST_NAMES,
    LAST_NAMES,
    OTHER_ORGANISATIONS,
    STAFF,
    TypedOrganisation,
)
from lms.demo_data.programme import (
    COURSE_PROFILES,
    ONLINE_LINK,
    VENUES,
    WEBINAR_LINK,
    CourseProfile,
)
from lms.extensions import db
from lms.messages.models import OutboxMessage

SEED = 2024
PRACTITIONERS = 350
# Most practitioners registered in the weeks the programme opened for booking, the rest
# through the year; otherwise nobody would be registered to book the first sessions.
REGISTERED_AT_LAUNCH = 0.75
LAUNCH_WEEKS = 3
DEMO_PASSWORD = "demo-password-2026"  # noqa: S105 - published with the demo, never used for real
DELIVERY_MODES = {
    "virtual": DeliveryMode.ONLINE_LIVE,
    "webinar": DeliveryMode.WEBINAR,
    "in-person": DeliveryMode.IN_PERSON,
    "virtual+in-person": DeliveryMode.ONLINE_LIVE,  # alternate sessions are in person
}


@dataclass
class Commission:
    """A course of the programme and how many sessions of it were commissioned."""

    course: Course
    profile: CourseProfile
    delivery: str
    sessions: int


@dataclass
class Demo:
    """What the phases share while they build the year."""

    rng: random.Random
    now: datetime
    set_up_at: datetime  # when the programme was commissioned, before the year began
    year_start: date
    year_end: date
    password_hash: str
    agencies: dict[str, Agency] = field(default_factory=dict)
    staff: dict[str, User] = field(default_factory=dict)
    commissions: list[Commission] = field(default_factory=list)
    sessions: list[CourseSession] = field(default_factory=list)
    practitioners: list[User] = field(default_factory=list)
    emails: set[str] = field(default_factory=set)
    busy: set[tuple[int, date]] = field(default_factory=set)  # (trainer id, day) taken

    @property
    def year_label(self) -> str:
        return f"{self.year_start.year}/{str(self.year_end.year)[-2:]}"


def register_demo_commands(group: click.Group) -> None:
    @group.command("demo-data")
    def demo_data() -> None:
        """Load a believable financial year of demo data into an empty database."""
        with write_intent():
            if not database_is_empty():
                click.echo(
                    "The database is not empty: it already has agencies, people or courses, "
                    "so no demo data was loaded and nothing was changed. Demo data goes into "
                    "a new database (run `flask db upgrade` on it first)."
                )
                return
            demo = start_demo(clock_now())
            build(demo)
            db.session.commit()
        report(demo)


def database_is_empty() -> bool:
    """True when there is no agency, person or course yet."""
    return all(db.session.scalar(sa.select(model.id).limit(1)) is None for model in (Agency, User, Course))


def financial_year(today: date, start: str) -> tuple[date, date]:
    """First and last day of the financial year `today` falls in; `start` is MM-DD."""
    month, day = (int(part) for part in start.split("-"))
    first = date(today.year, month, day)
    if today < first:
        first = first.replace(year=today.year - 1)
    return first, first.replace(year=first.year + 1) - timedelta(days=1)


def start_demo(now: datetime) -> Demo:
    year_start, year_end = financial_year(london_date(now), current_app.config["FINANCIAL_YEAR_START"])
    commissioned_on = working_days_before(year_start, 20)
    return Demo(
        rng=random.Random(SEED),
        now=now,
        set_up_at=london_to_utc(datetime.combine(commissioned_on, time(10, 0))),
        year_start=year_start,
        year_end=year_end,
        password_hash=hash_password(DEMO_PASSWORD),
    )


def build(demo: Demo) -> None:
    first_message_id = db.session.scalar(sa.select(sa.func.max(OutboxMessage.id))) or 0
    with click.progressbar(
        PHASES,
        label=f"Building the {demo.year_label} demo year",
        item_show_func=lambda phase: phase[0] if phase else None,
    ) as phases:
        for _, phase in phases:
            phase(demo)
    add_booking_history(demo)  # its own progress bar, over the sessions
    mark_messages_sent(demo, after_id=first_message_id)


def mark_messages_sent(demo: Demo, *, after_id: int) -> None:
    """Mark the demo's booking messages as sent, in the same transaction that made them.

    The services queued a message for every booking, cancellation, place passed on and
    evaluation request, as they do for real: thousands, to made-up addresses, about a year that
    never happened. Left pending, the scheduler's first sweep would try to send them all.
    """
    db.session.flush()
    db.session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.id > after_id, OutboxMessage.sent_at.is_(None))
        .values(sent_at=demo.now, attempts=1)
        .execution_options(synchronize_session=False)
    )


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


# Agencies and people --------------------------------------------------------------------------


def add_agencies(demo: Demo) -> None:
    for row in read_csv(AGENCIES_CSV):
        profile = AGENCY_PROFILES[row["name"]]
        details = AgencyDetails(
            name=row["name"],
            short_name=row["short_name"] or None,
            category=AgencyCategory.from_title(row["category"]),
            billing_contact=profile.billing_contact,
            billing_email=profile.billing_email,
            billing_address=profile.billing_address,
            purchase_order=profile.purchase_order,
        )
        demo.agencies[row["name"]] = create_agency(details, by=None, now=demo.set_up_at)


def add_person(demo: Demo, details: PersonDetails, role: Role, *, created_at: datetime) -> User:
    # Built directly rather than registered: one shared hash, as hashing hundreds is slow.
    user = User(
        email=User.normalise_email(details.email),
        first_name=details.first_name,
        last_name=details.last_name,
        job_role=details.job_role,
        agency_id=details.agency_id,
        other_organisation=details.other_organisation,
        line_manager_name=details.line_manager_name,
        line_manager_email=details.line_manager_email,
        password_hash=demo.password_hash,
        session_token=User.new_session_token(),
        is_enabled=True,
        created_at=created_at,
        role_rows=[UserRole(role=role)],
    )
    db.session.add(user)
    demo.emails.add(user.email)
    return user


def add_staff(demo: Demo) -> None:
    for account in STAFF:
        manager_name, manager_email = account.line_manager or (None, None)
        details = PersonDetails(
            first_name=account.first_name,
            last_name=account.last_name,
            email=account.email,
            job_role=account.job_role,
            agency_id=demo.agencies[account.agency].id,
            line_manager_name=manager_name,
            line_manager_email=manager_email,
        )
        demo.staff[account.email] = add_person(demo, details, account.role, created_at=demo.set_up_at)
    db.session.flush()


def random_name(rng: random.Random) -> tuple[str, str]:
    return rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)


def email_address(first: str, last: str, domain: str, number: int | None = None) -> str:
    local = ".".join(re.sub(r"[^a-z-]", "", part.lower()) for part in (first, last))
    return f"{local}{number or ''}@{domain}.example"


def unique_email(demo: Demo, first: str, last: str, domain: str) -> str:
    email, number = email_address(first, last, domain), 1
    while email in demo.emails:
        number += 1
        email = email_address(first, last, domain, number)
    return email


def line_manager(rng: random.Random, domain: str) -> tuple[str, str]:
    first, last = random_name(rng)
    return f"{first} {last}", email_address(first, last, domain)


def person_at_agency(demo: Demo, agency: Agency) -> PersonDetails:
    profile = AGENCY_PROFILES[agency.name]
    domain = demo.rng.choice(profile.domains)
    first, last = random_name(demo.rng)
    manager = line_manager(demo.rng, domain) if profile.line_managed else (None, None)
    return PersonDetails(
        first_name=first,
        last_name=last,
        email=unique_email(demo, first, last, domain),
        job_role=demo.rng.choice(profile.job_roles),
        agency_id=agency.id,
        line_manager_name=manager[0],
        line_manager_email=manager[1],
    )


def person_typing_other(demo: Demo, organisation: TypedOrganisation) -> PersonDetails:
    first, last = random_name(demo.rng)
    manager_name, manager_email = line_manager(demo.rng, organisation.domain)
    return PersonDetails(
        first_name=first,
        last_name=last,
        email=unique_email(demo, first, last, organisation.domain),
        job_role=organisation.job_role,
        agency_id=None,
        other_organisation=organisation.name,
        line_manager_name=manager_name,
        line_manager_email=manager_email,
    )


def registration_time(demo: Demo) -> datetime:
    """Some time in the working day between the programme's launch and now, most of them early."""
    first, last = london_date(demo.set_up_at), london_date(demo.now)
    if demo.rng.random() < REGISTERED_AT_LAUNCH:
        last = min(last, first + timedelta(weeks=LAUNCH_WEEKS))
    day = first + timedelta(days=demo.rng.randrange((last - first).days + 1))
    moment = datetime.combine(day, time(8, 0)) + timedelta(minutes=demo.rng.randrange(600))
    return max(demo.set_up_at, min(london_to_utc(moment), demo.now))


def add_practitioners(demo: Demo) -> None:
    """Practitioners spread over the agencies by size, and a few who typed their organisation."""
    agencies = list(demo.agencies.values())
    weights = [AGENCY_PROFILES[agency.name].weight for agency in agencies]
    count = PRACTITIONERS - len(OTHER_ORGANISATIONS)
    workplaces: list[Agency | TypedOrganisation] = [
        *demo.rng.choices(agencies, weights, k=count),
        *OTHER_ORGANISATIONS,
    ]
    demo.rng.shuffle(workplaces)
    for workplace in workplaces:
        if isinstance(workplace, Agency):
            details = person_at_agency(demo, workplace)
        else:
            details = person_typing_other(demo, workplace)
        person = add_person(demo, details, Role.PRACTITIONER, created_at=registration_time(demo))
        demo.practitioners.append(person)
    db.session.flush()


# The programme --------------------------------------------------------------------------------


def add_courses(demo: Demo) -> None:
    lnd = demo.staff[DEMO_LND_ADMIN]
    for row in read_csv(PROGRAMME_CSV):
        profile = COURSE_PROFILES[row["title"]]
        topic = find_or_create_topic(profile.topic, by=lnd, now=demo.set_up_at)
        details = CourseDetails(
            title=row["title"],
            topic_id=topic.id,
            description=profile.description,
            target_audience=profile.target_audience,
            level=profile.level,
            delivery_mode=DELIVERY_MODES[row["delivery"]],
            duration_minutes=profile.duration_minutes,
            provider=profile.provider,
        )
        course = create_course(details, by=lnd, now=demo.set_up_at)
        demo.commissions.append(
            Commission(course, profile, row["delivery"], int(row["sessions_commissioned"]))
        )


def is_training_day(day: date) -> bool:
    # Nobody commissions training for the days between Christmas and New Year.
    christmas_break = (day.month, day.day) >= (12, 22) or (day.month, day.day) <= (1, 2)
    return is_working_day(day) and not christmas_break


def training_days(first: date, last: date) -> list[date]:
    days = (first + timedelta(days=offset) for offset in range((last - first).days + 1))
    return [day for day in days if is_training_day(day)]


def session_mode(delivery: str, index: int) -> DeliveryMode:
    if delivery == "virtual+in-person" and index % 2 == 1:
        return DeliveryMode.IN_PERSON
    return DELIVERY_MODES[delivery]


def session_times(day: date, minutes: int, *, afternoon: bool) -> tuple[datetime, datetime]:
    """London times: a morning (09:30) or afternoon (13:30) slot, or a day with an hour's lunch."""
    if minutes > 4 * 60:
        start, length = time(9, 30), minutes + 60
    else:
        start, length = (time(13, 30) if afternoon else time(9, 30)), minutes
    starts = datetime.combine(day, start)
    return london_to_utc(starts), london_to_utc(starts + timedelta(minutes=length))


def session_place(rng: random.Random, mode: DeliveryMode) -> tuple[str | None, str | None]:
    """A venue for an in-person session, a joining link for an online one."""
    if mode is DeliveryMode.IN_PERSON:
        return rng.choice(VENUES), None
    link = WEBINAR_LINK if mode is DeliveryMode.WEBINAR else ONLINE_LINK
    return None, link.format(code=f"{rng.getrandbits(64):016x}")


def book_trainer(demo: Demo, window: list[date], trainers: tuple[str, ...], turn: int) -> tuple[date, User]:
    """A day in the window when one of the course's trainers is free; trainers take turns."""
    start = turn % len(trainers)
    in_turn = trainers[start:] + trainers[:start]
    for day in demo.rng.sample(window, len(window)):
        for email in in_turn:
            trainer = demo.staff[email]
            if (trainer.id, day) not in demo.busy:
                demo.busy.add((trainer.id, day))
                return day, trainer
    raise click.ClickException(f"No trainer is free between {window[0]} and {window[-1]}.")


def session_details(
    demo: Demo, commission: Commission, index: int, day: date, trainer: User
) -> SessionDetails:
    profile = commission.profile
    mode = session_mode(commission.delivery, index)
    starts_at, ends_at = session_times(day, profile.duration_minutes, afternoon=demo.rng.random() < 0.4)
    venue, link = session_place(demo.rng, mode)
    return SessionDetails(
        course_id=commission.course.id,
        starts_at=starts_at,
        ends_at=ends_at,
        delivery_mode=mode,
        places=profile.places,
        overbook_percent=current_app.config["OVERBOOK_PERCENT"],
        cost_pence=profile.cost_pounds * 100,
        venue=venue,
        online_link=link,
        trainer_id=trainer.id,
    )


def add_sessions_of(demo: Demo, commission: Commission, days: list[date]) -> None:
    """The commissioned sessions, one in each equal stretch of the year's working days."""
    lnd = demo.staff[DEMO_LND_ADMIN]
    stretch = len(days) / commission.sessions
    for index in range(commission.sessions):
        window = days[round(index * stretch) : round((index + 1) * stretch)]
        day, trainer = book_trainer(demo, window, commission.profile.trainers, index)
        details = session_details(demo, commission, index, day, trainer)
        demo.sessions.append(create_session(details, by=lnd, now=demo.set_up_at))


def add_sessions(demo: Demo) -> None:
    days = training_days(demo.year_start, demo.year_end)
    for commission in demo.commissions:
        add_sessions_of(demo, commission, days)


PHASES: tuple[tuple[str, Callable[[Demo], None]], ...] = (
    ("agencies", add_agencies),
    ("staff and trainers", add_staff),
    ("courses", add_courses),
    ("sessions", add_sessions),
    ("practitioners", add_practitioners),
)


# The summary ----------------------------------------------------------------------------------


def report(demo: Demo) -> None:
    cancelled = sum(session.is_cancelled for session in demo.sessions)
    topics = {commission.profile.topic for commission in demo.commissions}
    click.echo(
        f"Loaded the {demo.year_label} demo year: {len(demo.agencies)} agencies, "
        f"{len(demo.commissions)} courses on {len(topics)} topics, {len(demo.sessions)} "
        f"sessions ({cancelled} cancelled), {len(demo.emails)} people."
    )
    figures = year_so_far()
    click.echo(
        f"The year so far: {figures.bookings:,} bookings; {figures.sessions_ran} sessions have run, "
        f"where {figures.attended:,} delegates attended {figures.places_offered:,} places offered: "
        f"{figures.utilisation:.0%} utilisation."
    )
    click.echo(f"\nSign in as any of these with the password {DEMO_PASSWORD}\n")
    click.echo(f"  {'Role':<14}Email")
    for email in DEMO_SIGN_INS:
        role = next(iter(demo.staff[email].roles))
        click.echo(f"  {role.title:<14}{email}")
    click.echo(
        "\nEvery demo account shares this published password: never load demo data into a live system."
    )
