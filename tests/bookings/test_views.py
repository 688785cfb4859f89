import base64
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from lms.accounts.models import Role
from lms.bookings.models import Attendance, Booking, BookingStatus
from lms.bookings.services import book_place
from lms.core import clock
from lms.courses.models import DeliveryMode, SessionStatus
from lms.extensions import db
from lms.messages.models import OutboxMessage
from tests.conftest import Mailbox, csrf_token, sign_in
from tests.factories import NOW, create_agency, create_session, create_user


def booking_of(user, session) -> Booking:
    return db.session.scalar(
        sa.select(Booking)
        .where(Booking.user_id == user.id, Booking.session_id == session.id)
        .order_by(Booking.id.desc())
    )


def post(client, path, page=None, **data):
    return client.post(path, data={"csrf_token": csrf_token(client, page or path), **data})


def test_a_practitioner_books_and_gets_an_email_with_a_calendar_invite(client, mailbox):
    session = create_session(delivery_mode=DeliveryMode.IN_PERSON, venue="Room 4, Council House")
    user = create_user("ali@example.org")
    sign_in(client, user)
    page = client.get(f"/sessions/{session.id}").get_data(as_text=True)
    assert "22 places left" in page and "Book a place" in page
    assert "Room 4" not in page  # the venue is for confirmed delegates only
    response = post(client, f"/sessions/{session.id}/book", f"/sessions/{session.id}")
    assert response.status_code == 302
    page = client.get(f"/sessions/{session.id}").get_data(as_text=True)
    assert "Your place is confirmed." in page
    [message] = mailbox.delivered().to("ali@example.org")
    assert message["Subject"] == f"Place confirmed: 3 Jun 2026, {session.course.title}"
    assert "Room 4, Council House" in Mailbox.text(message)
    [invite] = [part for part in message.iter_attachments() if part.get_content_type() == "text/calendar"]
    ics = invite.get_content()
    ics = ics if isinstance(ics, str) else ics.decode()
    assert (
        "BEGIN:VEVENT" in ics
        and "DTSTART:20260603T090000Z" in ics
        and "LOCATION:Room 4\\, Council House" in ics
    )


def test_a_full_session_offers_the_waiting_list_without_the_joining_link(client, mailbox):
    session = create_session(places=1, overbook_percent=0, online_link="https://meet.example.org/secret")
    book_place(session, holder := create_user(), by=holder, now=NOW)
    user = create_user("wait@example.org")
    sign_in(client, user)
    page = client.get(f"/sessions/{session.id}").get_data(as_text=True)
    assert "This session is full." in page and "Join the waiting list" in page
    post(client, f"/sessions/{session.id}/book", f"/sessions/{session.id}")
    page = client.get(f"/sessions/{session.id}").get_data(as_text=True)
    assert "waiting list at number 1" in page
    [message] = mailbox.delivered().to("wait@example.org")
    assert "waiting list at number 1" in Mailbox.text(message)
    assert "secret" not in Mailbox.text(message)
    assert not list(message.iter_attachments())


def test_a_second_booking_is_refused_with_a_message_and_changes_nothing(client):
    session = create_session()
    user = create_user()
    sign_in(client, user)
    post(client, f"/sessions/{session.id}/book", f"/sessions/{session.id}")
    response = post(client, f"/sessions/{session.id}/book", f"/sessions/{session.id}")
    assert response.status_code == 302
    page = client.get(f"/sessions/{session.id}").get_data(as_text=True)
    assert "You already have a place" in page
    assert db.session.scalar(sa.select(sa.func.count(Booking.id))) == 1


def test_booking_a_cancelled_or_past_session_is_refused(client):
    cancelled = create_session(status=SessionStatus.CANCELLED)
    past = create_session(starts_at=NOW - timedelta(days=1))
    sign_in(client, create_user())
    for session, words in ((cancelled, "has been cancelled"), (past, "already started")):
        response = post(client, f"/sessions/{session.id}/book", "/dashboard")
        page = client.get(response.headers["Location"]).get_data(as_text=True)
        assert words in page
    assert db.session.scalar(sa.select(sa.func.count(Booking.id))) == 0


