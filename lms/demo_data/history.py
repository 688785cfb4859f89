"""The year so far, made through the booking services so the rules, audit trail and messages are
the real ones: who booked what and when, who cancelled or passed their place on, the sessions
the partnership cancelled, and the registers of the sessions that have run.

Sessions are played in date order, each only up to the demo's `now`. People book two to six
weeks ahead (a few earlier), and more often when the course is meant for their agency or job.
Attendance is steered towards the 2024/25 figure, 68% of places offered: each session's register
closes part of the gap left by the sessions before it, so the year so far stays near the figure
whatever the date.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

import click
import sqlalchemy as sa
from flask import current_app

from lms.accounts.models import User
from lms.bookings.models import Attendance, Booking
from lms.bookings.rules import bookings_close_at
from lms.bookings.services import (
    add_walk_in,
    book_place,
    cancel_booking,
    cancel_session,
    close_register,
    mark_attendance,
    substitute_booking,
)
from lms.core.calendar import is_working_day
from lms.core.timezones import london_date, london_to_utc
from lms.courses.models import CourseLevel, CourseSession, SessionStatus
from lms.demo_data.people import DEMO_LND_ADMIN, DEMO_PRACTITIONER
from lms.demo_data.programme import CANCEL_REASONS, CourseProfile
from lms.extensions import db

if TYPE_CHECKING:
    import random

    from lms.demo import Demo

TARGET_UTILISATION = 0.68  # 2024/25: 1,291 delegates attended of 1,905 places offered
STEER = 0.5  # the share of the gap to the target one session's register closes
CANCELLED_SESSIONS = 2  # earlier in the year, each a few days before it was due
LEAD_DAYS = (10, 30)  # most people book two to six weeks (in working days) ahead...
EARLY_LEAD_DAYS = (31, 60)  # ...and some a good deal earlier
EARLY_SHARE = 0.15
AUDIENCE_WEIGHT = 4  # someone the course is meant for is this much likelier to book it
POPULAR_SHARE, STEADY_SHARE = 0.5, 0.35  # of sessions; the rest are under-subscribed
POPULAR_WAITING = (1, 5)  # people waiting when a popular session fills up
CANCELLED_SHARE = (0.12, 0.28)  # of the people who book
LATE_SHARE = (0.35, 0.6)  # of those who cancel
NO_SHOW_SHARE = (0.05, 0.10)  # of the register
PARTIAL_SHARE = (0.03, 0.10)  # of those who came
SUBSTITUTION_CHANCE = 0.2  # that someone on a session passes their place to a colleague
WALK_IN_CHANCES = (0.15, 0.05)  # of one walk-in, and of a second
REGISTER_BY_TRAINER = 0.8  # otherwise the L&D admin keeps it
FULL_UPCOMING = 2  # popular sessions still to come that are already full...
FULL_WAITING = (3, 6)  # ...with this many waiting
DEMO_CONFIRMED = 2  # sessions to come the demo practitioner holds a place on
MARKED_AFTER_START = timedelta(hours=1)
CLOSED_AFTER_END = timedelta(minutes=30)


@dataclass(frozen=True)
class WorkingDays:
    """The working days around the demo year, for quick "n working days before"."""

    days: list[date]

    @classmethod
    def spanning(cls, first: date, last: date) -> WorkingDays:
        every = (first + timedelta(days=offset) for offset in range((last - first).days + 1))
        return cls([day for day in every if is_working_day(day)])

    def before(self, day: date, count: int) -> date:
        return self.days[bisect.bisect_left(self.days, day) - count]

    def between(self, first: date, last: date) -> list[date]:
        """Working days from `first` to `last`, both included."""
        return self.days[bisect.bisect_left(self.days, first) : bisect.bisect_right(self.days, last)]


@dataclass(frozen=True)
class Plan:
    """What happens to one session before its register: demand, then people dropping out."""

    demand: int  # people who book it, the waiting list included
    on_time: int = 0  # cancellations with notice
    late: int = 0  # cancellations inside the notice period
    substitutions: int = 0
    walk_ins: int = 0
    attend: int = 0  # how many the register should show as attending


@dataclass(order=True)
class Event:
    at: datetime
    order: int
    kind: str = field(compare=False)  # "book", "cancel" or "substitute"
    person: User | None = field(default=None, compare=False)  # who books; None for anyone


@dataclass
class History:
    """What the year's sessions share while they are played."""

    demo: Demo
    days: WorkingDays
    people: list[User]
    lnd: User
    delegate: User  # the demo practitioner, whose bookings are placed by hand
    profiles: dict[int, CourseProfile]  # by course id
    weights: dict[int, list[float]]  # by course id: cumulative, over `people`
    colleagues: dict[int, list[User]]  # by agency id
    cancellations: dict[int, datetime] = field(default_factory=dict)  # session id: when L&D cancelled
    full: dict[int, int] = field(default_factory=dict)  # session id: people waiting on it
    for_delegate: dict[int, str] = field(default_factory=dict)  # session id: "attend", "confirmed", "wait"
    courses_taken: set[tuple[int, int]] = field(default_factory=set)  # (person id, course id)
    busy: set[tuple[int, date]] = field(default_factory=set)  # (person id, day) on a course
    offered: int = 0  # places of the sessions that ran
    attended: int = 0

    @property
    def rng(self) -> random.Random:
        return self.demo.rng


