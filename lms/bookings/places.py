"""The one capacity calculator."""


def bookable_limit(places: int, overbook_percent: int) -> int:
    """Confirmed bookings a session takes: places plus the overbooking allowance, rounded down."""
    if places < 0 or overbook_percent < 0:
        raise ValueError("places and overbook_percent cannot be negative")
    return places + (places * overbook_percent) // 100
