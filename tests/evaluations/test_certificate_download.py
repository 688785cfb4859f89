"""Downloading an issued certificate: one statement beyond those of any signed-in request, the PDF as
issued with a strong ETag, a 304 for a browser that kept it, and the same rules as before about
whose certificate it is and whether it was earned."""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa

from lms.bookings.models import Attendance
from lms.evaluations.models import Certificate
from lms.evaluations.services import current_question_set, submit_evaluation
from lms.extensions import db
from tests.bookings.test_round_trips import kinds, statements
from tests.conftest import sign_in
from tests.evaluations.test_evaluations import attended, full_answers
from tests.evaluations.test_stored_certificates import certified
from tests.factories import NOW, create_user


def issued(booking) -> Certificate:
    return db.session.scalar(sa.select(Certificate).where(Certificate.booking_id == booking.id))


def own_statements(client, path: str, **headers) -> tuple[list[str], object]:
    """What a request sends beyond what every signed-in request sends (the person, their roles and
    their sign-in), each as its verb and table; and its response."""
    with statements() as floor:
        client.get("/healthz")
    with statements() as sent:
        response = client.get(path, headers=headers)
    signed_in = kinds(floor)[:-1]  # then the SELECT 1 of /healthz
    sent = kinds(sent)
    assert sent[: len(signed_in)] == signed_in
    return sent[len(signed_in) :], response


def test_a_download_sends_one_statement_for_the_booking_its_certificate_and_its_pdf(client):
    [booking] = certified()
    sign_in(client, booking.user)
    client.get(f"/certificates/{booking.id}.pdf")

    sent, response = own_statements(client, f"/certificates/{booking.id}.pdf")

    assert response.status_code == 200
    assert response.data == issued(booking).pdf
    assert sent == ["SELECT booking"]


def test_the_pdf_is_saved_under_its_number_with_a_strong_etag_kept_by_the_browser_alone(client):
    [booking] = certified()
    number, pdf = issued(booking).number, issued(booking).pdf
    sign_in(client, booking.user)

    response = client.get(f"/certificates/{booking.id}.pdf")

    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == f'attachment; filename="certificate-{number}.pdf"'
    etag, weak = response.get_etag()
    assert not weak
    assert etag == f"{number}.{hashlib.sha256(pdf).hexdigest()[:24]}"
    cache = response.cache_control
    assert cache.private and cache.no_cache
    assert not cache.public and not cache.no_store


def test_a_browser_that_kept_the_pdf_is_told_so_without_being_sent_it_again(client):
    [booking] = certified()
    sign_in(client, booking.user)
    etag = client.get(f"/certificates/{booking.id}.pdf").headers["ETag"]

    sent, response = own_statements(client, f"/certificates/{booking.id}.pdf", **{"If-None-Match": etag})

    assert response.status_code == 304
    assert response.data == b""
    assert response.headers["ETag"] == etag
    assert response.cache_control.private
    assert sent == ["SELECT booking"]
    # A weak form of the same tag matches too (If-None-Match compares weakly).
    weakly = client.get(f"/certificates/{booking.id}.pdf", headers={"If-None-Match": f"W/{etag}"})
    assert weakly.status_code == 304


def test_a_browser_holding_another_version_is_sent_the_pdf(client):
    [booking] = certified()
    sign_in(client, booking.user)

    response = client.get(
        f"/certificates/{booking.id}.pdf", headers={"If-None-Match": '"SCP-2026-0000-0000.0"'}
    )

    assert response.status_code == 200
    assert response.data == issued(booking).pdf


def test_nobody_else_gets_a_certificate_or_learns_it_is_unchanged(client):
    [booking] = certified()
    sign_in(client, booking.user)
    etag = client.get(f"/certificates/{booking.id}.pdf").headers["ETag"]
    other = client.application.test_client()
    sign_in(other, create_user())

    assert other.get(f"/certificates/{booking.id}.pdf").status_code == 404
    assert other.get(f"/certificates/{booking.id}.pdf", headers={"If-None-Match": etag}).status_code == 404
    assert other.get(f"/certificates/{booking.id + 1000}.pdf").status_code == 404


def test_signed_out_the_download_asks_to_sign_in(client):
    [booking] = certified()

    response = client.get(f"/certificates/{booking.id}.pdf")

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sign-in")


def assert_led_to_the_record_saying(client, booking, message: str) -> None:
    sign_in(client, booking.user)
    response = client.get(f"/certificates/{booking.id}.pdf")
    assert response.status_code == 302
    assert response.headers["Location"] == "/record"
    assert message in client.get("/record").get_data(as_text=True)


@pytest.mark.parametrize("attendance", [Attendance.PARTIAL, Attendance.NO_SHOW])
def test_a_booking_that_earns_no_certificate_leads_to_the_record_saying_why(client, attendance):
    session, [booking] = attended((attendance,))
    if attendance is Attendance.PARTIAL:
        question_set = current_question_set(session.course, now=NOW)
        submit_evaluation(booking, question_set, full_answers(question_set), by=booking.user, now=NOW)
        db.session.flush()
    assert_led_to_the_record_saying(
        client, booking, "Certificates are for delegates recorded as attending the whole session."
    )


def test_an_earned_certificate_not_issued_leads_to_the_record_saying_so(client):
    [booking] = certified()
    db.session.delete(issued(booking))
    db.session.flush()
    assert_led_to_the_record_saying(
        client, booking, "This certificate has not been issued. Contact the L&amp;D team."
    )


def test_the_record_lists_certificates_without_reading_their_pdfs(client):
    [booking] = certified()
    sign_in(client, booking.user)

    with statements() as sent:
        page = client.get("/record").get_data(as_text=True)

    assert issued(booking).number in page
    assert not [s for s in sent if "certificate.pdf" in s]
