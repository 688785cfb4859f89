from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from lms.accounts.models import Role
from lms.bookings.models import Attendance, Booking, BookingStatus, CancellationReason
from lms.bookings.services import (
    BookingError,
    add_delegate,
    add_walk_in,
    book_place,
    cancel_booking,
    cancel_session,
    change_places,
    close_register,
    edit_session,
    mark_attendance,
    remove_delegate,
    substitute_booking,
    waiting_position,
)
from lms.core.errors import PermissionDenied
from lms.courses.models import SessionStatus
from lms.courses.services import SessionDetails
from lms.extensions import db
from lms.messages.models import OutboxMessage
from tests.factories import NOW, create_agency, create_session, create_user


def book(session, person=None, now=NOW):
    person = person or create_user()
    return book_place(session, person, by=person, now=now)


def kinds(user) -> list[str]:
    return list(
        db.session.scalars(
            sa.select(OutboxMessage.kind).where(OutboxMessage.user_id == user.id).order_by(OutboxMessage.id)
        )
    )


def count(session, status) -> int:
    return db.session.scalar(
        sa.select(sa.func.count(Booking.id)).where(Booking.session_id == session.id, Booking.status == status)
    )


# Booking and the waiting list -----------------------------------------------------------------


def test_twenty_places_take_twenty_two_confirmed_bookings_then_a_waiting_list(app_context):
    session = create_session(places=20, overbook_percent=10)
    bookings = [book(session) for _ in range(25)]
    assert [b.status for b in bookings] == [BookingStatus.CONFIRMED] * 22 + [BookingStatus.WAITING] * 3
    assert [waiting_position(b) for b in bookings[22:]] == [1, 2, 3]
    assert kinds(bookings[0].user) == ["booking.confirmed"]
    assert kinds(bookings[22].user) == ["booking.waitlisted"]


@pytest.mark.parametrize(("places", "limit"), [(15, 16), (8, 8), (1, 1)])
def test_the_bookable_limit_follows_the_overbooking_rule(app_context, places, limit):
    session = create_session(places=places, overbook_percent=10)
    statuses = [book(session).status for _ in range(limit + 1)]
    assert statuses.count(BookingStatus.CONFIRMED) == limit
    assert statuses[-1] is BookingStatus.WAITING


def test_one_live_booking_per_person(app_context):
    session = create_session()
    person = create_user()
    book(session, person)
    with pytest.raises(BookingError, match="already have a place"):
        book(session, person)
    assert count(session, BookingStatus.CONFIRMED) == 1


def test_the_database_itself_refuses_a_second_live_booking(app_context):
    session = create_session()
    person = create_user()
    first = book(session, person)
    twin = Booking(
        session=session, user=person, status=BookingStatus.WAITING, booked_at=NOW, waitlisted_at=NOW
    )
    with pytest.raises(IntegrityError), db.session.begin_nested():
        db.session.add(twin)
        db.session.flush()
    # Once the first is cancelled the person may book again.
    cancel_booking(first, by=person, now=NOW)
    assert book(session, person).is_confirmed


def test_cancelled_started_and_closed_sessions_cannot_be_booked(app_context):
    cancelled = create_session(status=SessionStatus.CANCELLED)
    with pytest.raises(BookingError, match="cancelled"):
        book(cancelled)
    started = create_session(starts_at=NOW - timedelta(minutes=5))
    with pytest.raises(BookingError, match="started"):
        book(started)
    # Thursday 7 May 2026: bookings close at the start of Wednesday 6 May.
    thursday = create_session(local_start=datetime(2026, 5, 7, 9, 30))
    with pytest.raises(BookingError, match="Bookings closed at the end of Tuesday 5 May"):
        book(thursday, now=datetime(2026, 5, 5, 23, 30, tzinfo=UTC))  # 00:30 Wednesday in London
    assert book(thursday, now=datetime(2026, 5, 5, 22, 30, tzinfo=UTC)).is_confirmed
    assert count(cancelled, BookingStatus.CONFIRMED) == 0


def test_l_and_d_can_add_someone_after_bookings_close_but_not_beyond_the_limit(app_context):
    admin = create_user(roles=(Role.LND_ADMIN,))
    session = create_session(places=1, overbook_percent=0, local_start=datetime(2026, 5, 7, 9, 30))
    late_evening = datetime(2026, 5, 6, 18, 0, tzinfo=UTC)
    first = add_delegate(session, create_user(), by=admin, now=late_evening)
    second = add_delegate(session, create_user(), by=admin, now=late_evening)
    assert first.is_confirmed and second.is_waiting
    assert first.booked_by_id == admin.id


def test_a_practitioner_cannot_book_for_someone_else(app_context):
    session = create_session()
    with pytest.raises(PermissionDenied):
        book_place(session, create_user(), by=create_user(), now=NOW)


