"""Two years of bookings, made through the booking services so the rules, audit trail and messages
are the real ones: who booked what and when, who cancelled or passed their place on, the sessions
the partnership cancelled, and the registers of the sessions that have run. After each register
come the evaluations and follow-ups (aftercare.py) and the waivers and invoices (invoicing.py),
each at its own time on the timeline (timeline.py).

Sessions are played in date order, each only up to the demo's `now`. People book two to six
weeks ahead (a few earlier), and more often when the course is meant for their agency or job.
Before anything is booked, each session that will have run by now is given the attendance its
register will show: shares around the year's level that add up to the year's total. For the
previous year that total is the 2024/25 figure, 1,291 delegates (68% of 1,905 places offered);
for the current year, 70% of the places offered so far. Each session's demand is planned so that,
after cancellations and no-shows, about that many come; the register makes it exact with its
no-shows and walk-ins.
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
from lms.bookings.models import Attendance, Booking, BookingStatus
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
from lms.courses.models import CourseLevel, CourseSession
from lms.demo_data.aftercare import evaluate_session, start_daily_sweeps
from lms.demo_data.invoicing import consider_waivers, schedule_invoice_runs, set_budgets
from lms.demo_data.people import DEMO_FINANCE, DEMO_LND_ADMIN, DEMO_PRACTITIONER
from lms.demo_data.programme import CANCEL_REASONS, CourseProfile
from lms.demo_data.timeline import Timeline
from lms.extensions import db

if TYPE_CHECKING:
    import random

    from lms.demo import Demo, ProgrammeYear
    from lms.evaluations.models import QuestionSet
    from lms.finance.models import Invoice

PREVIOUS_YEAR_PLACES = 1_905  # 2024/25, as published: places offered...
PREVIOUS_YEAR_ATTENDED = 1_291  # ...and delegates who attended, fully or partially (68%)
CURRENT_YEAR_UTILISATION = 0.70  # the year so far, a little up on the last
SPREAD = 0.12  # how far one session's attendance strays from the year's level
SHARE_BOUNDS = (0.40, 1.05)  # of places: no session has fewer, or more, come
CANCELLED_SESSIONS = 2  # earlier in the current year, each a few days before it was due...
SESSIONS_PER_CANCELLED = 10  # ...one for every ten that were due so far
LEAD_DAYS = (10, 30)  # most people book two to six weeks (in working days) ahead...
EARLY_LEAD_DAYS = (31, 60)  # ...and some a good deal earlier
EARLY_SHARE = 0.15
AUDIENCE_WEIGHT = 4  # someone the course is meant for is this much likelier to book it
POPULAR_SHARE = 0.5  # of the sessions most people come to: booked past the limit, with people waiting
POPULAR_LEVEL = 0.75  # of places, coming
POPULAR_WAITING = (1, 6)  # people who joined its waiting list, beyond those who dropped out
MOST_DROPPED = 0.4  # of a popular session's bookings, cancelled
CANCELLED_SHARE = (0.12, 0.28)  # of the people who book
LATE_SHARE = (0.35, 0.6)  # of those who cancel
NO_SHOW_SHARE = (0.04, 0.10)  # of the register
PARTIAL_SHARE = (0.03, 0.10)  # of those who came
SUBSTITUTION_CHANCE = 0.2  # that someone on a session passes their place to a colleague
WALK_INS = (0.85, 0.10, 0.05)  # chances of none, one and two walk-ins
REGISTER_BY_TRAINER = 0.8  # otherwise the L&D admin keeps it
FULL_UPCOMING = 2  # popular sessions still to come that are already full...
FULL_WAITING = (3, 6)  # ...with this many waiting
DEMO_CONFIRMED = 2  # sessions to come the demo practitioner holds a place on
MARKED_AFTER_START = timedelta(hours=1)
CLOSED_AFTER_END = timedelta(minutes=30)
FOLLOW_UP_OPEN = (timedelta(days=43), timedelta(days=55))  # ended this long ago: invited, still open
JUST_RAN = timedelta(days=14)


@dataclass(frozen=True)
class WorkingDays:
    """The working days around the demo's years, for quick "n working days before"."""

    days: list[date]

    @classmethod
    def spanning(cls, first: date, last: date) -> WorkingDays:
        every = (first + timedelta(days=offset) for offset in range((last - first).days + 1))
        return cls([day for day in every if is_working_day(day)])

    def before(self, day: date, count: int) -> date:
        return self.days[bisect.bisect_left(self.days, day) - count]

    def after(self, day: date, count: int) -> date:
        return self.days[bisect.bisect_right(self.days, day) + count - 1]

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
    attend: int | None = None  # what the register will show, for a session that has run


