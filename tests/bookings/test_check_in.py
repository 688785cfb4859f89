"""Self check-in: a delegate scans the session's QR code, signs in and is recorded as here, within a
window around the start; a tampered link, no place, or the wrong time changes nothing."""

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from lms.accounts.models import Role
from lms.bookings.checkin import (
    CheckInError,
    check_in,
    check_in_problem,
    check_in_token,
    check_in_window,
    session_for_check_in_token,
)
from lms.bookings.services import book_place, cancel_session
from lms.core import clock
from lms.core.audit import AuditEntry
from lms.extensions import db
from tests.conftest import csrf_token, sign_in
from tests.factories import NOW, PASSWORD, create_session, create_user

START = NOW + timedelta(days=10)


@pytest.fixture
def trainer():
    return create_user(roles=(Role.TRAINER,))


@pytest.fixture
def session(trainer):
    return create_session(starts_at=START, trainer=trainer)


@pytest.fixture
def delegate(session):
    person = create_user("delegate@example.org", first_name="Dee")
    book_place(session, person, by=person, now=NOW)
    return person


def check_ins() -> int:
    return db.session.scalar(
        sa.select(sa.func.count(AuditEntry.id)).where(AuditEntry.name == "lms.booking.checked_in")
    )


# The service -----------------------------------------------------------------------------------


def test_the_window_runs_from_half_an_hour_before_to_an_hour_after_the_start(app_context, session):
    window = check_in_window(session)
    assert window.opens_at == START - timedelta(minutes=30)
    assert window.closes_at == START + timedelta(minutes=60)


def test_a_delegate_checks_in_once_however_often_they_scan(app_context, session, delegate):
    booking = check_in(session, delegate, now=START - timedelta(minutes=5))
    assert booking.checked_in_at == START - timedelta(minutes=5)
    again = check_in(session, delegate, now=START + timedelta(minutes=10))
    assert again.id == booking.id
    assert again.checked_in_at == START - timedelta(minutes=5)
    assert check_ins() == 1
    # Checking in is not marking the register: the trainer still does that.
    assert booking.attendance is None


@pytest.mark.parametrize(
    ("minutes", "opens"),
    [(-31, False), (-30, True), (60, True), (61, False)],
)
def test_check_in_is_open_only_within_the_window(app_context, session, delegate, minutes, opens):
    moment = START + timedelta(minutes=minutes)
    if opens:
        assert check_in(session, delegate, now=moment).checked_in_at == moment
    else:
        with pytest.raises(CheckInError) as refused:
            check_in(session, delegate, now=moment)
        assert refused.value.status == 409
        assert "Check-in" in refused.value.message
        assert check_ins() == 0


def test_the_window_follows_the_settings(app, app_context, session, delegate):
    app.config["CHECK_IN_OPENS_MINUTES"] = 5
    try:
        assert "Check-in opens at" in check_in_problem(session, delegate, START - timedelta(minutes=10))
        assert check_in_problem(session, delegate, START - timedelta(minutes=5)) is None
    finally:
        app.config["CHECK_IN_OPENS_MINUTES"] = 30


def test_without_a_confirmed_place_nobody_checks_in(app_context, session):
    stranger = create_user()
    with pytest.raises(CheckInError, match="do not have a confirmed place"):
        check_in(session, stranger, now=START)
    full = create_session(starts_at=START, places=1, overbook_percent=0)
    book_place(full, holder := create_user(), by=holder, now=NOW)
    waiting = create_user()
    book_place(full, waiting, by=waiting, now=NOW)
    with pytest.raises(CheckInError, match="do not have a confirmed place"):
        check_in(full, waiting, now=START)
    assert check_ins() == 0


def test_a_cancelled_session_has_no_check_in(app_context, session, delegate):
    cancel_session(session, reason="Trainer ill", by=create_user(roles=(Role.LND_ADMIN,)), now=NOW)
    with pytest.raises(CheckInError, match="cancelled"):
        check_in(session, delegate, now=START)


def test_the_link_cannot_be_made_from_the_session_id_or_altered(app, app_context, session):
    token = check_in_token(session)
    assert session_for_check_in_token(token) is session
    assert str(session.id) != token
    other = create_session(starts_at=START)
    altered = check_in_token(other)[:-2] + ("AA" if not check_in_token(other).endswith("AA") else "BB")
    for bad in (altered, str(session.id), token.replace(token[0], "x" if token[0] != "x" else "y", 1), ""):
        with pytest.raises(CheckInError) as refused:
            session_for_check_in_token(bad)
        assert refused.value.status == 404
    # Another installation's secret key makes another link.
    key = app.config["SECRET_KEY"]
    app.config["SECRET_KEY"] = key + "-elsewhere"
    try:
        assert check_in_token(session) != token
    finally:
        app.config["SECRET_KEY"] = key


