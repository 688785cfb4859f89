"""Everything held about one person, as a ZIP they can download (UK GDPR's right of access).

`personal_data.json` holds their account, bookings (with attendance and any cancellation), the
answers to their evaluations and follow-up surveys, their certificates and any charges raised for
their bookings, and the security events about their account; each certificate's PDF is beside it.
Read-only: making the file writes nothing (the download itself is logged as a security event, as
every download of personal data is).
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import date, datetime
from enum import Enum
from typing import Any

import sqlalchemy as sa

from lms.accounts.models import User
from lms.bookings.models import Booking
from lms.core.audit import AuditEntry
from lms.core.timezones import to_london
from lms.courses.models import CourseSession
from lms.evaluations.models import Certificate, Evaluation
from lms.evaluations.services import certificate_pdf
from lms.extensions import db
from lms.finance.models import Charge
from lms.followups.models import FollowUp

README = """This file holds everything {partnership} keeps about you in its training system, as on {made}.

personal_data.json   your account, bookings, attendance, evaluations, follow-up surveys,
                     certificates, charges and the security events of your account
certificates/        each certificate you were issued, as PDF

Times are UK time. Ask the L&D team if anything is wrong or if you want it corrected.
"""


def _plain(value: Any) -> Any:
    """A value JSON can hold: times in UK time, dates as ISO dates, states by their titles."""
    if isinstance(value, datetime):
        return to_london(value).isoformat(timespec="minutes")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return getattr(value, "title", value.value)
    return value


def _by_booking(model, booking_ids: list[int]) -> dict[int, Any]:
    """The rows of `model` (one a booking at most) for these bookings, by booking id."""
    rows = db.session.scalars(sa.select(model).where(model.booking_id.in_(booking_ids)))
    return {row.booking_id: row for row in rows}


def personal_data(person: User) -> dict[str, Any]:
    """What is held about `person`, as plain data."""
    bookings = db.session.scalars(
        sa.select(Booking)
        .join(Booking.session)
        .where(Booking.user_id == person.id)
        .order_by(CourseSession.starts_at, Booking.id)
    ).all()
    ids = [booking.id for booking in bookings]
    evaluations = _by_booking(Evaluation, ids)
    follow_ups = _by_booking(FollowUp, ids)
    certificates = _by_booking(Certificate, ids)
    charges = _by_booking(Charge, ids)
    events = db.session.scalars(
        sa.select(AuditEntry)
        .where(
            sa.or_(
                AuditEntry.actor_id == person.id,
                sa.and_(AuditEntry.subject_type == "user", AuditEntry.subject_id == person.id),
            ),
            AuditEntry.name.like("lms.security.%") | AuditEntry.name.like("lms.user.%"),
        )
        .order_by(AuditEntry.id)
    ).all()
    return {
        "account": {
            "first_name": person.first_name,
            "last_name": person.last_name,
            "email": person.email,
            "job_role": person.job_role,
            "organisation": person.organisation_name,
            "line_manager_name": person.line_manager_name,
            "line_manager_email": person.line_manager_email,
            "roles": sorted(role.title for role in person.roles),
            "registered": _plain(person.created_at),
        },
        "bookings": [_booking(b, evaluations, follow_ups, certificates, charges) for b in bookings],
        "security_events": [
            {"when": _plain(entry.created_at), "what": entry.name, "details": entry.data} for entry in events
        ],
    }


def _booking(booking: Booking, evaluations, follow_ups, certificates, charges) -> dict[str, Any]:
    session = booking.session
    evaluation, follow_up = evaluations.get(booking.id), follow_ups.get(booking.id)
    certificate, charge = certificates.get(booking.id), charges.get(booking.id)
    return {
        "course": session.course.title,
        "session_starts": _plain(session.starts_at),
        "status": _plain(booking.status),
        "booked": _plain(booking.booked_at),
        "cancelled": _plain(booking.cancelled_at),
        "attendance": _plain(booking.attendance),
        "evaluation": None
        if evaluation is None
        else {
            "submitted": _plain(evaluation.submitted_at),
            "answers": [
                {"question": answer.question.text, "rating": answer.rating, "text": answer.text}
                for answer in evaluation.answers
            ],
        },
        "follow_up": None
        if follow_up is None
        else {
            "invited": _plain(follow_up.invited_at),
            "submitted": _plain(follow_up.submitted_at),
            "applied": _plain(follow_up.applied),
            "example": follow_up.example,
            "confidence": follow_up.confidence,
            "barriers": follow_up.barriers,
        },
        "certificate": None if certificate is None else {"number": certificate.number},
        "charge": None
        if charge is None
        else {
            "reason": _plain(charge.reason),
            "amount_pence": charge.amount_pence,
            "status": _plain(charge.status),
        },
    }


def subject_access_zip(person: User, *, partnership: str, now: datetime) -> bytes:
    """The ZIP a person downloads: a note on what is inside, the data as JSON, the certificates."""
    data = personal_data(person)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        made = to_london(now).strftime("%d %B %Y")
        archive.writestr("README.txt", README.format(partnership=partnership, made=made))
        archive.writestr("personal_data.json", json.dumps(data, indent=2, ensure_ascii=False, default=str))
        held = db.session.scalars(
            sa.select(Certificate).join(Certificate.booking).where(Booking.user_id == person.id)
        )
        for certificate in held:
            archive.writestr(f"certificates/{certificate.number}.pdf", certificate_pdf(certificate))
    return out.getvalue()