@dataclass(order=True)
class Event:
    at: datetime
    order: int
    kind: str = field(compare=False)  # "book", "cancel" or "substitute"
    person: User | None = field(default=None, compare=False)  # who books; None for anyone


@dataclass
class History:
    """What the two years' sessions share while they are played."""

    demo: Demo
    days: WorkingDays
    timeline: Timeline
    people: list[User]
    lnd: User
    finance: User
    delegate: User  # the demo practitioner, whose bookings are placed by hand
    profiles: dict[int, CourseProfile]  # by course id
    weights: dict[int, list[float]]  # by course id: cumulative, over `people`
    colleagues: dict[int, list[User]]  # by agency id
    years: dict[int, ProgrammeYear]  # session id: the year it belongs to
    planned: dict[int, int] = field(default_factory=dict)  # session id: attendance its register shows
    shortfall: dict[int, int] = field(default_factory=dict)  # by year: attendance left for the next
    cancellations: dict[int, datetime] = field(default_factory=dict)  # session id: when L&D cancelled
    full: dict[int, int] = field(default_factory=dict)  # session id: people waiting on it
    for_delegate: dict[int, str] = field(default_factory=dict)  # session id: the demo practitioner's part
    courses_taken: set[tuple[int, int, int]] = field(default_factory=set)  # (person, course, year)
    busy: set[tuple[int, date]] = field(default_factory=set)  # (person id, day) on a course
    question_sets: dict[int, QuestionSet] = field(default_factory=dict)  # by course id, once it has one
    credited: Invoice | None = None

    @property
    def rng(self) -> random.Random:
        return self.demo.rng


def add_booking_history(demo: Demo) -> None:
    """Both years up to now, session by session in date order, with everything that follows."""
    history = start_history(demo)
    choose_cancelled_sessions(history)
    choose_full_sessions(history)
    choose_demo_practitioners_sessions(history)
    plan_attendance(history)
    set_budgets(history)
    schedule_invoice_runs(history)
    sessions = sorted(demo.sessions, key=lambda session: session.starts_at)
    start_daily_sweeps(history, sessions[0].ends_at)
    with click.progressbar(sessions, label="Booking places, keeping registers, evaluating, invoicing") as bar:
        for session in bar:
            history.timeline.run_until(session.starts_at)
            play(history, session)
    history.timeline.run_until(demo.now)
    check_previous_year(history)


