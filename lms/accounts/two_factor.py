"""The pieces of a second factor that need no database: time-based codes from an authenticator app
(TOTP, RFC 6238, through pyotp), the QR code that sets the app up, and recovery codes.

A code belongs to a 30-second step; the step before and after are accepted too, for clocks that
drift. Which steps have been used is remembered by the throttle, so a code works once.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from xml.sax.saxutils import quoteattr

import pyotp

STEP_SECONDS = 30
DIGITS = 6
# The step before and after the present one: a phone's clock a little out is still accepted.
DRIFT_STEPS = 1
RECOVERY_CODES = 10
# 16 characters from 31 (no 0/o, 1/l/i): about 79 bits each, beyond guessing even from the hashes.
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
RECOVERY_GROUPS = 4
RECOVERY_GROUP_LENGTH = 4


def new_secret() -> str:
    """A fresh base32 secret of 160 bits, as RFC 4226 recommends."""
    return pyotp.random_base32(32)


def is_secret(text: str) -> bool:
    return len(text) == 32 and all(c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" for c in text)


def step_at(moment: datetime) -> int:
    return int(moment.timestamp()) // STEP_SECONDS


def code_at_step(secret: str, step: int) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).at(step * STEP_SECONDS)


def code_at(secret: str, moment: datetime) -> str:
    """The code an authenticator app shows at `moment`."""
    return code_at_step(secret, step_at(moment))


def matching_step(secret: str, code: str, moment: datetime) -> int | None:
    """The step (near `moment`) whose code this is, or None."""
    code = normalise_code(code)
    if len(code) != DIGITS or not code.isdigit():
        return None
    now_step = step_at(moment)
    for step in range(now_step - DRIFT_STEPS, now_step + DRIFT_STEPS + 1):
        if secrets.compare_digest(code_at_step(secret, step), code):
            return step
    return None


def looks_like_app_code(text: str) -> bool:
    code = normalise_code(text)
    return len(code) == DIGITS and code.isdigit()


def normalise_code(text: str) -> str:
    """What was typed, without the spaces and dashes people copy or add."""
    return "".join(c for c in (text or "") if c not in " -\t").lower()


def setup_uri(secret: str, *, account: str, issuer: str) -> str:
    """The otpauth:// address an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=account, issuer_name=issuer
    )


def grouped_secret(secret: str) -> str:
    """The secret in groups of four, easier to type into an app by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


# Recovery codes ---------------------------------------------------------------------------------


def new_recovery_codes(count: int = RECOVERY_CODES) -> list[str]:
    return [new_recovery_code() for _ in range(count)]


def new_recovery_code() -> str:
    groups = (
        "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_GROUP_LENGTH))
        for _ in range(RECOVERY_GROUPS)
    )
    return "-".join(groups)


def recovery_code_hash(code: str) -> str:
    """How a recovery code is stored: its SHA-256, which is enough for a random 79-bit code."""
    return hashlib.sha256(normalise_code(code).encode()).hexdigest()


# The QR code ------------------------------------------------------------------------------------


def qr_matrix(text: str) -> list[list[bool]]:
    """The modules of a QR code for `text` (ReportLab's encoder, medium error correction)."""
    from reportlab.graphics.barcode import qrencoder

    code = qrencoder.QRCode(None, qrencoder.QRErrorCorrectLevel.M)
    code.addData(text)
    code.make()
    size = code.getModuleCount()
    return [[bool(code.isDark(row, column)) for column in range(size)] for row in range(size)]


def qr_svg(text: str, *, quiet_zone: int = 4, title: str = "QR code") -> str:
    """The QR code as a small SVG: one path of unit squares, with the quiet zone the standard asks for."""
    matrix = qr_matrix(text)
    size = len(matrix) + 2 * quiet_zone
    squares = "".join(
        f"M{column + quiet_zone} {row + quiet_zone}h1v1h-1z"
        for row, line in enumerate(matrix)
        for column, dark in enumerate(line)
        if dark
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" '
        f'shape-rendering="crispEdges" role="img" aria-label={quoteattr(title)}>'
        f'<rect width="{size}" height="{size}" fill="#fff"/>'
        f'<path d="{squares}" fill="#000"/></svg>'
    )