def add_booking_history(demo: Demo) -> None:
    """Book, cancel and keep registers for the year so far, session by session in date order."""
    history = start_history(demo)
    choose_cancelled_sessions(history)
    choose_full_sessions(history)
    choose_demo_practitioners_sessions(history)
    sessions = sorted(demo.sessions, key=lambda session: session.starts_at)
    with click.progressbar(sessions, label="Booking places and keeping registers") as bar:
        for session in bar:
            play(history, session)


def start_history(demo: Demo) -> History:
    profiles = {commission.course.id: commission.profile for commission in demo.commissions}
    people = demo.practitioners
    colleagues: dict[int, list[User]] = {}
    for person in people:
        if person.agency_id is not None:
            colleagues.setdefault(person.agency_id, []).append(person)
    return History(
        demo=demo,
        days=WorkingDays.spanning(demo.year_start - timedelta(days=120), demo.year_end + timedelta(days=7)),
        people=people,
        lnd=demo.staff[DEMO_LND_ADMIN],
        delegate=demo.staff[DEMO_PRACTITIONER],
        profiles=profiles,
        weights={course_id: cumulative_weights(people, profile) for course_id, profile in profiles.items()},
        colleagues=colleagues,
    )


def is_audience(person: User, profile: CourseProfile) -> bool:
    job = person.job_role.lower()
    return (person.agency is not None and person.agency.category in profile.audience) or any(
        word in job for word in profile.audience_jobs
    )


def cumulative_weights(people: list[User], profile: CourseProfile) -> list[float]:
    total, weights = 0.0, []
    for person in people:
        total += AUDIENCE_WEIGHT if is_audience(person, profile) else 1
        weights.append(total)
    return weights


# Choosing the sessions that stand out ---------------------------------------------------------


def has_ended(history: History, session: CourseSession) -> bool:
    """The session is over and its register could be closed by now."""
    return session.ends_at + CLOSED_AFTER_END <= history.demo.now


def days_to_book_before_now(history: History, session: CourseSession) -> list[date]:
    """Working days, before today, on which people could have booked this session in advance."""
    day = london_date(session.starts_at)
    first = max(history.days.before(day, LEAD_DAYS[1]), london_date(history.demo.set_up_at))
    last = min(last_day_to_book(session), london_date(history.demo.now) - timedelta(days=1))
    return history.days.between(first, last)


def last_day_to_book(session: CourseSession) -> date:
    return london_date(bookings_close_at(session) - timedelta(minutes=1))


def choose_cancelled_sessions(history: History) -> None:
    """A couple of sessions earlier in the year did not run; L&D cancelled them days before."""
    demo = history.demo
    past = [session for session in demo.sessions if session.starts_at < demo.now]
    for session in history.rng.sample(past, min(CANCELLED_SESSIONS, len(past))):
        notice_day = history.days.before(london_date(session.starts_at), 2)
        cancelled_at = london_to_utc(datetime.combine(notice_day, time(11, 0)))
        history.cancellations[session.id] = max(cancelled_at, demo.set_up_at)


def choose_full_sessions(history: History) -> None:
    """A couple of sessions in the coming weeks are already full, with people waiting."""
    demo = history.demo
    soon = [
        session
        for session in sorted(demo.sessions, key=lambda session: session.starts_at)
        if session.starts_at > demo.now
        and session.places <= 30  # a webinar for a hundred does not fill weeks ahead
        and len(days_to_book_before_now(history, session)) >= 5
    ]
    for session in history.rng.sample(soon[:6], min(FULL_UPCOMING, len(soon))):
        history.full[session.id] = history.rng.randint(*FULL_WAITING)


