"""Configuration: every setting comes from the environment, with a default.

docs/configuration.md lists each setting; keep it in step with this file.
"""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
DEV_SECRET_KEY = "dev-only-secret-key-change-me"  # noqa: S105 - refused outside development
MIN_SECRET_KEY_LENGTH = 32
# The demo partnership: fine on a developer's machine, refused in production, where it would be
# printed on real invoices and certificates.
DEMO_PARTNERSHIP_NAME = "City Safeguarding Children Partnership"
DEMO_PARTNERSHIP_ADDRESS = "Council House, Victoria Square, Birmingham B1 1BB"
DEFAULT_BRAND_COLOUR = "#12395f"
HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
# White text on the brand colour (the page header), and text in the brand colour on white, must
# be readable: WCAG AA asks for 4.5:1 for normal-sized text.
MIN_BRAND_CONTRAST = 4.5
MAX_LOGO_BYTES = 1024 * 1024
# Sign-in limits, each read like "5 per minute;20 per hour".
SIGN_IN_LIMITS = (
    "SIGN_IN_LIMIT",
    "SIGN_IN_ACCOUNT_ADDRESS_LIMIT",
    "SIGN_IN_ACCOUNT_LIMIT",
    "SIGN_IN_CODE_LIMIT",
)

# How long each kind of personal record is kept (lms/privacy/retention.py); 0 keeps it for ever.
RETENTION_SETTINGS = (
    "RETENTION_ACCOUNT_YEARS",
    "RETENTION_EVALUATION_TEXT_YEARS",
    "RETENTION_FOLLOW_UP_YEARS",
    "RETENTION_AUDIT_YEARS",
    "RETENTION_SENT_MESSAGE_DAYS",
    "RETENTION_FINANCE_YEARS",
)


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


def env_text(name: str, default: str) -> str:
    """Text that may run over several lines: an environment file writes a line break as \\n."""
    return env_str(name, default).replace("\\n", "\n")