def test_booking_without_a_token_is_refused(client):
    session = create_session()
    sign_in(client, create_user())
    assert client.post(f"/sessions/{session.id}/book").status_code == 400
    assert db.session.scalar(sa.select(sa.func.count(Booking.id))) == 0


def test_the_cancel_page_warns_when_it_is_late_and_cancelling_confirms_the_next_person(client, mailbox):
    session = create_session(places=1, overbook_percent=0, local_start=datetime(2026, 5, 7, 9, 30))
    user = create_user("first@example.org")
    waiting = create_user("second@example.org")
    booking = book_place(session, user, by=user, now=NOW)
    book_place(session, waiting, by=waiting, now=NOW)
    sign_in(client, user)
    page = client.get(f"/bookings/{booking.id}/cancel").get_data(as_text=True)
    assert "Cancelling now is a late cancellation." in page
    assert "pass your place to them" in page
    response = post(client, f"/bookings/{booking.id}/cancel")
    assert response.status_code == 302
    db.session.refresh(booking)
    assert booking.status is BookingStatus.CANCELLED and booking.is_late_cancellation
    assert booking_of(waiting, session).is_confirmed
    [told] = [m for m in mailbox.delivered().to("second@example.org") if "place has come up" in m["Subject"]]
    [cancelled] = [m for m in mailbox.to("first@example.org") if m["Subject"].startswith("Booking cancelled")]
    assert "late cancellation" in Mailbox.text(cancelled)


def test_cancelling_in_good_time_says_there_is_no_charge(client):
    session = create_session(starts_at=NOW + timedelta(days=30))
    user = create_user()
    booking = book_place(session, user, by=user, now=NOW)
    sign_in(client, user)
    page = client.get(f"/bookings/{booking.id}/cancel").get_data(as_text=True)
    assert "Cancelling now is free of charge." in page


def test_nobody_sees_or_cancels_someone_elses_booking(client):
    session = create_session()
    owner = create_user()
    booking = book_place(session, owner, by=owner, now=NOW)
    sign_in(client, create_user())
    assert client.get(f"/bookings/{booking.id}/cancel").status_code == 404
    assert client.get(f"/bookings/{booking.id}/substitute").status_code == 404
    token = csrf_token(client, "/bookings")
    assert client.post(f"/bookings/{booking.id}/cancel", data={"csrf_token": token}).status_code == 404
    db.session.refresh(booking)
    assert booking.is_confirmed
    assert session.course.title not in client.get("/bookings").get_data(as_text=True)


def test_substituting_to_another_agency_explains_and_changes_nothing(client):
    agency = create_agency()
    session = create_session()
    user = create_user(agency=agency)
    outsider = create_user("outsider@example.org")
    booking = book_place(session, user, by=user, now=NOW)
    sign_in(client, user)
    response = post(client, f"/bookings/{booking.id}/substitute", email=outsider.email)
    assert response.status_code == 422
    assert "only pass your place to a colleague in your own agency" in response.get_data(as_text=True)
    db.session.refresh(booking)
    assert booking.is_confirmed


def test_substituting_a_colleague_tells_both(client, mailbox):
    agency = create_agency()
    session = create_session()
    user = create_user("giver@example.org", agency=agency)
    colleague = create_user("taker@example.org", agency=agency)
    booking = book_place(session, user, by=user, now=NOW)
    sign_in(client, user)
    response = post(client, f"/bookings/{booking.id}/substitute", email="TAKER@example.org")
    assert response.status_code == 302
    assert booking_of(colleague, session).is_confirmed
    told = {m["To"]: m["Subject"] for m in mailbox.delivered().messages if "passed" in m["Subject"]}
    assert told["giver@example.org"].startswith("Your place has passed")
    assert told["taker@example.org"].startswith("A colleague has passed you")


def test_my_bookings_lists_upcoming_and_past_with_their_state(client):
    user = create_user()
    upcoming = create_session(places=1, overbook_percent=0)
    book_place(upcoming, create_user(), by=create_user(roles=(Role.LND_ADMIN,)), now=NOW)
    book_place(upcoming, user, by=user, now=NOW)
    sign_in(client, user)
    page = client.get("/bookings").get_data(as_text=True)
    assert upcoming.course.title in page and "Waiting list, number 1" in page


