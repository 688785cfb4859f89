"""Signing in, second factors, each browser's sign-in, unlocking, and the security events L&D search.

A sign-in goes in steps: the password (or an emailed link, or a confirmed registration), then, for
someone with an authenticator app, its code; someone whose role needs an app and has none sets one
up before they are in. Each step returns a SignInStep instead of raising, so that a failure is
written to the audit log by the same request that refuses it.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app

from lms.accounts import throttle, two_factor
from lms.accounts.domains import password_refused_message
from lms.accounts.models import RecoveryCode, Role, SecondFactor, SignInSession, User
from lms.accounts.passwords import hash_password, needs_rehash, verify_password
from lms.accounts.services import (
    AccountError,
    end_all_sign_ins,
    find_user_by_email,
    forget_second_factor,
    make_reset_token,
    reset_password,
    user_for_reset_token,
)
from lms.core.audit import AuditEntry, log_action, log_entry
from lms.core.db import write_intent
from lms.core.formatting import plural
from lms.core.permissions import require_role
from lms.core.timezones import end_of_london_day, start_of_london_day
from lms.extensions import db
from lms.messages.services import QueuedMessage, queue_message

# Words shown to a person, not a password.
WRONG_PASSWORD = (
    "The email address or password is not right. If you have just registered, follow the link we "  # noqa: S105
    "emailed you first."
)
WRONG_CODE = (
    "That code is not right. Enter the 6-digit code your authenticator app shows now, or one of your "
    "recovery codes."
)
# How long the second step of a sign-in may wait for its code.
PENDING_MINUTES = 10


@dataclass
class SignInStep:
    """Where a sign-in stands: refused (`problem`), waiting for a code or for an authenticator app to
    be set up (`next_step` "code" or "enrol"), or done, with the secret of the new sign-in for the
    session cookie."""

    user: User | None = None
    next_step: str = ""
    token: str | None = None
    problem: str | None = None
    field: str | None = None
    # The account is being slowed down by failures elsewhere: offer the emailed sign-in link.
    held_back: bool = False
    notice: str | None = None
    method: str = "password"

    @property
    def refused(self) -> bool:
        return self.problem is not None

    def error(self) -> AccountError:
        return AccountError(self.problem or "", field=self.field)


def second_factor_required(user: User) -> bool:
    """L&D and finance need an authenticator app while STAFF_TWO_FACTOR is on."""
    return bool(current_app.config["STAFF_TWO_FACTOR"]) and user.is_staff


# The password ---------------------------------------------------------------------------------


def authenticate(email: str, password: str, *, address: str, user_agent: str, now: datetime) -> SignInStep:
    """Check a sign-in's password, within the throttle; failures are counted and written down."""
    email = User.normalise_email(email)
    refused = password_refused_message(email)
    if refused:  # the same for every address of the domain: it says nothing about the account
        return SignInStep(problem=refused, field="email")
    verdict = throttle.check(address, email, now=now)
    if verdict.wait:
        return SignInStep(problem=_held_back_message(verdict), held_back=verdict.account_slowed)
    user = find_user_by_email(email)
    ok = verify_password(user.password_hash if user else None, password)
    if not ok or user is None or not user.is_enabled or user.confirmation_pending:
        throttle.record_failure(address, email, now=now)
        _security_event(
            "lms.security.sign_in_failed",
            user=user,
            actor=None,
            now=now,
            address=address,
            reason=_why(user, ok),
        )
        return SignInStep(problem=WRONG_PASSWORD, field="password")
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return _after_first_factor(user, address=address, user_agent=user_agent, now=now, method="password")


def _why(user: User | None, password_ok: bool) -> str:
    if user is None:
        return "unknown account"
    if not password_ok:
        return "wrong password"
    if not user.is_enabled:
        return "account disabled"
    return "address not confirmed"


def _held_back_message(verdict: throttle.Verdict) -> str:
    wait = _duration(verdict.wait)
    if verdict.account_slowed:
        return (
            "Too many failed sign-in attempts on this account from other places. Try again in "
            f"{wait}, or have a sign-in link emailed to you."
        )
    return f"Too many failed sign-in attempts. Wait {wait} and try again, or reset your password."


