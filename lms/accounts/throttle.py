"""Throttling failed sign-ins without letting a stranger lock the owner out.

Counts kept for failed sign-ins:

- per address (SIGN_IN_LIMIT): one address guessing at many accounts is held back;
- per account and address (SIGN_IN_ACCOUNT_ADDRESS_LIMIT): one address guessing at one account is
  held back, and nobody signing in to that account from elsewhere notices;
- per account (SIGN_IN_ACCOUNT_LIMIT): once an account has failed more than this from all addresses
  together, tries from addresses it has not signed in from wait a growing delay ("try again in N
  seconds", doubling up to SIGN_IN_SLOWDOWN_MAX_SECONDS). The addresses the owner signed in from
  in the last SIGN_IN_KNOWN_ADDRESS_DAYS are never slowed down, and the owner can ask for an
  emailed sign-in link. Nothing locks the account as a whole.

Wrong second-factor codes are counted per account (SIGN_IN_CODE_LIMIT): whoever types them already
knows the password. Codes that worked are remembered until they expire, so each works once.

The counts live in the limiter's storage: in memory for one process, Redis (RATELIMIT_STORAGE_URI)
when several workers share them. Accounts appear in keys only as a hash of the email address.
L&D's unlock starts an account's counts again by moving it on to a new generation of keys.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from limits import RateLimitItem, parse_many

from lms.accounts.two_factor import DRIFT_STEPS, STEP_SECONDS
from lms.extensions import limiter

ADDRESS = "sign-in-address"
ACCOUNT_ADDRESS = "sign-in-account-address"
CODES = "sign-in-code"
# Long enough to outlive every count of the old generation.
GENERATION_SECONDS = 366 * 86400


@dataclass(frozen=True)
class Verdict:
    """Whether a sign-in may be tried now: `wait` seconds to go (0: yes), and whose count holds it."""

    wait: int = 0
    held_by: str = ""

    @property
    def account_slowed(self) -> bool:
        return self.held_by == "account"


@dataclass(frozen=True)
class AccountStatus:
    """What L&D see on a person's page."""

    failures: int
    addresses: int
    slowed_for: int
    under_attack: bool
    code_failures: int


# Keys -----------------------------------------------------------------------------------------


def _storage():
    return limiter.storage


def _key(*parts: str) -> str:
    return ":".join((current_app.config["RATELIMIT_KEY_PREFIX"], "sign-in", *parts))


