"""Domain errors: a message a person can act on, and optionally the form field it is about."""


class DomainError(Exception):
    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class PermissionDenied(DomainError):
    """The acting user may not do this."""
