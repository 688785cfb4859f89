"""Erasing a person: the one service behind an erasure request and the retention sweep.

The account stays, as "Former delegate #<id>", so that what the law and the reports need is kept:
bookings, attendance, charges, invoices and credit notes with their amounts. Everything that names
or reaches the person goes: their name and email, the means to sign in, the free text they wrote,
the line manager's details, messages to them, and their name and email wherever the audit trail,
the outbox and the other records copied them. Their sessions still to come are cancelled without a
charge, as L&D removing them would, so each freed place goes to the next on the waiting list.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from flask import current_app

from lms.accounts.models import (
    ContactSummarySent,
    RecoveryCode,
    Role,
    SignInSession,
    TrainingContact,
    User,
    UserRole,
)
from lms.accounts.sso import ExternalIdentity
from lms.bookings.models import ApprovalRequest, Booking
from lms.bookings.services import remove_delegate
from lms.core.audit import AuditEntry, log_action
from lms.core.errors import DomainError
from lms.core.idempotency import RequestKey
from lms.core.permissions import require_role
from lms.courses.models import CourseSession
from lms.evaluations.models import Answer, Certificate, Evaluation
from lms.extensions import db
from lms.finance.models import Charge, InvoiceLine
from lms.followups.models import FollowUp, ManagerComment
from lms.messages.models import CalendarFeed, OutboxMessage

FORMER_FIRST_NAME = "Former delegate"
# An address no mail can reach (RFC 2606 reserves .invalid), unique to the account.
ERASED_DOMAIN = "erased.invalid"
# Tables other areas may hold a person's credentials in, by their user column.
CREDENTIAL_TABLES = (("api_token", "user_id"),)
# Text other areas copied a person's details into (events sent to other systems), by its column.
COPIED_TEXT = (("webhook_delivery", "payload"),)


class PrivacyError(DomainError):
    """A request about personal data that cannot be carried out as asked."""


def former_name(user_id: int) -> str:
    """How an erased person is named everywhere their name showed."""
    return f"{FORMER_FIRST_NAME} #{user_id}"


def placeholder_email(user_id: int) -> str:
    return f"erased-{user_id}-{secrets.token_hex(6)}@{ERASED_DOMAIN}"


# What will happen -------------------------------------------------------------------------------


def future_bookings(person: User, now: datetime) -> list[Booking]:
    """The person's live bookings (confirmed, waiting, awaiting approval) on sessions still to come."""
    return list(
        db.session.scalars(
            sa.select(Booking)
            .join(Booking.session)
            .where(Booking.user_id == person.id, Booking.is_live, CourseSession.starts_at > now)
            .order_by(CourseSession.starts_at, Booking.id)
        )
    )


def why_not_erase(person: User) -> str | None:
    """Why this person's data cannot be erased now; None when it can."""
    if person.is_erased:
        return "This person's data has already been erased."
    if person.has_role(Role.LND_ADMIN):
        others = db.session.scalar(
            sa.select(sa.func.count(User.id))
            .join(UserRole, UserRole.user_id == User.id)
            .where(
                UserRole.role == Role.LND_ADMIN,
                User.id != person.id,
                User.is_enabled.is_(True),
                User.erased_at.is_(None),
            )
        )
        if not others:
            return "They are the last L&D admin: give someone else the role first."
    return None


@dataclass(frozen=True)
class ErasurePlan:
    """What erasing one person will do, counted, for the page that asks L&D to confirm."""

    person: User
    cancelled: list[Booking]
    bookings: int
    charges: int
    invoice_lines: int
    certificates: int
    evaluations: int
    follow_ups: int
    certificate_name_kept: bool
    refused: str | None

    @property
    def former_name(self) -> str:
        return former_name(self.person.id)


def _count(query) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0


def erasure_plan(person: User, *, now: datetime) -> ErasurePlan:
    theirs = sa.select(Booking.id).where(Booking.user_id == person.id)
    return ErasurePlan(
        person=person,
        cancelled=future_bookings(person, now),
        bookings=_count(theirs),
        charges=_count(sa.select(Charge.id).where(Charge.booking_id.in_(theirs))),
        invoice_lines=_count(
            sa.select(InvoiceLine.id)
            .join(Charge, Charge.id == InvoiceLine.charge_id)
            .where(Charge.booking_id.in_(theirs))
        ),
        certificates=_count(sa.select(Certificate.id).where(Certificate.booking_id.in_(theirs))),
        evaluations=_count(sa.select(Evaluation.id).where(Evaluation.booking_id.in_(theirs))),
        follow_ups=_count(
            sa.select(FollowUp.id).where(FollowUp.booking_id.in_(theirs), FollowUp.submitted_at.is_not(None))
        ),
        certificate_name_kept=current_app.config["CERTIFICATE_NAME_AFTER_ERASURE"] == "kept",
        refused=why_not_erase(person),
    )