def _digest(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


def _account(email: str) -> str:
    """The account's key: the installation's prefix, its hash and its generation (moved on by an
    unlock). The limiter's own calls do not add RATELIMIT_KEY_PREFIX, so it is added here."""
    digest = _digest(email)
    prefix = current_app.config["RATELIMIT_KEY_PREFIX"]
    return f"{prefix}.{digest}.{_storage().get(_key('generation', digest))}"


def _where(address: str) -> str:
    """An address as the counts key it, under the installation's prefix."""
    return f"{current_app.config['RATELIMIT_KEY_PREFIX']}.{address}"


def _items(setting: str) -> list[RateLimitItem]:
    return list(parse_many(current_app.config[setting]))


def _account_window() -> tuple[int, int]:
    """SIGN_IN_ACCOUNT_LIMIT as (failures allowed, window in seconds)."""
    item = _items("SIGN_IN_ACCOUNT_LIMIT")[0]
    return item.amount, int(item.get_expiry())


def _fixed_windows(address: str, account: str):
    yield ADDRESS, _items("SIGN_IN_LIMIT"), (_where(address),)
    yield ACCOUNT_ADDRESS, _items("SIGN_IN_ACCOUNT_ADDRESS_LIMIT"), (account, _where(address))


# Passwords ------------------------------------------------------------------------------------


def check(address: str, email: str, *, now: datetime) -> Verdict:
    """May a sign-in to `email` be tried from `address` now?"""
    address = address or "unknown"
    strategy = limiter.limiter
    account = _account(email)
    for scope, items, keys in _fixed_windows(address, account):
        for item in items:
            if not strategy.test(item, scope, *keys):
                reset_at = strategy.get_window_stats(item, scope, *keys).reset_time
                return Verdict(max(math.ceil(reset_at - time.time()), 1), scope)
    if not is_known_address(email, address):
        wait = _storage().get(_key("slow-until", account)) - int(now.timestamp())
        if wait > 0:
            return Verdict(wait, "account")
    return Verdict()


def record_failure(address: str, email: str, *, now: datetime) -> None:
    """Count a wrong password (or an unknown or unusable account) from `address`."""
    address = address or "unknown"
    strategy, storage = limiter.limiter, _storage()
    account = _account(email)
    for scope, items, keys in _fixed_windows(address, account):
        for item in items:
            strategy.hit(item, scope, *keys)
    allowed, window = _account_window()
    failures = storage.incr(_key("failures", account), window)
    if storage.incr(_key("seen", account, _digest(address)), window) == 1:
        storage.incr(_key("addresses", account), window)
    if failures > allowed:
        cap = current_app.config["SIGN_IN_SLOWDOWN_MAX_SECONDS"]
        delay = min(2 ** min(failures - allowed - 1, 30), cap)
        key = _key("slow-until", account)
        storage.clear(key)
        storage.incr(key, window, amount=int(now.timestamp()) + delay)


def record_success(address: str, email: str, *, now: datetime) -> None:
    """The owner signed in from `address`: it is theirs from now on, and its own count starts again."""
    address = address or "unknown"
    strategy, storage = limiter.limiter, _storage()
    account = _account(email)
    for item in _items("SIGN_IN_ACCOUNT_ADDRESS_LIMIT"):
        strategy.clear(item, ACCOUNT_ADDRESS, account, _where(address))
    key = _key("known", _digest(email), _digest(address))
    storage.clear(key)  # a new period starts from this sign-in
    storage.incr(key, current_app.config["SIGN_IN_KNOWN_ADDRESS_DAYS"] * 86400)


def is_known_address(email: str, address: str) -> bool:
    return _storage().get(_key("known", _digest(email), _digest(address or "unknown"))) > 0


def is_under_attack(email: str) -> bool:
    """Failing from many addresses: more failures than SIGN_IN_ACCOUNT_LIMIT, from two or more."""
    storage = _storage()
    account = _account(email)
    allowed, _ = _account_window()
    return (
        storage.get(_key("failures", account)) > allowed and storage.get(_key("addresses", account)) >= 2
    )


def account_status(email: str, *, now: datetime) -> AccountStatus:
    storage = _storage()
    account = _account(email)
    slowed = max(storage.get(_key("slow-until", account)) - int(now.timestamp()), 0)
    code_failures = 0
    for item in _items("SIGN_IN_CODE_LIMIT"):
        stats = limiter.limiter.get_window_stats(item, CODES, account)
        code_failures = max(code_failures, item.amount - stats.remaining)
    return AccountStatus(
        failures=storage.get(_key("failures", account)),
        addresses=storage.get(_key("addresses", account)),
        slowed_for=slowed,
        under_attack=is_under_attack(email),
        code_failures=code_failures,
    )


def clear_account(email: str) -> None:
    """Start every count of this account again (L&D's unlock, or a new password)."""
    _storage().incr(_key("generation", _digest(email)), GENERATION_SECONDS)


# Second factors -------------------------------------------------------------------------------


def code_wait(email: str) -> int:
    """0 when a second-factor code may be tried now, otherwise how long to wait."""
    strategy = limiter.limiter
    account = _account(email)
    for item in _items("SIGN_IN_CODE_LIMIT"):
        if not strategy.test(item, CODES, account):
            reset_at = strategy.get_window_stats(item, CODES, account).reset_time
            return max(math.ceil(reset_at - time.time()), 1)
    return 0


def record_code_failure(email: str) -> None:
    account = _account(email)
    for item in _items("SIGN_IN_CODE_LIMIT"):
        limiter.limiter.hit(item, CODES, account)


def use_code_step(user_id: int, step: int) -> bool:
    """Claim an authenticator code's step for this person; False when it was used already."""
    # Kept until the step can no longer be accepted, whatever the drift allowed.
    lifetime = (2 * DRIFT_STEPS + 2) * STEP_SECONDS
    return _storage().incr(_key("used-code", str(user_id), str(step)), lifetime) == 1


def code_step_used(user_id: int, step: int) -> bool:
    return _storage().get(_key("used-code", str(user_id), str(step))) > 0
