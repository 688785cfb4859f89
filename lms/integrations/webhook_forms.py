"""Forms for an integration's webhooks."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import URLField
from wtforms.validators import InputRequired, Length, ValidationError

from lms.core.forms import MultiCheckboxField, options, strip
from lms.integrations.webhooks import EVENT_TYPES


class SubscriptionForm(FlaskForm):
    url = URLField(
        "Address to send events to",
        [InputRequired("Enter the address the other system receives events at."), Length(max=2000)],
        filters=[strip],
        description="Starts with https://. The other system's supplier gives it.",
    )
    event_types = MultiCheckboxField(
        "Events to send", choices=options((name, f"{title} ({name})") for name, title in EVENT_TYPES.items())
    )

    def validate_event_types(self, field):
        if not field.data:
            raise ValidationError("Choose at least one event to send.")
        if any(name not in EVENT_TYPES for name in field.data):
            raise ValidationError("Choose events from the list.")
