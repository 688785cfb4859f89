"""Who may change what: every service that changes state checks its actor, whatever route called it."""

from __future__ import annotations

from typing import Any

from lms.core.errors import PermissionDenied


def require_role(by: Any | None, *roles: Any, message: str) -> None:
    """Raise PermissionDenied unless `by` holds one of `roles`.

    `by` is None only when the system itself acts (a command-line import, the demo data): no
    route passes None, since every route that changes something is for signed-in people.
    """
    if by is not None and not by.has_role(*roles):
        raise PermissionDenied(message)
