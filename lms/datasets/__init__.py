"""Synthetic datasets for benchmarks: `flask lms generate-bookings` (generate.py).

Rows go in with SQLAlchemy core for speed, but every booking decision (a free place or the waiting
list, closed bookings, late cancellations, promotions without notice, colleagues) is made by the
booking rules the product uses (lms/bookings/places.py and lms/bookings/rules.py).
"""
