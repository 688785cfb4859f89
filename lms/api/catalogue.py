"""The public catalogue: upcoming sessions with their places, courses and topics, for the
partnership's own website. No token needed; calls without one are limited per address."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from flask import url_for

from lms.api import schemas
from lms.api.auth import open_to_all
from lms.api.blueprint import api_blueprint, documented
from lms.api.paging import paged
from lms.bookings.availability import Availability, free_places_expression, place_counts
from lms.bookings.rules import bookable_from, bookings_close_at, is_closed
from lms.core.clock import now
from lms.core.errors import NotFound
from lms.courses.models import Course, CourseSession, DeliveryMode, Topic
from lms.courses.services import CatalogueFilter, catalogue_query
from lms.extensions import db

blp = api_blueprint("api_catalogue", "The programme: open to everyone, no token")
NO_SUCH_SESSION = "There is no such session in the catalogue."
NO_SUCH_COURSE = "There is no such course in the catalogue."


def course_summary(course: Course) -> dict:
    return {
        "id": course.id,
        "title": course.title,
        "level": course.level.value,
        "level_title": course.level.title,
        "topic": {"id": course.topic.id, "name": course.topic.name},
    }


def course_details(course: Course) -> dict:
    return {
        **course_summary(course),
        "description": course.description,
        "target_audience": course.target_audience,
        "delivery_mode": course.delivery_mode.value,
        "delivery_mode_title": course.delivery_mode.title,
        "duration_minutes": course.duration_minutes,
        "provider": course.provider,
    }


def present_sessions(sessions: Sequence[CourseSession], *, moment: datetime | None = None) -> list[dict]:
    """Sessions as the catalogue shows them to someone not signed in: places in two queries in all."""
    from lms.core.timezones import to_london

    moment = moment or now()
    counts = place_counts([session.id for session in sessions])
    shown = []
    for session in sessions:
        taken, waiting = counts.get(session.id, (0, 0))
        closes_at = bookings_close_at(session)
        availability = Availability(
            session=session,
            taken=taken,
            waiting=waiting,
            closed=is_closed(moment, closes_at, staff=False),
            booking=None,
        )
        shown.append(
            {
                "id": session.id,
                "course": course_summary(session.course),
                "starts_at": session.starts_at.isoformat(),
                "ends_at": session.ends_at.isoformat(),
                "starts_at_london": to_london(session.starts_at).isoformat(),
                "ends_at_london": to_london(session.ends_at).isoformat(),
                "delivery_mode": session.delivery_mode.value,
                "delivery_mode_title": session.delivery_mode.title,
                # The joining link goes to those booked, never to the world.
                "venue": None if session.delivery_mode.is_online else session.venue,
                "places": session.bookable_limit,
                "places_left": availability.places_left,
                "waiting": waiting,
                "status": availability.tone,
                "status_text": availability.summary(),
                "bookings_close_at": closes_at.isoformat(),
                "url": url_for("catalogue.detail", session_id=session.id, _external=True),
            }
        )
    return shown


def _catalogue(args: dict) -> sa.Select:
    mode = args.get("mode")
    query = catalogue_query(
        CatalogueFilter(
            topic_id=args.get("topic"),
            delivery_mode=DeliveryMode(mode) if mode else None,
            date_from=args.get("from_"),
            date_to=args.get("to"),
        ),
        now=now(),
    )
    if args.get("course"):
        query = query.where(CourseSession.course_id == args["course"])
    if args.get("has_places") is not None:
        # Places someone can still book: places left, and bookings not yet closed.
        bookable = sa.and_(free_places_expression() > 0, CourseSession.starts_at >= bookable_from(now()))
        query = query.where(bookable if args["has_places"] else sa.not_(bookable))
    return query


@blp.route("/sessions")
@documented(blp, 401, 429, secured=False)
@open_to_all
@blp.arguments(schemas.SessionQuery, location="query", as_kwargs=False)
@blp.response(200, schemas.page_of(schemas.Session, "SessionPage"))
def sessions(args):
    """Upcoming sessions, soonest first, with places left."""
    return paged(_catalogue(args), args, present_sessions)


@blp.route("/sessions/<id:session_id>")
@documented(blp, 401, 404, 429, secured=False)
@open_to_all
@blp.response(200, schemas.Session)
def session(session_id: int):
    """One upcoming session of the catalogue."""
    found = db.session.scalar(_catalogue({}).where(CourseSession.id == session_id).order_by(None))
    if found is None:
        raise NotFound(NO_SUCH_SESSION)
    return present_sessions([found])[0]


def _courses() -> sa.Select:
    return (
        sa.select(Course)
        .join(Course.topic)
        .where(Course.is_active.is_(True))
        .order_by(sa.func.lower(Course.title), Course.id)
    )


@blp.route("/courses")
@documented(blp, 401, 429, secured=False)
@open_to_all
@blp.arguments(schemas.CourseQuery, location="query", as_kwargs=False)
@blp.response(200, schemas.page_of(schemas.Course, "CoursePage"))
def courses(args):
    """The courses on the programme, by title."""
    query = _courses()
    if args.get("topic"):
        query = query.where(Course.topic_id == args["topic"])
    return paged(query, args, lambda rows: [course_details(course) for course in rows])


@blp.route("/courses/<id:course_id>")
@documented(blp, 401, 404, 429, secured=False)
@open_to_all
@blp.response(200, schemas.Course)
def course(course_id: int):
    """One course on the programme."""
    found = db.session.scalar(_courses().where(Course.id == course_id))
    if found is None:
        raise NotFound(NO_SUCH_COURSE)
    return course_details(found)


@blp.route("/topics")
@documented(blp, 401, 429, secured=False)
@open_to_all
@blp.response(200, schemas.Topic(many=True))
def topics():
    """Every topic, by name."""
    return [
        {"id": topic.id, "name": topic.name}
        for topic in db.session.scalars(sa.select(Topic).order_by(sa.func.lower(Topic.name)))
    ]
