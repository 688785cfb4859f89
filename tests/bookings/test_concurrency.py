"""Many people booking and cancelling at the same moment, through gunicorn's workers.

The workers are separate processes on their own database connections, so only the session
row lock (and SQLite's write lock) stands between them and an oversold session. The test's
frozen clock does not reach them: they run on the real time, so sessions here start in the
real future.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
import sqlalchemy as sa

from lms.bookings.models import Booking, BookingStatus
from lms.bookings.services import book_place, waiting_list, waiting_position
from lms.core.audit import AuditEntry
from lms.courses.models import CourseSession
from lms.extensions import db
from lms.messages.models import OutboxMessage
from tests.conftest import Mailbox, empty_all_tables
from tests.factories import PASSWORD, create_agency, create_session, create_user
from tests.live import Browser, Reply, serve_with_gunicorn

pytestmark = pytest.mark.committing

LIMIT = 22  # 20 places plus 10% overbooking


@pytest.fixture(scope="module")
def server(app, smtp_server):
    """Four sync workers that deliver mail to the test's SMTP server as each request ends."""
    controller, _ = smtp_server
    mail = {"MAIL_BACKEND": "smtp", "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(controller.port)}
    with serve_with_gunicorn(app, workers=4, extra_env={**mail, "MAIL_TIMEOUT_SECONDS": "5"}) as gunicorn:
        yield gunicorn
        assert "Traceback" not in gunicorn.log(), gunicorn.log()[-3000:]


@pytest.fixture
def cleanup(app):
    yield
    with app.app_context():
        empty_all_tables()


def real_future(days: int = 60) -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=days)


def signed_in(server, emails: Sequence[str]) -> list[Browser]:
    """One browser, with its own cookies, per person; a few sign in at a time (argon2 is slow)."""

    def sign_in(email: str) -> Browser:
        browser = Browser(server.url)
        browser.sign_in(email, PASSWORD)
        return browser

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(sign_in, emails))


def tokens(browsers: Sequence[Browser], paths: Sequence[str]) -> list[str]:
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(Browser.csrf_token, browsers, paths))


