"""The third stage: once the delegate has answered the level-2 follow-up, their line manager is
asked, through a signed link that works once, what change they have seen in practice."""

import csv
import io
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from lms.accounts.models import Role
from lms.bookings.models import Attendance
from lms.bookings.services import book_place, close_register, mark_attendance
from lms.core import clock
from lms.evaluations.models import Rating
from lms.extensions import db
from lms.followups.manager_comments import comment_of, invite_manager
from lms.followups.models import Applied, Barrier, FollowUp, ManagerComment, PracticeChange
from lms.followups.services import FollowUpAnswers, invite_due, submit_follow_up
from lms.messages.models import OutboxMessage
from lms.reporting.results import follow_up_results
from tests.conftest import csrf_token, sign_in
from tests.factories import NOW, create_course, create_session, create_user

MANAGER = "manager@example.org"
MARCH = {"start": "2026-03-01", "end": "2026-03-31"}  # the session ran in March, six weeks before NOW


def follow_up_answered(example="I now check for a second agency's view before closing a case."):
    """A delegate who attended a session six weeks ago has answered their follow-up."""
    trainer = create_user(roles=(Role.TRAINER,))
    session = create_session(
        course=create_course("Neglect: recognising and responding"),
        starts_at=NOW - timedelta(days=43),
        trainer=trainer,
    )
    person = create_user(first_name="Priya", last_name="Shah")
    booking = book_place(
        session, person, by=create_user(roles=(Role.LND_ADMIN,)), now=NOW - timedelta(days=60)
    )
    mark_attendance(booking, Attendance.ATTENDED, by=trainer, now=session.starts_at)
    close_register(session, by=trainer, now=session.ends_at)
    assert invite_due(NOW) == 1
    follow_up = db.session.scalar(sa.select(FollowUp).where(FollowUp.booking_id == booking.id))
    answers = FollowUpAnswers(
        applied=Applied.YES,
        example=example,
        confidence=Rating.HIGH,
        barriers=[Barrier.TIME],
        multi_agency=Applied.PARTLY,
    )
    submit_follow_up(follow_up, answers, by=person, now=NOW)
    db.session.flush()
    return follow_up


def link_in(mailbox) -> str:
    """The path of the link in the manager's invitation, read from the mail server."""
    [message] = mailbox.delivered().to(MANAGER)
    assert message["Subject"].startswith("Change in practice for Priya Shah: ")
    body = mailbox.text(message)
    assert "Hello Lee Manager," in body and "Priya Shah, who gave you as their line manager" in body
    return re.search(r"https?://[^/\s]+(/follow-ups/manager/\S+)", body).group(1)


def answer(client, path, change="noticeably", comment="She now brings the school nurse in early."):
    token = csrf_token(client, path)
    return client.post(path, data={"change": change, "comment": comment, "csrf_token": token})


def test_the_manager_is_invited_once_the_delegate_has_answered_and_answers_through_the_link(client, mailbox):
    follow_up = follow_up_answered()
    path = link_in(mailbox)
    page = client.get(path)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "What change have you seen in Priya Shah" in text and "Noticeably" in text
    response = answer(client, path)
    assert response.status_code == 200 and "Thank you" in response.get_data(as_text=True)
    record = comment_of(follow_up)
    db.session.refresh(record)
    assert record.answered_at == NOW and record.change is PracticeChange.NOTICEABLY
    assert record.comment == "She now brings the school nurse in early."
    # Only the hash of the link's secret is kept.
    assert record.token_hash not in path and len(record.token_hash) == 64


def test_one_invitation_per_follow_up(app_context):
    follow_up = follow_up_answered()
    first = comment_of(follow_up)
    assert invite_manager(follow_up, now=NOW + timedelta(hours=1)) is first
    kinds = db.session.scalars(sa.select(OutboxMessage.kind).where(OutboxMessage.recipient == MANAGER)).all()
    assert kinds == ["followup.manager_invitation"]
    assert db.session.scalar(sa.select(sa.func.count(ManagerComment.id))) == 1


def test_no_invitation_without_a_managers_address(app_context):
    trainer = create_user(roles=(Role.TRAINER,))
    session = create_session(starts_at=NOW - timedelta(days=43), trainer=trainer)
    person = create_user()
    person.line_manager_email = ""
    booking = book_place(
        session, person, by=create_user(roles=(Role.LND_ADMIN,)), now=NOW - timedelta(days=60)
    )
    mark_attendance(booking, Attendance.ATTENDED, by=trainer, now=session.starts_at)
    close_register(session, by=trainer, now=session.ends_at)
    invite_due(NOW)
    follow_up = db.session.scalar(sa.select(FollowUp).where(FollowUp.booking_id == booking.id))
    answers = FollowUpAnswers(
        applied=Applied.NO, example="", confidence=Rating.MEDIUM, multi_agency=Applied.NO
    )
    submit_follow_up(follow_up, answers, by=person, now=NOW)
    assert comment_of(follow_up) is None