def _after_first_factor(
    user: User, *, address: str, user_agent: str, now: datetime, method: str
) -> SignInStep:
    if user.second_factor is not None:
        return SignInStep(user=user, next_step="code", method=method)
    if second_factor_required(user):
        return SignInStep(user=user, next_step="enrol", method=method)
    return _signed_in(
        user, address=address, user_agent=user_agent, now=now, method=method, second_factor=False
    )


def sign_in_from_provider(
    user: User, *, provider_mfa: bool, address: str, user_agent: str, now: datetime, method: str
) -> SignInStep:
    """Signed in by an identity provider (single sign-on): our second factor is still asked for,
    unless the provider asserted its own and the setting trusts it."""
    if provider_mfa:
        return _signed_in(
            user, address=address, user_agent=user_agent, now=now, method=method, second_factor=True
        )
    return _after_first_factor(user, address=address, user_agent=user_agent, now=now, method=method)


def _signed_in(
    user: User, *, address: str, user_agent: str, now: datetime, method: str, second_factor: bool
) -> SignInStep:
    throttle.record_success(address, user.email, now=now)
    user.last_sign_in_at = now
    token = secrets.token_urlsafe(32)
    db.session.add(
        SignInSession(
            user_id=user.id,
            token_hash=_token_hash(token),
            started_at=now,
            address=(address or None) and address[:45],
            user_agent=(user_agent or None) and user_agent[:200],
            factor_confirmed_at=now if second_factor else None,
        )
    )
    db.session.flush()
    log_action(
        "lms.user.signed_in",
        subject=user,
        actor=user,
        now=now,
        address=address,
        method=method,
        second_factor=second_factor,
    )
    return SignInStep(user=user, next_step="done", token=token, method=method)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# Waiting for the second step ------------------------------------------------------------------


def pending_record(step: SignInStep, *, now: datetime) -> dict[str, Any]:
    """What the session cookie holds between the password and the code (signed, never the password)."""
    assert step.user is not None
    return {
        "u": step.user.id,
        "t": step.user.session_token[:16],
        "at": int(now.timestamp()),
        "m": step.method,
    }


def pending_user(record: Any, *, now: datetime) -> User | None:
    """The person half-way through signing in, while the record is recent and still theirs."""
    if not isinstance(record, dict):
        return None
    user_id, check, started = record.get("u"), record.get("t"), record.get("at")
    if not isinstance(user_id, int) or not isinstance(started, int) or not isinstance(check, str):
        return None
    if not 0 <= now.timestamp() - started <= PENDING_MINUTES * 60:
        return None
    user = db.session.get(User, user_id)
    if user is None or not user.is_enabled or user.session_token[:16] != check:
        return None
    return user


def verify_sign_in_code(
    user: User, code: str, *, address: str, user_agent: str, now: datetime, method: str = "password"
) -> SignInStep:
    """The second step: a code from the authenticator app, or a recovery code."""
    wait = throttle.code_wait(user.email)
    if wait:
        return SignInStep(problem=_too_many_codes(wait))
    used = _accept_code(user, code, now=now)
    if used is None:
        throttle.record_code_failure(user.email)
        log_action("lms.security.second_factor_failed", subject=user, actor=None, now=now, address=address)
        return SignInStep(problem=WRONG_CODE, field="code")
    step = _signed_in(
        user, address=address, user_agent=user_agent, now=now, method=method, second_factor=True
    )
    if used == "recovery":
        left = recovery_codes_left(user)
        step.notice = (
            f"You used a recovery code; {plural(left, 'code')} left. If your authenticator app is "
            "lost, set up a new one from My account."
        )
    return step


def _too_many_codes(wait: int) -> str:
    return f"Too many wrong codes. Wait {_duration(wait)} and try again."


def _duration(seconds: int) -> str:
    if seconds < 120:
        return plural(seconds, "second")
    return plural(round(seconds / 60), "minute")