def start_history(demo: Demo) -> History:
    profiles = {course.id: profile for course, profile in demo.courses.values()}
    people = demo.practitioners
    colleagues: dict[int, list[User]] = {}
    for person in people:
        if person.agency_id is not None:
            colleagues.setdefault(person.agency_id, []).append(person)
    return History(
        demo=demo,
        days=WorkingDays.spanning(
            demo.previous.first - timedelta(days=120), demo.current.last + timedelta(days=60)
        ),
        timeline=Timeline(demo.now),
        people=people,
        lnd=demo.staff[DEMO_LND_ADMIN],
        finance=demo.staff[DEMO_FINANCE],
        delegate=demo.staff[DEMO_PRACTITIONER],
        profiles=profiles,
        weights={course_id: cumulative_weights(people, profile) for course_id, profile in profiles.items()},
        colleagues=colleagues,
        years={session.id: year for year in (demo.previous, demo.current) for session in year.sessions},
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


def opened_at(history: History, session: CourseSession) -> datetime:
    """When the session's programme opened for booking."""
    return history.years[session.id].opened_at


def days_to_book_before_now(history: History, session: CourseSession) -> list[date]:
    """Working days, before today, on which people could have booked this session in advance."""
    day = london_date(session.starts_at)
    first = max(history.days.before(day, EARLY_LEAD_DAYS[1]), london_date(opened_at(history, session)))
    last = min(last_day_to_book(session), london_date(history.demo.now) - timedelta(days=1))
    return history.days.between(first, last)


def last_day_to_book(session: CourseSession) -> date:
    return london_date(bookings_close_at(session) - timedelta(minutes=1))


def choose_cancelled_sessions(history: History) -> None:
    """A couple of sessions earlier this year did not run; L&D cancelled them days before."""
    demo = history.demo
    past = [session for session in demo.current.sessions if session.starts_at < demo.now]
    for session in history.rng.sample(past, min(CANCELLED_SESSIONS, len(past) // SESSIONS_PER_CANCELLED)):
        notice_day = history.days.before(london_date(session.starts_at), 2)
        cancelled_at = london_to_utc(datetime.combine(notice_day, time(11, 0)))
        history.cancellations[session.id] = max(cancelled_at, opened_at(history, session))


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
    """The demo practitioner's own record, so each page has something to show when they sign in.

    Last year and earlier this year: sessions attended and evaluated, certificate issued and
    follow-up answered. About seven weeks ago: one whose follow-up survey is open now. In the last
    fortnight: one still to evaluate. To come: places held, and a place on a waiting list.
    """
    demo, chosen, rng = history.demo, history.for_delegate, history.rng
    ordered = [
        session
        for session in sorted(demo.sessions, key=lambda session: session.starts_at)
        if session.id not in history.cancellations
    ]

    def is_new_course(session: CourseSession) -> bool:
        """A course they have not booked before, on a day they are free."""
        day = london_date(session.starts_at)
        return all(
            session.course_id != other.course_id and day != london_date(other.starts_at)
            for other in ordered
            if other.id in chosen
        )

    def take(candidates: list[CourseSession], role: str, *, latest: bool = False) -> None:
        """One of the candidates, preferring a course meant for them."""
        free = [session for session in candidates if is_new_course(session)]
        meant = [s for s in free if is_audience(history.delegate, history.profiles[s.course_id])]
        pool = meant or free
        if pool:
            chosen[(pool[-1] if latest else rng.choice(pool)).id] = role

    now = demo.now
    previous = [session for session in ordered if history.years[session.id] is demo.previous]
    take(previous[: len(previous) // 2], "evaluated")
    take(previous[len(previous) // 2 :], "evaluated")
    this_year = [s for s in ordered if history.years[s.id] is demo.current and has_ended(history, s)]
    take([s for s in this_year if s.ends_at < now - FOLLOW_UP_OPEN[1]], "evaluated")
    ran = [session for session in ordered if has_ended(history, session)]  # early in a year, last year's
    take([s for s in ran if now - FOLLOW_UP_OPEN[1] < s.ends_at < now - FOLLOW_UP_OPEN[0]], "follow_up_open")
    take([s for s in ran if s.ends_at > now - JUST_RAN], "to_evaluate", latest=True)
    waiting = [session for session in ordered if session.id in history.full and is_new_course(session)]
    if waiting:
        chosen[waiting[0].id] = "wait"
    to_come = [
        session
        for session in ordered
        if session.starts_at > now
        and session.id not in history.full
        # Not an advanced course: Module 2 of domestic abuse, say, comes after Module 1.
        and history.profiles[session.course_id].level is not CourseLevel.ADVANCED
        and days_to_book_before_now(history, session)
    ]
    for session in to_come:
        if list(chosen.values()).count("confirmed") == DEMO_CONFIRMED:
            break
        if is_new_course(session):
            chosen[session.id] = "confirmed"


# How many come ----------------------------------------------------------------------------------


def plan_attendance(history: History) -> None:
    """Each session that will have run by now gets the attendance its register is to show."""
    demo = history.demo
    for year in (demo.previous, demo.current):
        ran = [
            session
            for session in year.sessions
            if has_ended(history, session) and session.id not in history.cancellations
        ]
        places = sum(session.places for session in ran)
        if year is demo.previous:
            if len(ran) != len(year.sessions) or places != PREVIOUS_YEAR_PLACES:
                raise click.ClickException(
                    f"The previous year should offer {PREVIOUS_YEAR_PLACES:,} places in sessions that "
                    f"all ran; it offers {places:,} in {len(ran)} of {len(year.sessions)} sessions."
                )
            total = PREVIOUS_YEAR_ATTENDED
        else:
            total = round(CURRENT_YEAR_UTILISATION * places)
        history.planned.update(share_out(history.rng, ran, total))


def share_out(rng: random.Random, sessions: list[CourseSession], total: int) -> dict[int, int]:
    """Attendance for each session, scattered around the level that makes `total`, adding up to it."""
    if not sessions:
        return {}
    level = total / sum(session.places for session in sessions)
    low, high = SHARE_BOUNDS
    raw = [session.places * min(max(rng.gauss(level, SPREAD), low), high) for session in sessions]
    scale = total / sum(raw)
    bounds = [
        (math.ceil(session.places * low), min(session.bookable_limit, math.floor(session.places * high)))
        for session in sessions
    ]
    counts = [min(max(round(r * scale), lo), hi) for r, (lo, hi) in zip(raw, bounds, strict=True)]
    gap = total - sum(counts)
    while gap:
        step = 1 if gap > 0 else -1
        movable = [i for i, (lo, hi) in enumerate(bounds) if lo <= counts[i] + step <= hi]
        counts[rng.choice(movable)] += step
        gap -= step
    return {session.id: count for session, count in zip(sessions, counts, strict=True)}


def check_previous_year(history: History) -> None:
    """The previous year's registers show the published figure, or the demo is not loaded."""
    previous = history.demo.previous.sessions
    attended = db.session.scalar(
        sa.select(sa.func.count(Booking.id)).where(
            Booking.session_id.in_([session.id for session in previous]),
            Booking.status == BookingStatus.CONFIRMED,
            Booking.attendance.in_((Attendance.ATTENDED, Attendance.PARTIAL)),
        )
    )
    if attended != PREVIOUS_YEAR_ATTENDED:
        raise click.ClickException(
            f"The previous year's registers show {attended:,} delegates, not {PREVIOUS_YEAR_ATTENDED:,}."
        )


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
        evaluate_session(history, session)
    consider_waivers(history, session)


def plan_session(history: History, session: CourseSession) -> Plan:
    """How many book and drop out, so that about the planned number come."""
    rng, places, limit = history.rng, session.places, session.bookable_limit
    if session.id in history.full:
        return Plan(demand=limit + history.full[session.id])
    if session.id in history.cancellations:
        return Plan(demand=round(places * rng.uniform(0.3, 0.55)), on_time=rng.randint(0, 2))
    attend = history.planned.get(session.id)
    # A session still to come only needs the bookings made so far: shape them the same way.
    expected = attend if attend is not None else round(places * rng.gauss(CURRENT_YEAR_UTILISATION, SPREAD))
    walk_ins = rng.choices(range(len(WALK_INS)), WALK_INS)[0]
    register = round((expected - walk_ins) / (1 - rng.uniform(*NO_SHOW_SHARE)))
    register = max(1, min(limit, register))
    dropped = round(register / (1 - rng.uniform(*CANCELLED_SHARE))) - register
    demand = register + dropped
    if register == limit:
        demand += rng.randint(*POPULAR_WAITING)  # still waiting when it runs
    elif expected >= POPULAR_LEVEL * places and rng.random() < POPULAR_SHARE:
        # Booked past the limit early; as more people drop out, those waiting get their places.
        extra = limit + rng.randint(*POPULAR_WAITING) - demand
        if extra > 0 and dropped + extra <= MOST_DROPPED * (demand + extra):
            demand, dropped = demand + extra, dropped + extra
    late = round(dropped * rng.uniform(*LATE_SHARE))
    return Plan(
        demand=demand,
        on_time=dropped - late,
        late=late,
        substitutions=int(rng.random() < SUBSTITUTION_CHANCE),
        walk_ins=walk_ins,
        attend=attend,
    )


def events(history: History, session: CourseSession, plan: Plan) -> list[Event]:
    """The session's bookings, cancellations and substitutions, each at a believable time."""
    rng, day = history.rng, london_date(session.starts_at)
    notice = max(current_app.config["NOTICE_WORKING_DAYS"], 1)
    if session.id in history.full:
        days = days_to_book_before_now(history, session)
        at = [opened_moment(history, session, rng.choice(days)) for _ in range(plan.demand)]
    else:
        at = [booking_moment(history, session) for _ in range(plan.demand)]
    happened = [Event(moment, number, "book") for number, moment in enumerate(sorted(at))]
    role = history.for_delegate.get(session.id)
    if role == "wait":
        happened[
            session.bookable_limit + rng.randrange(plan.demand - session.bookable_limit)
        ].person = history.delegate
    elif role is not None:
        # Among the first to book, so their place is never in doubt.
        days = days_to_book_before_now(history, session)
        if not days:
            moment = booking_moment(history, session)
        else:
            moment = opened_moment(history, session, days[0] if role != "confirmed" else rng.choice(days))
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
    return [event for event in happened if event.at >= opened_at(history, session)]


def moment_on(rng: random.Random, day: date) -> datetime:
    """Some time in the working day, 08:30 to 17:30 in London."""
    return london_to_utc(datetime.combine(day, time(8, 30)) + timedelta(minutes=rng.randrange(9 * 60)))


def morning_of(rng: random.Random, day: date) -> datetime:
    """Early on the day itself: a call in sick before the session starts at 09:30 or later."""
    return london_to_utc(datetime.combine(day, time(7, 0)) + timedelta(minutes=rng.randrange(120)))


def opened_moment(history: History, session: CourseSession, day: date) -> datetime:
    """Some time in the working day, and after the session's programme opened for booking."""
    opened = opened_at(history, session) + timedelta(minutes=history.rng.randrange(1, 120))
    return max(moment_on(history.rng, day), opened)


def booking_moment(history: History, session: CourseSession) -> datetime:
    """Two to six weeks ahead, some earlier; never before the programme opened or after bookings close."""
    rng = history.rng
    lead = rng.randint(*(EARLY_LEAD_DAYS if rng.random() < EARLY_SHARE else LEAD_DAYS))
    day = history.days.before(london_date(session.starts_at), lead)
    opened, last = london_date(opened_at(history, session)), last_day_to_book(session)
    if not opened <= day <= last:
        day = rng.choice(history.days.between(opened, last))
    return opened_moment(history, session, day)


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
    """Registered by then, not on this course already that year, and not on another that day."""
    year = history.years[session.id].first.year
    return (
        person.created_at <= at
        and (person.id, session.course_id, year) not in history.courses_taken
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
    history.courses_taken.add((person.id, session.course_id, history.years[session.id].first.year))
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
    """From an hour in: everyone booked marked, walk-ins added, then the register closed.

    Exactly the planned number come: the walk-ins make up a register that came out short, the
    no-shows trim one that came out long. Should neither reach it, the difference is left for the
    year's next session.
    """
    rng = history.rng
    by_trainer = session.trainer is not None and rng.random() < REGISTER_BY_TRAINER
    actor = session.trainer if by_trainer else history.lnd
    marked_at = session.starts_at + MARKED_AFTER_START
    year = history.years[session.id].first.year
    need = max(0, (plan.attend or 0) + history.shortfall.pop(year, 0))
    register = [booking for booking in bookings if booking.is_confirmed]
    # Walk-ins take a spare seat, so a register never runs past the bookable limit.
    spare = session.bookable_limit - len(register)
    walk_ins = walk_in_people(
        history, session, bookings, min(spare, max(plan.walk_ins, need - len(register)))
    )
    outcomes = register_outcomes(history, register, need - len(walk_ins))
    for booking in register:
        mark_attendance(booking, outcomes[booking.id], by=actor, now=marked_at)
    came = sum(outcome.counts_as_attended for outcome in outcomes.values())
    for person in walk_ins:
        outcome = Attendance.PARTIAL if rng.random() < 0.25 else Attendance.ATTENDED
        add_walk_in(session, person, outcome, by=actor, now=marked_at)
        came += 1
    close_register(session, by=actor, now=session.ends_at + CLOSED_AFTER_END)
    if came != need:
        history.shortfall[year] = need - came


def walk_in_people(
    history: History, session: CourseSession, bookings: list[Booking], count: int
) -> list[User]:
    """People still waiting who come anyway; otherwise people who heard about it on the day."""
    waiting = [booking.user for booking in bookings if booking.is_waiting]
    people: list[User] = []
    for _ in range(count):
        person = waiting.pop(0) if waiting else pick_person(history, session, session.starts_at)
        if person is None:
            break
        note_booked(history, session, person)
        people.append(person)
    return people


def register_outcomes(history: History, register: list[Booking], attend: int) -> dict[int, Attendance]:
    """No-shows so that `attend` of the register come (the demo practitioner always does);
    some of those who come stay only part of the session."""
    rng = history.rng
    others = [booking for booking in register if booking.user_id != history.delegate.id]
    no_shows = min(max(len(register) - attend, 0), len(others))
    outcomes = dict.fromkeys((booking.id for booking in register), Attendance.ATTENDED)
    absent = rng.sample(others, no_shows)
    outcomes.update(dict.fromkeys((booking.id for booking in absent), Attendance.NO_SHOW))
    came = [booking for booking in others if outcomes[booking.id] is Attendance.ATTENDED]
    partial = rng.sample(came, min(len(came), round(len(came) * rng.uniform(*PARTIAL_SHARE))))
    outcomes.update(dict.fromkeys((booking.id for booking in partial), Attendance.PARTIAL))
    return outcomes
