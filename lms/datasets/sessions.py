"""Sessions and their bookings, each session played in time order by the product's booking rules.

People book weeks ahead, or on the last day they can if bookings would have closed for them; a
booking is confirmed while the capacity calculator has a free place, and waits otherwise. Some
cancel with notice or late, and whether a cancellation is late, who a freed place goes to and
whether that promotion came without notice are the rules' answers; a few pass their place to a
colleague; a few sessions are cancelled by the partnership; then the register marks each confirmed
delegate attended, partially attended or no-show, so that about two thirds of places offered are
attended. Only the bookkeeping is done here: who holds a place, who waits, and in what order.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache

from lms.bookings.models import LIVE_STATUSES, Attendance, Booking, BookingStatus, CancellationReason
from lms.bookings.places import bookable_limit, free_places, next_from_waiting_list
from lms.bookings.reminders import joining_instructions_from
from lms.bookings.rules import (
    closing_time,
    is_closed,
    is_colleague,
    late_cancellation,
    notice_period_starts_at,
    promoted_without_notice,
)
from lms.core.financial_year import financial_year_of
from lms.core.timezones import london_date
from lms.courses.models import CourseSession, DeliveryMode, SessionStatus
from lms.datasets.dataset import YEARS, Dataset, Person, TrainingDay
from lms.datasets.organisations import PLACES
from lms.demo import DELIVERY_MODES, is_training_day, session_place, session_times
from lms.demo_data.programme import CANCEL_REASONS

BOOKED_BY_LND = 0.08
# Demand for one session: popular ones fill and people wait; steady ones nearly fill; some do not.
POPULAR, STEADY = 0.35, 0.40
POPULAR_WAITING = (2, 8)
STEADY_SHARE = (0.85, 1.10)  # of places
QUIET_SHARE = (0.45, 0.75)
LEAD_DAYS = (5, 70, 20)  # triangular: most people book about three weeks ahead
LAST_MINUTE, LAST_MINUTE_DAYS = 0.03, (0.5, 4)  # some try in the last days, when bookings may have closed
# By financial year, oldest first: fewer cancel and fewer fail to come as the policy tightens,
# so utilisation rises by a couple of points a year, as the partnership reported.
CANCEL_CHANCE = (0.23, 0.23, 0.22)  # of the people who book
NO_SHOW_CHANCE = (0.10, 0.10, 0.09)  # of the register
LATE_SHARE = 0.45  # of the people who cancel: they do so inside the notice period
PARTIAL_CHANCE = 0.06  # of those who come
WALK_IN_CHANCE = 0.10
SUBSTITUTION_CHANCE = 0.12
SESSION_CANCELLED_CHANCE = 0.02
# Fewer sessions in the school summer holiday; none between Christmas and New Year.
MONTH_WEIGHTS = {8: 0.35, 12: 0.7}

# The working-day rules count the days one by one. They are pure functions, so an answer once
# given is kept: a few hundred thousand questions are about a few tens of thousands of dates.
late_cancellation_of = lru_cache(maxsize=None)(late_cancellation)
promoted_without_notice_on = lru_cache(maxsize=None)(promoted_without_notice)


def add_training_days(dataset: Dataset, year_start: str) -> None:
    """The days of the three years that sessions can fall on, each with its weight."""
    day = dataset.first_day
    while day <= dataset.last_day:
        if is_training_day(day):
            year = financial_year_of(day, year_start) - dataset.first_year
            weights = dataset.day_weights[year]
            dataset.days[year].append(TrainingDay(day=day, year=year))
            weights.append((weights[-1] if weights else 0.0) + MONTH_WEIGHTS.get(day.month, 1.0))
        day += timedelta(days=1)


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
    overbook = dataset.settings.overbook_percent if day.year > 0 else 0
    created_at = min(starts_at - timedelta(days=90), dataset.set_up_at + timedelta(days=day.year * 365))
    session = {
        "id": dataset.ids(CourseSession, 1)[0],
        "course_id": course.id,
        "starts_at": starts_at,
        "ends_at": ends_at,
        # The model keeps the UK month of the start; an unsaved session says what it would be.
        "local_month": CourseSession(starts_at=starts_at).local_month,
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
    rows: list[dict] = field(default_factory=list)
    on_session: set[int] = field(default_factory=set)  # person ids
    waiting: list[dict] = field(default_factory=list)  # in the order they joined
    confirmed: int = 0
    limit: int = field(init=False)
    session_day: date = field(init=False)  # in the UK
    closes_at: datetime = field(init=False)
    late_from: datetime = field(init=False)

    def __post_init__(self) -> None:
        settings, starts_at = self.dataset.settings, self.session["starts_at"]
        self.limit = bookable_limit(self.session["places"], self.session["overbook_percent"])
        self.session_day = london_date(starts_at)
        self.closes_at = closing_time(starts_at, settings.closes_working_days)
        self.late_from = notice_period_starts_at(starts_at, settings.notice_working_days)

    def book(self, person: Person, at: datetime, by: int) -> dict:
        """A place while the capacity calculator has one free, otherwise the waiting list."""
        row = booking_row(self.dataset, self.session, person, at, by)
        if free_places(self.limit, self.confirmed) > 0:
            row["status"], row["confirmed_at"] = BookingStatus.CONFIRMED, at
            self.confirmed += 1
        else:
            row["status"], row["waitlisted_at"] = BookingStatus.WAITING, at
            self.waiting.append(row)
        self.rows.append(row)
        self.on_session.add(person.id)
        return row

    def cancel(self, row: dict, at: datetime) -> None:
        """The delegate cancels, late or not as the rule says; a freed place goes to those waiting."""
        status = row["status"]
        if status not in LIVE_STATUSES:
            return  # passed to a colleague meanwhile
        late = late_cancellation_of(
            london_date(at),
            self.session_day,
            self.dataset.settings.notice_working_days,
            confirmed=status is BookingStatus.CONFIRMED,
            without_notice=row["promoted_without_notice"],
        )
        row |= {
            "status": BookingStatus.CANCELLED,
            "cancelled_at": at,
            "cancelled_by_id": row["user_id"],
            "cancellation_reason": CancellationReason.DELEGATE,
            "is_late_cancellation": late,
        }
        if status is BookingStatus.WAITING:
            self.waiting.remove(row)
        else:
            self.confirmed -= 1
            self.fill_from_waiting_list(at)

    def fill_from_waiting_list(self, at: datetime) -> None:
        """Those the capacity calculator confirms from the waiting list, told whether at short notice."""
        promoted = next_from_waiting_list(self.waiting, self.limit, self.confirmed)
        if not promoted:
            return
        without_notice = promoted_without_notice_on(
            london_date(at), self.session_day, self.dataset.settings.notice_working_days
        )
        self.confirmed += len(promoted)
        for row in promoted:
            self.waiting.remove(row)
            row |= {
                "status": BookingStatus.CONFIRMED,
                "confirmed_at": at,
                "promoted_at": at,
                "promoted_without_notice": without_notice,
            }

    def substitute(self, at: datetime) -> None:
        """Someone confirmed passes their place to a colleague who is free, as the rule allows."""
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
            if colleague.id not in self.on_session and is_colleague(
                row["agency_id"], row["other_organisation"], colleague.agency_id, colleague.other_organisation
            ):
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


BOOK, CANCEL, SUBSTITUTE = 0, 1, 2  # also the order of events at the same moment


def play_session(dataset: Dataset) -> tuple[dict, list[dict]]:
    """A new session and its bookings, played in time order: booking, cancelling, passing on."""
    rng = dataset.rng
    session, day = new_session(dataset)
    play = Play(dataset, session, day)
    cancelled_at = None
    if rng.random() < SESSION_CANCELLED_CHANCE:
        cancelled_at = session["starts_at"] - timedelta(days=rng.randint(2, 10), minutes=rng.randrange(600))
    people, events = booking_events(play, demand(rng, session["places"], play.limit))
    if rng.random() < SUBSTITUTION_CHANCE:
        events.append((session["starts_at"] - timedelta(days=rng.uniform(0.1, 5)), SUBSTITUTE, -1, 0))
    booked: dict[int, dict] = {}  # by person's place in `people`
    for at, kind, number, by in sorted(events):
        if cancelled_at is not None and at >= cancelled_at:
            break
        if kind == BOOK:
            booked[number] = play.book(people[number], at, by)
        elif kind == CANCEL:
            play.cancel(booked[number], at)
        else:
            play.substitute(at)
    if cancelled_at is not None:
        cancel_session(play, cancelled_at)
    else:
        keep_register(play)
    return session, play.rows


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
    dataset, starts_at = play.dataset, play.session["starts_at"]
    rng = dataset.rng
    people = rng.sample(dataset.people, count)
    cancel_chance = CANCEL_CHANCE[play.day.year]
    events = []
    for number, person in enumerate(people):
        by_lnd = rng.random() < BOOKED_BY_LND
        by = rng.choice(dataset.lnd_ids) if by_lnd else person.id
        ahead = rng.uniform(*LAST_MINUTE_DAYS) if rng.random() < LAST_MINUTE else rng.triangular(*LEAD_DAYS)
        at = starts_at - timedelta(days=ahead)
        if is_closed(at, play.closes_at, staff=by_lnd):
            # Bookings had closed for them by then (not for the L&D team), so they booked on the last
            # day they could.
            at = play.closes_at - timedelta(minutes=rng.randrange(1, 600))
        events.append((at, BOOK, number, by))
        if rng.random() < cancel_chance:
            events.append((cancel_moment(rng, at, play.late_from, starts_at), CANCEL, number, by))
    return people, events


def cancel_moment(
    rng: random.Random, booked_at: datetime, late_from: datetime, starts_at: datetime
) -> datetime:
    """With notice, any time after booking; late, inside the notice period and before the start."""
    last = starts_at - timedelta(minutes=30)
    late_from = min(late_from, last)
    first = booked_at
    if rng.random() < LATE_SHARE or late_from - booked_at < timedelta(hours=2):
        first = max(booked_at, late_from)
    else:
        last = late_from
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
        if row["status"] in LIVE_STATUSES:
            row |= {
                "status": BookingStatus.CANCELLED,
                "cancelled_at": at,
                "cancelled_by_id": lnd,
                "cancellation_reason": CancellationReason.SESSION_CANCELLED,
            }


def keep_register(play: Play) -> None:
    """Mark everyone confirmed; perhaps add a walk-in; close the register; evaluations requested."""
    dataset, session, settings = play.dataset, play.session, play.dataset.settings
    rng, trainer = dataset.rng, session["trainer_id"]
    starts_at, ends_at = session["starts_at"], session["ends_at"]
    no_show = NO_SHOW_CHANCE[play.day.year]
    closed_at = ends_at + timedelta(minutes=rng.randint(10, 24 * 60))
    # Reminders and joining instructions went before the session, so no sweep sends them again.
    reminded_from = starts_at - timedelta(days=settings.reminder_days)
    joining_from = joining_instructions_from(CourseSession(starts_at=starts_at))
    for row in play.rows:
        if row["status"] is not BookingStatus.CONFIRMED:
            continue
        if rng.random() < no_show:
            outcome = Attendance.NO_SHOW
        else:
            outcome = Attendance.PARTIAL if rng.random() < PARTIAL_CHANCE else Attendance.ATTENDED
        mark(row, outcome, starts_at + timedelta(minutes=rng.randint(5, 60)), trainer)
        row["reminder_sent_at"] = max(row["confirmed_at"], reminded_from)
        row["joining_sent_at"] = max(row["confirmed_at"], joining_from)
    if free_places(play.limit, play.confirmed) > 0 and rng.random() < WALK_IN_CHANCE:
        add_walk_in(play, starts_at + timedelta(minutes=rng.randint(5, 30)))
    for row in play.rows:
        if row["attendance"] in (Attendance.ATTENDED, Attendance.PARTIAL):
            row["evaluation_requested_at"] = closed_at
            row["evaluation_reminded_at"] = closed_at + timedelta(days=settings.evaluation_reminder_days)
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
        row = play.waiting.pop(0)
    else:
        person = rng.choice(play.dataset.people)
        if person.id in play.on_session:
            return
        row = booking_row(play.dataset, play.session, person, at, trainer)
        play.rows.append(row)
    row |= {"status": BookingStatus.CONFIRMED, "confirmed_at": at, "is_walk_in": True}
    mark(row, Attendance.ATTENDED, at, trainer)
    play.confirmed += 1