def env_list(name: str, default: str = "") -> list[str]:
    raw = os.environ.get(name, default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def oidc_providers() -> dict[str, dict]:
    """Each provider named in OIDC_PROVIDERS ("entra,google"), from its OIDC_<NAME>_* settings."""
    found = {}
    for name in env_list("OIDC_PROVIDERS"):
        name = name.lower()
        if not name.replace("_", "").isalnum() or len(name) > 40:
            raise RuntimeError(f"OIDC_PROVIDERS: {name!r} is not a name of letters, digits and _")
        prefix = f"OIDC_{name.upper()}_"
        settings = {
            "issuer": env_str(prefix + "ISSUER", "").strip(),
            "client_id": env_str(prefix + "CLIENT_ID", "").strip(),
            "client_secret": env_str(prefix + "CLIENT_SECRET", "").strip(),
        }
        for key, value in settings.items():
            if not value:
                raise RuntimeError(f"Set {prefix}{key.upper()} for the sign-in provider {name!r}")
        settings["display_name"] = env_str(prefix + "DISPLAY_NAME", "").strip() or name.title()
        allowed = env_list(prefix + "ALLOWED_DOMAINS")
        settings["allowed_domains"] = tuple(d.lower().lstrip("@") for d in allowed)
        found[name] = settings
    return found


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
        self.SQLALCHEMY_ENGINE_OPTIONS: dict = {}
        # Pooled connections: replaced after this long, rather than pinged before every use.
        self.DATABASE_POOL_RECYCLE_SECONDS = env_int("DATABASE_POOL_RECYCLE_SECONDS", 1800)
        self.DATABASE_PRE_PING = env_bool("DATABASE_PRE_PING", False)
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
        # The largest request the app reads (an upload on the import page is up to 20 MB).
        self.MAX_CONTENT_LENGTH = env_int("MAX_REQUEST_BYTES", 25 * 1024 * 1024)
        self.RATELIMIT_STORAGE_URI = env_str("RATELIMIT_STORAGE_URI", "memory://")
        self.RATELIMIT_KEY_PREFIX = env_str("RATELIMIT_KEY_PREFIX", "lms")
        self.SIGN_IN_LIMIT = env_str("SIGN_IN_LIMIT", "5 per minute;20 per hour")
        # Failures on one account from all addresses; beyond it, new addresses are slowed down.
        self.SIGN_IN_ACCOUNT_LIMIT = env_str("SIGN_IN_ACCOUNT_LIMIT", "10 per hour")
        self.SIGN_IN_ACCOUNT_ADDRESS_LIMIT = env_str("SIGN_IN_ACCOUNT_ADDRESS_LIMIT", "5 per 15 minutes")
        self.SIGN_IN_SLOWDOWN_MAX_SECONDS = env_int("SIGN_IN_SLOWDOWN_MAX_SECONDS", 60)
        self.SIGN_IN_KNOWN_ADDRESS_DAYS = env_int("SIGN_IN_KNOWN_ADDRESS_DAYS", 90)
        self.SIGN_IN_CODE_LIMIT = env_str("SIGN_IN_CODE_LIMIT", "5 per 15 minutes")
        # The JSON API's calls: per token, and per address for calls without one (the catalogue).
        self.API_TOKEN_RATE_LIMIT = env_str("API_TOKEN_RATE_LIMIT", "120 per minute;3000 per hour")
        self.API_ANONYMOUS_RATE_LIMIT = env_str("API_ANONYMOUS_RATE_LIMIT", "60 per minute;1000 per hour")
        self.SIGN_IN_LINK_MAX_AGE_SECONDS = env_int("SIGN_IN_LINK_MAX_AGE_SECONDS", 15 * 60)
        self.PASSWORD_RESET_MAX_AGE_SECONDS = env_int("PASSWORD_RESET_MAX_AGE_SECONDS", 3600)
        self.INVITATION_MAX_AGE_SECONDS = env_int("INVITATION_MAX_AGE_SECONDS", 7 * 86400)
        self.REGISTRATION_LINK_MAX_AGE_SECONDS = env_int("REGISTRATION_LINK_MAX_AGE_SECONDS", 2 * 86400)
        # Second factors: required of L&D and finance while on; others may turn one on.
        self.STAFF_TWO_FACTOR = env_bool("STAFF_TWO_FACTOR", True)
        self.SECOND_FACTOR_FRESH_MINUTES = env_int("SECOND_FACTOR_FRESH_MINUTES", 15)
        # Single sign-on with OpenID Connect providers (Entra ID, Google Workspace): none by default.
        self.OIDC_PROVIDERS = oidc_providers()
        self.OIDC_TRUST_PROVIDER_MFA = env_bool("OIDC_TRUST_PROVIDER_MFA", False)
        self.OIDC_TIMEOUT_SECONDS = env_int("OIDC_TIMEOUT_SECONDS", 5)

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
        # The web process sends the outbox itself from a thread (the development server); in
        # production the scheduler sends it, woken within seconds.
        self.MAIL_DISPATCH_THREAD = env_bool("MAIL_DISPATCH_THREAD", self.ENV_NAME == "development")

        # Webhooks: posted by the same dispatcher as the mail, never by a request.
        self.WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 5)
        self.WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 10)
        self.WEBHOOK_BATCH = env_int("WEBHOOK_BATCH", 20)
        # http:// targets and internal addresses (loopback, private networks): off in production.
        self.WEBHOOK_ALLOW_INSECURE_TARGETS = env_bool(
            "WEBHOOK_ALLOW_INSECURE_TARGETS", self.ENV_NAME != "production"
        )

        # The partnership
        self.PARTNERSHIP_NAME = env_str("PARTNERSHIP_NAME", DEMO_PARTNERSHIP_NAME).strip()
        self.PARTNERSHIP_ADDRESS = env_text("PARTNERSHIP_ADDRESS", DEMO_PARTNERSHIP_ADDRESS).strip()
        self.PARTNERSHIP_EMAIL = env_str("PARTNERSHIP_EMAIL", "training@example.org")
        self.TIMEZONE = "Europe/London"

        # Branding: the header's colour, and a logo on the pages, certificates and invoices
        self.BRAND_COLOUR = env_str("BRAND_COLOUR", "").strip() or DEFAULT_BRAND_COLOUR
        self.BRAND_LOGO = env_str("BRAND_LOGO", "").strip()

        # Booking rules
        self.OVERBOOK_PERCENT = env_int("OVERBOOK_PERCENT", 10)
        self.NOTICE_WORKING_DAYS = env_int("NOTICE_WORKING_DAYS", 3)
        self.BOOKING_CLOSES_WORKING_DAYS = env_int("BOOKING_CLOSES_WORKING_DAYS", 1)

        # Line-manager approval of bookings (off, all, or chosen per course and organisation category)
        self.BOOKING_APPROVAL = env_str("BOOKING_APPROVAL", "off").strip().lower()
        self.APPROVAL_HOLDS_PLACE = env_bool("APPROVAL_HOLDS_PLACE", True)
        self.APPROVAL_DEADLINE_WORKING_DAYS = env_int("APPROVAL_DEADLINE_WORKING_DAYS", 3)
        # Repeated no-shows and late cancellations: new bookings need L&D's approval (0 = off)
        self.NO_SHOW_LIMIT = env_int("NO_SHOW_LIMIT", 0)
        self.NO_SHOW_WINDOW_DAYS = env_int("NO_SHOW_WINDOW_DAYS", 365)

        # Evaluations, certificates and follow-ups
        self.EVALUATION_REMINDER_DAYS = env_int("EVALUATION_REMINDER_DAYS", 7)
        self.CERTIFICATE_PREFIX = env_str("CERTIFICATE_PREFIX", "SCP")
        self.FOLLOW_UP_INVITE_DAYS = env_int("FOLLOW_UP_INVITE_DAYS", 42)
        self.FOLLOW_UP_REMINDER_DAYS = env_int("FOLLOW_UP_REMINDER_DAYS", 49)
        self.FOLLOW_UP_CLOSE_DAYS = env_int("FOLLOW_UP_CLOSE_DAYS", 56)
        self.SESSION_REMINDER_DAYS = env_int("SESSION_REMINDER_DAYS", 7)
        self.JOINING_INSTRUCTIONS_WORKING_DAYS = env_int("JOINING_INSTRUCTIONS_WORKING_DAYS", 2)
        # A register left open: the trainer is reminded, then it closes itself (0 = never).
        self.REGISTER_REMINDER_WORKING_DAYS = env_int("REGISTER_REMINDER_WORKING_DAYS", 1)
        self.REGISTER_CLOSE_WORKING_DAYS = env_int("REGISTER_CLOSE_WORKING_DAYS", 3)
        # Self check-in: how many minutes before and after the start a delegate's QR scan counts.
        self.CHECK_IN_OPENS_MINUTES = env_int("CHECK_IN_OPENS_MINUTES", 30)
        self.CHECK_IN_CLOSES_MINUTES = env_int("CHECK_IN_CLOSES_MINUTES", 60)
        # The day of the month (UK time) from which training contacts get last month's summary (1 to 28)
        self.CONTACT_SUMMARY_DAY = env_int("CONTACT_SUMMARY_DAY", 1)

        # Charges (integer pence)
        self.CHARGE_SHORT_SESSION_PENCE = env_int("CHARGE_SHORT_SESSION_PENCE", 2500)
        self.CHARGE_PER_DAY_PENCE = env_int("CHARGE_PER_DAY_PENCE", 5000)
        self.CHARGE_SHORT_SESSION_MAX_HOURS = env_int("CHARGE_SHORT_SESSION_MAX_HOURS", 4)
        self.CHARGE_EXEMPT_CATEGORIES = env_list("CHARGE_EXEMPT_CATEGORIES")
        # A fee per place for organisations in these categories (outside the partnership); a course
        # may set its own fee, otherwise PLACE_FEE_PENCE applies (0: no fee).
        self.PLACE_FEE_CATEGORIES = env_list("PLACE_FEE_CATEGORIES")
        self.PLACE_FEE_PENCE = env_int("PLACE_FEE_PENCE", 0)
        # The line manager in the loop
        self.COPY_MANAGER_ON_CONFIRMATION = env_bool("COPY_MANAGER_ON_CONFIRMATION", False)
        self.MANAGER_COMMENT_LINK_DAYS = env_int("MANAGER_COMMENT_LINK_DAYS", 28)
        self.VAT_RATE_PERCENT = env_int("VAT_RATE_PERCENT", 0)
        self.PAYMENT_TERMS_DAYS = env_int("PAYMENT_TERMS_DAYS", 30)
        self.INVOICE_PREFIX = env_str("INVOICE_PREFIX", "INV")
        # Issued invoices and credit notes go to the organisation's billing email, as PDFs.
        self.EMAIL_INVOICES = env_bool("EMAIL_INVOICES", True)
        self.PAYMENT_INSTRUCTIONS = env_text(
            "PAYMENT_INSTRUCTIONS",
            "Pay by BACS to the partnership's account, sort code 00-00-00, account 00000000,\n"
            "quoting {reference}. Questions: finance@example.org",
        )

        # Financial year start as MM-DD (1 April in England)
        self.FINANCIAL_YEAR_START = env_str("FINANCIAL_YEAR_START", "04-01")

        # Personal data: how long each kind of record is kept (0 = for ever), applied by a daily sweep
        self.RETENTION_ACCOUNT_YEARS = env_int("RETENTION_ACCOUNT_YEARS", 6)
        self.RETENTION_EVALUATION_TEXT_YEARS = env_int("RETENTION_EVALUATION_TEXT_YEARS", 3)
        self.RETENTION_FOLLOW_UP_YEARS = env_int("RETENTION_FOLLOW_UP_YEARS", 3)
        self.RETENTION_AUDIT_YEARS = env_int("RETENTION_AUDIT_YEARS", 6)
        self.RETENTION_SENT_MESSAGE_DAYS = env_int("RETENTION_SENT_MESSAGE_DAYS", 365)
        self.RETENTION_FINANCE_YEARS = env_int("RETENTION_FINANCE_YEARS", 6)
        self.RETENTION_BATCH = env_int("RETENTION_BATCH", 200)
        # Whether checking an erased person's certificate still shows their name: hidden or kept
        self.CERTIFICATE_NAME_AFTER_ERASURE = env_str("CERTIFICATE_NAME_AFTER_ERASURE", "hidden").strip()

        self.validate()

    def validate(self) -> None:
        if self.ENV_NAME not in {"development", "production", "testing"}:
            raise RuntimeError("LMS_ENV must be development, production or testing")
        if self.ENV_NAME == "production":
            self.validate_production()
        self.BRAND_COLOUR = checked_brand_colour(self.BRAND_COLOUR)
        if self.BRAND_LOGO:
            self.BRAND_LOGO = checked_logo(self.BRAND_LOGO)
        for name in (*SIGN_IN_LIMITS, "API_TOKEN_RATE_LIMIT", "API_ANONYMOUS_RATE_LIMIT"):
            checked_rate_limit(name, getattr(self, name))
        if not 0 <= self.OVERBOOK_PERCENT <= 100:
            raise RuntimeError("OVERBOOK_PERCENT must be between 0 and 100")
        if not self.FOLLOW_UP_INVITE_DAYS < self.FOLLOW_UP_REMINDER_DAYS < self.FOLLOW_UP_CLOSE_DAYS:
            raise RuntimeError(
                "Follow-ups need FOLLOW_UP_INVITE_DAYS < FOLLOW_UP_REMINDER_DAYS < FOLLOW_UP_CLOSE_DAYS"
            )
        if self.BOOKING_APPROVAL not in {"off", "all", "chosen"}:
            raise RuntimeError("BOOKING_APPROVAL must be off, all or chosen")
        if not 1 <= self.APPROVAL_DEADLINE_WORKING_DAYS <= 30:
            raise RuntimeError("APPROVAL_DEADLINE_WORKING_DAYS must be between 1 and 30")
        if self.NO_SHOW_LIMIT < 0 or not 1 <= self.NO_SHOW_WINDOW_DAYS <= 3660:
            raise RuntimeError("NO_SHOW_LIMIT cannot be negative; NO_SHOW_WINDOW_DAYS is 1 to 3660")
        if self.PLACE_FEE_PENCE < 0 or not 1 <= self.MANAGER_COMMENT_LINK_DAYS <= 365:
            raise RuntimeError("PLACE_FEE_PENCE cannot be negative; MANAGER_COMMENT_LINK_DAYS is 1 to 365")
        if not 1 <= self.CONTACT_SUMMARY_DAY <= 28:
            raise RuntimeError("CONTACT_SUMMARY_DAY must be a day of the month from 1 to 28")
        if self.MAIL_BACKEND not in {"smtp", "log"}:
            raise RuntimeError("MAIL_BACKEND must be smtp or log")
        if not (1 <= self.WEBHOOK_TIMEOUT_SECONDS <= 30 and 1 <= self.WEBHOOK_MAX_ATTEMPTS <= 50):
            raise RuntimeError("WEBHOOK_TIMEOUT_SECONDS must be 1 to 30; WEBHOOK_MAX_ATTEMPTS 1 to 50")
        if not 1 <= self.WEBHOOK_BATCH <= 500:
            raise RuntimeError("WEBHOOK_BATCH must be between 1 and 500")
        retention = [name for name in RETENTION_SETTINGS if not 0 <= getattr(self, name) <= 100_000]
        if retention or not 1 <= self.RETENTION_BATCH <= 100_000:
            named = ", ".join(retention) or "RETENTION_BATCH"
            raise RuntimeError(f"{named} out of range: 0 to 100000 (the batch from 1)")
        if self.CERTIFICATE_NAME_AFTER_ERASURE not in {"hidden", "kept"}:
            raise RuntimeError("CERTIFICATE_NAME_AFTER_ERASURE must be hidden or kept")
        month, _, day = self.FINANCIAL_YEAR_START.partition("-")
        if not (month.isdigit() and day.isdigit() and 1 <= int(month) <= 12 and 1 <= int(day) <= 28):
            raise RuntimeError("FINANCIAL_YEAR_START must be MM-DD with a day from 01 to 28")

    def validate_production(self) -> None:
        if self.SECRET_KEY == DEV_SECRET_KEY:
            raise RuntimeError("Set SECRET_KEY in the environment before running in production")
        if len(self.SECRET_KEY) < MIN_SECRET_KEY_LENGTH:
            raise RuntimeError(
                f"SECRET_KEY must be at least {MIN_SECRET_KEY_LENGTH} characters in production; make one "
                "with: python3 -c 'import secrets; print(secrets.token_hex(32))'"
            )
        for name, demo in (
            ("PARTNERSHIP_NAME", DEMO_PARTNERSHIP_NAME),
            ("PARTNERSHIP_ADDRESS", DEMO_PARTNERSHIP_ADDRESS),
        ):
            value = getattr(self, name)
            if not value or comparable(value) == comparable(demo):
                raise RuntimeError(
                    f"Set {name} to your partnership's own before running in production: "
                    f"{demo!r} is the demo partnership's, and would be printed on real invoices"
                )


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


