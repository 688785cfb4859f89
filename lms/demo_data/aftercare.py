"""After a session: evaluations, certificates and the level-2 follow-up, through the services.

Most people who attended evaluate within a few days of the register closing, some only after the
reminder, a few never; a full attendance plus an evaluation earns the certificate (the service
issues it). The scheduler's sweeps run once a day over the demo's past, as the real scheduler would
have: evaluation reminders, and follow-up invitations at 6 weeks, reminders at 7 and closing at 8.
About half of those invited answer the follow-up.
"""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa

from lms.bookings.models import Attendance, Booking, BookingStatus
from lms.core.timezones import london_date, london_to_utc, to_london
from lms.courses.models import Course, CourseSession
from lms.evaluations.models import QuestionKind, QuestionSet, Rating
from lms.evaluations.services import latest_question_set, remind_evaluations, submit_evaluation
from lms.extensions import db
from lms.followups.models import Applied, Barrier, FollowUp
from lms.followups.services import FollowUpAnswers, close_due, invite_due, remind_due, submit_follow_up

if TYPE_CHECKING:
    from lms.demo_data.history import History

EVALUATED_SHARE = {Attendance.ATTENDED: 0.9, Attendance.PARTIAL: 0.7}
FOLLOW_UP_ANSWERED_SHARE = 0.55
SWEEP_TIME = time(9, 0)  # the daily sweeps, London time

# Ratings, as weights of Very low .. Very high, for the default questions by key.
RATING_WEIGHTS: dict[str, tuple[int, ...]] = {
    "understanding_before": (10, 35, 40, 13, 2),
    "understanding_now": (0, 1, 9, 55, 35),
    "impact_on_safeguarding": (0, 1, 10, 50, 39),
    "confidence": (0, 2, 18, 55, 25),
    "usefulness": (1, 2, 12, 50, 35),
    "other_agencies": (0, 4, 26, 48, 22),
}
ANY_RATING = (1, 3, 20, 50, 26)

