"""The one capacity calculator: how many confirmed places a session takes, and who fills them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def bookable_limit(places: int, overbook_percent: int) -> int:
    """Confirmed bookings a session takes: places plus the overbooking allowance, rounded down."""
    if places < 0 or overbook_percent < 0:
        raise ValueError("places and overbook_percent cannot be negative")
    return places + (places * overbook_percent) // 100


def free_places(limit: int, confirmed: int) -> int:
    """Places still free: a booking made now is confirmed only when this is above zero. `confirmed`
    counts every booking that holds a place: confirmed ones, and those awaiting approval that keep
    their place meanwhile (lms/bookings/availability.py `takes_place`)."""
    return max(limit - confirmed, 0)


def next_from_waiting_list(waiting: Sequence[T], limit: int, confirmed: int) -> list[T]:
    """Who is confirmed from the waiting list: the first in line, one for each free place."""
    return list(waiting[: free_places(limit, confirmed)])