# Cancelling -----------------------------------------------------------------------------------

THURSDAY = datetime(2026, 6, 11, 9, 30)


@pytest.mark.parametrize(
    ("cancelled_at", "late"),
    [
        (datetime(2026, 6, 4, 12, 0, tzinfo=UTC), False),  # the Thursday before
        (datetime(2026, 6, 5, 22, 59, tzinfo=UTC), False),  # 23:59 on the previous Friday, UK time
        (datetime(2026, 6, 6, 12, 0, tzinfo=UTC), False),  # Saturday: Mon, Tue, Wed still lie ahead
        (datetime(2026, 6, 7, 23, 0, tzinfo=UTC), True),  # 00:00 Monday, UK time
        (datetime(2026, 6, 8, 9, 0, tzinfo=UTC), True),  # Monday
        (datetime(2026, 6, 11, 8, 0, tzinfo=UTC), True),  # the morning of the session
    ],
)
def test_a_cancellation_is_late_with_fewer_than_three_whole_working_days_left(
    app_context, cancelled_at, late
):
    session = create_session(local_start=THURSDAY)
    booking = book(session)
    cancel_booking(booking, by=booking.user, now=cancelled_at)
    assert booking.status is BookingStatus.CANCELLED
    assert booking.is_late_cancellation is late


def test_bank_holidays_do_not_count_as_notice(app_context):
    # Thursday 28 May 2026 follows the late May bank holiday (Monday 25 May).
    session = create_session(local_start=datetime(2026, 5, 28, 9, 30))
    on_friday = book(session)
    cancel_booking(on_friday, by=on_friday.user, now=datetime(2026, 5, 22, 12, 0, tzinfo=UTC))
    assert on_friday.is_late_cancellation  # only Tuesday and Wednesday lie between


def test_a_freed_place_goes_to_the_first_person_waiting_who_is_told(app_context):
    session = create_session(places=1, overbook_percent=0, local_start=THURSDAY)
    holder = book(session)
    first_waiting, second_waiting = book(session), book(session)
    cancel_booking(holder, by=holder.user, now=datetime(2026, 6, 1, 9, 0, tzinfo=UTC))
    assert first_waiting.is_confirmed and first_waiting.promoted_at is not None
    assert not first_waiting.promoted_without_notice
    assert second_waiting.is_waiting and waiting_position(second_waiting) == 1
    assert kinds(first_waiting.user) == ["booking.waitlisted", "booking.promoted"]
    assert kinds(holder.user) == ["booking.confirmed", "booking.cancelled"]


def test_someone_confirmed_at_short_notice_is_not_charged_for_cancelling_late(app_context):
    session = create_session(places=1, overbook_percent=0, local_start=THURSDAY)
    holder, waiting = book(session), book(session)
    monday = datetime(2026, 6, 8, 9, 0, tzinfo=UTC)
    cancel_booking(holder, by=holder.user, now=monday)
    assert holder.is_late_cancellation
    assert waiting.is_confirmed and waiting.promoted_without_notice
    cancel_booking(waiting, by=waiting.user, now=monday + timedelta(days=1))
    assert not waiting.is_late_cancellation


def test_someone_confirmed_in_good_time_is_late_like_anyone_else(app_context):
    session = create_session(places=1, overbook_percent=0, local_start=THURSDAY)
    holder, waiting = book(session), book(session)
    cancel_booking(holder, by=holder.user, now=datetime(2026, 6, 1, 9, 0, tzinfo=UTC))
    cancel_booking(waiting, by=waiting.user, now=datetime(2026, 6, 9, 9, 0, tzinfo=UTC))
    assert waiting.is_late_cancellation


def test_leaving_the_waiting_list_is_never_late_and_frees_nothing(app_context):
    session = create_session(places=1, overbook_percent=0, local_start=THURSDAY)
    book(session)
    waiting = book(session)
    cancel_booking(waiting, by=waiting.user, now=datetime(2026, 6, 10, 9, 0, tzinfo=UTC))
    assert waiting.status is BookingStatus.CANCELLED and not waiting.is_late_cancellation
    assert count(session, BookingStatus.CONFIRMED) == 1


def test_nobody_cancels_someone_elses_booking_and_nothing_changes(app_context):
    booking = book(create_session())
    with pytest.raises(PermissionDenied):
        cancel_booking(booking, by=create_user(), now=NOW)
    assert booking.is_confirmed


def test_a_booking_cannot_be_cancelled_twice_or_after_the_start(app_context):
    session = create_session(starts_at=NOW + timedelta(days=20))
    booking = book(session)
    cancel_booking(booking, by=booking.user, now=NOW)
    with pytest.raises(BookingError, match="already been cancelled"):
        cancel_booking(booking, by=booking.user, now=NOW)
    other = book(session)
    with pytest.raises(BookingError, match="has started"):
        cancel_booking(other, by=other.user, now=session.starts_at + timedelta(minutes=1))


