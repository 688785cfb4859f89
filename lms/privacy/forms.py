"""Forms for logging a request about personal data and for filtering the list of requests."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import InputRequired, Length, ValidationError

from lms.accounts.services import find_user_by_email
from lms.bookings.forms import email_field
from lms.core.forms import DateField, Optional, SelectField, options, strip
from lms.privacy.models import ReceivedHow, RequestKind
from lms.privacy.requests import RequestDetails


class DataRequestForm(FlaskForm):
    kind = SelectField(
        "What they ask for",
        [InputRequired("Choose what they ask for.")],
        choices=options(RequestKind.choices()),
    )
    email = email_field("Their email address", "They must have an account: find it under People.")
    received_on = DateField(
        "The day it arrived", [InputRequired("Enter the day it arrived, for example 31/01/2026.")]
    )
    received_how = SelectField(
        "How it arrived",
        [InputRequired("Choose how it arrived.")],
        choices=options(ReceivedHow.choices()),
    )
    notes = TextAreaField(
        "Notes",
        [Optional(), Length(max=2000)],
        filters=[strip],
        description="How you checked who they are, and anything else the team should know.",
    )
    error_fields = {"person": "email"}

    def validate_email(self, field) -> None:
        self.person = find_user_by_email(field.data or "")
        if self.person is None:
            raise ValidationError("No one is registered with that email address.")

    def details(self) -> RequestDetails:
        return RequestDetails(
            kind=RequestKind(self.kind.data),
            person=self.person,
            received_on=self.received_on.data,
            received_how=ReceivedHow(self.received_how.data),
            notes=self.notes.data or "",
        )


class RequestFilterForm(FlaskForm):
    class Meta:
        csrf = False

    show = SelectField(
        "Show",
        [Optional()],
        choices=options([("open", "Open requests"), ("all", "All requests")]),
    )