DO_DIFFERENTLY: dict[str, tuple[str, ...]] = {
    "Adultification": (
        "Check my first impressions of older-looking children and write down what I see, not what I assume.",
        "Say 'child' in every referral and record, and challenge language that makes a child sound older.",
    ),
    "Substance misuse": (
        "Ask every parent the AUDIT-C questions at the first visit rather than waiting for a concern.",
        "Offer a brief intervention there and then and give the local treatment service's number.",
    ),
    "Domestic abuse": (
        "Ask about coercive control directly and safely, away from the partner.",
        "Complete a DASH with the victim and refer to MARAC when the score says so, not only when worried.",
        "Record the child's experience of the abuse in their own words.",
    ),
    "Hidden harm": (
        "Ask who looks after the children when a parent is using, and see the children on their own.",
        "Share information with the treatment service before a review, not after.",
    ),
    "Female genital mutilation (FGM)": (
        "Know the mandatory reporting duty and report straight to the police when a girl discloses.",
        "Raise FGM sensitively before a summer trip abroad when a family is from an affected community.",
    ),
    "Child exploitation": (
        "Complete the exploitation screening tool when a child goes missing more than once.",
        "Share intelligence with the exploitation hub even when it seems small.",
        "Stop describing exploited children as 'choosing' their lifestyle.",
    ),
    "Youth violence": (
        "Build a safety plan with the young person, not about them.",
        "Involve the youth justice worker earlier when a child is carrying a knife.",
    ),
    "Neglect (GCP2)": (
        "Use GCP2 with the family at the start of a plan, so we have a baseline.",
        "Score each area with the parent and show them what good enough looks like.",
    ),
    "Online safety": (
        "Talk to children about sextortion and tell them they will not be in trouble for reporting it.",
        "Give parents the reporting routes and check the school's filtering policy.",
    ),
    "Professional curiosity": (
        "Ask to see the child's bedroom on home visits and check what I am told against what I see.",
        "Use the escalation policy when I disagree with another agency's decision, instead of letting it go.",
    ),
    "Disabled children": (
        "Use the child's own way of communicating and ask the people who know them best.",
        "Stop putting changes in behaviour down to the child's disability before ruling out harm.",
    ),
    "Safeguarding leadership": (
        "Review our allegations procedure with HR and make sure every manager knows how to contact the LADO.",
        "Put safeguarding supervision in the diary for every member of the team.",
    ),
    "Working with resistant families": (
        "Name disguised compliance in my recording and set clear, checkable expectations.",
        "Visit with a colleague when a family is hostile, and use supervision to stay focused on the child.",
    ),
}
DO_DIFFERENTLY_ANYWHERE = (
    "Share concerns earlier with the other agencies involved.",
    "Record my reasoning, not only the facts, when I decide not to refer.",
    "Talk to the designated safeguarding lead the same day rather than waiting for a meeting.",
)
COMMENTS = (
    "Really well delivered; the case studies made it real.",
    "The trainer knew the subject inside out. More time for questions would help.",
    "Very useful to hear from colleagues in other agencies.",
    "Some technical problems at the start of the online session, but the content was excellent.",
    "Would like a follow-up session for managers.",
    "The local pathways handout is the most useful thing I have been given this year.",
    "A bit rushed in the second half.",
    "Please run this one more often; colleagues could not get a place.",
)
CHANGED_PRACTICE = (
    "I now ask about this at every first visit and record the answer.",
    "I used what I learned in a strategy meeting and challenged a decision using the escalation policy.",
    "I shared information with the other agencies earlier than I would have done before.",
    "I changed our team's checklist and briefed my colleagues at the team meeting.",
    "I used the tools from the course with a family and it helped them see the concerns.",
    "I have been more curious on home visits and spoken to the children on their own.",
)
BARRIER_OTHER = (
    "Staff turnover in the team",
    "Waiting for the new policy to be signed off",
    "Interpreters not available at short notice",
)
BARRIERS = (
    (Barrier.TIME, 40),
    (Barrier.CASELOAD, 30),
    (Barrier.SYSTEMS, 12),
    (Barrier.MANAGEMENT, 8),
    (Barrier.NOT_RELEVANT, 5),
    (Barrier.OTHER, 5),
)


# Evaluations ----------------------------------------------------------------------------------


def evaluate_session(history: History, session: CourseSession) -> None:
    """When the register has closed: plan who evaluates and when; the timeline does the rest."""
    rng = history.rng
    closed_at = session.register_closed_at
    attendees = db.session.scalars(
        sa.select(Booking).where(
            Booking.session_id == session.id,
            Booking.status == BookingStatus.CONFIRMED,
            Booking.attendance.in_(list(EVALUATED_SHARE)),
        )
    ).all()
    for booking in attendees:
        if booking.user_id == history.delegate.id:
            if history.for_delegate.get(session.id) == "to_evaluate":
                continue  # left for whoever tries the demo
            at = awake(rng, closed_at + timedelta(hours=rng.uniform(2, 20)))
        elif rng.random() < EVALUATED_SHARE[booking.attendance]:
            at = awake(rng, closed_at + evaluation_delay(rng))
        else:
            continue
        history.timeline.at(at, lambda moment, booking=booking: evaluate(history, booking, moment))


def evaluation_delay(rng: random.Random) -> timedelta:
    """Most the same day or the next, some in the week, the rest after the reminder."""
    chance = rng.random()
    if chance < 0.55:
        return timedelta(hours=rng.uniform(0.5, 30))
    if chance < 0.85:
        return timedelta(hours=rng.uniform(30, 24 * 7))
    return timedelta(hours=rng.uniform(24 * 7 + 2, 24 * 20))


def awake(rng: random.Random, moment: datetime) -> datetime:
    """`moment`, or the next morning when it falls in the night (London)."""
    local = to_london(moment)
    if 7 <= local.hour < 22:
        return moment
    day = local.date() + timedelta(days=1 if local.hour >= 22 else 0)
    return london_to_utc(datetime.combine(day, time(7, 0)) + timedelta(minutes=rng.randrange(180)))


