"""The programme: topics, courses and sessions, and the catalogue practitioners browse."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from urllib.parse import urlparse

import sqlalchemy as sa
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy.orm import contains_eager

from lms.accounts.models import Role, User
from lms.bookings.availability import (
    Availability,
    availability_from,
    free_places_expression,
    with_availability,
)
from lms.core.audit import log_action
from lms.core.calendar import EARLIEST_DATE, LATEST_DATE
from lms.core.errors import DomainError
from lms.core.permissions import require_role
from lms.core.timezones import end_of_london_day, london_date, start_of_london_day
from lms.courses.models import (
    Course,
    CourseLevel,
    CourseSession,
    DeliveryMode,
    SessionStatus,
    Topic,
)
from lms.extensions import db

MAX_SESSION_LENGTH = timedelta(days=7)


class ProgrammeError(DomainError):
    pass


@dataclass
class CourseDetails:
    title: str
    topic_id: int
    description: str
    target_audience: str
    level: CourseLevel
    delivery_mode: DeliveryMode
    duration_minutes: int
    provider: str
    is_active: bool = True
    # None keeps the course's choice (an import of the programme does not say).
    needs_approval: bool | None = None


@dataclass
class SessionDetails:
    course_id: int
    starts_at: datetime
    ends_at: datetime
    delivery_mode: DeliveryMode
    places: int
    overbook_percent: int
    cost_pence: int = 0
    venue: str | None = None
    online_link: str | None = None
    trainer_id: int | None = None


# Topics ---------------------------------------------------------------------------------------


def find_or_create_topic(name: str, *, by: User | None, now: datetime) -> Topic:
    """The topic with this name, created if it is new."""
    require_role(by, Role.LND_ADMIN, message="Only the L&D team can change the programme.")
    name = " ".join(name.split())
    if not name:
        raise ProgrammeError("Give the topic a name.", field="topic")
    topic = db.session.scalar(sa.select(Topic).where(sa.func.lower(Topic.name) == name.lower()))
    if topic is None:
        topic = Topic(name=name)
        db.session.add(topic)
        db.session.flush()
        log_action("lms.topic.created", subject=topic, actor=by, now=now, name=name)
    return topic


# Courses --------------------------------------------------------------------------------------


def _apply_course(course: Course, details: CourseDetails) -> None:
    title = " ".join(details.title.split())
    clash = db.session.scalar(
        sa.select(Course.id).where(sa.func.lower(Course.title) == title.lower(), Course.id != course.id)
    )
    if clash is not None:
        raise ProgrammeError("A course with this title already exists.", field="title")
    if db.session.get(Topic, details.topic_id) is None:
        raise ProgrammeError("Choose a topic from the list.", field="topic_id")
    if details.duration_minutes <= 0:
        raise ProgrammeError("The duration must be more than zero.", field="duration_hours")
    course.title = title
    course.topic_id = details.topic_id
    course.description = details.description.strip()
    course.target_audience = details.target_audience.strip()
    course.level = details.level
    course.delivery_mode = details.delivery_mode
    course.duration_minutes = details.duration_minutes
    course.provider = details.provider.strip()
    course.is_active = details.is_active
    if details.needs_approval is not None:
        course.needs_approval = details.needs_approval


def create_course(details: CourseDetails, *, by: User | None, now: datetime) -> Course:
    """Add a course to the programme."""
    require_role(by, Role.LND_ADMIN, message="Only the L&D team can change the programme.")
    course = Course(created_at=now)
    _apply_course(course, details)
    db.session.add(course)
    db.session.flush()
    log_action("lms.course.created", subject=course, actor=by, now=now, title=course.title)
    return course


def update_course(course: Course, details: CourseDetails, *, by: User, now: datetime) -> None:
    """Change a course's description, audience, level, mode, duration or provider."""
    require_role(by, Role.LND_ADMIN, message="Only the L&D team can change the programme.")
    _apply_course(course, details)
    db.session.flush()
    log_action("lms.course.updated", subject=course, actor=by, now=now)


# Sessions -------------------------------------------------------------------------------------


def _valid_link(link: str) -> bool:
    parsed = urlparse(link)
    return parsed.scheme == "https" and bool(parsed.netloc)


