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
    Agency,
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
from lms.core.formatting import format_date, plural
from lms.core.idempotency import RequestKey
from lms.core.permissions import require_role
from lms.courses.models import CourseSession, SessionStatus
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


def sessions_to_train(person: User, now: datetime) -> list[CourseSession]:
    """Scheduled sessions still to come that the person is the trainer of."""
    return list(
        db.session.scalars(
            sa.select(CourseSession)
            .where(
                CourseSession.trainer_id == person.id,
                CourseSession.status == SessionStatus.SCHEDULED,
                CourseSession.ends_at > now,
            )
            .order_by(CourseSession.starts_at, CourseSession.id)
        )
    )


def why_not_erase(person: User, *, by: User | None = None, now: datetime | None = None) -> str | None:
    """Why this person's data cannot be erased now; None when it can.

    `by` is who asks (None for the retention sweep); `now` is needed to see the sessions they train.
    """
    if person.is_erased:
        return "This person's data has already been erased: there is nothing more to erase."
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
    if by is not None and by.id == person.id:
        return "You cannot erase your own data: another member of the L&D team must do it."
    if now is not None:
        # A session to come would be left with a trainer nobody can reach and who cannot keep the
        # register; L&D choose who trains it instead, then erase.
        training = sessions_to_train(person, now)
        if training:
            first = training[0]
            return (
                f"They are the trainer of {plural(len(training), 'session')} still to come "
                f"(the first: {first.course.title}, {format_date(first.starts_at)}): "
                "give those sessions another trainer first, then erase their data."
            )
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
    contact_for: list[str]

    @property
    def former_name(self) -> str:
        return former_name(self.person.id)


def _count(query) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0


def erasure_plan(person: User, *, now: datetime, by: User | None = None) -> ErasurePlan:
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
        refused=why_not_erase(person, by=by, now=now),
        contact_for=list(
            db.session.scalars(
                sa.select(Agency.name)
                .join(TrainingContact, TrainingContact.agency_id == Agency.id)
                .where(TrainingContact.user_id == person.id)
                .order_by(sa.func.lower(Agency.name))
            )
        ),
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
    return anonymise_people([person], by=by, now=now, reason=reason)[0]


def anonymise_people(people: list[User], *, by: User | None, now: datetime, reason: str) -> list[Erased]:
    """Erase several people at once, as the retention sweep does: each person's own records are
    found by their ids, and the text shared by everyone (audit trail, outbox, copies sent to other
    systems) is searched once for all of them rather than once per person."""
    require_role(by, Role.LND_ADMIN, message="Only the L&D team can erase a person's data.")
    erasing: list[tuple[User, list[str], str, int]] = []
    for person in people:
        _lock(person)
        refused = why_not_erase(person, by=by, now=now)
        if refused:
            raise PrivacyError.conflict(refused)
        cancelled = 0
        for booking in future_bookings(person, now):
            remove_delegate(booking, by=by, now=now)
            cancelled += 1
        erasing.append((person, _needles(person), former_name(person.id), cancelled))
    pairs = [(needle, placeholder) for _, needles, placeholder, _ in erasing for needle in needles]
    dropped = _scrub_messages([person for person, *_ in erasing], pairs)
    _scrub_audit(pairs)
    _scrub_request_keys(pairs)
    _scrub_copied_text(pairs)
    done = []
    for person, needles, placeholder, cancelled in erasing:
        theirs = sa.select(Booking.id).where(Booking.user_id == person.id).scalar_subquery()
        _keep_certificates(person, theirs)
        _blank_what_they_wrote(theirs, needles, placeholder)
        _forget_sign_in(person)
        _forget_as_line_manager(person.email)
        _scrub_requests(person, needles, placeholder)
        db.session.execute(
            sa.update(InvoiceLine)
            .where(InvoiceLine.charge_id.in_(sa.select(Charge.id).where(Charge.booking_id.in_(theirs))))
            .values(delegate_name=placeholder),
            execution_options={"synchronize_session": "fetch"},
        )
        _forget_person(person, now)
        db.session.flush()
        log_action(
            "lms.person.erased",
            subject=person,
            actor=by,
            now=now,
            reason=reason,
            bookings_cancelled=cancelled,
        )
        done.append(Erased(person=person, cancelled=cancelled, messages_dropped=dropped.get(person.id, 0)))
    return done


def _lock(person: User) -> None:
    """Hold the person's row until the end of the transaction and read it afresh, so an erasure and
    the retention sweep (or two erasures) at once on PostgreSQL do the work once: the second waits,
    then finds the person already erased."""
    db.session.execute(sa.select(User.id).where(User.id == person.id).with_for_update())
    db.session.refresh(person)


def _forget_person(person: User, now: datetime) -> None:
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


