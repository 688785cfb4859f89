"""Forms for naming training contacts (L&D) and for filtering a training contact's lists."""

from __future__ import annotations

from collections.abc import Iterable

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import Email, InputRequired, Length

from lms.accounts.contact_reports import BOOKING_VIEWS
from lms.accounts.models import Agency
from lms.core.forms import Optional, SelectField, options, strip


class TrainingContactForm(FlaskForm):
    email = StringField(
        "Email address of the training contact",
        [InputRequired("Enter the email address of the person."), Email(), Length(max=254)],
        filters=[strip],
        description="They must already have an account. They are given the Training contact role.",
    )


class ContactFilterForm(FlaskForm):
    """Which of the person's organisations, and which bookings: read from the query string. Only
    organisations the person follows are offered, so another's id is an invalid choice, not a filter."""

    class Meta:
        csrf = False

    organisation = SelectField("Organisation", [Optional()])
    show = SelectField("Show", [Optional()], choices=options(list(BOOKING_VIEWS.items())))

    def with_organisations(self, organisations: Iterable[Agency]) -> ContactFilterForm:
        self.organisation.choices = options(
            [("", "All my organisations"), *((str(a.id), a.display_name) for a in organisations)]
        )
        return self

    def chosen_ids(self, followed: set[int]) -> set[int]:
        """The organisations to show: the one chosen (always one the person follows), or all."""
        if self.organisation.data and self.organisation.data.isdigit():
            chosen = int(self.organisation.data)
            return {chosen} & followed
        return followed
