"""Enums whose members carry a title for people."""

from __future__ import annotations

from enum import Enum


class TitledEnum(Enum):
    """Members are declared as ("value", "Title shown to people")."""

    def __new__(cls, value: str, title: str):
        member = object.__new__(cls)
        member._value_ = value
        member.title = title
        return member

    def __str__(self) -> str:
        return self.title

    @classmethod
    def choices(cls) -> list[tuple[str, str]]:
        return [(member.value, member.title) for member in cls]

    @classmethod
    def coerce(cls, value):
        """WTForms coerce: accept a member or its value."""
        if isinstance(value, cls):
            return value
        if value in (None, ""):
            return None
        return cls(value)
