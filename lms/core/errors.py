"""Domain errors: a message a person can act on, the form field it is about, and its kind.

Each area has one error type (BookingError, FinanceError, ...). Its kind says what the request
boundary answers: NotFound 404, PermissionDenied 403, Conflict 409, anything else 422 (the input
or the state does not allow it). Raise the kind through the area's type when it matters:
``raise BookingError.conflict("The session is full.")``.
"""

from __future__ import annotations


class DomainError(Exception):
    status = 422

    def __init__(self, message: str, *, field: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if status is not None:
            self.status = status

    @classmethod
    def conflict(cls, message: str, *, field: str | None = None) -> DomainError:
        return cls(message, field=field, status=409)

    @classmethod
    def not_found(cls, message: str, *, field: str | None = None) -> DomainError:
        return cls(message, field=field, status=404)

    @classmethod
    def not_allowed(cls, message: str, *, field: str | None = None) -> DomainError:
        return cls(message, field=field, status=403)


class NotFound(DomainError):
    """What was asked for does not exist (or is not the asker's to know about)."""

    status = 404


class PermissionDenied(DomainError):
    """The acting user may not do this."""

    status = 403


class Conflict(DomainError):
    """The state of things does not allow it now (the session has started, the invoice is issued)."""

    status = 409


class InvalidInput(DomainError):
    """A value in the request is not one we accept: out of range, unknown, badly formed."""

    status = 422
