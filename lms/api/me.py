"""A person's own: who they are, their bookings, and their training record (scope me:read, on a
token of their own). Nothing here takes an id of a person: the token says whose it is."""

from __future__ import annotations

import sqlalchemy as sa

from lms.accounts.models import User
from lms.api import schemas
from lms.api.auth import current_token, requires
from lms.api.blueprint import api_blueprint, documented
from lms.api.catalogue import present_sessions
from lms.api.paging import paged
from lms.bookings.models import Attendance, Booking, BookingStatus
from lms.core.clock import now
from lms.core.timezones import london_date
from lms.courses.models import CourseSession
from lms.evaluations.models import Certificate
from lms.extensions import db
from lms.integrations.tokens import Scope

blp = api_blueprint("api_me", "A person's own record (scope me:read)")
ATTENDED = (Attendance.ATTENDED, Attendance.PARTIAL)


def _me() -> User:
    return current_token().user


_documented = documented(blp, 401, 403, 429)


@blp.route("/me")
@_documented
@requires(Scope.ME_READ)
@blp.response(200, schemas.Me)
def me():
    """The person the token belongs to."""
    person = _me()
    return {
        "id": person.id,
        "first_name": person.first_name,
        "last_name": person.last_name,
        "email": person.email,
        "job_role": person.job_role,
        "organisation": person.organisation_name,
    }


def _present_bookings(bookings: list[Booking]) -> list[dict]:
    sessions = {item["id"]: item for item in present_sessions([b.session for b in bookings])}
    return [
        {
            "id": booking.id,
            "session": sessions[booking.session_id],
            "status": booking.status.value,
            "status_title": booking.status.title,
            "booked_at": booking.booked_at.isoformat(),
            "attendance": booking.attendance.value if booking.attendance else None,
        }
        for booking in bookings
    ]


@blp.route("/me/bookings")
@_documented
@requires(Scope.ME_READ)
@blp.arguments(schemas.BookingQuery, location="query", as_kwargs=False)
@blp.response(200, schemas.page_of(schemas.Booking, "BookingPage"))
def bookings(args):
    """The person's bookings, latest session first (upcoming: soonest first)."""
    query = sa.select(Booking).join(Booking.session).where(Booking.user_id == _me().id)
    moment = now()
    view = args["view"]
    if view == "upcoming":
        query = query.where(Booking.is_live, CourseSession.starts_at > moment).order_by(
            CourseSession.starts_at, Booking.id
        )
    else:
        if view == "past":
            query = query.where(CourseSession.starts_at <= moment, Booking.status == BookingStatus.CONFIRMED)
        elif view == "cancelled":
            query = query.where(Booking.status == BookingStatus.CANCELLED)
        query = query.order_by(CourseSession.starts_at.desc(), Booking.id.desc())
    return paged(query, args, _present_bookings)


@blp.route("/me/training-record")
@_documented
@requires(Scope.ME_READ)
@blp.response(200, schemas.Record)
def training_record():
    """Every session the person attended, latest first, with CPD hours and certificate numbers."""
    rows = db.session.execute(
        sa.select(Booking, Certificate.number)
        .join(Booking.session)
        .outerjoin(Certificate, Certificate.booking_id == Booking.id)
        .where(
            Booking.user_id == _me().id,
            Booking.status == BookingStatus.CONFIRMED,
            Booking.attendance.in_(ATTENDED),
        )
        .order_by(CourseSession.starts_at.desc(), Booking.id.desc())
    ).all()
    lines = []
    for booking, number in rows:
        course = booking.session.course
        lines.append(
            {
                "booking_id": booking.id,
                "course_id": course.id,
                "course": course.title,
                "level": course.level.title,
                "session_date": london_date(booking.session.starts_at),
                "cpd_hours": round(course.duration_minutes / 60, 2),
                "attendance": booking.attendance.title,
                "certificate_number": number,
            }
        )
    total = sum(booking.session.course.duration_minutes for booking, _ in rows)
    return {"lines": lines, "total_cpd_hours": round(total / 60, 2)}
