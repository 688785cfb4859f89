"""Demo data: two believable financial years of a city safeguarding children partnership.

`flask lms demo-data` fills an empty database with the partnership's organisations (the large
partner agencies, and each school, academy trust, GP practice, nursery, childminder and charity on
its own), its staff and trainers, the programme of courses and about nine hundred practitioners.
The previous financial year has the shape of the published 2024/25 year: its 68 sessions on the
same dates a year (or two) on, 1,905 places offered, 1,291 delegates attended (68%), every register
closed, the charges raised, invoiced and mostly paid. The current year runs to today: registers
closed for the sessions that have run, bookings and waiting lists for those to come. Evaluations,
certificates, follow-ups, waivers, invoices and budgets are made by the services along the way
(lms/demo_data/history.py); the certificates keep no PDF, each is drawn when downloaded (rendering
them all would be a third of the load). Every demo account shares one published password, so demo
data is for trying the system out and never for a live database.
"""

from __future__ import annotations

import csv
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import chain
from pathlib import Path

import click
import sqlalchemy as sa
from flask import current_app

from lms.accounts.contacts import add_training_contact
from lms.accounts.models import Agency, Role, User, UserRole
from lms.accounts.passwords import hash_password
from lms.accounts.services import AgencyDetails, PersonDetails, create_agency
from lms.bookings.models import Booking, BookingStatus
from lms.core.calendar import is_working_day, working_days_before
from lms.core.clock import now as clock_now
from lms.core.db import refresh_statistics, unit_of_work
from lms.core.financial_year import financial_year_label
from lms.core.formatting import format_money, format_number, format_percent, plural
from lms.core.timezones import london_date, london_to_utc
from lms.courses.models import Course, CourseSession, DeliveryMode, SessionStatus
from lms.courses.services import (
    CourseDetails,
    SessionDetails,
    create_course,
    create_session,
    find_or_create_topic,
)
from lms.demo_data import ORGANISATIONS_CSV, PROGRAMME_CSV, SESSIONS_CSV
from lms.demo_data.history import add_booking_history
from lms.demo_data.organisations import Organisation, demo_organisations
from lms.demo_data.people import (
    DEMO_LND_ADMIN,
    DEMO_SIGN_INS,
    FIRST_NAMES,
    LAST_NAMES,
    OTHER_ORGANISATIONS,
    STAFF,
    TypedOrganisation,
)
from lms.demo_data.programme import COURSE_PROFILES, ONLINE_LINK, VENUES, WEBINAR_LINK, CourseProfile
from lms.evaluations.models import Certificate, Evaluation
from lms.evaluations.services import pdfs_drawn_when_downloaded
from lms.extensions import db
from lms.finance.models import Budget, Charge, ChargeStatus, CreditNote, Invoice, InvoiceStatus
from lms.followups.models import FollowUp
from lms.messages.models import OutboxMessage
from lms.reporting.utilisation import Dimension, Figures, utilisation

SEED = 2024
PRACTITIONERS = 900
# Most practitioners registered in the weeks the first year's programme opened for booking, the
# rest since; otherwise nobody would be registered to book the first sessions.
REGISTERED_AT_LAUNCH = 0.6
LAUNCH_WEEKS = 3
COMMISSIONED_WORKING_DAYS = 20  # a year's programme opens this long before the year begins
PUBLISHED_YEAR = 2024  # the financial year sessions-2024-25.csv begins in
DEMO_PASSWORD = "demo-password-2026"  # noqa: S105 - published with the demo, never used for real
DELIVERY_MODES = {
    "virtual": DeliveryMode.ONLINE_LIVE,
    "webinar": DeliveryMode.WEBINAR,
    "in-person": DeliveryMode.IN_PERSON,
    "virtual+in-person": DeliveryMode.ONLINE_LIVE,  # alternate sessions are in person
}
SESSION_MODES = {
    "online": DeliveryMode.ONLINE_LIVE,
    "webinar": DeliveryMode.WEBINAR,
    "in person": DeliveryMode.IN_PERSON,
}
MORNING, AFTERNOON = time(9, 30), time(13, 30)


@dataclass
class ProgrammeYear:
    """One financial year of the programme."""

    first: date
    last: date
    opened_at: datetime  # when its sessions were commissioned and opened for booking
    sessions: list[CourseSession] = field(default_factory=list)

    @property
    def label(self) -> str:
        return financial_year_label(self.first.year)


