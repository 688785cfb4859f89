"""Evaluation and follow-up results, budget, the annual summary and the spreadsheet download."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from lms.accounts.models import Role
from lms.bookings.models import Attendance
from lms.bookings.services import book_place, close_register, mark_attendance
from lms.core import clock
from lms.evaluations.models import QuestionKind, Rating
from lms.evaluations.services import current_question_set, submit_evaluation
from lms.extensions import db
from lms.followups.models import Applied, Barrier, FollowUp
from lms.followups.services import FollowUpAnswers, invite_due, submit_follow_up
from lms.reporting.results import evaluation_results, follow_up_results
from tests.conftest import csrf_token, sign_in
from tests.factories import NOW, create_course, create_session, create_user

PERIOD = (date(2026, 4, 1), date(2027, 3, 31))


def evaluated_session(ratings_now: list[str], *, comment="Ask about lived experience"):
    """A session that ran; each attendee rated 'understanding now' as given, 'before' as Low."""
    trainer = create_user(roles=(Role.TRAINER,))
    session = create_session(
        course=create_course("Online Safety"), starts_at=NOW - timedelta(days=3), trainer=trainer
    )
    admin = create_user(roles=(Role.LND_ADMIN,))
    bookings = [
        book_place(
            session,
            create_user(first_name="Hidden", last_name=f"Name{n}"),
            by=admin,
            now=NOW - timedelta(days=30),
        )
        for n in range(len(ratings_now))
    ]
    for booking in bookings:
        mark_attendance(
            booking, Attendance.ATTENDED, by=trainer, now=session.starts_at + timedelta(minutes=1)
        )
    close_register(session, by=trainer, now=session.ends_at)
    question_set = current_question_set(session.course, now=NOW)
    for booking, now_rating in zip(bookings, ratings_now, strict=True):
        answers = {}
        for q in question_set.questions:
            if q.kind is QuestionKind.TEXT:
                answers[q.id] = comment
            else:
                answers[q.id] = {"understanding_before": "2", "understanding_now": now_rating}.get(q.key, "4")
        submit_evaluation(booking, question_set, answers, by=booking.user, now=NOW)
    return session, bookings


def test_ratings_are_counted_per_question_with_the_shift_in_understanding(app_context):
    evaluated_session(["4", "5", "5", "3"])
    [course] = evaluation_results(*PERIOD)
    assert (course.evaluations, course.attendees) == (4, 4)
    now_question = next(q for q in course.questions if "subject now" in q.text)
    assert now_question.counts == {1: 0, 2: 0, 3: 1, 4: 1, 5: 2}
    assert now_question.high_share == 0.75
    assert course.mean_of("before the course") == 2 and course.mean_of("subject now") == 4.25
    assert len(course.comments) == 8  # two written answers each, no names


def test_each_courses_questions_come_in_the_order_its_evaluation_asks_them(app_context):
    session, _ = evaluated_session(["4", "5"])
    questions = current_question_set(session.course, now=NOW).questions
    asked = [q.text for q in questions if q.kind is QuestionKind.RATING]
    assert len(asked) > 2
    [course] = evaluation_results(*PERIOD)
    assert [q.text for q in course.questions] == asked


def test_follow_up_results_give_response_rate_barriers_and_confidence(app_context):
    session, bookings = evaluated_session(["4", "4", "4"])
    invite_due(session.ends_at + timedelta(days=42))
    follow_ups = db.session.query(FollowUp).order_by(FollowUp.id).all()
    submit_follow_up(
        follow_ups[0],
        FollowUpAnswers(
            Applied.YES, "Escalated sooner", Rating.VERY_HIGH, [Barrier.TIME], multi_agency=Applied.YES
        ),
        by=bookings[0].user,
        now=session.ends_at + timedelta(days=43),
    )
    submit_follow_up(
        follow_ups[1],
        FollowUpAnswers(
            Applied.NO, "", Rating.MEDIUM, [Barrier.TIME, Barrier.CASELOAD], multi_agency=Applied.NO
        ),
        by=bookings[1].user,
        now=session.ends_at + timedelta(days=43),
    )
    results = follow_up_results(*PERIOD)
    assert (results.invited, results.answered) == (3, 2)
    assert results.response_rate == pytest.approx(2 / 3)
    assert results.barriers == {"Time": 2, "Caseload": 1}
    assert results.applied == {"Yes": 1, "No": 1}
    assert results.confidence_now == 4 and results.confidence_at_evaluation == 4
    assert results.examples == ["Escalated sooner"]


def test_the_results_page_never_names_who_wrote_what(client):
    evaluated_session(["5", "4"], comment="Secret thought")
    sign_in(client, create_user(roles=(Role.LND_ADMIN,)))
    page = client.get("/reports/evaluations").get_data(as_text=True)
    assert "Secret thought" in page and "Online Safety" in page
    assert "Hidden" not in page and "Name0" not in page


def test_l_and_d_set_the_budget_and_see_spend_and_cost_per_place(client):
    clock.freeze(datetime(2026, 11, 21, 12, tzinfo=UTC))
    create_session(starts_at=datetime(2026, 6, 1, 9, tzinfo=UTC), places=20, cost_pence=60000)
    create_session(starts_at=datetime(2027, 1, 10, 9, tzinfo=UTC), places=20, cost_pence=40000)  # not run yet
    lnd = create_user(roles=(Role.LND_ADMIN,))
    sign_in(client, lnd)
    token = csrf_token(client, "/reports/budget")
    response = client.post("/reports/budget", data={"allocated": "120,037.00", "csrf_token": token})
    assert response.status_code == 302
    page = client.get("/reports/budget").get_data(as_text=True)
    assert "£120,037.00" in page and "£1,000.00" in page and "£600.00" in page and "£30.00" in page
    finance = client.application.test_client()
    sign_in(finance, create_user(roles=(Role.FINANCE,)))
    assert finance.get("/reports/budget").status_code == 200
    token = csrf_token(finance, "/reports/budget")
    assert finance.post("/reports/budget", data={"allocated": "1", "csrf_token": token}).status_code == 403
    clock.freeze(NOW)


def test_the_annual_summary_reads_like_the_annual_report_and_downloads_as_pdf(client):
    evaluated_session(["5", "4", "3"])
    clock.freeze(datetime(2026, 11, 21, 12, tzinfo=UTC))
    sign_in(client, create_user(roles=(Role.LND_ADMIN,)))
    page = client.get("/reports/summary").get_data(as_text=True)
    assert "Training in 2026/27" in page
    assert "1 session of 1 module on 1 topic was delivered." in page
    assert (
        "20 places were offered and 3 attendances recorded, in full or in part, by 3 people: "
        "15% utilisation"
    ) in page
    assert "No charges were raised" in page and "eLearning" not in page
    assert "67% rated their understanding now High or Very high" in page
    response = client.get("/reports/summary.pdf")
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(response.data)).pages)
    assert "Training in 2026/27" in text and "Places offered" in text and "15%" in text
    assert "Attendances (in full or in part)" in text and "Charges raised" in text
    clock.freeze(NOW)


def test_the_utilisation_table_downloads_as_a_spreadsheet(client):
    evaluated_session(["5", "4"])
    sign_in(client, create_user(roles=(Role.LND_ADMIN,)))
    response = client.get("/reports/utilisation.xlsx?by=course")
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[1][0] == "Course" and rows[2][0] == "Online Safety" and rows[-1][0] == "Total"
    assert rows[-1][2] == 20 and rows[-1][4] == 2


@pytest.mark.parametrize(
    "path", ["/reports/evaluations", "/reports/summary", "/reports/summary.pdf", "/reports/utilisation.xlsx"]
)
def test_reports_are_for_l_and_d(client, path):
    for role in (Role.PRACTITIONER, Role.TRAINER, Role.FINANCE):
        other = client.application.test_client()
        sign_in(other, create_user(roles=(role,)))
        assert other.get(path).status_code == 403, (path, role)


def test_every_report_table_downloads_as_csv_and_xlsx(client):
    import csv as csv_module

    evaluated_session(["5", "4"])
    sign_in(client, create_user(roles=(Role.LND_ADMIN,)))
    for path in ("/reports/evaluations", "/reports/follow-ups", "/reports/budget"):
        text = client.get(f"{path}.csv").get_data(as_text=True)
        rows = list(csv_module.reader(io.StringIO(text)))
        assert len(rows) >= 2, path
        sheet = load_workbook(io.BytesIO(client.get(f"{path}.xlsx").data)).active
        assert [c.value for c in sheet[1]] == rows[0], path
    rows = list(
        csv_module.DictReader(io.StringIO(client.get("/reports/evaluations.csv").get_data(as_text=True)))
    )
    now_row = next(r for r in rows if "subject now" in r["Question"])
    assert (now_row["Very high"], now_row["High"]) == ("1", "1")
