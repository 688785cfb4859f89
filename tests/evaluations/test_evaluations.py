from datetime import timedelta

import pytest
import sqlalchemy as sa

from lms.accounts.models import Role
from lms.bookings.models import Attendance
from lms.bookings.services import book_place, close_register, mark_attendance
from lms.core import clock
from lms.core.errors import PermissionDenied
from lms.evaluations.models import Certificate, Evaluation, QuestionKind
from lms.evaluations.services import (
    DEFAULT_QUESTIONS,
    EvaluationError,
    QuestionDraft,
    current_question_set,
    find_certificate,
    remind_evaluations,
    replace_questions,
    submit_evaluation,
)
from lms.extensions import db
from lms.messages.models import OutboxMessage
from tests.conftest import csrf_token, sign_in
from tests.factories import NOW, create_session, create_user


def attended(outcomes=(Attendance.ATTENDED,), *, close=True):
    """A session that ran, with one booking per outcome, its register closed."""
    trainer = create_user(roles=(Role.TRAINER,))
    session = create_session(starts_at=NOW - timedelta(days=2), trainer=trainer)
    bookings = []
    for outcome in outcomes:
        person = create_user()
        booking = book_place(
            session, person, by=create_user(roles=(Role.LND_ADMIN,)), now=NOW - timedelta(days=20)
        )
        mark_attendance(booking, outcome, by=trainer, now=session.starts_at + timedelta(minutes=5))
        bookings.append(booking)
    if close:
        close_register(session, by=trainer, now=session.ends_at)
    return session, bookings


def full_answers(question_set, rating="4"):
    answers = {}
    for question in question_set.questions:
        answers[question.id] = (
            rating if question.kind is QuestionKind.RATING else "Ask about the child's lived experience."
        )
    return answers


def kinds(user):
    return list(db.session.scalars(sa.select(OutboxMessage.kind).where(OutboxMessage.user_id == user.id)))


def test_closing_the_register_asks_everyone_who_attended_to_evaluate(app_context):
    session, (full, partial, absent) = attended((Attendance.ATTENDED, Attendance.PARTIAL, Attendance.NO_SHOW))
    assert "evaluation.requested" in kinds(full.user)
    assert "evaluation.requested" in kinds(partial.user)
    assert "evaluation.requested" not in kinds(absent.user)
    assert full.evaluation_requested_at == session.ends_at


def test_the_default_questions_follow_the_partnership_brief(app_context):
    session, _ = attended()
    questions = current_question_set(session.course, now=NOW).questions
    assert [q.key for q in questions] == [d.key for d in DEFAULT_QUESTIONS]
    assert sum(q.kind is QuestionKind.RATING for q in questions) == 6
    assert [q.required for q in questions if q.kind is QuestionKind.TEXT] == [True, False]


def test_a_full_attendee_evaluates_once_and_earns_a_certificate(app_context):
    session, [booking] = attended()
    question_set = current_question_set(session.course, now=NOW)
    evaluation = submit_evaluation(
        booking, question_set, full_answers(question_set), by=booking.user, now=NOW
    )
    assert len(evaluation.answers) == len(question_set.questions)
    certificate = db.session.scalar(sa.select(Certificate).where(Certificate.booking_id == booking.id))
    assert certificate.number.startswith("SCP-2026-")
    assert find_certificate(certificate.number.lower()) == certificate
    with pytest.raises(EvaluationError, match="already evaluated"):
        submit_evaluation(booking, question_set, full_answers(question_set), by=booking.user, now=NOW)


def test_a_partial_attendee_may_evaluate_but_earns_no_certificate(app_context):
    session, [booking] = attended((Attendance.PARTIAL,))
    question_set = current_question_set(session.course, now=NOW)
    submit_evaluation(booking, question_set, full_answers(question_set), by=booking.user, now=NOW)
    assert db.session.scalar(sa.select(sa.func.count(Certificate.id))) == 0


@pytest.mark.parametrize("missing", ["understanding_now", "do_differently"])
def test_missing_answers_are_explained_and_nothing_is_saved(app_context, missing):
    session, [booking] = attended()
    question_set = current_question_set(session.course, now=NOW)
    answers = full_answers(question_set)
    question = next(q for q in question_set.questions if q.key == missing)
    answers[question.id] = ""
    with pytest.raises(EvaluationError) as error:
        submit_evaluation(booking, question_set, answers, by=booking.user, now=NOW)
    assert error.value.field == f"q{question.id}"
    assert db.session.scalar(sa.select(sa.func.count(Evaluation.id))) == 0


def test_a_rating_off_the_scale_is_refused(app_context):
    session, [booking] = attended()
    question_set = current_question_set(session.course, now=NOW)
    answers = full_answers(question_set, rating="9")
    with pytest.raises(EvaluationError, match="Choose a rating"):
        submit_evaluation(booking, question_set, answers, by=booking.user, now=NOW)


def test_no_shows_others_and_open_registers_cannot_evaluate(app_context):
    session, [absent] = attended((Attendance.NO_SHOW,))
    question_set = current_question_set(session.course, now=NOW)
    with pytest.raises(EvaluationError, match="not attending"):
        submit_evaluation(absent, question_set, full_answers(question_set), by=absent.user, now=NOW)
    session, [booking] = attended(close=False)
    question_set = current_question_set(session.course, now=NOW)
    with pytest.raises(EvaluationError, match="register is closed"):
        submit_evaluation(booking, question_set, full_answers(question_set), by=booking.user, now=NOW)
    with pytest.raises(PermissionDenied):
        submit_evaluation(booking, question_set, full_answers(question_set), by=create_user(), now=NOW)