def _accept_code(user: User, code: str, *, now: datetime) -> str | None:
    """ "app" or "recovery" when the code is right (and then used up), None otherwise."""
    factor = user.second_factor
    if factor is None:
        return None
    if two_factor.looks_like_app_code(code):
        step = two_factor.matching_step(factor.totp_secret, code, now)
        if step is None or not throttle.use_code_step(user.id, step):
            return None
        return "app"
    row = db.session.scalar(
        sa.select(RecoveryCode).where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == two_factor.recovery_code_hash(code),
            RecoveryCode.used_at.is_(None),
        )
    )
    if row is None:
        return None
    row.used_at = now
    db.session.flush()
    left = recovery_codes_left(user)
    log_action("lms.security.recovery_code_used", subject=user, actor=user, now=now, left=left)
    return "recovery"


def recovery_codes_left(user: User) -> int:
    return db.session.scalar(
        sa.select(sa.func.count(RecoveryCode.id)).where(
            RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
        )
    )


# Setting up an authenticator app --------------------------------------------------------------


def enrol_second_factor(user: User, secret: str, code: str, *, now: datetime) -> list[str]:
    """Turn on (or replace) the person's authenticator app once a code from it shows it is set up.
    Returns new recovery codes, to be shown once: only their hashes are kept."""
    if not two_factor.is_secret(secret):
        raise AccountError("That set-up has expired. Scan the new code below and try again.", field="code")
    step = two_factor.matching_step(secret, code, now)
    if step is None or not throttle.use_code_step(user.id, step):
        raise AccountError(
            "That code does not match. Check the app shows this account, then enter the code it shows now.",
            field="code",
        )
    replaced = user.second_factor is not None
    if replaced:
        user.second_factor.totp_secret = secret
        user.second_factor.enabled_at = now
    else:
        user.second_factor = SecondFactor(totp_secret=secret, enabled_at=now)
    codes = _new_recovery_codes(user, now=now)
    name = "lms.security.two_factor_replaced" if replaced else "lms.security.two_factor_enabled"
    log_action(name, subject=user, actor=user, now=now)
    return codes


def sign_in_with_new_second_factor(
    user: User, secret: str, code: str, *, address: str, user_agent: str, now: datetime, method: str
) -> tuple[SignInStep, list[str]]:
    """Someone whose role needs an authenticator app sets it up as they sign in for the first time."""
    codes = enrol_second_factor(user, secret, code, now=now)
    step = _signed_in(
        user, address=address, user_agent=user_agent, now=now, method=method, second_factor=True
    )
    return step, codes


def renew_recovery_codes(user: User, *, now: datetime) -> list[str]:
    """New recovery codes; the old ones stop working."""
    if user.second_factor is None:
        raise AccountError("Set up an authenticator app first.")
    codes = _new_recovery_codes(user, now=now)
    log_action("lms.security.recovery_codes_renewed", subject=user, actor=user, now=now)
    return codes


def _new_recovery_codes(user: User, *, now: datetime) -> list[str]:
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = two_factor.new_recovery_codes()
    for code in codes:
        digest = two_factor.recovery_code_hash(code)
        db.session.add(RecoveryCode(user_id=user.id, code_hash=digest, created_at=now))
    db.session.flush()
    return codes


def remove_second_factor(user: User, *, now: datetime) -> None:
    """Someone whose role does not need it turns their authenticator app off."""
    if user.second_factor is None:
        raise AccountError("Two-step sign-in is already off.")
    if second_factor_required(user):
        raise AccountError("Your role needs two-step sign-in, so it cannot be turned off.")
    forget_second_factor(user)
    db.session.flush()
    log_action("lms.security.two_factor_removed", subject=user, actor=user, now=now)


def reset_second_factor(person: User, *, by: User, now: datetime) -> None:
    """L&D remove someone's lost authenticator app: they set up a new one at their next sign-in."""
    require_role(by, Role.LND_ADMIN, message="Only the L&D team can reset someone's two-step sign-in.")
    if person.second_factor is None:
        raise AccountError(f"{person.full_name} has no authenticator app to reset.")
    forget_second_factor(person)
    end_all_sign_ins(person)
    db.session.flush()
    log_action("lms.security.two_factor_reset", subject=person, actor=by, now=now)


# A recent second factor -----------------------------------------------------------------------


