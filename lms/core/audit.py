"""The audit trail: every state change writes an entry with a dotted name, who and when."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.core import deferred
from lms.core.db import UTCDateTime
from lms.extensions import db


class AuditEntry(db.Model):
    __tablename__ = "audit_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(80), index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    subject_type: Mapped[str] = mapped_column(sa.String(40))
    subject_id: Mapped[int | None]
    data: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    # Indexed for the retention sweep, which deletes entries past their time.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)

    actor = relationship("User", foreign_keys=[actor_id])

    __table_args__ = (sa.Index("ix_audit_entry_subject", "subject_type", "subject_id"),)


def log_action(
    name: str,
    /,
    *,
    subject: Any,
    actor: Any | None,
    now: datetime,
    **data: Any,
) -> None:
    """Record that `actor` did `name` to `subject`: written with the rest of the transaction's
    entries once its work is done (lms/core/deferred.py), or at once when something reads them."""
    if getattr(subject, "id", None) is None:
        db.session.flush()
    log_entry(
        name, subject_type=type(subject).__tablename__, subject_id=subject.id, actor=actor, now=now, data=data
    )


def log_entry(
    name: str,
    *,
    subject_type: str,
    subject_id: int | None,
    actor: Any | None,
    now: datetime,
    data: dict[str, Any],
) -> None:
    """An entry about a subject given by its table and id (None: one that has no row, such as an
    address with no account); `log_action` for the usual case."""
    if actor is not None and actor.id is None:
        db.session.flush()
    row = {
        "name": name,
        "actor_id": actor.id if actor is not None else None,
        "subject_type": subject_type,
        "subject_id": subject_id,
        "data": data,
        "created_at": now,
    }
    deferred.defer_row(db.session(), AuditEntry.__table__, row)


ACTION_TITLES = {
    "lms.booking.confirmed": "Booked: place confirmed",
    "lms.booking.waitlisted": "Booked: joined the waiting list",
    "lms.booking.promoted": "Confirmed from the waiting list",
    "lms.booking.cancelled": "Cancelled",
    "lms.booking.removed": "Removed by the L&D team",
    "lms.booking.substituted": "Passed to a colleague",
    "lms.booking.approval_requested": "Booked: approval asked for",
    "lms.booking.approved": "Approved",
    "lms.booking.declined": "Declined",
    "lms.booking.approval_expired": "Not approved in time",
    "lms.booking.approval_reminded": "Approver reminded",
    "lms.approval.categories_chosen": "Categories needing approval chosen",
    "lms.register.marked": "Register marked",
    "lms.register.walk_in": "Added at the register",
    "lms.register.marked_rest_attended": "Everyone not yet marked marked as attended",
    "lms.booking.checked_in": "Checked in with the QR code",
    "lms.register.closed": "Register closed",
    "lms.register.closed_automatically": "Register closed by itself (unmarked recorded as no-shows)",
    "lms.session.created": "Session created",
    "lms.session.updated": "Session changed",
    "lms.session.places_changed": "Places changed",
    "lms.session.cancelled": "Session cancelled",
    "lms.session.past_recorded": "Recorded as a past session",
    "lms.booking.past_recorded": "Recorded as past attendance",
    "lms.calendar_feed.created": "Calendar feed address made",
    "lms.calendar_feed.reset": "Calendar feed address changed",
    # Security events (lms/accounts/security.py groups them into kinds)
    "lms.user.signed_in": "Signed in",
    "lms.security.sign_in_link_used": "Signed in with an emailed link",
    "lms.security.sign_in_failed": "Sign-in failed",
    "lms.security.second_factor_failed": "Wrong two-step sign-in code",
    "lms.security.two_factor_enabled": "Two-step sign-in turned on",
    "lms.security.two_factor_replaced": "Authenticator app replaced",
    "lms.security.two_factor_removed": "Two-step sign-in turned off",
    "lms.security.two_factor_reset": "Two-step sign-in reset",
    "lms.security.recovery_codes_renewed": "New recovery codes made",
    "lms.security.recovery_code_used": "Recovery code used",
    "lms.security.roles_changed": "Roles changed",
    "lms.user.made_administrator": "Made L&D administrator from the command line",
    "lms.security.exported": "Personal data exported",
    "lms.security.unlocked": "Failed sign-ins cleared",
    "lms.security.sign_in_ended": "Signed out another browser",
    "lms.security.signed_out_everywhere": "Signed out everywhere",
    "lms.user.password_reset": "Password changed through an emailed link",
    "lms.user.password_reset_requested": "Password reset link sent",
    "lms.security.sign_in_link_sent": "Sign-in link sent",
    "lms.security.registration_attempt": "Someone tried to register with this address",
    "lms.user.email_confirmed": "Email address confirmed",
    "lms.security.sso_linked": "Linked to an organisation account (single sign-on)",
    "lms.training_contact.added": "Named training contact",
    "lms.training_contact.removed": "No longer a training contact",
    # Personal data (lms/privacy)
    "lms.person.erased": "Personal data erased",
    "lms.data_request.logged": "Request about personal data logged",
    "lms.data_request.completed": "Request about personal data answered",
    "lms.retention.run": "Retention sweep run by hand",
    "lms.agency.created": "Organisation added",
    "lms.agency.updated": "Organisation changed",
    "lms.agency.organisation_mapped": "Typed organisation name mapped",
    "lms.agency.email_domain_added": "Email domain added",
    "lms.agency.email_domain_removed": "Email domain removed",
    "lms.budget.set": "Budget set",
    "lms.certificate.issued": "Certificate issued",
    "lms.charge.raised": "Charge raised",
    "lms.charge.waived": "Charge waived",
    "lms.charge.withdrawn": "Charge withdrawn",
    "lms.course.created": "Course added",
    "lms.course.updated": "Course changed",
    "lms.course.place_fee_set": "Place fee set",
    "lms.credit_note.issued": "Credit note issued",
    "lms.evaluation.questions_changed": "Evaluation questions changed",
    "lms.evaluation.submitted": "Evaluation completed",
    "lms.followup.submitted": "Follow-up survey answered",
    "lms.invoice.issued": "Invoice issued",
    "lms.invoice.paid": "Invoice paid",
    "lms.invoice.run": "Invoicing run",
    "lms.payment.recorded": "Payment recorded",
    "lms.manager_comment.invited": "Manager asked what changed in practice",
    "lms.manager_comment.answered": "Manager said what changed in practice",
    "lms.topic.created": "Topic added",
    "lms.user.created": "Account created",
    "lms.user.registered": "Registered",
    "lms.user.profile_updated": "Own details changed",
    "lms.user.updated": "Details changed by the L&D team",
    "lms.security.api_token_created": "API token made",
    "lms.security.api_token_revoked": "API token revoked",
    "lms.integration.created": "Integration added",
    "lms.integration.revoked": "Integration revoked",
    "lms.integration.token_created": "Integration token made",
    "lms.integration.token_revoked": "Integration token revoked",
    "lms.webhook.created": "Webhook added",
    "lms.webhook.changed": "Webhook changed",
    "lms.webhook.secret_rotated": "Webhook signing secret replaced",
    "lms.webhook.turned_on": "Webhook turned on",
    "lms.webhook.turned_off": "Webhook turned off",
    "lms.webhook.sent_again": "Webhook event sent again",
    "lms.webhook.pinged": "Webhook test event sent",
}


def history_of(subjects: list[tuple[str, list[int]]], limit: int = 500) -> list[AuditEntry]:
    """Audit entries about any of the given (table name, ids), newest first."""
    conditions = [
        sa.and_(AuditEntry.subject_type == kind, AuditEntry.subject_id.in_(ids))
        for kind, ids in subjects
        if ids
    ]
    if not conditions:
        return []
    return list(
        db.session.scalars(
            sa.select(AuditEntry)
            .where(sa.or_(*conditions))
            .order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
            .limit(limit)
        )
    )