@dataclass
class Demo:
    """What the phases share while they build the two years."""

    rng: random.Random
    now: datetime
    previous: ProgrammeYear
    current: ProgrammeYear
    password_hash: str
    agencies: dict[str, Agency] = field(default_factory=dict)
    organisations: dict[str, Organisation] = field(default_factory=dict)  # by name, as agencies
    staff: dict[str, User] = field(default_factory=dict)
    courses: dict[str, tuple[Course, CourseProfile]] = field(default_factory=dict)  # by title
    practitioners: list[User] = field(default_factory=list)
    emails: set[str] = field(default_factory=set)
    busy: set[tuple[int, date]] = field(default_factory=set)  # (trainer id, day) taken

    @property
    def set_up_at(self) -> datetime:
        """When the first year's programme was commissioned: the demo's beginning."""
        return self.previous.opened_at

    @property
    def sessions(self) -> list[CourseSession]:
        return self.previous.sessions + self.current.sessions


def register_demo_commands(group: click.Group) -> None:
    @group.command("demo-data")
    def demo_data() -> None:
        """Load two believable financial years of demo data into an empty database."""
        with unit_of_work():
            if not database_is_empty():
                click.echo(
                    "The database is not empty: it already has agencies, people or courses, "
                    "so no demo data was loaded and nothing was changed. Demo data goes into "
                    "a new database (run `flask db upgrade` on it first)."
                )
                return
            demo = start_demo(clock_now())
            build(demo)
        refresh_statistics()
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


def programme_year(first: date, last: date) -> ProgrammeYear:
    opened_on = working_days_before(first, COMMISSIONED_WORKING_DAYS)
    return ProgrammeYear(first, last, london_to_utc(datetime.combine(opened_on, time(10, 0))))


def start_demo(now: datetime) -> Demo:
    first, last = financial_year(london_date(now), current_app.config["FINANCIAL_YEAR_START"])
    previous_first = financial_year(first - timedelta(days=1), current_app.config["FINANCIAL_YEAR_START"])[0]
    return Demo(
        rng=random.Random(SEED),
        now=now,
        previous=programme_year(previous_first, first - timedelta(days=1)),
        current=programme_year(first, last),
        password_hash=hash_password(DEMO_PASSWORD),
    )


def build(demo: Demo) -> None:
    first_message_id = db.session.scalar(sa.select(sa.func.max(OutboxMessage.id))) or 0
    with click.progressbar(
        PHASES,
        label=f"Building the {demo.previous.label} and {demo.current.label} demo years",
        item_show_func=lambda phase: phase[0] if phase else None,
    ) as phases:
        for _, phase in phases:
            phase(demo)
    # Rendering the PDFs of nearly two thousand certificates as they are issued would be about a
    # third of the load; each is drawn when downloaded instead, the same PDF.
    with pdfs_drawn_when_downloaded():
        add_booking_history(demo)  # its own progress bar, over the sessions
    mark_messages_sent(demo, after_id=first_message_id)