def checked_rate_limit(name: str, value: str) -> None:
    """A sign-in limit must read like "5 per minute;20 per hour", or the app refuses to start."""
    from limits import parse_many

    try:
        parsed = parse_many(value)
    except ValueError:
        parsed = []
    if not parsed:
        raise RuntimeError(f"{name} must read like '5 per minute;20 per hour', not {value!r}")


def comparable(value: str) -> str:
    """Text compared without regard to case, spacing or punctuation."""
    return " ".join("".join(c if c.isalnum() else " " for c in value.casefold()).split())


def checked_brand_colour(value: str) -> str:
    """The colour as #rrggbb, or a start-up error saying what is wrong with it."""
    digits = value.removeprefix("#")
    if not value.startswith("#") or len(digits) not in (3, 6) or any(c not in HEX_DIGITS for c in digits):
        raise RuntimeError(f"BRAND_COLOUR must be a hex colour such as {DEFAULT_BRAND_COLOUR}, not {value!r}")
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    colour = "#" + digits.lower()
    ratio = contrast_with_white(colour)
    if ratio < MIN_BRAND_CONTRAST:
        raise RuntimeError(
            f"BRAND_COLOUR {colour} is too light: white text on it has a contrast ratio of {ratio:.1f}:1, "
            f"and readable text needs at least {MIN_BRAND_CONTRAST}:1 (WCAG AA). Choose a darker shade."
        )
    return colour