# Substituting ---------------------------------------------------------------------------------


def test_a_place_passes_to_a_colleague_of_the_same_agency_free(app_context):
    agency = create_agency()
    session = create_session(places=1, overbook_percent=0, local_start=THURSDAY)
    booking = book(session, create_user(agency=agency))
    waiting = book(session)
    colleague = create_user(agency=agency)
    replacement = substitute_booking(
        booking, colleague, by=booking.user, now=datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
    )
    assert booking.status is BookingStatus.SUBSTITUTED and not booking.is_late_cancellation
    assert replacement.is_confirmed and replacement.user == colleague
    assert replacement.substitute_of == booking
    assert waiting.is_waiting  # the place did not fall free
    assert kinds(booking.user)[-1] == "booking.substituted_from"
    assert kinds(colleague) == ["booking.substituted_to"]


def test_a_place_cannot_pass_to_another_agency_or_to_someone_already_booked(app_context):
    agency = create_agency()
    session = create_session()
    booking = book(session, create_user(agency=agency))
    with pytest.raises(BookingError, match="own agency"):
        substitute_booking(booking, create_user(), by=booking.user, now=NOW)
    colleague = create_user(agency=agency)
    book(session, colleague)
    with pytest.raises(BookingError, match="already booked"):
        substitute_booking(booking, colleague, by=booking.user, now=NOW)
    assert booking.is_confirmed


def test_colleagues_who_both_typed_the_same_other_organisation_can_swap(app_context):
    session = create_session()
    booking = book(session, create_user(other_organisation="Acorns Hospice"))
    colleague = create_user(other_organisation="ACORNS hospice")
    assert substitute_booking(booking, colleague, by=booking.user, now=NOW).is_confirmed


# Managing a session ---------------------------------------------------------------------------


def test_more_places_confirm_people_waiting_in_order(app_context):
    admin = create_user(roles=(Role.LND_ADMIN,))
    session = create_session(places=2, overbook_percent=0)
    book(session), book(session)
    waiting = [book(session) for _ in range(3)]
    promoted = change_places(session, 4, by=admin, now=NOW)
    assert promoted == waiting[:2]
    assert waiting[2].is_waiting
    assert kinds(waiting[0].user)[-1] == "booking.promoted"


def test_places_cannot_drop_below_the_people_already_confirmed(app_context):
    admin = create_user(roles=(Role.LND_ADMIN,))
    session = create_session(places=3, overbook_percent=0)
    for _ in range(3):
        book(session)
    with pytest.raises(BookingError, match="3 people already hold confirmed places"):
        change_places(session, 2, by=admin, now=NOW)
    assert session.places == 3


def test_removing_a_delegate_is_free_and_fills_the_place(app_context):
    admin = create_user(roles=(Role.LND_ADMIN,))
    session = create_session(places=1, overbook_percent=0, local_start=THURSDAY)
    booking, waiting = book(session), book(session)
    remove_delegate(booking, by=admin, now=datetime(2026, 6, 10, 9, 0, tzinfo=UTC))
    assert booking.cancellation_reason is CancellationReason.REMOVED and not booking.is_late_cancellation
    assert waiting.is_confirmed
    assert kinds(booking.user)[-1] == "booking.removed"


def test_cancelling_a_session_cancels_every_booking_free_and_tells_everyone(app_context):
    admin = create_user(roles=(Role.LND_ADMIN,))
    session = create_session(places=1, overbook_percent=0, local_start=THURSDAY)
    confirmed, waiting = book(session), book(session)
    told = cancel_session(
        session, reason="Trainer unwell", by=admin, now=datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
    )
    assert told == 2
    assert session.status is SessionStatus.CANCELLED
    for booking in (confirmed, waiting):
        assert booking.status is BookingStatus.CANCELLED
        assert booking.cancellation_reason is CancellationReason.SESSION_CANCELLED
        assert not booking.is_late_cancellation
        assert kinds(booking.user)[-1] == "session.cancelled"


def test_moving_a_session_tells_its_delegates_with_an_updated_invite(app_context):
    admin = create_user(roles=(Role.LND_ADMIN,))
    session = create_session(places=1, overbook_percent=0)
    confirmed, waiting = book(session), book(session)
    details = SessionDetails(
        course_id=session.course_id,
        starts_at=session.starts_at + timedelta(days=1),
        ends_at=session.ends_at + timedelta(days=1),
        delivery_mode=session.delivery_mode,
        places=2,
        overbook_percent=0,
        venue=session.venue,
        online_link=session.online_link,
    )
    promoted = edit_session(session, details, by=admin, now=NOW)
    assert promoted == [waiting]
    assert session.sequence == 1
    assert kinds(confirmed.user)[-1] == "session.changed"


