"""Configuration: every setting comes from the environment, with a default.

docs/configuration.md lists each setting; keep it in step with this file.
"""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
DEV_SECRET_KEY = "dev-only-secret-key-change-me"  # noqa: S105 - refused outside development


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise RuntimeError(f"Setting {name} must be a whole number, not {raw!r}") from exc


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    raw = os.environ.get(name, default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def default_database_url() -> str:
    return f"sqlite:///{BASE_DIR / 'instance' / 'lms.sqlite3'}"


class Config:
    """Settings read once when the app is created."""

    def __init__(self) -> None:
        self.ENV_NAME = env_str("LMS_ENV", "development")
        self.DEBUG = False
        self.TESTING = False
        self.SECRET_KEY = env_str("SECRET_KEY", DEV_SECRET_KEY)
        self.SQLALCHEMY_DATABASE_URI = normalise_database_url(env_str("DATABASE_URL", default_database_url()))
        self.SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
        self.SQLITE_BUSY_TIMEOUT_MS = env_int("SQLITE_BUSY_TIMEOUT_MS", 30000)

        # Web security
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", self.ENV_NAME == "production")
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.REMEMBER_COOKIE_SAMESITE = "Lax"
        self.REMEMBER_COOKIE_SECURE = self.SESSION_COOKIE_SECURE
        self.PERMANENT_SESSION_LIFETIME = env_int("SESSION_LIFETIME_MINUTES", 8 * 60) * 60
        self.WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the signed-in session
        self.PROXY_FIX_COUNT = env_int("PROXY_FIX_COUNT", 0)
        self.BASE_URL = env_str("BASE_URL", "http://127.0.0.1:5000").rstrip("/")

        # Sign-in throttling; memory:// is per process, so production sets redis://
        self.RATELIMIT_STORAGE_URI = env_str("RATELIMIT_STORAGE_URI", "memory://")
        self.RATELIMIT_KEY_PREFIX = env_str("RATELIMIT_KEY_PREFIX", "lms")
        self.SIGN_IN_LIMIT = env_str("SIGN_IN_LIMIT", "5 per minute;20 per hour")
        self.SIGN_IN_ACCOUNT_LIMIT = env_str("SIGN_IN_ACCOUNT_LIMIT", "10 per hour")
        self.PASSWORD_RESET_MAX_AGE_SECONDS = env_int("PASSWORD_RESET_MAX_AGE_SECONDS", 3600)
        self.INVITATION_MAX_AGE_SECONDS = env_int("INVITATION_MAX_AGE_SECONDS", 7 * 86400)

        # Mail
        self.MAIL_BACKEND = env_str("MAIL_BACKEND", "log" if self.ENV_NAME == "development" else "smtp")
        self.MAIL_SERVER = env_str("MAIL_SERVER", "localhost")
        self.MAIL_PORT = env_int("MAIL_PORT", 25)
        self.MAIL_USERNAME = env_str("MAIL_USERNAME", "")
        self.MAIL_PASSWORD = env_str("MAIL_PASSWORD", "")
        self.MAIL_USE_TLS = env_bool("MAIL_USE_TLS", False)
        self.MAIL_USE_SSL = env_bool("MAIL_USE_SSL", False)
        self.MAIL_TIMEOUT_SECONDS = env_int("MAIL_TIMEOUT_SECONDS", 30)
        self.MAIL_FROM = env_str("MAIL_FROM", "Safeguarding Training <training@example.org>")
        self.MAIL_MAX_ATTEMPTS = env_int("MAIL_MAX_ATTEMPTS", 10)
        self.MAIL_DELIVER_ON_REQUEST = env_bool("MAIL_DELIVER_ON_REQUEST", True)

        # The partnership
        self.PARTNERSHIP_NAME = env_str("PARTNERSHIP_NAME", "City Safeguarding Children Partnership")
        self.PARTNERSHIP_ADDRESS = env_str(
            "PARTNERSHIP_ADDRESS", "Council House, Victoria Square, Birmingham B1 1BB"
        )
        self.PARTNERSHIP_EMAIL = env_str("PARTNERSHIP_EMAIL", "training@example.org")
        self.TIMEZONE = "Europe/London"

        # Booking rules
        self.OVERBOOK_PERCENT = env_int("OVERBOOK_PERCENT", 10)
        self.NOTICE_WORKING_DAYS = env_int("NOTICE_WORKING_DAYS", 3)
        self.BOOKING_CLOSES_WORKING_DAYS = env_int("BOOKING_CLOSES_WORKING_DAYS", 1)

        # Evaluations, certificates and follow-ups
        self.EVALUATION_REMINDER_DAYS = env_int("EVALUATION_REMINDER_DAYS", 7)
        self.CERTIFICATE_PREFIX = env_str("CERTIFICATE_PREFIX", "SCP")
        self.FOLLOW_UP_INVITE_DAYS = env_int("FOLLOW_UP_INVITE_DAYS", 42)
        self.FOLLOW_UP_REMINDER_DAYS = env_int("FOLLOW_UP_REMINDER_DAYS", 49)
        self.FOLLOW_UP_CLOSE_DAYS = env_int("FOLLOW_UP_CLOSE_DAYS", 56)
        self.SESSION_REMINDER_DAYS = env_int("SESSION_REMINDER_DAYS", 7)
        self.JOINING_INSTRUCTIONS_WORKING_DAYS = env_int("JOINING_INSTRUCTIONS_WORKING_DAYS", 2)

        # Charges (integer pence)
        self.CHARGE_SHORT_SESSION_PENCE = env_int("CHARGE_SHORT_SESSION_PENCE", 2500)
        self.CHARGE_PER_DAY_PENCE = env_int("CHARGE_PER_DAY_PENCE", 5000)
        self.CHARGE_SHORT_SESSION_MAX_HOURS = env_int("CHARGE_SHORT_SESSION_MAX_HOURS", 4)
        self.CHARGE_EXEMPT_CATEGORIES = env_list("CHARGE_EXEMPT_CATEGORIES")
        self.VAT_RATE_PERCENT = env_int("VAT_RATE_PERCENT", 0)
        self.PAYMENT_TERMS_DAYS = env_int("PAYMENT_TERMS_DAYS", 30)
        self.INVOICE_PREFIX = env_str("INVOICE_PREFIX", "INV")
        self.PAYMENT_INSTRUCTIONS = env_str(
            "PAYMENT_INSTRUCTIONS",
            "Pay by BACS to the partnership's account, sort code 00-00-00, account 00000000,\n"
            "quoting {reference}. Questions: finance@example.org",
        )

        # Financial year start as MM-DD (1 April in England)
        self.FINANCIAL_YEAR_START = env_str("FINANCIAL_YEAR_START", "04-01")

        self.validate()

    def validate(self) -> None:
        if self.ENV_NAME not in {"development", "production", "testing"}:
            raise RuntimeError("LMS_ENV must be development, production or testing")
        if self.ENV_NAME == "production" and self.SECRET_KEY == DEV_SECRET_KEY:
            raise RuntimeError("Set SECRET_KEY in the environment before running in production")
        if not 0 <= self.OVERBOOK_PERCENT <= 100:
            raise RuntimeError("OVERBOOK_PERCENT must be between 0 and 100")
        if not self.FOLLOW_UP_INVITE_DAYS < self.FOLLOW_UP_REMINDER_DAYS < self.FOLLOW_UP_CLOSE_DAYS:
            raise RuntimeError(
                "Follow-ups need FOLLOW_UP_INVITE_DAYS < FOLLOW_UP_REMINDER_DAYS < FOLLOW_UP_CLOSE_DAYS"
            )
        if self.MAIL_BACKEND not in {"smtp", "log"}:
            raise RuntimeError("MAIL_BACKEND must be smtp or log")
        month, _, day = self.FINANCIAL_YEAR_START.partition("-")
        if not (month.isdigit() and day.isdigit() and 1 <= int(month) <= 12 and 1 <= int(day) <= 28):
            raise RuntimeError("FINANCIAL_YEAR_START must be MM-DD with a day from 01 to 28")


class TestConfig(Config):
    """Used by the test suite; the database comes from TEST_DATABASE_URL."""

    def __init__(self) -> None:
        os.environ.setdefault("LMS_ENV", "testing")
        super().__init__()
        self.TESTING = True
        self.SECRET_KEY = "test-secret-key"  # noqa: S105
        self.SQLALCHEMY_DATABASE_URI = normalise_database_url(
            env_str("TEST_DATABASE_URL", f"sqlite:///{BASE_DIR / 'instance' / 'test.sqlite3'}")
        )
        self.MAIL_BACKEND = "smtp"
        self.BASE_URL = "http://localhost"
        self.SERVER_NAME = None


def normalise_database_url(url: str) -> str:
    """Accept the postgres:// and postgresql:// forms and use the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url