def factor_is_fresh(user: User, sign_in: SignInSession | None, *, now: datetime) -> bool:
    """Whether this browser gave the second factor recently enough for granting roles, running
    invoices or exporting personal data. Someone with no authenticator app has nothing to give."""
    if user.second_factor is None:
        return True
    minutes = current_app.config["SECOND_FACTOR_FRESH_MINUTES"]
    return sign_in is not None and sign_in.factor_is_fresh(now, minutes)


def confirm_second_factor(sign_in: SignInSession, code: str, *, address: str, now: datetime) -> str | None:
    """Give the second factor again in a signed-in browser; None when accepted, or why not."""
    user = sign_in.user
    wait = throttle.code_wait(user.email)
    if wait:
        return _too_many_codes(wait)
    if _accept_code(user, code, now=now) is None:
        throttle.record_code_failure(user.email)
        log_action("lms.security.second_factor_failed", subject=user, actor=user, now=now, address=address)
        return WRONG_CODE
    sign_in.factor_confirmed_at = now
    db.session.flush()
    return None


# Each browser's sign-in -----------------------------------------------------------------------


# Set on the person by `signed_in_person`: the browser token it looked for and the sign-in it found.
_LOADED_SIGN_IN = "_loaded_sign_in"


def _sign_in_of(user_id, token: Any) -> sa.ColumnElement[bool]:
    if not isinstance(token, str) or not token:
        return sa.false()
    return sa.and_(SignInSession.token_hash == _token_hash(token), SignInSession.user_id == user_id)


@functools.cache
def _signed_in_person_query() -> sa.Select:
    # Built once (every signed-in request runs it); only its parameters change.
    from sqlalchemy.orm import joinedload, lazyload, undefer

    return (
        sa.select(User, SignInSession)
        .outerjoin(
            SignInSession,
            sa.and_(SignInSession.token_hash == sa.bindparam("token_hash"), SignInSession.user_id == User.id),
        )
        .where(User.session_token == sa.bindparam("session_token"))
        .options(undefer(User.role_names), lazyload(User.role_rows), joinedload(User.second_factor))
    )


def signed_in_person(session_token: str, browser_token: Any) -> User | None:
    """The person a session cookie names, with their roles, their authenticator app and the sign-in
    the same cookie holds, in one statement; `current_sign_in` then answers without asking again."""
    valid = isinstance(browser_token, str) and browser_token
    # No sign-in has an empty hash: a cookie without a valid browser token finds none.
    token_hash = _token_hash(browser_token) if valid else ""
    row = (
        db.session.execute(
            _signed_in_person_query(), {"session_token": session_token, "token_hash": token_hash}
        )
        .unique()
        .one_or_none()
    )
    if row is None:
        return None
    user, sign_in = row
    setattr(user, _LOADED_SIGN_IN, (browser_token, sign_in))
    return user


def current_sign_in(user: User, token: Any) -> SignInSession | None:
    """The sign-in this browser's cookie holds, if it has not been ended."""
    if not isinstance(token, str) or not token:
        return None
    loaded = getattr(user, _LOADED_SIGN_IN, None)
    if loaded is not None and loaded[0] == token:
        sign_in = loaded[1]
        if sign_in is None or not sa.inspect(sign_in).was_deleted:
            return sign_in
    return db.session.scalar(sa.select(SignInSession).where(_sign_in_of(user.id, token)))


def sign_ins_of(user: User) -> list[SignInSession]:
    return list(
        db.session.scalars(
            sa.select(SignInSession)
            .where(SignInSession.user_id == user.id)
            .order_by(SignInSession.started_at.desc(), SignInSession.id.desc())
        )
    )


def sign_out(user: User | None, sign_in: SignInSession | None) -> None:
    """Signing out ends this browser's sign-in."""
    if user is not None and sign_in is not None and sign_in.user_id == user.id:
        db.session.delete(sign_in)
        db.session.flush()


def end_sign_in(sign_in: SignInSession, *, by: User, now: datetime) -> None:
    """Sign one of one's own browsers out."""
    if sign_in.user_id != by.id:
        raise AccountError.not_found("That sign-in has already ended.")
    log_action(
        "lms.security.sign_in_ended",
        subject=by,
        actor=by,
        now=now,
        address=sign_in.address,
        browser=sign_in.browser,
    )
    db.session.delete(sign_in)
    db.session.flush()