def fill_session(session: CourseSession, details: SessionDetails) -> None:
    """Check a session's details and copy them onto the row. Not an operation on its own: it writes no
    audit entry and knows nothing of bookings. create_session uses it, and so does
    lms.bookings.services.edit_session, the one way to change a session that has bookings."""
    course = db.session.get(Course, details.course_id)
    if course is None:
        raise ProgrammeError("Choose a course from the list.", field="course_id")
    if not EARLIEST_DATE <= london_date(details.starts_at) <= LATEST_DATE:
        raise ProgrammeError(
            f"Enter a date between {EARLIEST_DATE.year} and {LATEST_DATE.year}.", field="starts_at"
        )
    if details.ends_at <= details.starts_at:
        raise ProgrammeError("The session must end after it starts.", field="ends_at")
    if details.ends_at - details.starts_at > MAX_SESSION_LENGTH:
        raise ProgrammeError("A session can last at most a week. Add separate sessions.", field="ends_at")
    if details.places < 1:
        raise ProgrammeError("A session needs at least one place.", field="places")
    if not 0 <= details.overbook_percent <= 100:
        raise ProgrammeError("Overbooking must be between 0 and 100 percent.", field="overbook_percent")
    if details.cost_pence < 0:
        raise ProgrammeError("The cost cannot be negative.", field="cost")
    venue = (details.venue or "").strip() or None
    link = (details.online_link or "").strip() or None
    if details.delivery_mode is DeliveryMode.IN_PERSON and not venue:
        raise ProgrammeError("An in-person session needs a venue.", field="venue")
    if details.delivery_mode in (DeliveryMode.ONLINE_LIVE, DeliveryMode.WEBINAR) and not link:
        raise ProgrammeError("An online session needs a joining link.", field="online_link")
    if link and not _valid_link(link):
        raise ProgrammeError("The joining link must be a full https:// address.", field="online_link")
    if details.trainer_id is not None:
        trainer = db.session.get(User, details.trainer_id)
        if trainer is None or not trainer.has_role(Role.TRAINER):
            raise ProgrammeError("Choose a trainer from the list.", field="trainer_id")
    session.course_id = course.id
    session.starts_at = details.starts_at
    session.ends_at = details.ends_at
    session.delivery_mode = details.delivery_mode
    session.venue = venue
    session.online_link = link
    session.trainer_id = details.trainer_id
    session.places = details.places
    session.overbook_percent = details.overbook_percent
    session.cost_pence = details.cost_pence


def save_course(
    course: Course | None, details: CourseDetails, *, new_topic: str | None, by: User | None, now: datetime
) -> Course:
    """Add a course, or change one; a topic typed in on the form is added with it."""
    require_role(by, Role.LND_ADMIN, message="Only the L&D team can change the programme.")
    if new_topic:
        details.topic_id = find_or_create_topic(new_topic, by=by, now=now).id
    if course is None:
        return create_course(details, by=by, now=now)
    update_course(course, details, by=by, now=now)
    return course


def create_session(details: SessionDetails, *, by: User | None, now: datetime) -> CourseSession:
    """Commission a session of a course."""
    require_role(by, Role.LND_ADMIN, message="Only the L&D team can change the programme.")
    session = CourseSession(status=SessionStatus.SCHEDULED, created_at=now, updated_at=now)
    fill_session(session, details)
    db.session.add(session)
    db.session.flush()
    log_action("lms.session.created", subject=session, actor=by, now=now)
    return session


# The catalogue --------------------------------------------------------------------------------


@dataclass
class CatalogueFilter:
    topic_id: int | None = None
    delivery_mode: DeliveryMode | None = None
    date_from: date | None = None
    date_to: date | None = None
    text: str = ""
    by_places_left: bool = False


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


MAX_SEARCH_WORDS = 8


def catalogue_query(filters: CatalogueFilter, *, now: datetime) -> sa.Select:
    """Upcoming scheduled sessions of active courses matching the filters, soonest first (or those
    with the most places left first)."""
    return _catalogue_statement(_shape(filters)).params(_catalogue_params(filters, now))


@dataclass(frozen=True)
class _Shape:
    """What a catalogue statement looks like for some filters, whatever their values."""

    topic: bool
    delivery_mode: bool
    date_from: bool
    date_to: bool
    words: int
    by_places_left: bool


def _shape(filters: CatalogueFilter) -> _Shape:
    return _Shape(
        topic=bool(filters.topic_id),
        delivery_mode=filters.delivery_mode is not None,
        date_from=filters.date_from is not None,
        date_to=filters.date_to is not None,
        words=len(filters.text.split()[:MAX_SEARCH_WORDS]),
        by_places_left=filters.by_places_left,
    )


