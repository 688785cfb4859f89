"""The line manager in the loop: messages of their own about a delegate's booking and charges.

The manager is written to separately (never copied in on the delegate's message), in words meant
for the manager, so nothing private to the delegate travels: no calendar invitation, no joining
link, no links into the delegate's account. A delegate without a manager's address is skipped.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask import current_app

from lms.messages.services import QueuedMessage, queue_message, session_subject

if TYPE_CHECKING:
    from lms.accounts.models import User
    from lms.bookings.models import Booking
    from lms.finance.models import Charge


def manager_address(person: User) -> str | None:
    """Where the person's line manager is written to, or None (no address, or their own)."""
    address = (person.line_manager_email or "").strip()
    if not address or address.lower() == person.email.lower():
        return None
    return address


def write_to_manager(
    kind: str, booking: Booking, lead: str, template: str, *, now: datetime, **context: Any
) -> QueuedMessage | None:
    """A message to the delegate's line manager about one booking; None when there is nobody to tell."""
    person = booking.user
    address = manager_address(person)
    if address is None:
        return None
    return queue_message(
        kind,
        to=address,
        subject=session_subject(f"{lead} for {person.full_name}", booking.session),
        template=f"managers/{template}",
        now=now,
        booking=booking,
        session=booking.session,
        delegate=person,
        manager_name=(person.line_manager_name or "").strip(),
        **context,
    )


def confirmation_copied(booking: Booking, *, now: datetime) -> QueuedMessage | None:
    """Tell the manager a place is confirmed, when COPY_MANAGER_ON_CONFIRMATION asks for it."""
    if not current_app.config["COPY_MANAGER_ON_CONFIRMATION"]:
        return None
    return write_to_manager("manager.booking_confirmed", booking, "Place confirmed", "confirmed.txt", now=now)


def charge_copied(charge: Charge, *, now: datetime) -> QueuedMessage | None:
    """Tell the manager of a no-show, a late cancellation or a place fee and what it costs: always."""
    lead = "Place fee" if charge.is_place_fee else "Non-attendance"
    return write_to_manager(
        "manager.charge_raised", charge.booking, lead, "charge_raised.txt", now=now, charge=charge
    )
