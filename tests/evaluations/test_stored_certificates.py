"""A certificate is rendered once, when it is issued, kept, and served from storage afterwards."""

import hashlib
from io import BytesIO

import sqlalchemy as sa
from pypdf import PdfReader

from lms.bookings.models import Attendance
from lms.evaluations.models import Certificate
from lms.evaluations.services import (
    certificate_for,
    certificate_pdf,
    current_question_set,
    own_booking_certificate,
    pdfs_drawn_when_downloaded,
    store_missing_certificates,
    submit_evaluation,
)
from lms.extensions import db
from tests.conftest import sign_in
from tests.evaluations.test_evaluations import attended, full_answers
from tests.factories import NOW


def words(pdf: bytes) -> str:
    return " ".join(" ".join(page.extract_text().split()) for page in PdfReader(BytesIO(pdf)).pages)


def certified(count: int = 1) -> list:
    """Bookings of people who attended the whole session and evaluated it: each has a certificate."""
    session, bookings = attended((Attendance.ATTENDED,) * count)
    question_set = current_question_set(session.course, now=NOW)
    for booking in bookings:
        submit_evaluation(booking, question_set, full_answers(question_set), by=booking.user, now=NOW)
    db.session.flush()
    return bookings


def certificate_of(booking) -> Certificate:
    return db.session.scalar(sa.select(Certificate).where(Certificate.booking_id == booking.id))


def test_issuing_a_certificate_renders_and_keeps_its_pdf(app, app_context):
    [booking] = certified()
    certificate = certificate_of(booking)

    shown = words(certificate.pdf)
    assert booking.user.full_name in shown
    assert booking.session.course.title in shown
    assert certificate.number in shown
    assert f"{app.config['BASE_URL']}/certificates/verify/{certificate.number}" in shown
    assert app.config["PARTNERSHIP_NAME"] in shown


def test_listing_certificates_does_not_read_their_pdfs(app_context):
    [booking] = certified()
    db.session.expunge_all()

    certificate = certificate_of(booking)

    assert "pdf" in sa.inspect(certificate).unloaded
    assert certificate_pdf(certificate).startswith(b"%PDF")


def test_a_download_serves_the_certificate_as_issued_even_after_the_partnership_renames(app, client):
    [booking] = certified()
    issued = certificate_of(booking).pdf
    name = app.config["PARTNERSHIP_NAME"]
    app.config["PARTNERSHIP_NAME"] = "Renamed Safeguarding Children Partnership"
    try:
        sign_in(client, booking.user)
        response = client.get(f"/certificates/{booking.id}.pdf")
    finally:
        app.config["PARTNERSHIP_NAME"] = name

    assert response.status_code == 200
    assert response.data == issued
    assert "Renamed" not in words(response.data)


def test_a_certificate_issued_before_pdfs_were_kept_is_rendered_when_downloaded_and_not_kept(client):
    [booking] = certified()
    certificate = certificate_of(booking)
    certificate.pdf = None
    db.session.flush()
    sign_in(client, booking.user)

    # The request boundary refuses a GET that writes, so a 200 also says nothing was written.
    response = client.get(f"/certificates/{booking.id}.pdf")

    assert response.status_code == 200
    assert certificate.number in words(response.data)
    # Tagged with what was sent, so the browser's copy is checked against the same bytes.
    tag = f"{certificate.number}.{hashlib.sha256(response.data).hexdigest()[:24]}"
    assert response.get_etag() == (tag, False)
    db.session.expire_all()
    assert certificate_of(booking).pdf is None


def test_certificates_issued_for_the_demo_keep_no_pdf_and_others_still_do(app_context):
    with pdfs_drawn_when_downloaded():
        [drawn_later] = certified()
    [kept] = certified()

    assert certificate_of(drawn_later).pdf is None
    assert certificate_of(drawn_later).number in words(certificate_pdf(certificate_of(drawn_later)))
    assert certificate_of(kept).number in words(certificate_of(kept).pdf)


def test_the_demo_switch_is_undone_when_its_block_fails(app_context):
    try:
        with pdfs_drawn_when_downloaded():
            raise RuntimeError("the demo's load failed")
    except RuntimeError:
        pass
    [booking] = certified()

    assert certificate_of(booking).pdf.startswith(b"%PDF")


def test_certificates_without_a_pdf_are_stored_in_batches_once(app_context):
    bookings = certified(3)
    for booking in bookings:
        certificate_of(booking).pdf = None
    db.session.flush()

    assert store_missing_certificates(batch=2) == 2
    assert store_missing_certificates(batch=2) == 1
    assert store_missing_certificates(batch=2) == 0
    for booking in bookings:
        stored = certificate_of(booking)
        assert stored.number in words(stored.pdf)


def test_the_owner_gets_the_certificate_with_its_pdf_in_one_statement(app_context):
    [booking] = certified()
    db.session.expunge_all()
    booking = db.session.merge(booking, load=True)
    person = booking.user
    sent = []

    def catch(connection, cursor, statement, *args) -> None:
        sent.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", catch)
    try:
        booking, issued, evaluated = own_booking_certificate(booking.id, person)
        certificate = certificate_for(booking, person, found=(issued, evaluated))
        pdf = certificate_pdf(certificate)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", catch)

    assert pdf.startswith(b"%PDF")
    assert len([s for s in sent if s.lstrip().upper().startswith("SELECT")]) == 1