def test_changing_the_questions_keeps_answers_already_given(app_context):
    session, [first, second] = attended((Attendance.ATTENDED, Attendance.ATTENDED))
    old_set = current_question_set(session.course, now=NOW)
    submit_evaluation(first, old_set, full_answers(old_set), by=first.user, now=NOW)
    admin = create_user(roles=(Role.LND_ADMIN,))
    new_set = replace_questions(
        session.course,
        [QuestionDraft("confidence", "Confidence now", QuestionKind.RATING)],
        by=admin,
        now=NOW,
    )
    assert new_set.version == 2 and current_question_set(session.course, now=NOW) == new_set
    first_answers = db.session.scalar(sa.select(Evaluation).where(Evaluation.booking_id == first.id)).answers
    assert {a.question.text for a in first_answers} == {q.text for q in old_set.questions}
    submit_evaluation(second, new_set, {new_set.questions[0].id: "5"}, by=second.user, now=NOW)
    with pytest.raises(PermissionDenied):
        replace_questions(session.course, [], by=first.user, now=NOW)


def test_one_reminder_a_week_after_the_request_and_none_when_stale(app_context):
    session, [waiting, done] = attended((Attendance.ATTENDED, Attendance.ATTENDED))
    question_set = current_question_set(session.course, now=NOW)
    submit_evaluation(done, question_set, full_answers(question_set), by=done.user, now=NOW)
    requested = session.ends_at
    assert remind_evaluations(requested + timedelta(days=6)) == 0
    assert remind_evaluations(requested + timedelta(days=7)) == 1
    assert remind_evaluations(requested + timedelta(days=8)) == 0
    assert kinds(waiting.user).count("evaluation.reminder") == 1
    assert "evaluation.reminder" not in kinds(done.user)
    # A scheduler that was down for months does not send stale reminders.
    _, [late] = attended()
    assert remind_evaluations(late.evaluation_requested_at + timedelta(days=90)) == 0


def test_a_correction_after_closing_asks_the_newly_attending_to_evaluate(app_context):
    session, [booking] = attended((Attendance.NO_SHOW,))
    admin = create_user(roles=(Role.LND_ADMIN,))
    mark_attendance(booking, Attendance.ATTENDED, by=admin, now=NOW)
    assert "evaluation.requested" in kinds(booking.user)


# Pages ----------------------------------------------------------------------------------------


def test_the_certificate_is_refused_until_the_evaluation_is_in(client):
    session, [booking] = attended()
    sign_in(client, booking.user)
    response = client.get(f"/certificates/{booking.id}.pdf")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/evaluations/{booking.id}"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Complete the evaluation of this session to download your certificate." in page
    question_set = current_question_set(session.course, now=NOW)
    data = {
        f"q{q.id}": v
        for q, v in zip(question_set.questions, full_answers(question_set).values(), strict=True)
    }
    token = csrf_token(client, f"/evaluations/{booking.id}")
    response = client.post(
        f"/evaluations/{booking.id}",
        data={**data, "question_set_id": str(question_set.id), "csrf_token": token},
    )
    assert response.status_code == 302
    response = client.get(f"/certificates/{booking.id}.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF")


def test_an_incomplete_evaluation_form_shows_errors_beside_the_questions(client):
    session, [booking] = attended()
    sign_in(client, booking.user)
    token = csrf_token(client, f"/evaluations/{booking.id}")
    response = client.post(f"/evaluations/{booking.id}", data={"csrf_token": token})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Choose a rating for “Your understanding of the subject now”." in page
    assert db.session.scalar(sa.select(sa.func.count(Evaluation.id))) == 0


def test_nobody_evaluates_or_downloads_for_someone_else(client):
    session, [booking] = attended()
    sign_in(client, create_user())
    assert client.get(f"/evaluations/{booking.id}").status_code == 404
    assert client.get(f"/certificates/{booking.id}.pdf").status_code == 404


def test_the_public_check_shows_only_name_course_and_date(client):
    session, [booking] = attended()
    question_set = current_question_set(session.course, now=NOW)
    submit_evaluation(booking, question_set, full_answers(question_set), by=booking.user, now=NOW)
    db.session.flush()
    number = db.session.scalar(sa.select(Certificate.number))
    response = client.get(f"/certificates/verify?number={number.lower()}", follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "This certificate is genuine" in page
    assert booking.user.full_name in page and session.course.title in page
    assert booking.user.email not in page and booking.user.organisation_name not in page
    response = client.get("/certificates/verify/SCP-2026-FAKE-0000")
    assert response.status_code == 404
    assert "No certificate has this number" in response.get_data(as_text=True)


def test_the_training_record_lists_hours_and_downloads_as_a_pdf(client):
    session, [booking] = attended()
    sign_in(client, booking.user)
    page = client.get("/record").get_data(as_text=True)
    assert session.course.title in page and "3 hours of CPD" in page
    response = client.get("/record.pdf")
    assert response.status_code == 200 and response.data.startswith(b"%PDF")


def test_l_and_d_edit_a_courses_questions(client):
    session, _ = attended()
    sign_in(client, create_user(roles=(Role.LND_ADMIN,)))
    path = f"/admin/programme/courses/{session.course.id}/evaluation"
    token = csrf_token(client, path)
    response = client.post(
        path,
        data={
            "rated": "Understanding now\nConfidence now",
            "free_text": "Comments (optional)",
            "csrf_token": token,
        },
    )
    assert response.status_code == 302
    new_set = current_question_set(session.course, now=NOW)
    assert [(q.text, q.kind, q.required) for q in new_set.questions] == [
        ("Understanding now", QuestionKind.RATING, True),
        ("Confidence now", QuestionKind.RATING, True),
        ("Comments", QuestionKind.TEXT, False),
    ]
    clock.freeze(NOW)