def test_a_link_used_twice_changes_nothing_the_second_time(client, mailbox):
    follow_up = follow_up_answered()
    path = link_in(mailbox)
    token = csrf_token(client, path)
    assert answer(client, path).status_code == 200
    again = client.get(path)
    assert again.status_code == 410 and "already been received" in again.get_data(as_text=True)
    late = client.post(path, data={"change": "none", "comment": "Changed my mind", "csrf_token": token})
    assert late.status_code == 410
    record = comment_of(follow_up)
    db.session.refresh(record)
    assert (record.change, record.comment) == (
        PracticeChange.NOTICEABLY,
        "She now brings the school nurse in early.",
    )


def test_an_expired_link_gives_a_clear_page_and_changes_nothing(client, mailbox):
    follow_up = follow_up_answered()
    path = link_in(mailbox)
    token = csrf_token(client, path)
    clock.freeze(NOW + timedelta(days=28))
    response = client.post(path, data={"change": "a_little", "comment": "", "csrf_token": token})
    assert response.status_code == 410 and "expired" in response.get_data(as_text=True)
    assert comment_of(follow_up).answered_at is None


@pytest.mark.parametrize(
    "tamper",
    [
        lambda path: path[:-3] + ("abc" if not path.endswith("abc") else "xyz"),  # the signature changed
        lambda path: path.rsplit("/", 1)[0] + "/not-a-token",
        lambda path: path.rsplit("/", 1)[0] + "/" + "A" * 5000,
    ],
)
def test_a_tampered_link_gives_a_clear_page_and_changes_nothing(client, mailbox, tamper):
    follow_up = follow_up_answered()
    bad = tamper(link_in(mailbox))
    response = client.get(bad)
    assert response.status_code == 404
    assert "This link cannot be used" in response.get_data(as_text=True)
    assert comment_of(follow_up).answered_at is None


def test_a_link_for_another_secret_is_refused(app, client, mailbox):
    """A validly signed link whose secret is not the one kept (as if forged with the key) is refused."""
    from itsdangerous import URLSafeSerializer

    follow_up = follow_up_answered()
    link_in(mailbox)
    record = comment_of(follow_up)
    forged = URLSafeSerializer(app.config["SECRET_KEY"], salt="manager-comment").dumps([record.id, "guess"])
    assert client.get(f"/follow-ups/manager/{forged}").status_code == 404


def test_the_form_needs_its_csrf_token_and_an_answer(client, mailbox):
    follow_up = follow_up_answered()
    path = link_in(mailbox)
    assert client.post(path, data={"change": "none"}).status_code == 400
    token = csrf_token(client, path)
    response = client.post(path, data={"change": "loads", "csrf_token": token})
    assert response.status_code == 422 and "Choose one of the answers." in response.get_data(as_text=True)
    assert comment_of(follow_up).answered_at is None


def test_the_impact_report_shows_the_managers_answers_beside_the_delegates(client, mailbox):
    follow_up_answered(example="I now check for a second agency's view before closing a case.")
    answer(client, link_in(mailbox), change="a_great_deal", comment="Her referrals are far better evidenced.")
    results = follow_up_results(NOW.date().replace(month=3, day=1), NOW.date().replace(month=3, day=31))
    assert (results.managers_invited, results.managers_answered) == (1, 1)
    assert dict(results.manager_change)["A great deal"] == 1
    [view] = results.side_by_side
    assert view.delegate_example.startswith("I now check") and view.comment.startswith("Her referrals")

    sign_in(client, create_user(roles=(Role.LND_ADMIN,)))
    page = client.get("/reports/evaluations", query_string=MARCH).get_data(as_text=True)
    assert "Line managers&#39; view" in page or "Line managers' view" in page
    assert "second agency&#39;s view" in page and "Her referrals are far better evidenced." in page
    assert "Priya" not in page and "Lee Manager" not in page  # reported without names
    rows = list(
        csv.reader(
            io.StringIO(
                client.get("/reports/follow-up-managers.csv", query_string=MARCH).get_data(as_text=True)
            )
        )
    )
    assert rows[1] == [
        "Neglect: recognising and responding",
        "I now check for a second agency's view before closing a case.",
        "A great deal",
        "Her referrals are far better evidenced.",
    ]
    counts = dict(
        csv.reader(
            io.StringIO(client.get("/reports/follow-ups.csv", query_string=MARCH).get_data(as_text=True))
        )
    )
    assert counts["Managers answered"] == "1" and counts["Change seen by the manager: A great deal"] == "1"
    xlsx = client.get("/reports/follow-up-managers.xlsx", query_string=MARCH)
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"