def contrast_with_white(colour: str) -> float:
    """WCAG 2 contrast ratio between white and a #rrggbb colour: 1 (white) to 21 (black)."""

    def linear(channel: int) -> float:
        value = channel / 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(int(colour[i : i + 2], 16)) for i in (1, 3, 5))
    luminance = 0.2126 * red + 0.7152 * green + 0.0722 * blue
    return 1.05 / (luminance + 0.05)


def checked_logo(value: str) -> str:
    """The logo's absolute path, once it is known to be a PNG or JPEG file of a sensible size."""
    path = Path(value)
    if not path.is_absolute():
        path = BASE_DIR / path
    if not path.is_file():
        raise RuntimeError(f"BRAND_LOGO {value!r}: no such file (give the path of a PNG or JPEG file)")
    size = path.stat().st_size
    if size > MAX_LOGO_BYTES:
        raise RuntimeError(
            f"BRAND_LOGO {value!r} is {size // 1024} KB; keep a logo under {MAX_LOGO_BYTES // 1024} KB"
        )
    # Pillow comes with ReportLab, which draws the logo on certificates and invoices.
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            kind = image.format
            image.verify()
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError, SyntaxError, ValueError) as exc:
        raise RuntimeError(f"BRAND_LOGO {value!r} is not an image that can be read: {exc}") from exc
    if kind not in {"PNG", "JPEG"}:
        raise RuntimeError(f"BRAND_LOGO {value!r} is a {kind} image; use a PNG or JPEG file")
    return str(path)


def normalise_database_url(url: str) -> str:
    """Accept the postgres:// and postgresql:// forms and use the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url