def evaluate(history: History, booking: Booking, moment: datetime) -> None:
    question_set = questions_for(history, booking.session.course)
    topic = history.profiles[booking.session.course_id].topic
    answers = {
        question.id: answer(history.rng, question.key, question.kind, topic)
        for question in question_set.questions
    }
    submit_evaluation(booking, question_set, answers, by=booking.user, now=moment)


def questions_for(history: History, course: Course) -> QuestionSet | None:
    """The questions the course's evaluations use. The demo never changes a course's questions, so
    they are read once and kept, with their questions loaded, for the course's later evaluations."""
    question_set = history.question_sets.get(course.id)
    if question_set is None:
        question_set = latest_question_set(course)
        if question_set is not None:
            history.question_sets[course.id] = question_set
    return question_set


def answer(rng: random.Random, key: str, kind: QuestionKind, topic: str) -> str:
    if kind is QuestionKind.RATING:
        return rng.choices(list(Rating), RATING_WEIGHTS.get(key, ANY_RATING))[0].value
    if key == "do_differently":
        return rng.choice(DO_DIFFERENTLY.get(topic, ()) + DO_DIFFERENTLY_ANYWHERE)
    return rng.choice(COMMENTS) if rng.random() < 0.35 else ""


# The scheduler's daily sweeps and the follow-up --------------------------------------------------


def start_daily_sweeps(history: History, first: datetime) -> None:
    """From the first session on, the sweeps the scheduler runs, once a day at 09:00."""
    day = london_date(first)
    history.timeline.at(
        london_to_utc(datetime.combine(day, SWEEP_TIME)), lambda moment: sweep(history, moment)
    )


def sweep(history: History, moment: datetime) -> None:
    """One day's sweeps, as the scheduler runs them; then plan who answers the new invitations."""
    remind_evaluations(moment)
    newest = db.session.scalar(sa.select(sa.func.max(FollowUp.id))) or 0
    invite_due(moment)
    remind_due(moment)
    close_due(moment)
    invited = db.session.scalars(sa.select(FollowUp).where(FollowUp.id > newest).order_by(FollowUp.id)).all()
    for follow_up in invited:
        plan_follow_up_answer(history, follow_up)
    tomorrow = london_date(moment) + timedelta(days=1)
    history.timeline.at(
        london_to_utc(datetime.combine(tomorrow, SWEEP_TIME)), lambda later: sweep(history, later)
    )


def plan_follow_up_answer(history: History, follow_up: FollowUp) -> None:
    """About half answer, most in the first week, the rest after the reminder; never after it closes."""
    rng, booking = history.rng, follow_up.booking
    if booking.user_id == history.delegate.id:
        if history.for_delegate.get(booking.session_id) == "follow_up_open":
            return  # still open, for whoever tries the demo
    elif rng.random() >= FOLLOW_UP_ANSWERED_SHARE:
        return
    days = rng.uniform(0.1, 6) if rng.random() < 0.65 else rng.uniform(7.1, 13)
    at = awake(rng, follow_up.invited_at + timedelta(days=days))
    if at < follow_up.closes_at:
        history.timeline.at(at, lambda moment: answer_follow_up(history, follow_up, moment))


def answer_follow_up(history: History, follow_up: FollowUp, moment: datetime) -> None:
    rng = history.rng
    applied = rng.choices(list(Applied), (55, 35, 10))[0]
    barriers = sorted(
        {
            rng.choices([b for b, _ in BARRIERS], [w for _, w in BARRIERS])[0]
            for _ in range(rng.randint(0, 2))
        },
        key=lambda barrier: barrier.value,
    )
    answers = FollowUpAnswers(
        applied=applied,
        example=rng.choice(CHANGED_PRACTICE) if applied is not Applied.NO else "",
        confidence=rng.choices(list(Rating), (0, 3, 22, 52, 23))[0],
        barriers=barriers,
        barrier_other=rng.choice(BARRIER_OTHER) if Barrier.OTHER in barriers else "",
        multi_agency=rng.choices(list(Applied), (45, 40, 15))[0],
    )
    submit_follow_up(follow_up, answers, by=follow_up.booking.user, now=moment)