def test_l_and_d_roster_adds_removes_and_changes_places(client, mailbox):
    admin = create_user(roles=(Role.LND_ADMIN,))
    session = create_session(places=1, overbook_percent=0)
    first, second = create_user("one@example.org"), create_user("two@example.org")
    sign_in(client, admin)
    roster = f"/admin/programme/sessions/{session.id}/roster"
    post(client, f"{roster}/add", roster, email="one@example.org")
    post(client, f"{roster}/add", roster, email="two@example.org")
    assert booking_of(first, session).is_confirmed and booking_of(second, session).is_waiting
    response = post(client, f"{roster}/add", roster, email="nobody@example.org")
    assert "No one is registered with that email address." in response.get_data(as_text=True)
    page = client.get(roster).get_data(as_text=True)
    assert "Waiting list, first come first served (1)" in page
    response = post(client, f"/admin/programme/sessions/{session.id}/places", roster, places="0")
    assert "Enter between 1 and 2,000 places." in response.get_data(as_text=True)
    post(client, f"/admin/programme/sessions/{session.id}/places", roster, places="2")
    assert booking_of(second, session).is_confirmed
    booking = booking_of(first, session)
    post(client, f"{roster}/{booking.id}/remove", roster)
    db.session.refresh(booking)
    assert booking.status is BookingStatus.CANCELLED and not booking.is_late_cancellation
    [told] = mailbox.delivered().to("one@example.org")[-1:]
    assert told["Subject"].startswith("Your booking has been cancelled")


def test_practitioners_and_trainers_cannot_open_the_roster(client):
    session = create_session()
    for role in (Role.PRACTITIONER, Role.TRAINER, Role.FINANCE):
        c = client.application.test_client()
        sign_in(c, create_user(roles=(role,)))
        assert c.get(f"/admin/programme/sessions/{session.id}/roster").status_code == 403


def test_cancelling_a_session_through_the_page_tells_everyone(client, mailbox):
    admin = create_user(roles=(Role.LND_ADMIN,))
    session = create_session(places=1, overbook_percent=0)
    for address in ("a@example.org", "b@example.org"):
        person = create_user(address)
        book_place(session, person, by=person, now=NOW)
    sign_in(client, admin)
    path = f"/admin/programme/sessions/{session.id}/cancel"
    response = post(client, path, reason="Trainer unwell")
    assert response.status_code == 302
    for address in ("a@example.org", "b@example.org"):
        assert any(m["Subject"].startswith("Session cancelled") for m in mailbox.delivered().to(address))


def test_the_trainer_keeps_the_register_and_closes_it(client):
    trainer = create_user(roles=(Role.TRAINER,))
    session = create_session(trainer=trainer, starts_at=NOW + timedelta(days=5))
    came, late, absent = (create_user() for _ in range(3))
    bookings = [book_place(session, p, by=p, now=NOW) for p in (came, late, absent)]
    sign_in(client, trainer)
    path = f"/sessions/{session.id}/register"
    assert "The register opens when the session starts" in client.get(path).get_data(as_text=True)
    clock.freeze(session.starts_at + timedelta(minutes=15))
    marks = {
        f"attendance-{b.id}": v for b, v in zip(bookings, ("attended", "partial", "no_show"), strict=True)
    }
    response = post(client, path, action="close", **marks)
    assert response.status_code == 302
    for booking, outcome in zip(
        bookings, (Attendance.ATTENDED, Attendance.PARTIAL, Attendance.NO_SHOW), strict=True
    ):
        db.session.refresh(booking)
        assert booking.attendance is outcome
    db.session.refresh(session)
    assert session.status is SessionStatus.COMPLETED


def test_closing_a_register_with_people_unmarked_explains_and_saves_nothing(client):
    trainer = create_user(roles=(Role.TRAINER,))
    session = create_session(trainer=trainer, starts_at=NOW + timedelta(days=5))
    people = [create_user() for _ in range(2)]
    bookings = [book_place(session, p, by=p, now=NOW) for p in people]
    sign_in(client, trainer)
    clock.freeze(session.starts_at + timedelta(minutes=15))
    path = f"/sessions/{session.id}/register"
    response = post(client, path, action="close", **{f"attendance-{bookings[0].id}": "attended"})
    page = (
        client.get(response.headers["Location"]).get_data(as_text=True)
        if response.status_code == 302
        else (response.get_data(as_text=True))
    )
    assert "Mark everyone before closing the register" in page
    db.session.refresh(bookings[0])
    assert bookings[0].attendance is None  # the whole change was rolled back
    response = post(client, path, **{f"attendance-{bookings[0].id}": "present"})
    assert "Choose attended, partially attended or no-show" in response.get_data(as_text=True)


