"""The line manager's comment on the change in practice, asked for once the delegate has answered
the level-2 follow-up.

The manager needs no account. The emailed link is signed (a link that was changed is refused
before the database is read) and carries a random secret whose SHA-256 alone is kept; it works
until it has been answered once or MANAGER_COMMENT_LINK_DAYS have passed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.exc import IntegrityError

from lms.bookings.managers import manager_address
from lms.core.audit import log_action
from lms.core.errors import DomainError
from lms.extensions import db
from lms.followups.models import FollowUp, ManagerComment, PracticeChange
from lms.messages.services import absolute_url, queue_message, session_subject

SALT = "manager-comment"
MAX_COMMENT = 5000


class ManagerCommentError(DomainError):
    pass


def _signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def comment_of(follow_up: FollowUp) -> ManagerComment | None:
    return db.session.scalar(sa.select(ManagerComment).where(ManagerComment.follow_up_id == follow_up.id))


def invite_manager(follow_up: FollowUp, *, now: datetime) -> ManagerComment | None:
    """Ask the delegate's line manager for a short comment, once per follow-up; None when the
    delegate gave no manager's address."""
    person = follow_up.booking.user
    address = manager_address(person)
    if address is None or follow_up.submitted_at is None:
        return None
    existing = comment_of(follow_up)
    if existing is not None:
        return existing
    secret = secrets.token_urlsafe(32)
    record = ManagerComment(
        follow_up=follow_up,
        manager_email=address,
        token_hash=_hash(secret),
        invited_at=now,
        expires_at=now + timedelta(days=current_app.config["MANAGER_COMMENT_LINK_DAYS"]),
    )
    try:
        with db.session.begin_nested():
            db.session.add(record)
            db.session.flush()
    except IntegrityError:
        return comment_of(follow_up)  # invited a moment ago by another request
    session = follow_up.booking.session
    queue_message(
        "followup.manager_invitation",
        to=address,
        subject=session_subject(f"Change in practice for {person.full_name}", session),
        template="managers/comment_invitation.txt",
        now=now,
        dedupe_key=f"followup.manager_invitation:{follow_up.id}",
        booking=follow_up.booking,
        session=session,
        delegate=person,
        manager_name=(person.line_manager_name or "").strip(),
        comment=record,
        url=absolute_url("followups.manager_comment", token=_signer().dumps([record.id, secret])),
    )
    log_action("lms.manager_comment.invited", subject=record, actor=None, now=now, follow_up_id=follow_up.id)
    return record


def comment_for_link(token: str, *, now: datetime) -> ManagerComment:
    """The invitation a link opens, while it can still be answered; otherwise a clear refusal."""
    try:
        record_id, secret = _signer().loads(token)
        record_id, secret = int(record_id), str(secret)
    except (BadSignature, TypeError, ValueError):
        raise ManagerCommentError.not_found(
            "This link is not complete or has been changed. Open it from the email again, "
            "copying the whole address."
        ) from None
    record = db.session.get(ManagerComment, record_id)
    if record is None or not hmac.compare_digest(record.token_hash, _hash(secret)):
        raise ManagerCommentError.not_found("This link is not one we sent, or it has been replaced.")
    if record.is_answered:
        raise ManagerCommentError(
            "Thank you: your comment has already been received. The link works once.", status=410
        )
    if not record.can_answer(now):
        raise ManagerCommentError(
            "This link has expired, so it can no longer be used. Nothing has been changed.", status=410
        )
    return record


def submit_manager_comment(
    token: str, change: PracticeChange, comment: str, *, now: datetime
) -> ManagerComment:
    """Keep the manager's answer, once: a second use of the link changes nothing."""
    record = comment_for_link(token, now=now)
    comment = comment.strip()
    if len(comment) > MAX_COMMENT:
        raise ManagerCommentError(f"Keep the comment to {MAX_COMMENT} characters.", field="comment")
    # Answered once only, even when two answers arrive together: the second updates no row.
    done = db.session.execute(
        sa.update(ManagerComment)
        .where(ManagerComment.id == record.id, ManagerComment.answered_at.is_(None))
        .values(answered_at=now, change=change, comment=comment or None)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:
        raise ManagerCommentError(
            "Thank you: your comment has already been received. The link works once.", status=410
        )
    db.session.refresh(record)
    log_action("lms.manager_comment.answered", subject=record, actor=None, now=now, change=change.value)
    return record