def test_only_l_and_d_manage_a_session(app_context):
    session = create_session()
    booking = book(session)
    practitioner = create_user()
    with pytest.raises(PermissionDenied):
        change_places(session, 30, by=practitioner, now=NOW)
    with pytest.raises(PermissionDenied):
        remove_delegate(booking, by=practitioner, now=NOW)
    with pytest.raises(PermissionDenied):
        cancel_session(session, reason="no", by=practitioner, now=NOW)


# The register ---------------------------------------------------------------------------------


def started_session_with(delegates: int, trainer=None):
    session = create_session(starts_at=NOW + timedelta(days=10), trainer=trainer)
    bookings = [book(session) for _ in range(delegates)]
    return session, bookings, session.starts_at + timedelta(minutes=10)


def test_the_register_opens_when_the_session_starts(app_context):
    trainer = create_user(roles=(Role.TRAINER,))
    session, [booking], started = started_session_with(1, trainer)
    with pytest.raises(BookingError, match="opens when the session starts"):
        mark_attendance(
            booking, Attendance.ATTENDED, by=trainer, now=session.starts_at - timedelta(minutes=1)
        )
    mark_attendance(booking, Attendance.ATTENDED, by=trainer, now=started)
    assert booking.attendance is Attendance.ATTENDED and booking.attendance_marked_by_id == trainer.id


def test_only_the_sessions_trainer_or_l_and_d_keep_the_register(app_context):
    trainer = create_user(roles=(Role.TRAINER,))
    session, [booking], started = started_session_with(1, trainer)
    for outsider in (create_user(roles=(Role.TRAINER,)), booking.user):
        with pytest.raises(PermissionDenied):
            mark_attendance(booking, Attendance.NO_SHOW, by=outsider, now=started)
    admin = create_user(roles=(Role.LND_ADMIN,))
    mark_attendance(booking, Attendance.NO_SHOW, by=admin, now=started)
    assert booking.attendance is Attendance.NO_SHOW


def test_closing_the_register_needs_everyone_marked_and_completes_the_session(app_context):
    trainer = create_user(roles=(Role.TRAINER,))
    session, bookings, started = started_session_with(3, trainer)
    mark_attendance(bookings[0], Attendance.ATTENDED, by=trainer, now=started)
    mark_attendance(bookings[1], Attendance.PARTIAL, by=trainer, now=started)
    with pytest.raises(BookingError, match=bookings[2].user.full_name):
        close_register(session, by=trainer, now=started)
    mark_attendance(bookings[2], Attendance.NO_SHOW, by=trainer, now=started)
    close_register(session, by=trainer, now=started)
    assert session.status is SessionStatus.COMPLETED and session.register_closed_at == started
    # Afterwards only L&D may correct it.
    with pytest.raises(BookingError, match="register is closed"):
        mark_attendance(bookings[2], Attendance.ATTENDED, by=trainer, now=started)
    admin = create_user(roles=(Role.LND_ADMIN,))
    mark_attendance(bookings[2], Attendance.ATTENDED, by=admin, now=started)
    assert bookings[2].attendance is Attendance.ATTENDED


def test_someone_who_came_unbooked_is_added_even_to_a_full_session(app_context):
    trainer = create_user(roles=(Role.TRAINER,))
    session = create_session(
        places=1, overbook_percent=0, starts_at=NOW + timedelta(days=10), trainer=trainer
    )
    book(session)
    waiting = book(session)
    started = session.starts_at + timedelta(minutes=5)
    walk_in = add_walk_in(session, create_user(), Attendance.ATTENDED, by=trainer, now=started)
    assert walk_in.is_confirmed and walk_in.is_walk_in and walk_in.attendance is Attendance.ATTENDED
    came_from_waiting = add_walk_in(session, waiting.user, Attendance.PARTIAL, by=trainer, now=started)
    assert came_from_waiting.id == waiting.id and waiting.is_confirmed
    with pytest.raises(BookingError, match="already on the register"):
        add_walk_in(session, walk_in.user, Attendance.ATTENDED, by=trainer, now=started)


def test_people_on_the_waiting_list_are_not_on_the_register(app_context):
    trainer = create_user(roles=(Role.TRAINER,))
    session = create_session(
        places=1, overbook_percent=0, starts_at=NOW + timedelta(days=10), trainer=trainer
    )
    book(session)
    waiting = book(session)
    with pytest.raises(BookingError, match="confirmed place"):
        mark_attendance(
            waiting, Attendance.ATTENDED, by=trainer, now=session.starts_at + timedelta(minutes=5)
        )
