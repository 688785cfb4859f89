"""Evaluation and follow-up results, budget and the annual summary: read-only, aggregated in SQL.

Free-text answers are reported without names: nothing here joins an answer to its author's name.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime

import sqlalchemy as sa

from lms.bookings.models import Attendance, Booking, BookingStatus
from lms.core.formatting import (
    NOTHING,
    format_money,
    format_number,
    format_percent,
    format_point_change,
    plural,
    plural_word,
)
from lms.core.timezones import end_of_london_day, start_of_london_day
from lms.courses.models import Course, CourseSession, DeliveryMode, SessionStatus
from lms.evaluations.models import Answer, Evaluation, Question, QuestionKind, Rating
from lms.extensions import db
from lms.finance.models import Budget, Charge, ChargeStatus, InvoiceLine
from lms.followups.models import Barrier, FollowUp, ManagerComment, PracticeChange
from lms.reporting.utilisation import Dimension, utilisation

RATINGS = [r.score for r in Rating]


def _in_period(start: date, end: date):
    return sa.and_(
        CourseSession.starts_at >= start_of_london_day(start),
        CourseSession.starts_at < end_of_london_day(end),
    )


@dataclass
class QuestionResult:
    text: str
    counts: dict[int, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def mean(self) -> float | None:
        return sum(k * v for k, v in self.counts.items()) / self.total if self.total else None

    @property
    def high_share(self) -> float | None:
        """Share answering High or Very high."""
        return (self.counts.get(4, 0) + self.counts.get(5, 0)) / self.total if self.total else None


@dataclass
class CourseResults:
    course: str
    evaluations: int
    attendees: int
    questions: list[QuestionResult]
    comments: list[tuple[str, str]]  # (question, answer), no names

    @property
    def response_rate(self) -> float | None:
        return self.evaluations / self.attendees if self.attendees else None

    def mean_of(self, key_words: str) -> float | None:
        match = next((q for q in self.questions if key_words in q.text.lower()), None)
        return match.mean if match else None


def evaluation_results(start: date, end: date, *, course_id: int | None = None) -> list[CourseResults]:
    """Per course: how many evaluated, the spread of each rated question, and the comments."""
    filters = [_in_period(start, end)]
    if course_id:
        filters.append(Course.id == course_id)
    ratings = db.session.execute(
        sa.select(Course.title, Question.text, Answer.rating, sa.func.count(Answer.id))
        .select_from(Answer)
        .join(Question, Question.id == Answer.question_id)
        .join(Evaluation, Evaluation.id == Answer.evaluation_id)
        .join(Booking, Booking.id == Evaluation.booking_id)
        .join(CourseSession, CourseSession.id == Booking.session_id)
        .join(Course, Course.id == CourseSession.course_id)
        .where(*filters, Question.kind == QuestionKind.RATING)
        .group_by(Course.title, Question.text, Answer.rating)
        # Each course's questions in the order its evaluation asks them, whatever order the
        # database groups them in.
        .order_by(Course.title, sa.func.min(Question.position), Question.text, Answer.rating)
    ).all()
    evaluated = dict(
        db.session.execute(
            sa.select(Course.title, sa.func.count(Evaluation.id))
            .select_from(Evaluation)
            .join(Booking, Booking.id == Evaluation.booking_id)
            .join(CourseSession, CourseSession.id == Booking.session_id)
            .join(Course, Course.id == CourseSession.course_id)
            .where(*filters)
            .group_by(Course.title)
        ).all()
    )
    attended = dict(
        db.session.execute(
            sa.select(Course.title, sa.func.count(Booking.id))
            .select_from(Booking)
            .join(CourseSession, CourseSession.id == Booking.session_id)
            .join(Course, Course.id == CourseSession.course_id)
            .where(
                *filters,
                Booking.attendance.in_([Attendance.ATTENDED, Attendance.PARTIAL]),
                CourseSession.register_closed_at.is_not(None),
            )
            .group_by(Course.title)
        ).all()
    )
    comments = db.session.execute(
        sa.select(Course.title, Question.text, Answer.text)
        .select_from(Answer)
        .join(Question, Question.id == Answer.question_id)
        .join(Evaluation, Evaluation.id == Answer.evaluation_id)
        .join(Booking, Booking.id == Evaluation.booking_id)
        .join(CourseSession, CourseSession.id == Booking.session_id)
        .join(Course, Course.id == CourseSession.course_id)
        .where(*filters, Question.kind == QuestionKind.TEXT, Answer.text.is_not(None))
        .order_by(Course.title, Answer.id)
    ).all()
    courses: dict[str, CourseResults] = {}
    for title in sorted(set(evaluated) | set(attended)):
        courses[title] = CourseResults(title, evaluated.get(title, 0), attended.get(title, 0), [], [])
    for title, text, rating, count in ratings:
        results = courses[title]
        question = next((q for q in results.questions if q.text == text), None)
        if question is None:
            question = QuestionResult(text, {score: 0 for score in RATINGS})
            results.questions.append(question)
        question.counts[rating] = count
    for title, text, answer in comments:
        courses[title].comments.append((text, answer))
    return list(courses.values())


@dataclass(frozen=True)
class ManagerView:
    course: str
    delegate_example: str | None  # what the delegate said changed in their practice
    change: str  # how much the manager has seen it change
    comment: str | None


@dataclass
class FollowUpResults:
    invited: int
    answered: int
    applied: Counter
    barriers: Counter
    multi_agency: Counter
    confidence_now: float | None
    confidence_at_evaluation: float | None
    examples: list[str]
    # The line managers' view, asked for once a delegate has answered (the third stage).
    managers_invited: int = 0
    managers_answered: int = 0
    manager_change: list[tuple[str, int]] = field(default_factory=list)  # on the scale, in order
    # Each manager's answer beside the delegate's own, without names.
    side_by_side: list[ManagerView] = field(default_factory=list)

    @property
    def response_rate(self) -> float | None:
        return self.answered / self.invited if self.invited else None

    @property
    def manager_response_rate(self) -> float | None:
        return self.managers_answered / self.managers_invited if self.managers_invited else None


def follow_up_results(start: date, end: date) -> FollowUpResults:
    """Level-2 follow-ups for sessions in the period: response rate, impact, barriers, confidence."""
    rows = db.session.scalars(
        sa.select(FollowUp)
        .join(Booking, Booking.id == FollowUp.booking_id)
        .join(CourseSession, CourseSession.id == Booking.session_id)
        .where(_in_period(start, end))
    ).all()
    answered = [f for f in rows if f.submitted_at is not None]
    barriers = Counter(value for f in answered for value in f.barriers)
    booking_ids = [f.booking_id for f in answered]
    at_evaluation = None
    if booking_ids:
        at_evaluation = db.session.scalar(
            sa.select(sa.func.avg(Answer.rating))
            .join(Question, Question.id == Answer.question_id)
            .join(Evaluation, Evaluation.id == Answer.evaluation_id)
            .where(Evaluation.booking_id.in_(booking_ids), Question.key == "confidence")
        )
    confidences = [f.confidence for f in answered if f.confidence]
    managers = _manager_comments([f.id for f in answered])
    given = [m for m in managers if m.answered_at is not None]
    by_follow_up = {f.id: f for f in answered}
    return FollowUpResults(
        invited=len(rows),
        answered=len(answered),
        applied=Counter(f.applied.title for f in answered if f.applied),
        barriers=Counter({Barrier(k).title: v for k, v in barriers.items()}),
        multi_agency=Counter(f.multi_agency.title for f in answered if f.multi_agency),
        confidence_now=sum(confidences) / len(confidences) if confidences else None,
        confidence_at_evaluation=float(at_evaluation) if at_evaluation is not None else None,
        examples=[f.example for f in answered if f.example],
        managers_invited=len(managers),
        managers_answered=len(given),
        manager_change=[(c.title, sum(1 for m in given if m.change is c)) for c in PracticeChange],
        side_by_side=[
            ManagerView(
                by_follow_up[m.follow_up_id].booking.session.course.title,
                by_follow_up[m.follow_up_id].example,
                m.change.title if m.change else NOTHING,
                m.comment,
            )
            for m in given
        ],
    )


def _manager_comments(follow_up_ids: list[int]) -> list[ManagerComment]:
    if not follow_up_ids:
        return []
    return list(
        db.session.scalars(
            sa.select(ManagerComment)
            .where(ManagerComment.follow_up_id.in_(follow_up_ids))
            .order_by(ManagerComment.answered_at, ManagerComment.id)
        )
    )


@dataclass
class BudgetFigures:
    year: int
    allocated: int | None
    commissioned: int
    spent: int
    places_offered: int
    attended: int

    @property
    def per_place_offered(self) -> int | None:
        return round(self.spent / self.places_offered) if self.places_offered else None

    @property
    def per_place_attended(self) -> int | None:
        return round(self.spent / self.attended) if self.attended else None

    @property
    def used_share(self) -> float | None:
        return self.spent / self.allocated if self.allocated else None


def budget_figures(year: int, start: date, end: date, *, now: datetime) -> BudgetFigures:
    """Allocated (by L&D), commissioned (sessions not cancelled), spent (sessions that ran)."""
    budget = db.session.get(Budget, year)
    commissioned = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(CourseSession.cost_pence), 0)).where(
            _in_period(start, end), CourseSession.status != SessionStatus.CANCELLED
        )
    )
    spent = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(CourseSession.cost_pence), 0)).where(
            _in_period(start, end),
            CourseSession.status != SessionStatus.CANCELLED,
            CourseSession.starts_at <= now,
        )
    )
    total = utilisation(Dimension.MONTH, start, end, now=now).total
    return BudgetFigures(
        year,
        budget.allocated_pence if budget else None,
        int(commissioned),
        int(spent),
        total.places,
        total.attended_total,
    )


@dataclass
class ChargeFigures:
    raised: int
    waived: int
    invoiced: int


def charge_figures(start: date, end: date) -> ChargeFigures:
    def total(condition):
        return int(
            db.session.scalar(
                sa.select(sa.func.coalesce(sa.func.sum(Charge.amount_pence), 0)).where(
                    Charge.session_date.between(start, end), condition
                )
            )
        )

    return ChargeFigures(
        raised=total(Charge.status != ChargeStatus.WITHDRAWN),
        waived=total(Charge.status == ChargeStatus.WAIVED),
        invoiced=int(
            db.session.scalar(
                sa.select(sa.func.coalesce(sa.func.sum(InvoiceLine.amount_pence), 0))
                .join(Charge, Charge.id == InvoiceLine.charge_id)
                .where(Charge.session_date.between(start, end))
            )
        ),
    )


@dataclass
class AnnualSummary:
    label: str
    sessions: int
    cancelled: int
    modules: int
    topics: int
    places: int
    attended: int  # attendances, in full or in part: one for each place used
    people: int  # different people among them
    utilisation: float | None
    previous_utilisation: float | None
    elearning_completions: int
    evaluations: int
    understanding_high_share: float | None
    charges: ChargeFigures
    budget: BudgetFigures

    @property
    def change_points(self) -> float | None:
        if self.utilisation is None or self.previous_utilisation is None:
            return None
        return (self.utilisation - self.previous_utilisation) * 100


def annual_summary(
    year: int, label: str, start: date, end: date, previous: tuple[date, date], *, now: datetime
) -> AnnualSummary:
    """The year's headline figures, as the partnership's annual report states them."""
    this = utilisation(Dimension.COURSE, start, end, now=now)
    last = utilisation(Dimension.COURSE, *previous, now=now).total
    ran = sa.and_(
        _in_period(start, end),
        CourseSession.status != SessionStatus.CANCELLED,
        CourseSession.starts_at <= now,
    )
    modules, topics = db.session.execute(
        sa.select(sa.func.count(sa.distinct(Course.id)), sa.func.count(sa.distinct(Course.topic_id)))
        .select_from(CourseSession)
        .join(Course, Course.id == CourseSession.course_id)
        .where(ran)
    ).one()
    cancelled = db.session.scalar(
        sa.select(sa.func.count(CourseSession.id)).where(
            _in_period(start, end), CourseSession.status == SessionStatus.CANCELLED
        )
    )
    elearning = db.session.scalar(
        sa.select(sa.func.count(Booking.id))
        .join(CourseSession, CourseSession.id == Booking.session_id)
        .where(
            ran,
            CourseSession.delivery_mode == DeliveryMode.ELEARNING,
            Booking.attendance == Attendance.ATTENDED,
        )
    )
    people = db.session.scalar(
        sa.select(sa.func.count(sa.distinct(Booking.user_id)))
        .join(CourseSession, CourseSession.id == Booking.session_id)
        .where(
            ran,
            Booking.status == BookingStatus.CONFIRMED,
            Booking.attendance.in_((Attendance.ATTENDED, Attendance.PARTIAL)),
        )
    )
    evaluations = evaluation_results(start, end)
    now_questions = [q for r in evaluations for q in r.questions if "subject now" in q.text.lower()]
    answered = sum(q.total for q in now_questions)
    high = sum(q.counts.get(4, 0) + q.counts.get(5, 0) for q in now_questions)
    return AnnualSummary(
        label=label,
        sessions=this.total.sessions,
        cancelled=cancelled,
        modules=modules,
        topics=topics,
        places=this.total.places,
        attended=this.total.attended_total,
        people=people,
        utilisation=this.total.utilisation,
        previous_utilisation=last.utilisation,
        elearning_completions=elearning,
        evaluations=sum(r.evaluations for r in evaluations),
        understanding_high_share=high / answered if answered else None,
        charges=charge_figures(start, end),
        budget=budget_figures(year, start, end, now=now),
    )


# The annual summary in words --------------------------------------------------------------------


def summary_statements(summary: AnnualSummary) -> list[str]:
    """The year's figures as sentences, worded as the partnership's annual report words them."""
    sessions = summary.sessions
    ran = (
        f"{plural(sessions, 'session')} of {plural(summary.modules, 'module')} on "
        f"{plural(summary.topics, 'topic')} {plural_word(sessions, 'was', 'were')} delivered"
    )
    change = format_point_change(summary.utilisation, summary.previous_utilisation)
    if change == "no change":
        change = ", the same as the year before"
    elif change:
        change = f", {change} on the year before"
    lines = [
        ran + (f" ({format_number(summary.cancelled)} cancelled)." if summary.cancelled else "."),
        f"{plural(summary.places, 'place')} {plural_word(summary.places, 'was', 'were')} offered and "
        f"{plural(summary.attended, 'attendance')} recorded, in full or in part, "
        f"by {plural(summary.people, 'person', 'people')}: "
        f"{format_percent(summary.utilisation)} utilisation{change}.",
    ]
    if summary.elearning_completions:
        completions = summary.elearning_completions
        lines.append(
            f"{plural(completions, 'eLearning module')} {plural_word(completions, 'was', 'were')} completed."
        )
    if summary.evaluations:
        lines.append(
            f"{plural(summary.evaluations, 'delegate')} evaluated their session; "
            f"{format_percent(summary.understanding_high_share)} rated their understanding now "
            "High or Very high."
        )
    charges = summary.charges
    if charges.raised:
        lines.append(
            f"Charges of {format_money(charges.raised)} were raised for no-shows, late cancellations "
            f"and place fees: {format_money(charges.invoiced)} invoiced, "
            f"{format_money(charges.waived)} waived."
        )
    else:
        lines.append("No charges were raised for no-shows or late cancellations.")
    if summary.budget.allocated is not None:
        lines.append(
            f"Of a training budget of {format_money(summary.budget.allocated)}, "
            f"{format_money(summary.budget.spent)} was spent."
        )
    return lines


def summary_figures(summary: AnnualSummary) -> list[tuple[str, str]]:
    """The year's figures as a two-column table of names and values shown as text."""
    budget = summary.budget
    return [
        ("Sessions delivered", format_number(summary.sessions)),
        ("Sessions cancelled", format_number(summary.cancelled)),
        ("Modules", format_number(summary.modules)),
        ("Topics", format_number(summary.topics)),
        ("Places offered", format_number(summary.places)),
        ("Attendances (in full or in part)", format_number(summary.attended)),
        ("People who attended", format_number(summary.people)),
        ("Utilisation", format_percent(summary.utilisation)),
        ("Utilisation the year before", format_percent(summary.previous_utilisation)),
        *(
            [("eLearning completions", format_number(summary.elearning_completions))]
            if summary.elearning_completions
            else []
        ),
        ("Evaluations", format_number(summary.evaluations)),
        ("Charges raised", format_money(summary.charges.raised)),
        ("Charges invoiced", format_money(summary.charges.invoiced)),
        ("Charges waived", format_money(summary.charges.waived)),
        ("Budget allocated", format_money(budget.allocated) if budget.allocated is not None else "Not set"),
        ("Spent", format_money(budget.spent)),
        ("Cost per attended place", format_money(budget.per_place_attended) or NOTHING),
    ]