def choose_demo_practitioners_sessions(history: History) -> None:
    """The demo practitioner attended a session, holds places to come, and waits for another."""
    demo, chosen = history.demo, history.for_delegate
    ordered = sorted(demo.sessions, key=lambda session: session.starts_at)

    def take(session: CourseSession, role: str) -> None:
        chosen[session.id] = role

    def is_new_course(session: CourseSession) -> bool:
        """A course they have not booked, on a day they are free."""
        day = london_date(session.starts_at)
        return all(
            session.course_id != other.course_id and day != london_date(other.starts_at)
            for other in ordered
            if other.id in chosen
        )

    ran = [
        session
        for session in ordered
        if has_ended(history, session)
        and session.id not in history.cancellations
        and is_audience(history.delegate, history.profiles[session.course_id])
    ]
    if ran:
        take(history.rng.choice(ran[-3:]), "attend")
    waiting = [session for session in ordered if session.id in history.full and is_new_course(session)]
    if waiting:
        take(waiting[0], "wait")
    to_come = [
        session
        for session in ordered
        if session.starts_at > demo.now
        and session.id not in history.full
        and days_to_book_before_now(history, session)
    ]
    for session in to_come:
        if list(chosen.values()).count("confirmed") == DEMO_CONFIRMED:
            break
        # Not an advanced course: Module 2 of domestic abuse, say, comes after Module 1.
        if is_new_course(session) and history.profiles[session.course_id].level is not CourseLevel.ADVANCED:
            take(session, "confirmed")


# Playing a session ----------------------------------------------------------------------------


def play(history: History, session: CourseSession) -> None:
    """Everything that happened to one session up to now, in the order it happened."""
    demo = history.demo
    cancelled_at = history.cancellations.get(session.id)
    until = min(demo.now, session.starts_at, cancelled_at or session.starts_at)
    plan = plan_session(history, session)
    bookings: list[Booking] = []
    for event in sorted(event for event in events(history, session, plan) if event.at < until):
        happen(history, session, event, bookings)
    if cancelled_at is not None:
        number = list(history.cancellations).index(session.id)
        reason = CANCEL_REASONS[number % len(CANCEL_REASONS)]
        cancel_session(session, reason=reason, by=history.lnd, now=cancelled_at)
    elif has_ended(history, session):
        keep_register(history, session, plan, bookings)


def plan_session(history: History, session: CourseSession) -> Plan:
    """How many book and drop out; for a session that has run, steered towards the target."""
    rng, places, limit = history.rng, session.places, session.bookable_limit
    if session.id in history.full:
        return Plan(demand=limit + history.full[session.id])
    if session.id in history.cancellations:
        return Plan(demand=round(places * rng.uniform(0.3, 0.55)), on_time=rng.randint(0, 2))
    demand = session_demand(history, session)
    walk_ins = sum(rng.random() < chance for chance in WALK_IN_CHANCES)
    no_show = sum(NO_SHOW_SHARE) / 2
    natural = min(limit, demand - round(demand * rng.uniform(*CANCELLED_SHARE))) * (1 - no_show) + walk_ins
    on_target = TARGET_UTILISATION * (history.offered + places) - history.attended
    attend = round((1 - STEER) * natural + STEER * on_target)
    register = round((attend - walk_ins) / (1 - no_show))
    # Someone always drops out, and never more than nearly half.
    register = max(math.ceil(demand * 0.55), min(register, limit, demand - (demand > 5)))
    dropped = demand - register
    late = round(dropped * rng.uniform(*LATE_SHARE))
    return Plan(
        demand=demand,
        on_time=dropped - late,
        late=late,
        substitutions=int(rng.random() < SUBSTITUTION_CHANCE),
        walk_ins=walk_ins,
        attend=attend,
    )


def session_demand(history: History, session: CourseSession) -> int:
    """Most sessions fill, some with people waiting; a few are under-subscribed."""
    rng, places = history.rng, session.places
    kind = rng.random()
    if session.id in history.for_delegate:
        kind = POPULAR_SHARE  # steady: the demo practitioner's own place is never in doubt
    if kind < POPULAR_SHARE:
        return session.bookable_limit + rng.randint(*POPULAR_WAITING)
    if kind < POPULAR_SHARE + STEADY_SHARE:
        return round(places * rng.uniform(0.8, 1.0))
    return round(places * rng.uniform(0.4, 0.7))