def mark_messages_sent(demo: Demo, *, after_id: int) -> None:
    """Mark the demo's messages as sent, in the same transaction that made them.

    The services queued a message for every booking, cancellation, place passed on, evaluation
    request, follow-up and charge, as they do for real: thousands, to made-up addresses, about
    years that never happened. Left pending, the scheduler's first sweep would try to send them all.
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


# Organisations and people ---------------------------------------------------------------------


def add_organisations(demo: Demo) -> None:
    """Every organisation of organisations.csv; a school's trust is added before the school."""
    for organisation in demo_organisations(read_csv(ORGANISATIONS_CSV)):
        details = AgencyDetails(
            name=organisation.name,
            short_name=organisation.short_name,
            category=organisation.category,
            billing_contact=organisation.billing_contact,
            billing_email=organisation.billing_email,
            billing_address=organisation.billing_address,
            purchase_order=organisation.purchase_order,
            official_code=organisation.official_code,
            postcode=organisation.postcode,
            parent_id=demo.agencies[organisation.parent].id if organisation.parent else None,
        )
        agency = create_agency(details, by=None, now=demo.set_up_at)
        demo.agencies[organisation.name] = agency
        demo.organisations[organisation.name] = organisation
    db.session.flush()


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
    # The training contact follows their own organisation's staff, bookings and charges.
    for account in STAFF:
        if account.role is Role.TRAINING_CONTACT:
            add_training_contact(
                demo.agencies[account.agency],
                demo.staff[account.email],
                by=demo.staff[DEMO_LND_ADMIN],
                now=demo.set_up_at,
            )


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
    organisation = demo.organisations[agency.name]
    domain = demo.rng.choice(organisation.domains)
    first, last = random_name(demo.rng)
    manager = line_manager(demo.rng, domain) if organisation.line_managed else (None, None)
    return PersonDetails(
        first_name=first,
        last_name=last,
        email=unique_email(demo, first, last, domain),
        job_role=demo.rng.choice(organisation.job_roles),
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
    """Some time in the working day between the first programme's launch and now, most of them early."""
    first, last = london_date(demo.set_up_at), london_date(demo.now)
    if demo.rng.random() < REGISTERED_AT_LAUNCH:
        last = min(last, first + timedelta(weeks=LAUNCH_WEEKS))
    day = first + timedelta(days=demo.rng.randrange((last - first).days + 1))
    moment = datetime.combine(day, time(8, 0)) + timedelta(minutes=demo.rng.randrange(600))
    return max(demo.set_up_at, min(london_to_utc(moment), demo.now))


def add_practitioners(demo: Demo) -> None:
    """Practitioners spread over the organisations by size, and a few who typed their organisation."""
    agencies = list(demo.agencies.values())
    weights = [demo.organisations[agency.name].weight for agency in agencies]
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
        demo.courses[row["title"]] = (create_course(details, by=lnd, now=demo.set_up_at), profile)


def is_training_day(day: date) -> bool:
    # Nobody commissions training for the days between Christmas and New Year.
    christmas_break = (day.month, day.day) >= (12, 22) or (day.month, day.day) <= (1, 2)
    return is_working_day(day) and not christmas_break


def moved_on(day: date, years: int) -> date:
    """The same weekday of the same week of the year, `years` later: 11 June 2024, a Tuesday of
    week 24, is 10 June 2025 and 9 June 2026."""
    iso_year, week, weekday = day.isocalendar()
    target = iso_year + years
    weeks = date(target, 12, 28).isocalendar().week  # 52, or 53 in a long year
    return date.fromisocalendar(target, min(week, weeks), weekday)


def session_day(demo: Demo, year: ProgrammeYear, day: date, trainer: User) -> date:
    """`day`, or the nearest training day of the year after it (else before it) the trainer is free:
    a date moved on a year can fall on a bank holiday."""
    forward = (day + timedelta(days=offset) for offset in range(31))
    backward = (day - timedelta(days=offset) for offset in range(1, 31))
    for candidate in chain(forward, backward):
        if (
            year.first <= candidate <= year.last
            and is_training_day(candidate)
            and (trainer.id, candidate) not in demo.busy
        ):
            demo.busy.add((trainer.id, candidate))
            return candidate
    raise click.ClickException(f"{trainer.full_name} is not free for a session near {day}.")


def session_times(day: date, minutes: int, *, afternoon: bool) -> tuple[datetime, datetime]:
    """London times: a morning (09:30) or afternoon (13:30) slot, or a day with an hour's lunch."""
    return session_times_at(day, AFTERNOON if afternoon and minutes <= 4 * 60 else MORNING, minutes)


def session_times_at(day: date, start: time, minutes: int) -> tuple[datetime, datetime]:
    """From `start` (London) for `minutes` of training, with an hour's lunch in a day over 4 hours."""
    length = minutes + 60 if minutes > 4 * 60 else minutes
    starts = datetime.combine(day, start)
    return london_to_utc(starts), london_to_utc(starts + timedelta(minutes=length))


def session_place(rng: random.Random, mode: DeliveryMode) -> tuple[str | None, str | None]:
    """A venue for an in-person session, a joining link for an online one."""
    if mode is DeliveryMode.IN_PERSON:
        return rng.choice(VENUES), None
    link = WEBINAR_LINK if mode is DeliveryMode.WEBINAR else ONLINE_LINK
    return None, link.format(code=f"{rng.getrandbits(64):016x}")


def add_sessions(demo: Demo) -> None:
    """The published year's sessions in each demo year, on the same dates moved on."""
    published = read_csv(SESSIONS_CSV)
    for year in (demo.previous, demo.current):
        for row in published:
            year.sessions.append(add_session(demo, year, row))


def add_session(demo: Demo, year: ProgrammeYear, row: dict[str, str]) -> CourseSession:
    course, profile = demo.courses[row["title"]]
    trainer = demo.staff[row["trainer"]]
    published_on = date.fromisoformat(row["date"])
    day = session_day(demo, year, moved_on(published_on, year.first.year - PUBLISHED_YEAR), trainer)
    starts_at, ends_at = session_times_at(day, time.fromisoformat(row["starts"]), profile.duration_minutes)
    mode = SESSION_MODES[row["mode"]]
    venue, link = session_place(demo.rng, mode)
    details = SessionDetails(
        course_id=course.id,
        starts_at=starts_at,
        ends_at=ends_at,
        delivery_mode=mode,
        places=int(row["places"]),
        overbook_percent=current_app.config["OVERBOOK_PERCENT"],
        cost_pence=int(row["cost_pounds"]) * 100,
        venue=venue,
        online_link=link,
        trainer_id=trainer.id,
    )
    return create_session(details, by=demo.staff[DEMO_LND_ADMIN], now=year.opened_at)


PHASES: tuple[tuple[str, Callable[[Demo], None]], ...] = (
    ("organisations", add_organisations),
    ("staff and trainers", add_staff),
    ("courses", add_courses),
    ("sessions", add_sessions),
    ("practitioners", add_practitioners),
)


# The summary ----------------------------------------------------------------------------------


def count(model, *conditions) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*conditions))