def sign_out_everywhere(user: User, *, now: datetime) -> int:
    """Sign the person out in every browser, this one too."""
    ended = end_all_sign_ins(user)
    db.session.flush()
    log_action("lms.security.signed_out_everywhere", subject=user, actor=user, now=now, sign_ins=ended)
    return ended


# Links that sign in ---------------------------------------------------------------------------


def send_sign_in_link(email: str, *, now: datetime) -> QueuedMessage | None:
    """Email a one-time sign-in link to an account being held back by failures from elsewhere; the
    caller says the same thing whatever happened."""
    user = find_user_by_email(email)
    if user is None or not user.is_enabled or user.confirmation_pending:
        return None
    if not throttle.is_under_attack(user.email):
        return None
    message = queue_message(
        "account.sign_in_link",
        to=user.email,
        user=user,
        subject="Your sign-in link",
        template="sign_in_link.txt",
        now=now,
        token=make_reset_token(user, purpose="sign-in-link"),
        minutes=current_app.config["SIGN_IN_LINK_MAX_AGE_SECONDS"] // 60,
    )
    log_action("lms.security.sign_in_link_sent", subject=user, actor=None, now=now)
    return message


def user_for_sign_in_link(token: str) -> User:
    return user_for_reset_token(token, purpose="sign-in-link")


def sign_in_with_link(user: User, *, address: str, user_agent: str, now: datetime) -> SignInStep:
    """Sign in through an emailed link, past the throttle; the second factor is still asked for.
    Every other browser is signed out, which is also what makes the link work once."""
    end_all_sign_ins(user)
    db.session.flush()
    log_action("lms.security.sign_in_link_used", subject=user, actor=user, now=now, address=address)
    return _after_first_factor(user, address=address, user_agent=user_agent, now=now, method="emailed link")


def confirm_registration(user: User, *, address: str, user_agent: str, now: datetime) -> SignInStep:
    """The new practitioner followed the link emailed to their address: the account is theirs."""
    if not user.confirmation_pending:
        raise AccountError("This address is already confirmed: sign in with your password.")
    user.confirmation_pending = False
    db.session.flush()
    log_action("lms.user.email_confirmed", subject=user, actor=user, now=now)
    return _after_first_factor(user, address=address, user_agent=user_agent, now=now, method="registration")


def reset_password_and_sign_in(
    user: User, password: str, *, address: str, user_agent: str, now: datetime
) -> SignInStep:
    """A new password from an emailed link; the second factor is still asked for."""
    refused = password_refused_message(user.email)
    if refused:  # a password would not sign them in: their domain signs in through its provider
        raise AccountError(refused)
    reset_password(user, password, now=now)
    return _after_first_factor(user, address=address, user_agent=user_agent, now=now, method="password reset")


# Unlocking ------------------------------------------------------------------------------------


def unlock_sign_in(person: User, *, by: User, now: datetime) -> None:
    """L&D clear the counts of failed sign-ins that slow someone's account down."""
    require_role(by, Role.LND_ADMIN, message="Only the L&D team can clear failed sign-ins.")
    status = throttle.account_status(person.email, now=now)
    throttle.clear_account(person.email)
    log_action(
        "lms.security.unlocked",
        subject=person,
        actor=by,
        now=now,
        failures=status.failures,
        addresses=status.addresses,
    )


# Security events ------------------------------------------------------------------------------

