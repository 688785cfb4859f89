"""The pages people read most send one statement of their own, whatever they show: the catalogue (its
sessions, how many match, and each one's availability; and the topics its filter offers), a session's
page (the session, its course, topic and trainer, and its availability) and "My bookings" (every
booking, with any place on a waiting list). Their figures agree with the ones the rest of the app
computes one question at a time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lms.accounts.models import Role
from lms.bookings.availability import availability_of
from lms.bookings.services import book_place, waiting_position
from lms.courses.services import CatalogueFilter, catalogue_page
from tests.bookings.test_round_trips import kinds, statements
from tests.conftest import sign_in
from tests.factories import NOW, create_course, create_session, create_topic, create_user


def fill(session, count: int) -> None:
    for _ in range(count):
        person = create_user()
        book_place(session, person, by=person, now=NOW - timedelta(days=5))


@pytest.fixture
def programme():
    """Two dozen sessions of courses on three topics, some full with people waiting, and a person
    with places, places on waiting lists, and sessions gone."""
    topics = [create_topic() for _ in range(3)]
    courses = [create_course(topic=topics[n % 3]) for n in range(6)]
    trainer = create_user(roles=(Role.PRACTITIONER, Role.TRAINER))
    sessions = [
        create_session(
            course=courses[n % 6],
            starts_at=NOW + timedelta(days=3 + n),
            places=2,
            overbook_percent=0,
            trainer_id=trainer.id if n % 2 else None,
        )
        for n in range(24)
    ]
    gone = [create_session(course=courses[n], starts_at=NOW - timedelta(days=10 + n)) for n in range(4)]
    me = create_user()
    for session in sessions[:6]:
        fill(session, 3)  # full, one waiting
    for session in sessions[:3] + sessions[21:]:
        book_place(session, me, by=me, now=NOW - timedelta(days=4))  # waiting on the first three
    for session in gone:
        book_place(session, me, by=me, now=NOW - timedelta(days=30))
    return sessions, me


def own_statements(client, path: str) -> list[str]:
    """What the page sends beyond what every signed-in request sends (the person, their roles and
    their sign-in), each as its verb and table; asked for once before, as a browser comes back."""
    assert client.get(path).status_code == 200
    with statements() as floor:
        client.get("/healthz")
    with statements() as sent:
        response = client.get(path)
    assert response.status_code == 200
    floor, sent = statements_only(floor), statements_only(sent)
    signed_in = floor[:-1]  # then the SELECT 1 of /healthz
    assert sent[: len(signed_in)] == signed_in
    return kinds(sent[len(signed_in) :])


def statements_only(sent: list[str]) -> list[str]:
    # The tests' own transaction turns each request's transaction into a savepoint.
    return [statement for statement in sent if "SAVEPOINT" not in statement]


def test_the_catalogue_sends_one_statement_for_its_sessions_their_count_and_availability(client, programme):
    sessions, me = programme
    sign_in(client, me)
    sessions_and_topics = ["SELECT topic", "SELECT course_session"]  # the topics for the filter

    assert own_statements(client, "/sessions/") == sessions_and_topics
    assert own_statements(client, "/sessions/?page=2") == sessions_and_topics
    assert own_statements(client, "/sessions/?sort=places&mode=online_live") == sessions_and_topics


def test_a_session_page_sends_one_statement(client, programme):
    sessions, me = programme
    sign_in(client, me)

    for session in (sessions[0], sessions[1], sessions[10]):  # waiting; waiting, with a trainer; not booked
        assert own_statements(client, f"/sessions/{session.id}") == ["SELECT course_session"]


def test_my_bookings_sends_one_statement_however_many_bookings(client, programme):
    sessions, me = programme
    sign_in(client, me)

    assert own_statements(client, "/bookings") == ["SELECT booking"]


def test_the_catalogue_page_says_what_availability_says_one_question_at_a_time(app_context, programme):
    sessions, me = programme
    for page_number in (1, 2):
        page = catalogue_page(CatalogueFilter(), me, page=page_number, per_page=20, now=NOW)
        expected = availability_of(page.items, me, now=NOW)
        assert page.total == len(sessions)
        assert page.available == expected
        for availability in page.available.values():
            if availability.booking is not None:
                assert availability.position == waiting_position(availability.booking)
    first = catalogue_page(CatalogueFilter(), me, page=1, per_page=20, now=NOW)
    assert [first.available[s.id].position for s in sessions[:4]] == [2, 2, 2, None]


def test_past_the_last_page_the_catalogue_still_says_how_many_sessions_there_are(client, programme):
    sessions, me = programme
    sign_in(client, me)

    page = client.get("/sessions/?page=9").get_data(as_text=True)

    assert f"{len(sessions)} upcoming sessions" in page
    assert "No sessions match" in page


def test_my_bookings_shows_each_place_on_a_waiting_list(client, programme):
    sessions, me = programme
    sign_in(client, me)

    page = client.get("/bookings").get_data(as_text=True)

    assert page.count("Waiting list, number 2") == 3