def _forget_as_line_manager(email: str) -> None:
    """Where colleagues named them as their line manager: the colleagues' profiles forget them (they
    are asked for a manager again when one is needed), as do decided approvals and the comments
    they gave as a manager (the chosen answer stays for the impact report). An approval still
    waiting for them keeps their address until it is decided or lapses: a colleague's booking
    depends on it."""
    if not email:
        return
    named = sa.func.lower(sa.func.trim(email))
    db.session.execute(
        sa.update(User)
        .where(sa.func.lower(User.line_manager_email) == named)
        .values(line_manager_name=None, line_manager_email=None),
        execution_options={"synchronize_session": "fetch"},
    )
    db.session.execute(
        sa.update(ApprovalRequest)
        .where(sa.func.lower(ApprovalRequest.manager_email) == named, ApprovalRequest.decided_at.is_not(None))
        .values(manager_name=None, manager_email=None, decided_by_email=None, reason=None),
        execution_options={"synchronize_session": "fetch"},
    )
    db.session.execute(
        sa.update(ApprovalRequest)
        .where(sa.func.lower(ApprovalRequest.decided_by_email) == named)
        .values(decided_by_email=None),
        execution_options={"synchronize_session": "fetch"},
    )
    db.session.execute(
        sa.update(ManagerComment)
        .where(sa.func.lower(ManagerComment.manager_email) == named)
        .values(manager_email="", comment=None),
        execution_options={"synchronize_session": "fetch"},
    )


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


# Each scan of a shared table tests at most this many needles: a bounded statement (SQLite limits
# how deep an expression may nest) and, for a batch of people, a few scans instead of one per person.
NEEDLES_PER_SCAN = 200


def _chunks(pairs: list[tuple[str, str]]) -> list[list[str]]:
    needles = [needle for needle, _ in pairs]
    return [needles[i : i + NEEDLES_PER_SCAN] for i in range(0, len(needles), NEEDLES_PER_SCAN)]


def _scrub_messages(people: list[User], pairs: list[tuple[str, str]]) -> dict[int, int]:
    """Messages to them waiting to go are dropped; those sent keep only that they were sent. Other
    messages that named them name "Former delegate #id" instead. Returns how many were dropped,
    by person."""
    by_id = {person.id: person for person in people}
    by_email = {person.email.lower(): person.id for person in people}
    to_them = sa.or_(OutboxMessage.user_id.in_(by_id), sa.func.lower(OutboxMessage.recipient).in_(by_email))
    dropped = dict.fromkeys(by_id, 0)
    for message in db.session.scalars(sa.select(OutboxMessage).where(to_them)):
        whose = message.user_id if message.user_id in by_id else by_email.get(message.recipient.lower())
        if message.sent_at is None and message.failed_at is None:
            db.session.delete(message)
            dropped[whose] = dropped.get(whose, 0) + 1
        else:
            message.body = ""
            message.attachments = []
            message.recipient = f"former-delegate@{ERASED_DOMAIN}"
    db.session.flush()
    for needles in _chunks(pairs):
        mentioning = sa.or_(
            *(_mentions(OutboxMessage.body, n) | _mentions(OutboxMessage.subject, n) for n in needles)
        )
        for message in db.session.scalars(sa.select(OutboxMessage).where(mentioning)):
            message.body = _scrub(message.body, pairs)
            message.subject = _scrub(message.subject, pairs)
    return dropped


def _scrub_audit(pairs: list[tuple[str, str]]) -> None:
    """The audit trail keeps what happened and when, without their name or email in its details."""
    for needles in _chunks(pairs):
        mentioning = sa.or_(*(_mentions(sa.cast(AuditEntry.data, sa.Text), n) for n in needles))
        for entry in db.session.scalars(sa.select(AuditEntry).where(mentioning)):
            entry.data = _scrub_json(entry.data, pairs)


def _scrub_request_keys(pairs: list[tuple[str, str]]) -> None:
    """Answers kept for a day against repeated form posts may show the person: dropped."""
    for needles in _chunks(pairs):
        mentioning = sa.or_(
            *(
                _mentions(RequestKey.page, n) | _mentions(sa.cast(RequestKey.flashes, sa.Text), n)
                for n in needles
            )
        )
        db.session.execute(sa.delete(RequestKey).where(mentioning))


def _scrub_copied_text(pairs: list[tuple[str, str]]) -> None:
    for name, column in COPIED_TEXT:
        table = db.metadata.tables.get(name)
        if table is None or column not in table.c:
            continue
        text = table.c[column]
        for needles in _chunks(pairs):
            mentioning = sa.or_(*(_mentions(text, n) for n in needles))
            for row in db.session.execute(sa.select(table.c.id, text).where(mentioning)).all():
                scrubbed = _scrub(row[1], pairs)
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
    return _scrub(text, [(needle, placeholder) for needle in needles])


def _scrub(text: str | None, pairs: list[tuple[str, str]]) -> str | None:
    """`text` with each person's needles replaced by that person's placeholder, longest first."""
    if not text:
        return text
    for needle, placeholder in sorted(pairs, key=lambda pair: len(pair[0]), reverse=True):
        text = re.sub(re.escape(needle), placeholder, text, flags=re.IGNORECASE)
    return text


def _scrub_json(value: Any, pairs: list[tuple[str, str]]) -> Any:
    if isinstance(value, str):
        return _scrub(value, pairs)
    if isinstance(value, list):
        return [_scrub_json(item, pairs) for item in value]
    if isinstance(value, dict):
        return {key: _scrub_json(item, pairs) for key, item in value.items()}
    return value