# The kinds L&D filter by, and the audit entries of each.
EVENT_KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "sign_in": ("Sign-ins", ("lms.user.signed_in", "lms.security.sign_in_link_used")),
    "failure": ("Failed sign-ins", ("lms.security.sign_in_failed", "lms.security.second_factor_failed")),
    "second_factor": (
        "Two-step sign-in changes",
        (
            "lms.security.two_factor_enabled",
            "lms.security.two_factor_replaced",
            "lms.security.two_factor_removed",
            "lms.security.two_factor_reset",
            "lms.security.recovery_codes_renewed",
            "lms.security.recovery_code_used",
        ),
    ),
    "roles": ("Role changes", ("lms.security.roles_changed", "lms.user.made_administrator")),
    "export": ("Exports of personal data", ("lms.security.exported",)),
    "unlock": ("Unlocks", ("lms.security.unlocked",)),
    "api": (
        "API tokens and integrations",
        (
            "lms.security.api_token_created",
            "lms.security.api_token_revoked",
            "lms.integration.created",
            "lms.integration.revoked",
            "lms.integration.token_created",
            "lms.integration.token_revoked",
            "lms.webhook.created",
            "lms.webhook.changed",
            "lms.webhook.secret_rotated",
        ),
    ),
    "sign_out": ("Sign-ins ended", ("lms.security.sign_in_ended", "lms.security.signed_out_everywhere")),
    "account": (
        "Passwords, links and registrations",
        (
            "lms.user.password_reset",
            "lms.user.password_reset_requested",
            "lms.security.sign_in_link_sent",
            "lms.security.registration_attempt",
            "lms.user.email_confirmed",
            "lms.security.sso_linked",
        ),
    ),
}
SECURITY_EVENTS = tuple(name for _, names in EVENT_KINDS.values() for name in names)


def security_events_query(
    *, person: str = "", kind: str = "", start: date | None = None, end: date | None = None
):
    """Security events, newest first: about or by anyone whose name or email holds `person`, of one
    kind, between two dates (UK time, both included)."""
    names = EVENT_KINDS[kind][1] if kind in EVENT_KINDS else SECURITY_EVENTS
    query = sa.select(AuditEntry).where(AuditEntry.name.in_(names))
    if person:
        pattern = f"%{person.lower()}%"
        people = sa.select(User.id).where(
            sa.or_(
                sa.func.lower(User.first_name + " " + User.last_name).like(pattern, escape="\\"),
                User.email.like(pattern, escape="\\"),
            )
        )
        query = query.where(
            sa.or_(
                AuditEntry.actor_id.in_(people),
                sa.and_(AuditEntry.subject_type == "user", AuditEntry.subject_id.in_(people)),
            )
        )
    if start is not None:
        query = query.where(AuditEntry.created_at >= start_of_london_day(start))
    if end is not None:
        query = query.where(AuditEntry.created_at < end_of_london_day(end))
    return query.order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())


def people_named_in(entries: list[AuditEntry]) -> dict[int, User]:
    """The people the entries are about, by id, in one query."""
    ids = {e.subject_id for e in entries if e.subject_type == "user" and e.subject_id is not None}
    if not ids:
        return {}
    return {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(ids)))}


def event_details(entry: AuditEntry) -> str:
    """An event's particulars in words: "address: 10.0.0.1; method: password"."""
    parts = []
    for key, value in (entry.data or {}).items():
        if isinstance(value, bool):
            value = "yes" if value else "no"
        elif isinstance(value, list | tuple):
            value = ", ".join(str(v) for v in value) or "none"
        elif value is None or value == "":
            continue
        parts.append(f"{key.replace('_', ' ')}: {value}")
    return "; ".join(parts)


def kind_title(name: str) -> str:
    return next((title for title, names in EVENT_KINDS.values() if name in names), "")


def _security_event(name: str, *, user: User | None, actor: User | None, now: datetime, **data: Any) -> None:
    if user is not None:
        log_action(name, subject=user, actor=actor, now=now, **data)
        return
    # An address with no account: the event is kept, without the text typed (it may be a password).
    log_entry(name, subject_type="user", subject_id=None, actor=actor, now=now, data=data)


def export_event(user: User, *, what: str, path: str, now: datetime) -> dict[str, Any]:
    """An export of personal data, noted as the download starts and written once it has been sent."""
    return {"name": "lms.security.exported", "actor_id": user.id, "what": what, "path": path, "at": now}


def write_events_of_a_read(events: list[dict[str, Any]]) -> None:
    """Write the events a reading request (a download) noted, in a transaction of their own, after
    that request's own has ended: a page that only reads never writes during the request itself."""
    db.session.rollback()
    with write_intent():
        try:
            for event in events:
                db.session.add(
                    AuditEntry(
                        name=event["name"],
                        actor_id=event["actor_id"],
                        subject_type="user",
                        subject_id=event["actor_id"],
                        data={"what": event["what"], "path": event["path"]},
                        created_at=event["at"],
                    )
                )
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise
