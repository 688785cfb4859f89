"""Small factories that build test data through the same services the app uses."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from lms.accounts import two_factor
from lms.accounts.models import STAFF_ROLES, Agency, AgencyCategory, Role, SecondFactor, User, UserRole
from lms.accounts.passwords import hash_password
from lms.core.timezones import london_to_utc
from lms.courses.models import (
    Course,
    CourseLevel,
    CourseSession,
    DeliveryMode,
    SessionStatus,
    Topic,
)
from lms.extensions import db
from lms.integrations.services import create_integration, create_integration_token, create_personal_token
from lms.integrations.tokens import Scope
from lms.integrations.webhooks import create_subscription, send_test_event
from lms.privacy.models import ReceivedHow, RequestKind
from lms.privacy.requests import RequestDetails, log_data_request

PASSWORD = "correct horse battery staple"
_PASSWORD_HASH = hash_password(PASSWORD)
# The authenticator app every L&D and finance person made here has set up, as their role needs;
# tests and browser journeys type its codes (second_factor_code) as a person reads them off the app.
STAFF_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
# Default names carry a "#" that no test writes itself, so however tests are selected (and so
# however far the counter has run) a default name never meets a name a test chose.
_counter = itertools.count(1)
NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


def create_agency(name: str | None = None, *, category=AgencyCategory.POLICE, **fields) -> Agency:
    agency = Agency(
        name=name or f"Agency #{next(_counter)}",
        category=category,
        created_at=NOW,
        is_active=fields.pop("is_active", True),
        **fields,
    )
    db.session.add(agency)
    db.session.flush()
    return agency


def create_user(
    email: str | None = None,
    *,
    roles: tuple[Role, ...] = (Role.PRACTITIONER,),
    agency: Agency | None = None,
    other_organisation: str | None = None,
    first_name: str = "Sam",
    last_name: str | None = None,
    enabled: bool = True,
    second_factor: bool | None = None,
) -> User:
    """A person; L&D and finance have an authenticator app set up unless `second_factor=False`."""
    n = next(_counter)
    if agency is None and other_organisation is None:
        agency = create_agency()
    user = User(
        email=(email or f"person{n}@example.org").lower(),
        first_name=first_name,
        last_name=last_name or f"Tester{n}",
        job_role="Social worker",
        agency=agency,
        other_organisation=other_organisation,
        line_manager_name="Lee Manager",
        line_manager_email="manager@example.org",
        password_hash=_PASSWORD_HASH,
        session_token=User.new_session_token(),
        is_enabled=enabled,
        created_at=NOW,
        role_rows=[UserRole(role=role) for role in roles],
    )
    if second_factor or (second_factor is None and set(roles) & set(STAFF_ROLES)):
        user.second_factor = SecondFactor(totp_secret=STAFF_TOTP_SECRET, enabled_at=NOW)
    db.session.add(user)
    db.session.flush()
    return user


def second_factor_codes(moment: datetime | None = None, secret: str = STAFF_TOTP_SECRET) -> list[str]:
    """The codes an authenticator app with `secret` shows around `moment` (the frozen clock's now):
    the step before, the step itself and the step after, all of which are accepted once each."""
    from lms.core.clock import now

    step = two_factor.step_at(moment or now())
    return [two_factor.code_at_step(secret, s) for s in (step - 1, step, step + 1)]


def second_factor_code(user: User | None = None, moment: datetime | None = None) -> str:
    """A code the app shows now that has not been used yet (each code works once); with the clock
    frozen, at most three sign-ins of one person in one test find one."""
    from flask import has_app_context

    from lms.accounts import throttle
    from lms.core.clock import now

    secret = user.second_factor.totp_secret if user is not None and user.second_factor else STAFF_TOTP_SECRET
    step = two_factor.step_at(moment or now())
    for candidate in (step - 1, step, step + 1):
        if user is None or not has_app_context() or not throttle.code_step_used(user.id, candidate):
            return two_factor.code_at_step(secret, candidate)
    raise AssertionError("every code the app shows now has been used: move the clock on")


def create_topic(name: str | None = None) -> Topic:
    topic = Topic(name=name or f"Topic #{next(_counter)}")
    db.session.add(topic)
    db.session.flush()
    return topic


def create_course(title: str | None = None, *, topic: Topic | None = None, **fields) -> Course:
    course = Course(
        title=title or f"Course #{next(_counter)}",
        topic=topic or create_topic(),
        description=fields.pop("description", "What the course covers."),
        target_audience=fields.pop("target_audience", "Everyone working with children."),
        level=fields.pop("level", CourseLevel.FOUNDATION),
        delivery_mode=fields.pop("delivery_mode", DeliveryMode.ONLINE_LIVE),
        duration_minutes=fields.pop("duration_minutes", 180),
        provider=fields.pop("provider", "City Training Ltd"),
        is_active=fields.pop("is_active", True),
        created_at=NOW,
    )
    db.session.add(course)
    db.session.flush()
    return course


def create_session(
    *,
    course: Course | None = None,
    starts_at: datetime | None = None,
    local_start: datetime | None = None,
    hours: float = 3,
    places: int = 20,
    overbook_percent: int = 10,
    status: SessionStatus = SessionStatus.SCHEDULED,
    **fields,
) -> CourseSession:
    course = course or create_course()
    if local_start is not None:
        starts_at = london_to_utc(local_start)
    starts_at = starts_at or NOW + timedelta(days=30)
    mode = fields.pop("delivery_mode", course.delivery_mode)
    session = CourseSession(
        course=course,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=hours),
        delivery_mode=mode,
        venue=fields.pop(
            "venue", "Training Room 1, Council House" if mode is DeliveryMode.IN_PERSON else None
        ),
        online_link=fields.pop(
            "online_link",
            None if mode is DeliveryMode.IN_PERSON else "https://meet.example.org/abc",
        ),
        places=places,
        overbook_percent=overbook_percent,
        cost_pence=fields.pop("cost_pence", 45000),
        status=status,
        created_at=NOW,
        updated_at=NOW,
        **fields,
    )
    db.session.add(session)
    db.session.flush()
    return session


# Personal data and integrations -----------------------------------------------------------------


def create_erasure_request(person: User, lnd: User):
    """A letter asking for the colleague's data to be erased, due in a few days (on the dashboard)."""
    received = NOW.date() - timedelta(days=27)
    details = RequestDetails(RequestKind.ERASURE, person, received, ReceivedHow.LETTER, "Identity checked")
    return log_data_request(details, by=lnd, now=NOW)


def create_integration_with_tokens(agency, person: User, lnd: User):
    """An organisation's HR system with a token, and a token of the practitioner's own."""
    integration = create_integration(
        "Police HR", description="HR", contact_email="hr@example.org", agency=agency, by=lnd, now=NOW
    )
    scopes = [Scope.STAFF_READ]
    create_integration_token(integration, "Nightly import", scopes, expires_at=None, by=lnd, now=NOW)
    create_personal_token(person, "My spreadsheet", [Scope.ME_READ], expires_at=None, now=NOW)
    return integration


def create_webhook(integration, lnd: User):
    """The HR system's webhook for bookings, with a test event waiting to be sent."""
    events = ["booking.confirmed", "attendance.recorded"]
    webhook = create_subscription(integration, "https://hr.example.org/hooks", events, by=lnd, now=NOW)
    return webhook, send_test_event(webhook, by=lnd, now=NOW)
