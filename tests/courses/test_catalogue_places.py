"""Each card in the catalogue says what the person can do: book, join the waiting list, or nothing."""

from datetime import timedelta

import sqlalchemy as sa

from lms.bookings.availability import availability_of
from lms.bookings.services import book_place
from lms.core.clock import now
from lms.courses.services import CatalogueFilter, catalogue_query
from lms.extensions import db
from tests.conftest import sign_in
from tests.factories import NOW, create_course, create_session, create_topic, create_user


def fill(session, count: int):
    people = [create_user() for _ in range(count)]
    return [book_place(session, person, by=person, now=NOW) for person in people]


def titles(filters: CatalogueFilter) -> list[str]:
    return [session.course.title for session in db.session.scalars(catalogue_query(filters, now=NOW))]


def card_text(client, session) -> str:
    page = client.get("/sessions/").get_data(as_text=True)
    start = page.index(session.course.title)
    return page[start : page.index("</li>", start)]


def test_the_card_says_how_many_places_are_left_without_the_overbooking_arithmetic(client):
    # A title and a topic of their own: numbered ones ("Course #2422", "Topic #5022") could hold the
    # very figures looked for.
    course = create_course("Places Left", topic=create_topic("Safeguarding adults"))
    session = create_session(course=course, places=20, overbook_percent=10)  # takes 22
    fill(session, 14)
    sign_in(client, create_user())
    card = card_text(client, session)
    assert "8 places left" in card
    assert "20 places" not in card and "22" not in card


def test_a_nearly_full_session_says_only_a_few_are_left(client):
    session = create_session(course=create_course("Nearly Full"), places=10, overbook_percent=0)
    fill(session, 8)
    sign_in(client, create_user())
    assert "Only 2 places left" in card_text(client, session)


def test_a_full_session_says_which_number_you_would_be_on_the_waiting_list(client):
    session = create_session(course=create_course("Quite Full"), places=5, overbook_percent=0)
    bookings = fill(session, 8)
    assert sum(booking.is_waiting for booking in bookings) == 3
    sign_in(client, create_user())
    assert "Full: join the waiting list, you would be number 4" in card_text(client, session)


def test_your_own_place_and_your_place_in_the_queue_are_shown(client):
    booked = create_session(course=create_course("Booked course"), places=2, overbook_percent=0)
    queued = create_session(course=create_course("Queued course"), places=1, overbook_percent=0)
    me = create_user()
    book_place(booked, me, by=me, now=NOW)
    fill(queued, 2)
    book_place(queued, me, by=me, now=NOW)
    sign_in(client, me)
    assert "You have a place" in card_text(client, booked)
    assert "You are number 2 on the waiting list" in card_text(client, queued)


def test_a_session_whose_bookings_have_closed_says_so(client):
    session = create_session(starts_at=NOW + timedelta(hours=20))
    sign_in(client, create_user())
    assert "Bookings have closed" in card_text(client, session)


def test_sorting_by_places_left_puts_the_emptiest_first(client):
    full = create_session(course=create_course("Full one"), places=2, overbook_percent=0)
    half = create_session(course=create_course("Half one"), places=4, overbook_percent=0)
    empty = create_session(
        course=create_course("Empty one"), places=3, overbook_percent=0, starts_at=NOW + timedelta(days=60)
    )
    fill(full, 2)
    fill(half, 2)
    assert titles(CatalogueFilter(by_places_left=True)) == [
        empty.course.title,
        half.course.title,
        full.course.title,
    ]
    by_date = titles(CatalogueFilter())
    assert by_date[-1] == empty.course.title
    sign_in(client, create_user())
    page = client.get("/sessions/?sort=places").get_data(as_text=True)
    assert page.index("Empty one") < page.index("Half one") < page.index("Full one")
    # An unknown order is explained and the soonest come first.
    page = client.get("/sessions/?sort=cheapest").get_data(as_text=True)
    assert page.index("Full one") < page.index("Empty one")


def test_a_page_of_cards_costs_the_same_few_queries_however_many_sessions(app_context):
    sessions = [create_session(places=3, overbook_percent=0) for _ in range(6)]
    for session in sessions[:3]:
        fill(session, 4)
    me = create_user()
    statements = []

    def count(*_args, **_kwargs):
        statements.append(1)

    engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        available = availability_of(sessions, me, now=now())
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 2
    assert [available[s.id].is_full for s in sessions] == [True] * 3 + [False] * 3
    assert [available[s.id].waiting for s in sessions] == [1, 1, 1, 0, 0, 0]