def events(history: History, session: CourseSession, plan: Plan) -> list[Event]:
    """The session's bookings, cancellations and substitutions, each at a believable time."""
    rng, day = history.rng, london_date(session.starts_at)
    notice = max(current_app.config["NOTICE_WORKING_DAYS"], 1)
    if session.id in history.full:
        days = days_to_book_before_now(history, session)
        at = [opened_moment(history, rng.choice(days)) for _ in range(plan.demand)]
    else:
        at = [booking_moment(history, session) for _ in range(plan.demand)]
    happened = [Event(moment, number, "book") for number, moment in enumerate(sorted(at))]
    role = history.for_delegate.get(session.id)
    if role == "wait":
        happened[
            session.bookable_limit + rng.randrange(plan.demand - session.bookable_limit)
        ].person = history.delegate
    elif role is not None:
        days = days_to_book_before_now(history, session) if role == "confirmed" else None
        moment = opened_moment(history, rng.choice(days)) if days else booking_moment(history, session)
        happened.append(Event(moment, -1, "book", history.delegate))
    for number in range(plan.on_time):
        in_time = history.days.before(day, rng.randint(notice + 1, notice + 12))
        happened.append(Event(moment_on(rng, in_time), number, "cancel"))
    for number in range(plan.late):
        late_day = history.days.before(day, rng.randint(1, notice))
        moment = moment_on(rng, late_day) if rng.random() < 0.8 else morning_of(rng, day)
        happened.append(Event(moment, number, "cancel"))
    for number in range(plan.substitutions):
        handover_day = history.days.before(day, rng.randint(1, 5))
        happened.append(Event(moment_on(rng, handover_day), number, "substitute"))
    return [event for event in happened if event.at >= history.demo.set_up_at]


def moment_on(rng: random.Random, day: date) -> datetime:
    """Some time in the working day, 08:30 to 17:30 in London."""
    return london_to_utc(datetime.combine(day, time(8, 30)) + timedelta(minutes=rng.randrange(9 * 60)))


def morning_of(rng: random.Random, day: date) -> datetime:
    """Early on the day itself: a call in sick before the session starts at 09:30 or later."""
    return london_to_utc(datetime.combine(day, time(7, 0)) + timedelta(minutes=rng.randrange(120)))


def opened_moment(history: History, day: date) -> datetime:
    """Some time in the working day, and after the programme opened for booking."""
    opened = history.demo.set_up_at + timedelta(minutes=history.rng.randrange(1, 120))
    return max(moment_on(history.rng, day), opened)


def booking_moment(history: History, session: CourseSession) -> datetime:
    """Two to six weeks ahead, some earlier; never before the programme opened or after bookings close."""
    rng = history.rng
    lead = rng.randint(*(EARLY_LEAD_DAYS if rng.random() < EARLY_SHARE else LEAD_DAYS))
    day = history.days.before(london_date(session.starts_at), lead)
    opened, last = london_date(history.demo.set_up_at), last_day_to_book(session)
    if not opened <= day <= last:
        day = rng.choice(history.days.between(opened, last))
    return opened_moment(history, day)


def happen(history: History, session: CourseSession, event: Event, bookings: list[Booking]) -> None:
    if event.kind == "book":
        person = event.person or pick_person(history, session, event.at)
        if person is not None:
            bookings.append(book_place(session, person, by=person, now=event.at))
            note_booked(history, session, person)
    elif event.kind == "cancel":
        booking = pick_booking(history, bookings, event.at)
        if booking is not None:
            cancel_booking(booking, by=booking.user, now=event.at)
    else:
        pass_place_on(history, session, bookings, event.at)


def available(history: History, person: User, session: CourseSession, at: datetime) -> bool:
    """Registered by then, not on this course already this year, and not on another that day."""
    return (
        person.created_at <= at
        and (person.id, session.course_id) not in history.courses_taken
        and (person.id, london_date(session.starts_at)) not in history.busy
    )


def pick_person(history: History, session: CourseSession, at: datetime) -> User | None:
    """Someone free to book, likelier someone the course is meant for."""
    weights = history.weights[session.course_id]
    for _ in range(40):
        person = history.rng.choices(history.people, cum_weights=weights)[0]
        if available(history, person, session, at):
            return person
    free = [person for person in history.people if available(history, person, session, at)]
    return history.rng.choice(free) if free else None


def note_booked(history: History, session: CourseSession, person: User) -> None:
    history.courses_taken.add((person.id, session.course_id))
    history.busy.add((person.id, london_date(session.starts_at)))


def pick_booking(history: History, bookings: list[Booking], at: datetime) -> Booking | None:
    """A confirmed place, booked before `at`, that its holder gives up (never the demo's own)."""
    held = [
        booking
        for booking in bookings
        if booking.is_confirmed and booking.booked_at < at and booking.user_id != history.delegate.id
    ]
    return history.rng.choice(held) if held else None


