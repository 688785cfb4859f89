"""The monthly summary email to each training contact: last month's bookings, attendance,
no-shows, late cancellations, charges and invoices for the organisations they follow.

An idempotent sweep (lms/scheduler.py): from CONTACT_SUMMARY_DAY of each month (UK time) it sends
last month's summary to every enabled training contact who has not had it yet, and records each
one in contact_summary_sent, so running it twice, or on two schedulers at once, sends one.
A summary is sent even for a quiet month, so a contact knows nothing was missed.
"""

from __future__ import annotations

from datetime import date, datetime

from flask import current_app
from sqlalchemy.exc import IntegrityError

from lms.accounts.contact_reports import month_summary
from lms.accounts.contacts import all_training_contacts, followed_ids, organisations_followed_by
from lms.accounts.models import ContactSummarySent, User
from lms.core.formatting import format_month
from lms.core.timezones import london_date
from lms.extensions import db
from lms.messages.services import queue_message


def month_due(now: datetime) -> date | None:
    """The month whose summary is due now (its first day), or None before CONTACT_SUMMARY_DAY."""
    today = london_date(now)
    if today.day < current_app.config["CONTACT_SUMMARY_DAY"]:
        return None
    return date(today.year - (today.month == 1), (today.month - 2) % 12 + 1, 1)


def send_contact_summaries(now: datetime) -> int:
    """Send last month's summary to each training contact who has not had it; the number sent."""
    month = month_due(now)
    if month is None:
        return 0
    sent = 0
    for contact in all_training_contacts():
        if _already_sent(contact, month):
            continue
        try:
            with db.session.begin_nested():
                db.session.add(ContactSummarySent(user_id=contact.id, month=month, sent_at=now))
                db.session.flush()
        except IntegrityError:
            continue  # another sweep sent this one a moment ago
        send_summary(contact, month, now=now)
        sent += 1
    db.session.flush()
    return sent


def _already_sent(contact: User, month: date) -> bool:
    return (
        db.session.query(ContactSummarySent.id)
        .filter(ContactSummarySent.user_id == contact.id, ContactSummarySent.month == month)
        .first()
        is not None
    )


def send_summary(contact: User, month: date, *, now: datetime) -> None:
    summary = month_summary(followed_ids(contact), month)
    queue_message(
        "contact.summary",
        to=contact.email,
        user=contact,
        subject=f"Your staff's safeguarding training: {format_month(month)}",
        template="contacts/summary.txt",
        now=now,
        dedupe_key=f"contact.summary:{contact.id}:{month.isoformat()}",
        summary=summary,
        organisations=organisations_followed_by(contact),
    )
