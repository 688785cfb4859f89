"""Forms the trainer uses around the register: adding someone who came without a place."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, RadioField, StringField
from wtforms.validators import Email, InputRequired, Length

from lms.accounts.forms import PersonFieldsMixin
from lms.accounts.services import find_user_by_email
from lms.bookings.models import Attendance
from lms.bookings.trainer_tools import WalkInDetails
from lms.core.forms import Optional, options, strip


class WalkInPersonForm(PersonFieldsMixin, FlaskForm):
    """Someone who came: found by their email address, or given an account (and an invitation)."""

    first_name = StringField(
        "First name", [InputRequired("Enter their first name."), Length(max=100)], filters=[strip]
    )
    last_name = StringField(
        "Last name", [InputRequired("Enter their last name."), Length(max=100)], filters=[strip]
    )
    email = StringField(
        "Work email address",
        [
            InputRequired("Enter their work email address."),
            Email("Enter an email address like name@example.org.", check_deliverability=False),
            Length(max=254),
        ],
        filters=[strip],
        description="If they already have an account, the email address is enough.",
        render_kw={"type": "email", "autocomplete": "off", "spellcheck": "false"},
    )
    job_role = StringField("Job role", [Optional(), Length(max=150)], filters=[strip])
    organisation = StringField(
        "Organisation they work for",
        [Length(max=250)],
        filters=[strip],
        description="Start typing its name, then choose it from the list, or type it and tick the box below.",
        render_kw={"list": "organisations", "autocomplete": "off", "spellcheck": "false"},
    )
    not_listed = BooleanField("Their organisation is not in the list: use the name as typed")
    line_manager_name = None
    line_manager_email = None
    outcome = RadioField(
        "Attendance",
        [InputRequired("Choose how they attended.")],
        choices=options([(a.value, a.title) for a in (Attendance.ATTENDED, Attendance.PARTIAL)]),
        default=Attendance.ATTENDED.value,
    )

    def validate(self, extra_validators=None) -> bool:
        if super().validate(extra_validators):
            return True
        if self.csrf_token.errors or self.email.errors or self.outcome.errors:
            return False
        if find_user_by_email(self.email.data) is None:
            return False
        # Someone with an account is added as they are: what else was typed does not matter.
        for field in (self.first_name, self.last_name, self.job_role, self.organisation, self.not_listed):
            field.errors = []
        self._errors = None
        return True

    def walk_in_details(self) -> WalkInDetails:
        agency = None if self.not_listed.data else self.chosen_agency
        return WalkInDetails(
            first_name=self.first_name.data,
            last_name=self.last_name.data,
            email=self.email.data,
            job_role=self.job_role.data or "",
            agency_id=agency.id if agency else None,
            other_organisation=None if agency else self.organisation.data,
        )
