"""Approvals racing each other through gunicorn's workers: the manager's link pressed many times
in many browsers, approve against decline, the delegate cancelling and the expiry sweep at the same
moment, and many approvals competing for the last places.

The session row lock decides the order; whoever comes second finds the request closed and changes
nothing. The workers run on the real time, so sessions here start in the real future.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial

import pytest
import sqlalchemy as sa

from lms.accounts.models import Role
from lms.bookings.approvals import expire_due
from lms.bookings.models import ApprovalRequest, Booking, BookingStatus
from lms.bookings.services import book_place, places_left
from lms.core.audit import AuditEntry
from lms.core.db import write_intent
from lms.courses.models import CourseSession
from lms.extensions import db
from lms.messages.models import OutboxMessage
from tests.bookings.test_concurrency import real_future, signed_in
from tests.conftest import empty_all_tables
from tests.factories import create_agency, create_session, create_user
from tests.live import Browser, Reply, serve_with_gunicorn

pytestmark = pytest.mark.committing

LINK = re.compile(r"/approve/[A-Za-z0-9_-]+")
DECISIONS = (
    "lms.booking.approved",
    "lms.booking.declined",
    "lms.booking.cancelled",
    "lms.booking.approval_expired",
)


@pytest.fixture(scope="module")
def server(app):
    with serve_with_gunicorn(app, workers=4, extra_env={"BOOKING_APPROVAL": "all"}) as gunicorn:
        yield gunicorn
        assert "Traceback" not in gunicorn.log(), gunicorn.log()[-3000:]


@pytest.fixture
def cleanup(app):
    yield
    with app.app_context():
        empty_all_tables()


@pytest.fixture
def approval_for_all(app, monkeypatch):
    monkeypatch.setitem(app.config, "BOOKING_APPROVAL", "all")


def link_of(booking: Booking) -> str:
    body = db.session.scalar(
        sa.select(OutboxMessage.body).where(
            OutboxMessage.kind == "booking.approval_request",
            OutboxMessage.recipient == booking.approval.manager_email,
        )
    )
    return LINK.search(body).group(0)


def race(requests: Sequence[Callable[[], object]]) -> list[object]:
    """Start every request in its own thread, all released by one barrier."""
    barrier = threading.Barrier(len(requests), timeout=60)
    results: list[object] = [None] * len(requests)

    def run(index: int, request: Callable[[], object]) -> None:
        barrier.wait()
        try:
            results[index] = request()
        except Exception as error:  # noqa: BLE001 - reported by the caller's assertions
            results[index] = error

    threads = [threading.Thread(target=run, args=item) for item in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def anonymous_forms(server, path: str, count: int) -> list[tuple[Browser, str]]:
    """`count` browsers without accounts, each with the manager's page open (its own CSRF token)."""

    def open_page(_: int) -> tuple[Browser, str]:
        browser = Browser(server.url)
        return browser, browser.csrf_token(path)

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(open_page, range(count)))


def sweep(app, moment: datetime) -> int:
    """The scheduler's expiry sweep, committed as run_job does."""
    with app.app_context(), write_intent():
        try:
            done = expire_due(moment)
            db.session.commit()
            return done
        finally:
            db.session.remove()


def decisions_about(booking_id: int) -> list[str]:
    return list(
        db.session.scalars(
            sa.select(AuditEntry.name)
            .where(
                AuditEntry.subject_type == "booking",
                AuditEntry.subject_id == booking_id,
                AuditEntry.name.in_(DECISIONS),
            )
            .order_by(AuditEntry.id)
        )
    )


