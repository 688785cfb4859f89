"""How long personal data is kept (the RETENTION_* settings), and the daily sweep that applies it.

Each kind of record has a rule: what is past its time, and what happens to it then. The sweep
takes at most RETENTION_BATCH records of each kind a run (the rest wait for the next run), and
changes only what is still to change, so a second run straight after the first finds nothing.
Accounts are anonymised by the same service as an erasure request (lms/privacy/erasure.py);
counts in reports and money in finance never change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from lms.accounts.models import Role, User, UserRole
from lms.bookings.models import Booking
from lms.core.audit import AuditEntry, log_action
from lms.core.financial_year import financial_year_bounds, financial_year_of
from lms.core.formatting import format_date, plural
from lms.core.permissions import require_role
from lms.core.timezones import london_date
from lms.courses.models import CourseSession
from lms.evaluations.models import Answer, Evaluation
from lms.extensions import db
from lms.finance.models import Charge, ChargeStatus, Invoice, InvoiceLine
from lms.followups.models import FollowUp, ManagerComment
from lms.integrations.webhook_models import DeliveryStatus, WebhookDelivery
from lms.messages.models import OutboxMessage
from lms.privacy.erasure import FORMER_FIRST_NAME, PrivacyError, anonymise_people, why_not_erase

SHOWN = 5  # records listed under each kind on the retention page
# The PostgreSQL advisory lock one sweep holds until it commits, so a sweep started by L&D while the
# scheduler's is running (or the other way round) does not do the same work twice or deadlock.
SWEEP_LOCK = 0x4C4D5352
ALREADY_RUNNING = "The retention sweep is already running; look at this page again in a minute."


@dataclass(frozen=True)
class Policy:
    """The retention settings; 0 keeps that kind of record for ever."""

    account_years: int
    evaluation_text_years: int
    follow_up_years: int
    audit_years: int
    sent_message_days: int
    finance_years: int
    batch: int
    financial_year_start: str = "04-01"

    @classmethod
    def from_config(cls, config=None) -> Policy:
        config = config or current_app.config
        return cls(
            account_years=config["RETENTION_ACCOUNT_YEARS"],
            evaluation_text_years=config["RETENTION_EVALUATION_TEXT_YEARS"],
            follow_up_years=config["RETENTION_FOLLOW_UP_YEARS"],
            audit_years=config["RETENTION_AUDIT_YEARS"],
            sent_message_days=config["RETENTION_SENT_MESSAGE_DAYS"],
            finance_years=config["RETENTION_FINANCE_YEARS"],
            batch=config["RETENTION_BATCH"],
            financial_year_start=config["FINANCIAL_YEAR_START"],
        )


def years_before(moment: datetime, years: int) -> datetime:
    """The same moment `years` earlier (29 February becomes the 28th)."""
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:
        return moment.replace(year=moment.year - years, day=28)


@dataclass(frozen=True)
class Rule:
    """One kind of record: what is due (ids, oldest first), how to show one, how to deal with some."""

    key: str
    title: str
    words: str
    due: Callable[[datetime], sa.Select] | None  # None: kept for ever
    describe: Callable[[list[int]], list[str]]
    apply: Callable[[list[int], datetime], None]


@dataclass(frozen=True)
class Due:
    """What the next sweep will do to one kind of record."""

    rule: Rule
    count: int
    examples: list[str]

    @property
    def kept_for_ever(self) -> bool:
        return self.rule.due is None


# Accounts ---------------------------------------------------------------------------------------


def _inactive_accounts(cutoff: datetime) -> sa.Select:
    recent_booking = (
        sa.select(Booking.id)
        .join(CourseSession, CourseSession.id == Booking.session_id)
        .where(
            Booking.user_id == User.id,
            sa.or_(Booking.booked_at >= cutoff, CourseSession.starts_at >= cutoff),
        )
    )
    open_charge = (
        sa.select(Charge.id)
        .join(Booking, Booking.id == Charge.booking_id)
        .where(Booking.user_id == User.id, Charge.status == ChargeStatus.RAISED)
    )
    staff = sa.select(UserRole.user_id).where(UserRole.user_id == User.id, UserRole.role != Role.PRACTITIONER)
    return (
        sa.select(User.id)
        .where(
            User.erased_at.is_(None),
            User.created_at < cutoff,
            sa.or_(User.last_sign_in_at.is_(None), User.last_sign_in_at < cutoff),
            ~recent_booking.exists(),
            ~open_charge.exists(),
            ~staff.exists(),
        )
        .order_by(User.id)
    )


def _describe_accounts(ids: list[int]) -> list[str]:
    people = db.session.scalars(sa.select(User).where(User.id.in_(ids)).order_by(User.id))
    return [
        f"{p.full_name}, registered {format_date(p.created_at)}, "
        + (f"last signed in {format_date(p.last_sign_in_at)}" if p.last_sign_in_at else "never signed in")
        for p in people
    ]


def _anonymise_accounts(ids: list[int], now: datetime) -> None:
    # An account someone else is erasing right now is left to them (SKIP LOCKED on PostgreSQL), and
    # one erased in the meantime is not erased again.
    people = db.session.scalars(
        sa.select(User)
        .where(User.id.in_(ids))
        .order_by(User.id)
        .with_for_update(skip_locked=True, of=User)
        .execution_options(populate_existing=True)
    )
    due = [person for person in people if why_not_erase(person, now=now) is None]
    if due:
        anonymise_people(due, by=None, now=now, reason="inactive beyond the retention period")


# Free text of evaluations and follow-ups ----------------------------------------------------------


def _evaluations_with_text(cutoff: datetime) -> sa.Select:
    has_text = sa.select(Answer.id).where(Answer.evaluation_id == Evaluation.id, Answer.text.is_not(None))
    return (
        sa.select(Evaluation.id)
        .where(Evaluation.submitted_at < cutoff, has_text.exists())
        .order_by(Evaluation.submitted_at, Evaluation.id)
    )


def _describe_evaluations(ids: list[int]) -> list[str]:
    rows = db.session.scalars(sa.select(Evaluation).where(Evaluation.id.in_(ids)).order_by(Evaluation.id))
    return [
        f"Evaluation of {e.booking.session.course.title} ({format_date(e.booking.session.starts_at)}), "
        f"sent {format_date(e.submitted_at)}"
        for e in rows
    ]


def _blank_evaluations(ids: list[int], now: datetime) -> None:
    db.session.execute(
        sa.update(Answer).where(Answer.evaluation_id.in_(ids)).values(text=None),
        execution_options={"synchronize_session": "fetch"},
    )


def _follow_ups_with_text(cutoff: datetime) -> sa.Select:
    manager_text = sa.select(ManagerComment.id).where(
        ManagerComment.follow_up_id == FollowUp.id,
        sa.or_(ManagerComment.comment.is_not(None), ManagerComment.manager_email != ""),
    )
    return (
        sa.select(FollowUp.id)
        .where(
            FollowUp.invited_at < cutoff,
            sa.or_(FollowUp.example.is_not(None), FollowUp.barrier_other.is_not(None), manager_text.exists()),
        )
        .order_by(FollowUp.invited_at, FollowUp.id)
    )


def _describe_follow_ups(ids: list[int]) -> list[str]:
    rows = db.session.scalars(sa.select(FollowUp).where(FollowUp.id.in_(ids)).order_by(FollowUp.id))
    return [
        f"Follow-up on {f.booking.session.course.title} ({format_date(f.booking.session.starts_at)}), "
        f"sent {format_date(f.invited_at)}"
        for f in rows
    ]


def _blank_follow_ups(ids: list[int], now: datetime) -> None:
    db.session.execute(
        sa.update(FollowUp).where(FollowUp.id.in_(ids)).values(example=None, barrier_other=None),
        execution_options={"synchronize_session": "fetch"},
    )
    db.session.execute(
        sa.update(ManagerComment)
        .where(ManagerComment.follow_up_id.in_(ids))
        .values(comment=None, manager_email=""),
        execution_options={"synchronize_session": "fetch"},
    )


# The audit trail and sent messages -----------------------------------------------------------------


def _old_audit_entries(cutoff: datetime) -> sa.Select:
    return sa.select(AuditEntry.id).where(AuditEntry.created_at < cutoff).order_by(AuditEntry.id)


def _describe_audit_entries(ids: list[int]) -> list[str]:
    rows = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.id.in_(ids)).order_by(AuditEntry.id))
    return [f"{entry.name}, {format_date(entry.created_at)}" for entry in rows]


def _delete_audit_entries(ids: list[int], now: datetime) -> None:
    db.session.execute(
        sa.delete(AuditEntry).where(AuditEntry.id.in_(ids)),
        execution_options={"synchronize_session": "fetch"},
    )


def _old_messages(cutoff: datetime) -> sa.Select:
    done = sa.func.coalesce(OutboxMessage.sent_at, OutboxMessage.failed_at)
    return sa.select(OutboxMessage.id).where(done.is_not(None), done < cutoff).order_by(OutboxMessage.id)


def _describe_messages(ids: list[int]) -> list[str]:
    rows = db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.id.in_(ids)).order_by(OutboxMessage.id)
    )
    return [f"“{m.subject}”, {format_date(m.sent_at or m.failed_at)}" for m in rows]


def _delete_messages(ids: list[int], now: datetime) -> None:
    db.session.execute(
        sa.delete(OutboxMessage).where(OutboxMessage.id.in_(ids)),
        execution_options={"synchronize_session": "fetch"},
    )


def _old_webhook_deliveries(cutoff: datetime) -> sa.Select:
    done = sa.func.coalesce(WebhookDelivery.delivered_at, WebhookDelivery.failed_at)
    return (
        sa.select(WebhookDelivery.id)
        .where(WebhookDelivery.status != DeliveryStatus.PENDING, done.is_not(None), done < cutoff)
        .order_by(WebhookDelivery.id)
    )


def _describe_webhook_deliveries(ids: list[int]) -> list[str]:
    rows = db.session.scalars(
        sa.select(WebhookDelivery).where(WebhookDelivery.id.in_(ids)).order_by(WebhookDelivery.id)
    )
    return [f"{d.event_type}, {format_date(d.delivered_at or d.failed_at)}" for d in rows]


def _delete_webhook_deliveries(ids: list[int], now: datetime) -> None:
    # Their attempts go with them (ON DELETE CASCADE).
    db.session.execute(
        sa.delete(WebhookDelivery).where(WebhookDelivery.id.in_(ids)),
        execution_options={"synchronize_session": "fetch"},
    )


# Finance ----------------------------------------------------------------------------------------


def _former_name_of_line():
    """ "Former delegate #<id>" for the delegate an invoice line billed, in SQL."""
    return (
        sa.select(sa.literal(f"{FORMER_FIRST_NAME} #") + sa.cast(Booking.user_id, sa.String))
        .join(Charge, Charge.booking_id == Booking.id)
        .where(Charge.id == InvoiceLine.charge_id)
        .scalar_subquery()
    )


def last_year_past_keeping(today: date, years: int, start: str = "04-01") -> int:
    """The latest financial year that ended more than `years` years before `today`."""
    year = financial_year_of(today, start) - years
    while financial_year_bounds(year, start)[1] >= years_before_date(today, years):
        year -= 1
    return year


def years_before_date(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def _finance_lines(policy: Policy) -> Callable[[datetime], sa.Select]:
    def due(now: datetime) -> sa.Select:
        last = last_year_past_keeping(london_date(now), policy.finance_years, policy.financial_year_start)
        return (
            sa.select(InvoiceLine.id)
            .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
            .where(Invoice.financial_year <= last, InvoiceLine.delegate_name != _former_name_of_line())
            .order_by(InvoiceLine.id)
        )

    return due


def _describe_lines(ids: list[int]) -> list[str]:
    rows = db.session.scalars(sa.select(InvoiceLine).where(InvoiceLine.id.in_(ids)).order_by(InvoiceLine.id))
    return [f"{line.invoice.number}: {line.delegate_name}, {line.course_title}" for line in rows]


def _anonymise_lines(ids: list[int], now: datetime) -> None:
    # Issued documents never change, except that the delegate's name goes once the law no longer
    # needs it: amounts, courses and dates stay.
    db.session.execute(
        sa.update(InvoiceLine).where(InvoiceLine.id.in_(ids)).values(delegate_name=_former_name_of_line()),
        execution_options={"synchronize_session": "fetch"},
    )


# The rules and the sweep -------------------------------------------------------------------------


def _years(n: int) -> str:
    return plural(n, "year")


def rules(policy: Policy) -> list[Rule]:
    def after(years: int, query: Callable[[datetime], sa.Select]):
        return None if years <= 0 else (lambda now: query(years_before(now, years)))

    def kept(years: int, words: str) -> str:
        return "Kept for ever (the setting is 0)." if years <= 0 else words

    return [
        Rule(
            "accounts",
            "Accounts not used",
            kept(
                policy.account_years,
                f"An account nobody has signed in to or booked with for {_years(policy.account_years)} "
                "is anonymised: the person becomes “Former delegate #…”; their bookings, attendance "
                "and charges stay for the reports and finance. Never an account with sessions to "
                "come, charges not yet invoiced, or a staff role.",
            ),
            after(policy.account_years, _inactive_accounts),
            _describe_accounts,
            _anonymise_accounts,
        ),
        Rule(
            "evaluations",
            "Evaluation comments",
            kept(
                policy.evaluation_text_years,
                f"What delegates wrote in evaluations is removed {_years(policy.evaluation_text_years)} "
                "after they sent them; the ratings stay for the results.",
            ),
            after(policy.evaluation_text_years, _evaluations_with_text),
            _describe_evaluations,
            _blank_evaluations,
        ),
        Rule(
            "follow_ups",
            "Follow-up answers",
            kept(
                policy.follow_up_years,
                f"What delegates and their managers wrote in follow-ups is removed "
                f"{_years(policy.follow_up_years)} after the follow-up was sent, with the manager's "
                "address; the chosen answers stay for the results.",
            ),
            after(policy.follow_up_years, _follow_ups_with_text),
            _describe_follow_ups,
            _blank_follow_ups,
        ),
        Rule(
            "audit",
            "Audit trail",
            kept(
                policy.audit_years,
                "Entries in the audit trail and security events are deleted after "
                f"{_years(policy.audit_years)}.",
            ),
            after(policy.audit_years, _old_audit_entries),
            _describe_audit_entries,
            _delete_audit_entries,
        ),
        Rule(
            "messages",
            "Emails sent",
            kept(
                policy.sent_message_days,
                f"Copies of emails sent (or given up on) are deleted after "
                f"{plural(policy.sent_message_days, 'day')}.",
            ),
            None
            if policy.sent_message_days <= 0
            else (lambda now: _old_messages(now - timedelta(days=policy.sent_message_days))),
            _describe_messages,
            _delete_messages,
        ),
        Rule(
            "webhooks",
            "Webhook events sent",
            kept(
                policy.sent_message_days,
                f"Copies of webhook events sent to other systems (or given up on), with their delivery "
                f"log, are deleted after {plural(policy.sent_message_days, 'day')}.",
            ),
            None
            if policy.sent_message_days <= 0
            else (lambda now: _old_webhook_deliveries(now - timedelta(days=policy.sent_message_days))),
            _describe_webhook_deliveries,
            _delete_webhook_deliveries,
        ),
        Rule(
            "finance",
            "Invoice lines",
            kept(
                policy.finance_years,
                f"Invoices, credit notes and their lines are kept for {_years(policy.finance_years)} after "
                "the end of the financial year they belong to; then the delegates' names on the lines "
                "become “Former delegate #…”. Amounts are never deleted.",
            ),
            None if policy.finance_years <= 0 else _finance_lines(policy),
            _describe_lines,
            _anonymise_lines,
        ),
    ]


def retention_plan(now: datetime, policy: Policy | None = None) -> list[Due]:
    """What the next sweep will do: for each kind, how many records and the first few."""
    plan = []
    for rule in rules(policy or Policy.from_config()):
        if rule.due is None:
            plan.append(Due(rule, 0, []))
            continue
        query = rule.due(now)
        count = db.session.scalar(sa.select(sa.func.count()).select_from(query.order_by(None).subquery()))
        first = list(db.session.scalars(query.limit(SHOWN)))
        plan.append(Due(rule, count or 0, rule.describe(first)))
    return plan


def sweep_retention(now: datetime, *, by: User | None = None, policy: Policy | None = None) -> int:
    """Apply every rule to at most the batch of records of each kind now due; how many were dealt with."""
    require_role(by, Role.LND_ADMIN, message="Only the L&D team can run the retention sweep.")
    if not _sole_sweep():
        if by is not None:
            raise PrivacyError.conflict(ALREADY_RUNNING)
        return 0
    policy = policy or Policy.from_config()
    done: dict[str, int] = {}
    # Accounts last: anonymising one also clears its comments and invoice lines, which the other
    # rules would otherwise have counted on the page and then not found.
    for rule in sorted(rules(policy), key=lambda rule: rule.key == "accounts"):
        if rule.due is None:
            continue
        ids = list(db.session.scalars(rule.due(now).limit(policy.batch)))
        if ids:
            rule.apply(ids, now)
            done[rule.key] = len(ids)
    db.session.flush()
    if done and by is not None:
        log_action("lms.retention.run", subject=by, actor=by, now=now, **done)
    return sum(done.values())


def _sole_sweep() -> bool:
    """Whether this transaction may sweep: on PostgreSQL it takes the sweep's advisory lock (held to
    the commit) unless another holds it; SQLite lets one writer in at a time anyway."""
    if db.session.get_bind().dialect.name != "postgresql":
        return True
    return bool(db.session.scalar(sa.select(sa.func.pg_try_advisory_xact_lock(SWEEP_LOCK))))
