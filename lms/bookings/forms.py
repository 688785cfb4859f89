"""Forms for booking, cancelling, substituting, managing a session and keeping its register."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import RadioField, StringField, TextAreaField
from wtforms.validators import Email, InputRequired, Length, NumberRange

from lms.accounts.models import AgencyCategory
from lms.bookings.models import Attendance
from lms.core.errors import InvalidInput
from lms.core.forms import IntegerField, MultiCheckboxField, Optional, options, strip


def email_field(label: str, description: str = "") -> StringField:
    return StringField(
        label,
        [
            InputRequired("Enter their work email address."),
            Email("Enter an email address like name@example.org.", check_deliverability=False),
        ],
        filters=[strip],
        description=description,
        render_kw={"type": "email", "autocomplete": "off", "spellcheck": "false"},
    )


class SubstituteForm(FlaskForm):
    email = email_field("Your colleague's work email address", "They must be registered, and in your agency.")


class AddDelegateForm(FlaskForm):
    email = email_field("Email address of the person to add", "They must already be registered.")


class PlacesForm(FlaskForm):
    places = IntegerField(
        "Places (commissioned)",
        [
            InputRequired("Enter the number of places."),
            NumberRange(min=1, max=2000, message="Enter between 1 and 2,000 places."),
        ],
        render_kw={"inputmode": "numeric"},
    )


class WalkInForm(FlaskForm):
    email = email_field("Email address of the person who came", "They must be registered.")
    outcome = RadioField(
        "Attendance",
        [InputRequired("Choose how they attended.")],
        choices=options([(a.value, a.title) for a in (Attendance.ATTENDED, Attendance.PARTIAL)]),
        default=Attendance.ATTENDED.value,
    )


def read_register(form_data, bookings) -> dict:
    """The outcomes chosen on the register page: {booking: Attendance}, skipping unanswered rows."""
    chosen = {}
    for booking in bookings:
        value = form_data.get(f"attendance-{booking.id}", "")
        if not value:
            continue
        try:
            chosen[booking] = Attendance(value)
        except ValueError:
            raise InvalidInput(
                f"Choose attended, partially attended or no-show for {booking.user.full_name}."
            ) from None
    return chosen


class BookForm(FlaskForm):
    """Booking a place; the line manager's details only when approval needs them and the person's
    account names no manager."""

    manager_name = StringField(
        "Your line manager's name",
        [Optional(), Length(max=200, message="Keep the name to 200 characters.")],
        filters=[strip],
        render_kw={"autocomplete": "off"},
    )
    manager_email = StringField(
        "Your line manager's work email address",
        [
            Optional(),
            Length(max=254, message="Keep the address to 254 characters."),
            Email("Enter an email address like name@example.org.", check_deliverability=False),
        ],
        filters=[strip],
        description="We email them a link to approve your place.",
        render_kw={"type": "email", "autocomplete": "off", "spellcheck": "false"},
    )


class DecisionForm(FlaskForm):
    """The manager's page: approve, or decline with a reason (the service insists on one)."""

    reason = TextAreaField(
        "If you decline, say why",
        [Optional(), Length(max=1000, message="Keep the reason to 1,000 characters.")],
        filters=[strip],
        description="The delegate is told this reason.",
    )


class DeclineForm(FlaskForm):
    reason = TextAreaField(
        "Why is the booking declined?",
        [
            InputRequired("Say why the booking is declined: the delegate is told."),
            Length(max=1000, message="Keep the reason to 1,000 characters."),
        ],
        filters=[strip],
        description="The delegate is told this reason.",
    )


class ApprovalCategoriesForm(FlaskForm):
    categories = MultiCheckboxField(
        "Organisation categories whose staff need their line manager's approval",
        [Optional()],
        choices=options(AgencyCategory.choices()),
    )
