"""Throttling failed sign-ins, per address and per account.

The counters live in the limiter's storage: in memory for one process, Redis (set
RATELIMIT_STORAGE_URI) when several workers must share them.
"""

from __future__ import annotations

import math
import time

from flask import current_app
from limits import parse_many

from lms.extensions import limiter


def _limits():
    config = current_app.config
    return (
        ("sign-in-address", parse_many(config["SIGN_IN_LIMIT"])),
        ("sign-in-account", parse_many(config["SIGN_IN_ACCOUNT_LIMIT"])),
    )


def _keys(address: str, email: str) -> dict[str, str]:
    prefix = current_app.config["RATELIMIT_KEY_PREFIX"]
    return {
        "sign-in-address": f"{prefix}:{address or 'unknown'}",
        "sign-in-account": f"{prefix}:{email or 'unknown'}",
    }


def seconds_until_allowed(address: str, email: str) -> int:
    """0 when a sign-in may be tried now, otherwise how long to wait."""
    strategy = limiter.limiter
    keys = _keys(address, email)
    wait = 0
    for scope, items in _limits():
        for item in items:
            if not strategy.test(item, scope, keys[scope]):
                reset_at = strategy.get_window_stats(item, scope, keys[scope]).reset_time
                wait = max(wait, math.ceil(reset_at - time.time()), 1)
    return wait


def record_failure(address: str, email: str) -> None:
    strategy = limiter.limiter
    keys = _keys(address, email)
    for scope, items in _limits():
        for item in items:
            strategy.hit(item, scope, keys[scope])


def clear_account(email: str) -> None:
    """After a successful sign-in or reset the account's own count starts again."""
    strategy = limiter.limiter
    key = _keys("", email)["sign-in-account"]
    for scope, items in _limits():
        if scope == "sign-in-account":
            for item in items:
                strategy.clear(item, scope, key)