def year_figures(demo: Demo, year: ProgrammeYear) -> Figures:
    """The year's totals as the utilisation report gives them."""
    return utilisation(Dimension.MONTH, year.first, year.last, now=demo.now).total


def organisations_line(demo: Demo) -> str:
    organisations = demo.organisations.values()
    topics = {profile.topic for _, profile in demo.courses.values()}
    schools = sum(organisation.kind in ("primary", "secondary", "special") for organisation in organisations)
    practices = sum(organisation.kind == "gp" for organisation in organisations)
    return (
        f"Loaded the {demo.previous.label} and {demo.current.label} demo years: "
        f"{plural(len(demo.agencies), 'organisation')} ({schools} schools, {practices} GP practices), "
        f"{len(demo.courses)} courses on {len(topics)} topics, {format_number(len(demo.emails))} people."
    )


def previous_year_line(demo: Demo) -> str:
    last = year_figures(demo, demo.previous)
    return (
        f"{demo.previous.label}: {last.sessions} sessions, {format_number(last.places)} places offered, "
        f"{format_number(last.attended_total)} delegates attended: "
        f"{format_percent(last.utilisation)} utilisation."
    )


def current_year_line(demo: Demo) -> str:
    this = year_figures(demo, demo.current)
    cancelled = count(CourseSession, CourseSession.status == SessionStatus.CANCELLED)
    to_come = [session.id for session in demo.current.sessions if session.starts_at > demo.now]
    booked = count(
        Booking,
        Booking.session_id.in_(to_come),
        Booking.status.in_((BookingStatus.CONFIRMED, BookingStatus.WAITING)),
    )
    so_far = "no session has run yet"
    if this.sessions:
        so_far = (
            f"{plural(this.sessions, 'session')} ran ({cancelled} cancelled), "
            f"{format_number(this.attended_total)} delegates attended {format_number(this.places)} places "
            f"offered: {format_percent(this.utilisation)} utilisation"
        )
    return (
        f"{demo.current.label} so far: {so_far}; {plural(len(to_come), 'session')} to come, "
        f"with {format_number(booked)} places booked or waited for."
    )


def records_line(demo: Demo) -> str:
    answered = count(FollowUp, FollowUp.submitted_at.is_not(None))
    paid = count(Invoice, Invoice.status == InvoiceStatus.PAID)
    waived = count(Charge, Charge.status == ChargeStatus.WAIVED)
    budget = db.session.get(Budget, demo.previous.first.year)
    return (
        f"{format_number(count(Evaluation))} evaluations, {format_number(count(Certificate))} certificates "
        "(each PDF drawn when downloaded), "
        f"{format_number(answered)} of {format_number(count(FollowUp))} follow-ups answered; "
        f"{plural(count(Invoice), 'invoice')} ({paid} paid, {count(CreditNote)} credited), "
        f"{plural(waived, 'charge')} waived; a budget of {format_money(budget.allocated_pence)} "
        f"for {demo.previous.label}."
    )


def report(demo: Demo) -> None:
    for line in (
        organisations_line(demo),
        previous_year_line(demo),
        current_year_line(demo),
        records_line(demo),
    ):
        click.echo(line)
    click.echo(f"\nSign in as any of these with the password {DEMO_PASSWORD}\n")
    click.echo(f"  {'Role':<18}Email")
    for email in DEMO_SIGN_INS:
        role = next(iter(demo.staff[email].roles))
        click.echo(f"  {role.title:<18}{email}")
    click.echo(
        "\nEvery demo account shares this published password: never load demo data into a live system."
    )