def _catalogue_params(filters: CatalogueFilter, now: datetime) -> dict[str, object]:
    """The values of the filters, for the statement of their shape."""
    params: dict[str, object] = {"now": now}
    if filters.topic_id:
        params["topic_id"] = filters.topic_id
    if filters.delivery_mode is not None:
        params["delivery_mode"] = filters.delivery_mode
    if filters.date_from is not None:
        params["date_from"] = start_of_london_day(filters.date_from)
    if filters.date_to is not None:
        params["date_to"] = end_of_london_day(filters.date_to)
    for number, word in enumerate(filters.text.split()[:MAX_SEARCH_WORDS]):
        params[f"word_{number}"] = f"%{_escape_like(word)}%"
    return params


# Built once for each shape, its values bound when it runs: building a statement and working out
# its cache key was a good part of a catalogue page's time. There are at most a few hundred shapes.
@functools.lru_cache(maxsize=512)
def _catalogue_statement(shape: _Shape) -> sa.Select:
    query = (
        sa.select(CourseSession)
        .join(CourseSession.course)
        .join(Course.topic)
        # The course and topic the filters join are the ones loaded with each session.
        .options(contains_eager(CourseSession.course).contains_eager(Course.topic))
        .where(
            CourseSession.status == SessionStatus.SCHEDULED,
            CourseSession.starts_at > sa.bindparam("now"),
            Course.is_active.is_(True),
        )
    )
    if shape.by_places_left:
        query = query.order_by(free_places_expression().desc())
    query = query.order_by(CourseSession.starts_at, CourseSession.id)
    if shape.topic:
        query = query.where(Course.topic_id == sa.bindparam("topic_id"))
    if shape.delivery_mode:
        query = query.where(CourseSession.delivery_mode == sa.bindparam("delivery_mode"))
    if shape.date_from:
        query = query.where(CourseSession.starts_at >= sa.bindparam("date_from"))
    if shape.date_to:
        query = query.where(CourseSession.starts_at < sa.bindparam("date_to"))
    for number in range(shape.words):
        pattern = sa.bindparam(f"word_{number}", type_=sa.String)
        query = query.where(
            sa.or_(
                Course.title.ilike(pattern, escape="\\"),
                Course.description.ilike(pattern, escape="\\"),
                Course.target_audience.ilike(pattern, escape="\\"),
                Course.provider.ilike(pattern, escape="\\"),
                Topic.name.ilike(pattern, escape="\\"),
            )
        )
    return query


@functools.lru_cache(maxsize=512)
def _catalogue_page_statement(shape: _Shape) -> sa.Select:
    """A page of the catalogue: the page's sessions are chosen, and all that match counted, from
    their ids alone; only the chosen few are then read whole, with their availability for the
    person asking (`person_id`)."""
    query = _catalogue_statement(shape)
    chosen = (
        query.with_only_columns(CourseSession.id, sa.func.count().over().label("total"))
        .limit(sa.bindparam("page_size", type_=sa.Integer))
        .offset(sa.bindparam("page_offset", type_=sa.Integer))
        .subquery()
    )
    return (
        with_availability(query, sa.bindparam("person_id", type_=sa.Integer))
        .join(chosen, chosen.c.id == CourseSession.id)
        .add_columns(chosen.c.total)
    )


@functools.lru_cache(maxsize=512)
def _catalogue_count_statement(shape: _Shape) -> sa.Select:
    matching = _catalogue_statement(shape).order_by(None).subquery()
    return sa.select(sa.func.count()).select_from(matching)


class CataloguePage(Pagination):
    """A page of the catalogue for one person: its sessions, each one's availability for them, and how
    many sessions match in all, read in one statement (and a count of its own only past the last
    page, where no row carries it). `available` maps each session's id to its Availability."""

    def _query_items(self) -> list[CourseSession]:
        shape, params, person, now = (self._query_args[name] for name in ("shape", "params", "person", "now"))
        rows = db.session.execute(
            _catalogue_page_statement(shape),
            {**params, "person_id": person.id, "page_size": self.per_page, "page_offset": self._query_offset},
        ).all()
        self.available: dict[int, Availability] = {
            row[0].id: availability_from(row, person, now=now) for row in rows
        }
        self._total = rows[0][-1] if rows else None
        return [row[0] for row in rows]

    def _query_count(self) -> int:
        if self._total is not None:
            return self._total
        shape, params = self._query_args["shape"], self._query_args["params"]
        return db.session.scalar(_catalogue_count_statement(shape), params)


def catalogue_page(
    filters: CatalogueFilter, person: User, *, page: int, per_page: int, now: datetime
) -> CataloguePage:
    """The page of the catalogue `person` asked for, with each session's availability for them."""
    return CataloguePage(
        page=page,
        per_page=per_page,
        error_out=False,
        shape=_shape(filters),
        params=_catalogue_params(filters, now),
        person=person,
        now=now,
    )