def pass_place_on(history: History, session: CourseSession, bookings: list[Booking], at: datetime) -> None:
    """Someone who can no longer go passes their place to a colleague in the same agency."""
    held = [
        booking
        for booking in bookings
        if booking.is_confirmed
        and booking.booked_at < at
        and booking.agency_id is not None
        and booking.user_id != history.delegate.id
    ]
    for booking in history.rng.sample(held, len(held)):
        free = [
            colleague
            for colleague in history.colleagues.get(booking.agency_id, [])
            if colleague.id != booking.user_id and available(history, colleague, session, at)
        ]
        if free:
            colleague = history.rng.choice(free)
            bookings.append(substitute_booking(booking, colleague, by=booking.user, now=at))
            note_booked(history, session, colleague)
            return


# The register ---------------------------------------------------------------------------------


def keep_register(history: History, session: CourseSession, plan: Plan, bookings: list[Booking]) -> None:
    """From an hour in: everyone booked marked, a walk-in or two added, then the register closed."""
    rng = history.rng
    by_trainer = session.trainer is not None and rng.random() < REGISTER_BY_TRAINER
    actor = session.trainer if by_trainer else history.lnd
    marked_at = session.starts_at + MARKED_AFTER_START
    register = [booking for booking in bookings if booking.is_confirmed]
    outcomes = register_outcomes(history, register, plan.attend - plan.walk_ins)
    for booking in register:
        mark_attendance(booking, outcomes[booking.id], by=actor, now=marked_at)
    came = sum(outcome.counts_as_attended for outcome in outcomes.values())
    # Walk-ins take a spare seat, so a register never runs past the bookable limit.
    spare = session.bookable_limit - len(register)
    for _ in range(min(plan.walk_ins, spare)):
        person = walk_in(history, session, bookings)
        if person is not None:
            outcome = Attendance.PARTIAL if rng.random() < 0.25 else Attendance.ATTENDED
            add_walk_in(session, person, outcome, by=actor, now=marked_at)
            note_booked(history, session, person)
            came += 1
    close_register(session, by=actor, now=session.ends_at + CLOSED_AFTER_END)
    history.offered += session.places
    history.attended += came


def walk_in(history: History, session: CourseSession, bookings: list[Booking]) -> User | None:
    """Someone still waiting comes anyway; otherwise someone who heard about it on the day."""
    waiting = [booking.user for booking in bookings if booking.is_waiting]
    return waiting[0] if waiting else pick_person(history, session, session.starts_at)


def register_outcomes(history: History, register: list[Booking], attend: int) -> dict[int, Attendance]:
    """No-shows to bring attendance near `attend`, within the usual share; some came only in part."""
    rng = history.rng
    low, high = (round(len(register) * share) for share in NO_SHOW_SHARE)
    others = [booking for booking in register if booking.user_id != history.delegate.id]
    no_shows = min(max(len(register) - attend, low), high, len(others))
    outcomes = dict.fromkeys((booking.id for booking in register), Attendance.ATTENDED)
    absent = rng.sample(others, no_shows)
    outcomes.update(dict.fromkeys((booking.id for booking in absent), Attendance.NO_SHOW))
    came = [booking for booking in others if outcomes[booking.id] is Attendance.ATTENDED]
    partial = rng.sample(came, min(len(came), round(len(came) * rng.uniform(*PARTIAL_SHARE))))
    outcomes.update(dict.fromkeys((booking.id for booking in partial), Attendance.PARTIAL))
    return outcomes


# Figures for the summary ----------------------------------------------------------------------


@dataclass(frozen=True)
class YearSoFar:
    bookings: int
    sessions_ran: int
    places_offered: int
    attended: int

    @property
    def utilisation(self) -> float:
        return self.attended / self.places_offered if self.places_offered else 0.0


def year_so_far() -> YearSoFar:
    """Bookings made, and attendance over places offered by the sessions that ran."""
    ran = sa.select(CourseSession.id).where(CourseSession.status == SessionStatus.COMPLETED)
    places = sa.func.coalesce(sa.func.sum(CourseSession.places), 0)
    sessions_ran, places_offered = db.session.execute(
        sa.select(sa.func.count(CourseSession.id), places).where(CourseSession.id.in_(ran))
    ).one()
    attended = db.session.scalar(
        sa.select(sa.func.count(Booking.id)).where(
            Booking.session_id.in_(ran), Booking.attendance.in_((Attendance.ATTENDED, Attendance.PARTIAL))
        )
    )
    return YearSoFar(
        bookings=db.session.scalar(sa.select(sa.func.count(Booking.id))),
        sessions_ran=sessions_ran,
        places_offered=places_offered,
        attended=attended,
    )