def all_at_once(requests: Sequence[Callable[[], Reply]]) -> list[Reply]:
    """Send every request from its own thread, all released by one barrier."""
    barrier = threading.Barrier(len(requests), timeout=60)
    replies: list[Reply | Exception | None] = [None] * len(requests)

    def send(index: int, request: Callable[[], Reply]) -> None:
        barrier.wait()
        try:
            replies[index] = request()
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            replies[index] = error

    threads = [threading.Thread(target=send, args=item) for item in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    failures = [r for r in replies if not isinstance(r, Reply) or r.status != 302]
    assert not failures, [(getattr(r, "status", r), getattr(r, "text", "")[:300]) for r in failures[:5]]
    return replies


def bookings_on(session_id: int) -> list[Booking]:
    return list(db.session.scalars(sa.select(Booking).where(Booking.session_id == session_id)))


def by_status(bookings: Sequence[Booking], status: BookingStatus) -> list[Booking]:
    return [b for b in bookings if b.status is status]


def subjects(mailbox) -> Counter:
    return Counter(message["Subject"].partition(":")[0] for message in mailbox.messages)


def test_a_crowd_booking_at_once_fills_the_places_then_the_waiting_list(app, server, mailbox, cleanup):
    with app.app_context():
        session = create_session(starts_at=real_future(), places=20, overbook_percent=10)
        agency = create_agency()
        people = [create_user(agency=agency) for _ in range(110)]
        db.session.commit()
        assert session.bookable_limit == LIMIT
        session_id = session.id
        emails = [person.email for person in people]
        user_ids = {person.id for person in people}

    browsers = signed_in(server, emails)
    forms = tokens(browsers, [f"/sessions/{session_id}"] * len(browsers))
    replies = all_at_once(
        [
            partial(browser.submit, f"/sessions/{session_id}/book", {"csrf_token": token})
            for browser, token in zip(browsers, forms, strict=True)
        ]
    )

    assert {reply.location for reply in replies} == {f"/sessions/{session_id}"}
    mailbox.delivered()  # what the dispatcher does within seconds, done here and now
    with app.app_context():
        bookings = bookings_on(session_id)
        confirmed = by_status(bookings, BookingStatus.CONFIRMED)
        waiting = by_status(bookings, BookingStatus.WAITING)
        assert (len(confirmed), len(waiting)) == (LIMIT, 88)
        assert sorted(b.user_id for b in bookings) == sorted(user_ids)
        in_line = waiting_list(db.session.get(CourseSession, session_id))
        assert [waiting_position(b) for b in in_line] == list(range(1, 89))
        assert [b.id for b in in_line] == sorted(b.id for b in waiting)
        # Ids are handed out under the session lock, so they record the order of arrival there.
        assert max(b.id for b in confirmed) < min(b.id for b in waiting)
        assert db.session.scalar(sa.select(sa.func.count()).where(OutboxMessage.sent_at.is_(None))) == 0

    assert subjects(mailbox) == {"Place confirmed": LIMIT, "You are on the waiting list": 88}
    assert sorted(message["To"] for message in mailbox.messages) == sorted(emails)
    # Each person waiting was told their own place in the line: 1 to 88, no two alike.
    told = sorted(
        int(re.search(r"at number (\d+)", Mailbox.text(m)).group(1))
        for m in mailbox.messages
        if m["Subject"].startswith("You are on the waiting list")
    )
    assert told == list(range(1, 89))


def test_cancelling_and_booking_at_once_never_leaves_a_place_free_while_someone_waits(
    app, server, mailbox, cleanup
):
    moment = datetime.now(UTC)
    with app.app_context():
        session = create_session(starts_at=real_future(), places=20, overbook_percent=10)
        agency = create_agency()
        holders = [create_user(agency=agency) for _ in range(LIMIT)]
        queued = [create_user(agency=agency) for _ in range(10)]
        newcomers = [create_user(agency=agency) for _ in range(10)]
        held = [book_place(session, person, by=person, now=moment) for person in holders]
        for person in queued:
            book_place(session, person, by=person, now=moment)
        db.session.commit()
        session_id = session.id
        leaving = [(booking.id, booking.user.email) for booking in held[:10]]
        queued_ids = {person.id for person in queued}
        newcomer_ids = {person.id for person in newcomers}
        newcomer_emails = [person.email for person in newcomers]
    mailbox.delivered().clear()  # the mail of the bookings made above is not what this test counts

    cancel_paths = [f"/bookings/{booking_id}/cancel" for booking_id, _ in leaving]
    cancellers = signed_in(server, [email for _, email in leaving])
    bookers = signed_in(server, newcomer_emails)
    cancel_forms = tokens(cancellers, cancel_paths)
    book_forms = tokens(bookers, [f"/sessions/{session_id}"] * len(bookers))
    cancels = [
        partial(browser.submit, path, {"csrf_token": token})
        for browser, path, token in zip(cancellers, cancel_paths, cancel_forms, strict=True)
    ]
    books = [
        partial(browser.submit, f"/sessions/{session_id}/book", {"csrf_token": token})
        for browser, token in zip(bookers, book_forms, strict=True)
    ]
    replies = all_at_once([request for pair in zip(cancels, books, strict=True) for request in pair])

    assert Counter(reply.location for reply in replies) == {"/bookings": 10, f"/sessions/{session_id}": 10}
    with app.app_context():
        bookings = bookings_on(session_id)
        confirmed = by_status(bookings, BookingStatus.CONFIRMED)
        waiting = by_status(bookings, BookingStatus.WAITING)
        assert len(confirmed) == min(LIMIT, len(confirmed) + len(waiting)) == LIMIT
        assert not waiting or len(confirmed) == LIMIT
        # Every place freed went at once to the person at the front of the line...
        assert {b.user_id for b in confirmed if b.promoted_at} == queued_ids
        # ...so newcomers never found one free, and wait in the order they arrived.
        assert {b.user_id for b in waiting} == newcomer_ids
        in_line = waiting_list(db.session.get(CourseSession, session_id))
        assert [waiting_position(b) for b in in_line] == list(range(1, 11))
        assert {b.id for b in by_status(bookings, BookingStatus.CANCELLED)} == {i for i, _ in leaving}
        promotions = sa.select(sa.func.count()).where(AuditEntry.name == "lms.booking.promoted")
        assert db.session.scalar(promotions) == 10

    assert subjects(mailbox.delivered()) == {
        "Booking cancelled": 10,
        "A place has come up for you": 10,
        "You are on the waiting list": 10,
    }