def test_another_trainer_cannot_open_the_register(client):
    session = create_session(trainer=create_user(roles=(Role.TRAINER,)), starts_at=NOW - timedelta(minutes=5))
    sign_in(client, create_user(roles=(Role.TRAINER,)))
    assert client.get(f"/sessions/{session.id}/register").status_code == 403


def test_a_walk_in_is_added_to_the_register(client):
    admin = create_user(roles=(Role.LND_ADMIN,))
    session = create_session(starts_at=NOW - timedelta(minutes=30))
    visitor = create_user("visitor@example.org")
    sign_in(client, admin)
    path = f"/sessions/{session.id}/register"
    response = post(client, f"{path}/walk-in", path, email="visitor@example.org", outcome="partial")
    assert response.status_code == 302
    booking = booking_of(visitor, session)
    assert booking.is_walk_in and booking.attendance is Attendance.PARTIAL


def test_a_rolled_back_change_sends_nothing(app_context, mailbox):
    from lms.messages.delivery import deliver_pending

    session = create_session()
    person = create_user()
    with db.session.begin_nested() as nested:
        book_place(session, person, by=person, now=NOW)
        nested.rollback()
    assert db.session.scalar(sa.select(sa.func.count(OutboxMessage.id))) == 0
    assert deliver_pending(NOW) == 0
    assert mailbox.messages == []


def test_the_calendar_invite_is_valid_ics(app_context):
    session = create_session(venue="Room 1; Floor 2, Council House", delivery_mode=DeliveryMode.IN_PERSON)
    person = create_user()
    book_place(session, person, by=person, now=NOW)
    message = db.session.scalar(sa.select(OutboxMessage))
    [attachment] = message.attachments
    text = base64.b64decode(attachment["content_b64"]).decode()
    lines = text.split("\r\n")
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-2] == "END:VCALENDAR"
    assert all(len(line.encode()) <= 75 for line in lines)
    assert "LOCATION:Room 1\\; Floor 2\\, Council House" in text
    assert f"DTSTAMP:{NOW.astimezone(UTC):%Y%m%dT%H%M%SZ}" in text


def test_only_confirmed_delegates_see_the_joining_link(client):
    session = create_session(places=1, overbook_percent=0, online_link="https://meet.example.org/room-42")
    confirmed, waiting = create_user(), create_user()
    book_place(session, confirmed, by=confirmed, now=NOW)
    book_place(session, waiting, by=waiting, now=NOW)
    sign_in(client, waiting)
    assert "room-42" not in client.get(f"/sessions/{session.id}").get_data(as_text=True)
    other = client.application.test_client()
    sign_in(other, confirmed)
    assert "https://meet.example.org/room-42" in other.get(f"/sessions/{session.id}").get_data(as_text=True)


def test_the_roster_shows_who_did_what_and_when(client):
    admin = create_user(roles=(Role.LND_ADMIN,))
    session = create_session(places=1, overbook_percent=0)
    first = create_user(first_name="Robin")
    second = create_user(first_name="Kit")
    booking = book_place(session, first, by=first, now=NOW)
    book_place(session, second, by=second, now=NOW)
    from lms.bookings.services import cancel_booking

    cancel_booking(booking, by=first, now=NOW + timedelta(hours=1))
    sign_in(client, admin)
    page = client.get(f"/admin/programme/sessions/{session.id}/roster").get_data(as_text=True)
    history = page[page.index('id="history-title"') :]
    assert "Booked: place confirmed" in history
    assert "Booked: joined the waiting list" in history
    assert "Cancelled" in history and "late: False" in history
    assert "Confirmed from the waiting list" in history and "The system" in history
    assert history.index("Confirmed from the waiting list") < history.index("Booked: place confirmed")