def test_one_link_pressed_everywhere_at_once_with_a_cancel_and_the_sweep_decides_once(
    app, server, cleanup, approval_for_all
):
    moment = datetime.now(UTC)
    with app.app_context():
        session = create_session(starts_at=real_future(), places=2, overbook_percent=0)
        agency = create_agency()
        delegate = create_user(agency=agency)
        booking = book_place(session, delegate, by=delegate, now=moment)
        holder = create_user(agency=agency)
        admin = create_user(roles=(Role.LND_ADMIN,))
        assert book_place(session, holder, by=admin, now=moment).is_confirmed
        waiting = [create_user(agency=agency) for _ in range(3)]
        for person in waiting:
            assert book_place(session, person, by=admin, now=moment).is_waiting
        assert booking.is_awaiting_approval and booking.approval.holds_place
        db.session.commit()
        path, booking_id, session_id = link_of(booking), booking.id, session.id
        deadline = booking.approval.expires_at
        delegate_email = delegate.email

    approvers = anonymous_forms(server, path, 8)
    decliners = anonymous_forms(server, path, 8)
    [canceller] = signed_in(server, [delegate_email])
    cancel_token = canceller.csrf_token(f"/bookings/{booking_id}/cancel")
    requests = [
        *(partial(b.submit, path, {"csrf_token": t, "action": "approve"}) for b, t in approvers),
        *(
            partial(b.submit, path, {"csrf_token": t, "action": "decline", "reason": "No cover"})
            for b, t in decliners
        ),
        partial(canceller.submit, f"/bookings/{booking_id}/cancel", {"csrf_token": cancel_token}),
        partial(sweep, app, deadline),
    ]
    results = race(requests)

    link_replies = [r for r in results[:16] if isinstance(r, Reply)]
    assert len(link_replies) == 16, [r for r in results[:16] if not isinstance(r, Reply)][:3]
    statuses = Counter(reply.status for reply in link_replies)
    assert set(statuses) <= {302, 409, 410}, statuses
    assert statuses[302] <= 1  # the link acted at most once
    assert isinstance(results[-1], int) and results[-1] <= 1
    with app.app_context():
        decided = decisions_about(booking_id)
        # One decision on the request, or a cancellation before any; the delegate may still cancel
        # a place once it is approved.
        assert decided in (
            ["lms.booking.approved"],
            ["lms.booking.approved", "lms.booking.cancelled"],
            ["lms.booking.declined"],
            ["lms.booking.approval_expired"],
            ["lms.booking.cancelled"],
        ), decided
        booking = db.session.get(Booking, booking_id)
        approval = db.session.scalar(
            sa.select(ApprovalRequest).where(ApprovalRequest.booking_id == booking_id)
        )
        if statuses[302]:
            assert decided[0] in {"lms.booking.approved", "lms.booking.declined"}
        assert booking.is_confirmed == (decided == ["lms.booking.approved"])
        assert (approval.decided_at is None) == (decided == ["lms.booking.cancelled"])
        session = db.session.get(CourseSession, session_id)
        confirmed = db.session.scalar(
            sa.select(sa.func.count(Booking.id)).where(
                Booking.session_id == session_id, Booking.status == BookingStatus.CONFIRMED
            )
        )
        still_waiting = db.session.scalar(
            sa.select(sa.func.count(Booking.id)).where(
                Booking.session_id == session_id, Booking.status == BookingStatus.WAITING
            )
        )
        # Never more than the limit, and never a free place while someone waits.
        assert confirmed == session.bookable_limit == 2
        assert places_left(session) == 0 and still_waiting == (3 if booking.is_confirmed else 2)


def test_many_approvals_at_once_never_confirm_more_than_the_bookable_limit(
    app, server, cleanup, approval_for_all, monkeypatch
):
    monkeypatch.setitem(app.config, "APPROVAL_HOLDS_PLACE", False)
    moment = datetime.now(UTC)
    with app.app_context():
        session = create_session(starts_at=real_future(), places=5, overbook_percent=0)
        agency = create_agency()
        people = [create_user(agency=agency) for _ in range(15)]
        for n, person in enumerate(people):
            person.line_manager_email = f"manager{n}@example.org"
        bookings = [book_place(session, person, by=person, now=moment) for person in people]
        assert all(b.is_awaiting_approval and not b.approval.holds_place for b in bookings)
        db.session.commit()
        paths = [link_of(booking) for booking in bookings]
        session_id = session.id

    forms = [anonymous_forms(server, path, 1)[0] for path in paths]
    results = race(
        [
            partial(browser.submit, path, {"csrf_token": token, "action": "approve"})
            for (browser, token), path in zip(forms, paths, strict=True)
        ]
    )
    assert [getattr(r, "status", r) for r in results] == [302] * 15
    with app.app_context():
        statuses = Counter(
            db.session.scalars(sa.select(Booking.status).where(Booking.session_id == session_id))
        )
        assert statuses == {BookingStatus.CONFIRMED: 5, BookingStatus.WAITING: 10}
        approved = db.session.scalar(
            sa.select(sa.func.count()).where(AuditEntry.name == "lms.booking.approved")
        )
        assert approved == 15


def test_two_schedulers_expiring_at_once_expire_each_request_once(app, cleanup, approval_for_all):
    moment = datetime.now(UTC)
    with app.app_context():
        session = create_session(starts_at=real_future(), places=5, overbook_percent=0)
        agency = create_agency()
        admin = create_user(roles=(Role.LND_ADMIN,))
        asking = [create_user(agency=agency) for _ in range(5)]
        bookings = [book_place(session, person, by=person, now=moment) for person in asking]
        waiting = [book_place(session, create_user(agency=agency), by=admin, now=moment) for _ in range(5)]
        assert all(b.is_awaiting_approval and b.approval.holds_place for b in bookings)
        assert all(b.is_waiting for b in waiting)
        db.session.commit()
        deadline = max(b.approval.expires_at for b in bookings)
        session_id = session.id

    done = race([partial(sweep, app, deadline) for _ in range(4)])

    assert sum(done) == 5, done  # between them, each request once
    with app.app_context():
        statuses = Counter(
            db.session.scalars(sa.select(Booking.status).where(Booking.session_id == session_id))
        )
        assert statuses == {BookingStatus.CANCELLED: 5, BookingStatus.CONFIRMED: 5}
        expired = db.session.scalar(
            sa.select(sa.func.count()).where(AuditEntry.name == "lms.booking.approval_expired")
        )
        told = db.session.scalar(
            sa.select(sa.func.count()).where(OutboxMessage.kind == "booking.approval_expired")
        )
        promoted = db.session.scalar(
            sa.select(sa.func.count()).where(AuditEntry.name == "lms.booking.promoted")
        )
        assert (expired, told, promoted) == (5, 5, 5)