# The pages -------------------------------------------------------------------------------------


def check_in_path(session) -> str:
    return f"/check-in/{check_in_token(session)}"


def test_scanning_asks_a_stranger_to_sign_in_and_brings_them_back(client, session, delegate):
    path = check_in_path(session)
    response = client.get(path)
    assert response.status_code == 302
    assert "/sign-in" in response.headers["Location"]
    clock.freeze(START - timedelta(minutes=10))
    sign_in_page = response.headers["Location"]
    next_url = parse_qs(urlsplit(sign_in_page).query)["next"][0]
    assert next_url.endswith(path)
    response = client.post(
        sign_in_page,
        data={
            "email": delegate.email,
            "password": PASSWORD,
            "next": next_url,
            "csrf_token": csrf_token(client, sign_in_page),
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith(path)


def test_the_delegate_checks_in_and_sees_it_plainly(client, session, delegate):
    sign_in(client, delegate)
    clock.freeze(START - timedelta(minutes=10))
    path = check_in_path(session)
    page = client.get(path).get_data(as_text=True)
    assert "You have a confirmed place" in page and "Check me in" in page
    response = client.post(path, data={"csrf_token": csrf_token(client, path)})
    assert response.status_code == 302
    page = client.get(path).get_data(as_text=True)
    assert "You are checked in" in page and "you checked in at 09:50" in page
    # Again: harmless.
    response = client.post(path, data={"csrf_token": csrf_token(client, path)})
    assert response.status_code == 302
    assert check_ins() == 1


def test_too_early_says_when_it_opens_and_changes_nothing(client, session, delegate):
    sign_in(client, delegate)
    clock.freeze(START - timedelta(hours=2))
    path = check_in_path(session)
    page = client.get(path).get_data(as_text=True)
    assert "Check-in opens at 09:30" in page and "Check me in" not in page
    response = client.post(path, data={"csrf_token": csrf_token(client, path)})
    assert response.status_code == 409
    assert "You are not checked in" in response.get_data(as_text=True)
    assert check_ins() == 0


def test_too_late_or_without_a_place_says_so(client, app, session, delegate):
    other = create_user()
    sign_in(client, other)
    clock.freeze(START)
    page = client.get(check_in_path(session)).get_data(as_text=True)
    assert "do not have a confirmed place" in page
    clock.freeze(START + timedelta(hours=2))
    client = app.test_client()
    sign_in(client, delegate)
    page = client.get(check_in_path(session)).get_data(as_text=True)
    assert "Check-in for this session closed" in page
    assert check_ins() == 0


def test_a_tampered_link_is_a_clear_not_found_page(client, session, delegate):
    sign_in(client, delegate)
    clock.freeze(START)
    response = client.get(check_in_path(session)[:-3] + "abc")
    assert response.status_code == 404
    assert "This check-in link does not work" in response.get_data(as_text=True)
    response = client.post(check_in_path(session)[:-3] + "abc", data={})
    assert response.status_code in (400, 404)
    assert check_ins() == 0


def test_the_register_shows_who_checked_in_and_offers_attended_for_them(client, session, trainer, delegate):
    absent = create_user(first_name="Abe")
    not_here = book_place(session, absent, by=absent, now=NOW)
    booking = check_in(session, delegate, now=START - timedelta(minutes=5))
    sign_in(client, trainer)
    clock.freeze(START - timedelta(minutes=1))
    page = client.get(f"/sessions/{session.id}/register").get_data(as_text=True)
    assert "1 checked in" in page and "09:55" in page  # before the start: the list, read-only
    clock.freeze(START + timedelta(minutes=5))
    page = client.get(f"/sessions/{session.id}/register").get_data(as_text=True)
    assert "Checked in at 09:55" in page
    assert (
        f'id="attendance-{booking.id}-attended" name="attendance-{booking.id}" value="attended" checked'
        in page
    )
    assert f'name="attendance-{not_here.id}" value="attended">' in page  # not checked in: not offered


def test_the_trainer_shows_a_qr_code_that_holds_the_signed_link(client, app, session, trainer):
    sign_in(client, trainer)
    response = client.get(f"/sessions/{session.id}/check-in-code")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    with app.app_context():
        token = check_in_token(session)
    assert f"/check-in/{token}" in page
    assert "<svg" in page and "<path" in page
    assert "from 09:30 to 11:00" in page


def test_only_the_sessions_trainer_or_l_and_d_see_the_code(client, app, session):
    sign_in(client, create_user(roles=(Role.TRAINER,)))
    assert client.get(f"/sessions/{session.id}/check-in-code").status_code == 403
    client = app.test_client()
    sign_in(client, create_user())
    assert client.get(f"/sessions/{session.id}/check-in-code").status_code == 403
