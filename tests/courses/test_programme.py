from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from lms.accounts.models import Role
from lms.bookings.services import BookingError, cancel_session, edit_session
from lms.core.audit import AuditEntry
from lms.courses.models import CourseSession, DeliveryMode, SessionStatus
from lms.courses.services import (
    CatalogueFilter,
    ProgrammeError,
    SessionDetails,
    catalogue_query,
)
from lms.courses.services import (
    create_session as commission_session,
)
from lms.extensions import db
from tests.conftest import csrf_token, sign_in
from tests.factories import NOW, create_course, create_session, create_topic, create_user


def session_details(course, **overrides) -> SessionDetails:
    values = dict(
        course_id=course.id,
        starts_at=datetime(2026, 6, 10, 8, 30, tzinfo=UTC),
        ends_at=datetime(2026, 6, 10, 11, 30, tzinfo=UTC),
        delivery_mode=DeliveryMode.IN_PERSON,
        venue="Council House, Victoria Square",
        places=20,
        overbook_percent=10,
        cost_pence=45000,
    )
    values.update(overrides)
    return SessionDetails(**values)


def sessions() -> int:
    return db.session.scalar(sa.select(sa.func.count(CourseSession.id)))


def test_a_session_has_a_bookable_limit_from_its_places_and_overbooking(app_context):
    course = create_course()
    session = create_session_via_service(course, places=15)
    assert session.bookable_limit == 16
    assert session.status is SessionStatus.SCHEDULED


def create_session_via_service(course, **overrides):
    admin = create_user(roles=(Role.LND_ADMIN,))
    return commission_session(session_details(course, **overrides), by=admin, now=NOW)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"ends_at": datetime(2026, 6, 10, 8, 30, tzinfo=UTC)}, "ends_at"),
        ({"places": 0}, "places"),
        ({"overbook_percent": 101}, "overbook_percent"),
        ({"cost_pence": -1}, "cost"),
        ({"venue": "  "}, "venue"),
        ({"delivery_mode": DeliveryMode.WEBINAR, "venue": None}, "online_link"),
        (
            {"delivery_mode": DeliveryMode.ONLINE_LIVE, "online_link": "http://insecure.example"},
            "online_link",
        ),
        (
            {"delivery_mode": DeliveryMode.ONLINE_LIVE, "online_link": "javascript:alert(1)"},
            "online_link",
        ),
    ],
)
def test_a_session_that_makes_no_sense_is_refused_and_nothing_is_written(app_context, overrides, field):
    course = create_course()
    with pytest.raises(ProgrammeError) as error:
        create_session_via_service(course, **overrides)
    assert error.value.field == field
    assert sessions() == 0


def test_only_a_trainer_can_be_the_trainer(app_context):
    course = create_course()
    practitioner = create_user()
    with pytest.raises(ProgrammeError) as error:
        create_session_via_service(course, trainer_id=practitioner.id)
    assert error.value.field == "trainer_id"


def test_a_cancelled_session_cannot_be_edited(app_context):
    admin = create_user(roles=(Role.LND_ADMIN,))
    session = create_session()
    cancel_session(session, reason="Trainer unwell", by=admin, now=NOW)
    assert session.status is SessionStatus.CANCELLED and session.cancelled_at == NOW
    with pytest.raises(BookingError) as edited:
        edit_session(session, session_details(session.course), by=admin, now=NOW)
    assert edited.value.status == 409
    with pytest.raises(BookingError) as again:
        cancel_session(session, reason="again", by=admin, now=NOW)
    assert again.value.status == 409
    names = db.session.scalars(sa.select(AuditEntry.name).where(AuditEntry.subject_id == session.id)).all()
    assert "lms.session.cancelled" in names


def test_the_programme_has_one_way_to_change_or_cancel_a_session():
    # Changing a session with bookings must keep the booking rules, so only the bookings service may.
    import lms.courses.services as programme

    assert not hasattr(programme, "update_session") and not hasattr(programme, "cancel_session")


def test_only_the_lnd_team_changes_the_programme(app_context):
    from lms.core.errors import PermissionDenied

    course = create_course()
    with pytest.raises(PermissionDenied):
        commission_session(session_details(course), by=create_user(roles=(Role.TRAINER,)), now=NOW)


def titles(filters: CatalogueFilter) -> list[str]:
    return [s.course.title for s in db.session.scalars(catalogue_query(filters, now=NOW))]


def test_the_catalogue_lists_upcoming_scheduled_sessions_of_offered_courses_soonest_first(
    app_context,
):
    later = create_session(course=create_course("Later"), starts_at=datetime(2026, 7, 1, 9, tzinfo=UTC))
    sooner = create_session(course=create_course("Sooner"), starts_at=datetime(2026, 6, 1, 9, tzinfo=UTC))
    create_session(course=create_course("Past"), starts_at=datetime(2026, 4, 1, 9, tzinfo=UTC))
    create_session(course=create_course("Cancelled"), status=SessionStatus.CANCELLED)
    create_session(course=create_course("Withdrawn", is_active=False))
    assert titles(CatalogueFilter()) == [sooner.course.title, later.course.title]