# Erasing ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Erased:
    person: User
    cancelled: int
    messages_dropped: int


def anonymise_person(person: User, *, by: User | None, now: datetime, reason: str) -> Erased:
    """Erase `person`'s personal data, keeping their records in anonymised form (see the module).

    `reason` says why in a few words that name nobody ("erasure request", "inactive since 2019");
    `by` is None when the retention sweep acts.
    """
    require_role(by, Role.LND_ADMIN, message="Only the L&D team can erase a person's data.")
    refused = why_not_erase(person)
    if refused:
        raise PrivacyError.conflict(refused)
    needles = _needles(person)
    placeholder = former_name(person.id)
    cancelled = 0
    for booking in future_bookings(person, now):
        remove_delegate(booking, by=by, now=now)
        cancelled += 1
    theirs = sa.select(Booking.id).where(Booking.user_id == person.id).scalar_subquery()
    _keep_certificates(person, theirs)
    _blank_what_they_wrote(theirs, needles, placeholder)
    _forget_sign_in(person)
    dropped = _scrub_messages(person, needles, placeholder)
    _scrub_audit(person, needles, placeholder)
    _scrub_request_keys(needles)
    _scrub_copied_text(needles, placeholder)
    _scrub_requests(person, needles, placeholder)
    db.session.execute(
        sa.update(InvoiceLine)
        .where(InvoiceLine.charge_id.in_(sa.select(Charge.id).where(Charge.booking_id.in_(theirs))))
        .values(delegate_name=placeholder),
        execution_options={"synchronize_session": "fetch"},
    )
    person.first_name, person.last_name = FORMER_FIRST_NAME, f"#{person.id}"
    person.email = placeholder_email(person.id)
    person.job_role = ""
    person.line_manager_name = person.line_manager_email = None
    person.password_hash = None
    person.is_enabled = False
    person.confirmation_pending = False
    person.last_sign_in_at = None
    person.erased_at = now
    # Whatever their roles gave them ends; a row left alone is never deleted and inserted again.
    person.role_rows = [row for row in person.role_rows if row.role is Role.PRACTITIONER] or [
        UserRole(role=Role.PRACTITIONER)
    ]
    db.session.flush()
    log_action(
        "lms.person.erased", subject=person, actor=by, now=now, reason=reason, bookings_cancelled=cancelled
    )
    return Erased(person=person, cancelled=cancelled, messages_dropped=dropped)


def _keep_certificates(person: User, theirs) -> None:
    """Certificates stay verifiable by number; their name is kept only if the setting says so, and
    the PDF as issued (with the name) is dropped otherwise (it is rendered again, nameless, if asked)."""
    kept = current_app.config["CERTIFICATE_NAME_AFTER_ERASURE"] == "kept"
    values = {"kept_name": person.full_name} if kept else {"kept_name": None, "pdf": None}
    db.session.execute(
        sa.update(Certificate).where(Certificate.booking_id.in_(theirs)).values(**values),
        execution_options={"synchronize_session": "fetch"},
    )


def _blank_what_they_wrote(theirs, needles: list[str], placeholder: str) -> None:
    """Free text in their evaluations and follow-ups, their manager's details and comments, and
    approval links still open."""
    evaluations = sa.select(Evaluation.id).where(Evaluation.booking_id.in_(theirs))
    db.session.execute(
        sa.update(Answer).where(Answer.evaluation_id.in_(evaluations)).values(text=None),
        execution_options={"synchronize_session": "fetch"},
    )
    db.session.execute(
        sa.update(FollowUp).where(FollowUp.booking_id.in_(theirs)).values(example=None, barrier_other=None),
        execution_options={"synchronize_session": "fetch"},
    )
    for comment in db.session.scalars(
        sa.select(ManagerComment).join(ManagerComment.follow_up).where(FollowUp.booking_id.in_(theirs))
    ):
        comment.manager_email = ""
        comment.comment = None
        comment.token_hash = secrets.token_hex(32)  # the emailed link no longer opens anything
    db.session.execute(
        sa.update(ApprovalRequest)
        .where(ApprovalRequest.booking_id.in_(theirs))
        .values(
            manager_name=None,
            manager_email=None,
            decided_by_email=None,
            reason=None,
            token_hash=None,
            reminder_token_hash=None,
        ),
        execution_options={"synchronize_session": "fetch"},
    )
    for charge in db.session.scalars(
        sa.select(Charge).where(Charge.booking_id.in_(theirs), Charge.waiver_note.is_not(None))
    ):
        charge.waiver_note = scrub_text(charge.waiver_note, needles, placeholder)


def _forget_sign_in(person: User) -> None:
    """Every way in: password (cleared by the caller), second factor, recovery codes, sign-ins,
    calendar feed, single sign-on links and personal API tokens; and what their roles gave them."""
    person.second_factor = None
    person.session_token = User.new_session_token()
    personal = (
        RecoveryCode,
        SignInSession,
        CalendarFeed,
        ExternalIdentity,
        TrainingContact,
        ContactSummarySent,
    )
    for model in personal:
        db.session.execute(sa.delete(model).where(model.user_id == person.id))
    for name, column in CREDENTIAL_TABLES:
        table = db.metadata.tables.get(name)
        if table is not None and column in table.c:
            db.session.execute(sa.delete(table).where(table.c[column] == person.id))


def _scrub_messages(person: User, needles: list[str], placeholder: str) -> int:
    """Messages to them waiting to go are dropped; those sent keep only that they were sent. Other
    messages that named them name "Former delegate #id" instead. Returns how many were dropped."""
    to_them = sa.or_(
        OutboxMessage.user_id == person.id, sa.func.lower(OutboxMessage.recipient) == person.email
    )
    pending = OutboxMessage.sent_at.is_(None) & OutboxMessage.failed_at.is_(None)
    dropped = db.session.execute(sa.delete(OutboxMessage).where(to_them, pending)).rowcount or 0
    db.session.execute(
        sa.update(OutboxMessage)
        .where(to_them)
        .values(body="", attachments=[], recipient=f"former-delegate@{ERASED_DOMAIN}"),
        execution_options={"synchronize_session": False},
    )
    mentioning = sa.or_(
        *(_mentions(OutboxMessage.body, n) | _mentions(OutboxMessage.subject, n) for n in needles)
    )
    for message in db.session.scalars(sa.select(OutboxMessage).where(mentioning)):
        message.body = scrub_text(message.body, needles, placeholder)
        message.subject = scrub_text(message.subject, needles, placeholder)
    for message in db.session.scalars(sa.select(OutboxMessage).where(to_them)):
        message.subject = scrub_text(message.subject, needles, placeholder)
    return dropped


def _scrub_audit(person: User, needles: list[str], placeholder: str) -> None:
    """The audit trail keeps what happened and when, without their name or email in its details."""
    mentioning = sa.or_(*(_mentions(sa.cast(AuditEntry.data, sa.Text), n) for n in needles))
    for entry in db.session.scalars(sa.select(AuditEntry).where(mentioning)):
        entry.data = scrub_value(entry.data, needles, placeholder)


def _scrub_request_keys(needles: list[str]) -> None:
    """Answers kept for a day against repeated form posts may show the person: dropped."""
    mentioning = sa.or_(
        *(_mentions(RequestKey.page, n) | _mentions(sa.cast(RequestKey.flashes, sa.Text), n) for n in needles)
    )
    db.session.execute(sa.delete(RequestKey).where(mentioning))


def _scrub_copied_text(needles: list[str], placeholder: str) -> None:
    for name, column in COPIED_TEXT:
        table = db.metadata.tables.get(name)
        if table is None or column not in table.c:
            continue
        text = table.c[column]
        mentioning = sa.or_(*(_mentions(text, n) for n in needles))
        for row in db.session.execute(sa.select(table.c.id, text).where(mentioning)).all():
            scrubbed = scrub_text(row[1], needles, placeholder)
            db.session.execute(sa.update(table).where(table.c.id == row[0]).values({column: scrubbed}))


def _scrub_requests(person: User, needles: list[str], placeholder: str) -> None:
    from lms.privacy.models import DataRequest

    for request in db.session.scalars(sa.select(DataRequest).where(DataRequest.user_id == person.id)):
        if request.notes:
            request.notes = scrub_text(request.notes, needles, placeholder)


# Finding and replacing a person's name and address in text --------------------------------------


def _needles(person: User) -> list[str]:
    """The ways their name and email may have been written down: as typed, as JSON writes them
    (non-ASCII letters escaped), and the email as it appears in a link."""
    found: list[str] = []
    sorted_name = f"{person.last_name}, {person.first_name}"
    for text in (person.full_name, sorted_name, person.email, quote(person.email, safe="")):
        for form in (text, json.dumps(text)[1:-1]):
            if len(form.strip()) >= 3 and form.lower() not in found:
                found.append(form.lower())
    return found


def _mentions(column, needle: str):
    return sa.func.lower(column).contains(needle, autoescape=True)


def scrub_text(text: str | None, needles: list[str], placeholder: str) -> str | None:
    """`text` with each needle (any case) replaced by the placeholder."""
    if not text:
        return text
    for needle in sorted(needles, key=len, reverse=True):
        text = re.sub(re.escape(needle), placeholder, text, flags=re.IGNORECASE)
    return text


def scrub_value(value: Any, needles: list[str], placeholder: str) -> Any:
    """A JSON value with every string in it scrubbed."""
    if isinstance(value, str):
        return scrub_text(value, needles, placeholder)
    if isinstance(value, list):
        return [scrub_value(item, needles, placeholder) for item in value]
    if isinstance(value, dict):
        return {key: scrub_value(item, needles, placeholder) for key, item in value.items()}
    return value