def test_the_catalogue_filters_by_topic_mode_dates_and_words(app_context):
    abuse = create_topic("Domestic abuse")
    online = create_topic("Online safety")
    create_session(
        course=create_course("Coercive control", topic=abuse, delivery_mode=DeliveryMode.IN_PERSON),
        local_start=datetime(2026, 6, 1, 9, 30),
    )
    create_session(
        course=create_course(
            "Keeping children safe online", topic=online, description="Apps, gaming and grooming"
        ),
        local_start=datetime(2026, 6, 15, 13, 30),
    )
    # 00:30 London on 1 July is still 30 June in UTC: the date filter must use London dates.
    create_session(
        course=create_course("Late night webinar", topic=online, delivery_mode=DeliveryMode.WEBINAR),
        local_start=datetime(2026, 7, 1, 0, 30),
    )
    assert titles(CatalogueFilter(topic_id=abuse.id)) == ["Coercive control"]
    assert titles(CatalogueFilter(delivery_mode=DeliveryMode.WEBINAR)) == ["Late night webinar"]
    assert titles(CatalogueFilter(date_from=date(2026, 6, 2), date_to=date(2026, 6, 30))) == [
        "Keeping children safe online"
    ]
    assert titles(CatalogueFilter(date_from=date(2026, 7, 1), date_to=date(2026, 7, 1))) == [
        "Late night webinar"
    ]
    assert titles(CatalogueFilter(text="GROOMING apps")) == ["Keeping children safe online"]
    assert titles(CatalogueFilter(text="100%")) == []
    assert titles(CatalogueFilter(text="_")) == []


def test_the_catalogue_page_filters_and_explains_bad_dates(client):
    create_session(course=create_course("Neglect and GCP2"), local_start=datetime(2026, 6, 1, 9, 30))
    create_session(course=create_course("Hidden harm"), local_start=datetime(2026, 6, 20, 9, 30))
    sign_in(client, create_user())
    page = client.get("/sessions/?q=neglect").get_data(as_text=True)
    assert "Neglect and GCP2" in page and "Hidden harm" not in page
    assert "1 upcoming session" in page
    page = client.get("/sessions/?date_from=2026-06-10&date_to=2026-06-01").get_data(as_text=True)
    assert "The end date must be on or after the start date." in page


def test_practitioners_do_not_see_the_joining_link_but_l_and_d_do(client):
    session = create_session(
        delivery_mode=DeliveryMode.ONLINE_LIVE, online_link="https://meet.example.org/secret-room"
    )
    sign_in(client, create_user())
    page = client.get(f"/sessions/{session.id}").get_data(as_text=True)
    assert "secret-room" not in page
    assert "The joining link is sent to delegates with a confirmed place." in page
    admin_client = client.application.test_client()
    sign_in(admin_client, create_user(roles=(Role.LND_ADMIN,)))
    assert "secret-room" in admin_client.get(f"/sessions/{session.id}").get_data(as_text=True)


def session_form(course, token, **overrides):
    data = {
        "course_id": str(course.id),
        "date": "2026-10-25",
        "start_time": "09:30",
        "end_time": "12:30",
        "end_date": "",
        "delivery_mode": "in_person",
        "venue": "Council House\nVictoria Square",
        "online_link": "",
        "trainer_id": "",
        "places": "20",
        "overbook_percent": "10",
        "cost": "450.00",
        "csrf_token": token,
    }
    data.update(overrides)
    return data


def test_l_and_d_commission_a_session_in_uk_time(client):
    course = create_course()
    trainer = create_user(roles=(Role.TRAINER,))
    sign_in(client, create_user(roles=(Role.LND_ADMIN,)))
    token = csrf_token(client, "/admin/programme/sessions/new")
    response = client.post(
        "/admin/programme/sessions/new",
        data=session_form(course, token, trainer_id=str(trainer.id), cost="1,250.50"),
    )
    assert response.status_code == 302
    session = db.session.scalar(sa.select(CourseSession))
    # 25 October 2026 is the day the clocks go back: 09:30 is GMT again.
    assert session.starts_at == datetime(2026, 10, 25, 9, 30, tzinfo=UTC)
    assert session.cost_pence == 125050
    assert session.trainer_id == trainer.id
    assert session.overbook_percent == 10


def test_a_session_form_with_mistakes_explains_each_and_saves_nothing(client):
    course = create_course()
    sign_in(client, create_user(roles=(Role.LND_ADMIN,)))
    token = csrf_token(client, "/admin/programme/sessions/new")
    response = client.post(
        "/admin/programme/sessions/new",
        data=session_form(course, token, places="0", cost="12.345", date="2026-03-29", start_time="01:30"),
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Enter between 1 and 2,000 places." in page
    assert "Use at most two digits for pence" in page
    assert sessions() == 0
    response = client.post(
        "/admin/programme/sessions/new",
        data=session_form(course, token, date="2027-03-28", start_time="01:30", end_time="03:00"),
    )
    assert "does not exist in UK time" in response.get_data(as_text=True)
    response = client.post("/admin/programme/sessions/new", data=session_form(course, token, venue=""))
    assert "An in-person session needs a venue." in response.get_data(as_text=True)
    assert sessions() == 0


def test_l_and_d_add_a_course_with_a_new_topic(client):
    sign_in(client, create_user(roles=(Role.LND_ADMIN,)))
    token = csrf_token(client, "/admin/programme/courses/new")
    data = {
        "title": "Adultification: Improving Understanding and Practice",
        "topic_id": "",
        "new_topic": "Adultification",
        "description": "How adultification bias affects children.",
        "target_audience": "All practitioners",
        "level": "intermediate",
        "delivery_mode": "webinar",
        "duration_hours": "2.5",
        "provider": "City Training Ltd",
        "is_active": "y",
        "csrf_token": token,
    }
    response = client.post("/admin/programme/courses/new", data=data)
    assert response.status_code == 302
    from lms.courses.models import Course

    course = db.session.scalar(sa.select(Course))
    assert course.topic.name == "Adultification"
    assert course.duration_minutes == 150
    response = client.post(
        "/admin/programme/courses/new",
        data=data | {"title": "ADULTIFICATION: improving understanding and practice"},
    )
    assert response.status_code == 422
    assert "A course with this title already exists." in response.get_data(as_text=True)
