"""Forms for signing in, registering, resetting a password, and managing people and agencies."""

from __future__ import annotations

import sqlalchemy as sa
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Email, EqualTo, InputRequired, Length, Optional, ValidationError

from lms.accounts.models import Agency, AgencyCategory, Role
from lms.accounts.passwords import MAX_LENGTH, MIN_LENGTH
from lms.accounts.services import AgencyDetails, PersonDetails
from lms.core.forms import MultiCheckboxField, options, strip
from lms.extensions import db

OTHER = "other"


def agency_choices(include_inactive_id: int | None = None) -> list[SelectChoice]:
    query = sa.select(Agency).order_by(Agency.name)
    agencies = db.session.scalars(query).all()
    choices = [("", "Choose your agency")]
    choices += [(str(a.id), a.display_name) for a in agencies if a.is_active or a.id == include_inactive_id]
    choices.append((OTHER, "Other (not in this list)"))
    return options(choices)


class PersonFieldsMixin:
    first_name = StringField(
        "First name", [InputRequired("Enter your first name."), Length(max=100)], filters=[strip]
    )
    last_name = StringField(
        "Last name", [InputRequired("Enter your last name."), Length(max=100)], filters=[strip]
    )
    email = StringField(
        "Work email address",
        [
            InputRequired("Enter your work email address."),
            Email("Enter an email address like name@example.org.", check_deliverability=False),
            Length(max=254),
        ],
        filters=[strip],
        render_kw={"autocomplete": "email", "type": "email", "spellcheck": "false"},
    )
    job_role = StringField(
        "Job role", [InputRequired("Enter your job role."), Length(max=150)], filters=[strip]
    )
    agency = SelectField("Agency", [InputRequired("Choose your agency, or Other.")], choices=[])
    other_organisation = StringField(
        "Organisation name",
        [Optional(), Length(max=200)],
        filters=[strip],
        description="If you chose Other: the name of the organisation you work for.",
    )
    line_manager_name = StringField(
        "Line manager's name",
        [InputRequired("Enter your line manager's name."), Length(max=200)],
        filters=[strip],
    )
    line_manager_email = StringField(
        "Line manager's email address",
        [
            InputRequired("Enter your line manager's email address."),
            Email("Enter an email address like name@example.org.", check_deliverability=False),
            Length(max=254),
        ],
        filters=[strip],
        render_kw={"type": "email", "spellcheck": "false"},
    )

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        # Checked here, not inline: Optional() ends the field's own chain when it is empty.
        if self.agency.data == OTHER and not self.other_organisation.data:
            message = "You chose Other: type your organisation's name."
            self.other_organisation.errors = [*self.other_organisation.errors, message]
            return False
        return valid

    def person_details(self) -> PersonDetails:
        agency_id = None if self.agency.data in (OTHER, "") else int(self.agency.data)
        return PersonDetails(
            first_name=self.first_name.data,
            last_name=self.last_name.data,
            email=self.email.data,
            job_role=self.job_role.data,
            agency_id=agency_id,
            other_organisation=self.other_organisation.data if agency_id is None else None,
            line_manager_name=self.line_manager_name.data,
            line_manager_email=self.line_manager_email.data,
        )

    def load_person(self, user) -> None:
        for name in (
            "first_name",
            "last_name",
            "email",
            "job_role",
            "line_manager_name",
            "line_manager_email",
        ):
            getattr(self, name).data = getattr(user, name)
        self.agency.data = str(user.agency_id) if user.agency_id else OTHER
        self.other_organisation.data = user.other_organisation


class NewPasswordMixin:
    password = PasswordField(
        "Password",
        [
            InputRequired("Choose a password."),
            Length(
                min=MIN_LENGTH,
                max=MAX_LENGTH,
                message=f"Use between {MIN_LENGTH} and {MAX_LENGTH} characters.",
            ),
        ],
        description=f"At least {MIN_LENGTH} characters. Three random words work well.",
        render_kw={"autocomplete": "new-password"},
    )
    confirm_password = PasswordField(
        "Confirm password",
        [
            InputRequired("Type the password again."),
            EqualTo("password", "The two passwords do not match."),
        ],
        render_kw={"autocomplete": "new-password"},
    )


class RegistrationForm(PersonFieldsMixin, NewPasswordMixin, FlaskForm):
    pass


class ProfileForm(PersonFieldsMixin, FlaskForm):
    pass


class SignInForm(FlaskForm):
    email = StringField(
        "Email address",
        [InputRequired("Enter your email address.")],
        filters=[strip],
        render_kw={"autocomplete": "username", "type": "email", "spellcheck": "false"},
    )
    password = PasswordField(
        "Password",
        [InputRequired("Enter your password.")],
        render_kw={"autocomplete": "current-password"},
    )
    next = HiddenField()


class ForgotPasswordForm(FlaskForm):
    email = StringField(
        "Email address",
        [
            InputRequired("Enter your email address."),
            Email("Enter an email address like name@example.org.", check_deliverability=False),
        ],
        filters=[strip],
        render_kw={"autocomplete": "email", "type": "email"},
    )


class ResetPasswordForm(NewPasswordMixin, FlaskForm):
    pass


class PersonForm(PersonFieldsMixin, FlaskForm):
    roles = MultiCheckboxField("Roles", choices=options(Role.choices()))
    enabled = BooleanField("Can sign in", default=True)

    def validate_roles(self, field):
        if not field.data:
            raise ValidationError("Give the person at least one role.")

    def chosen_roles(self) -> set[Role]:
        return {Role(value) for value in self.roles.data}


class AgencyForm(FlaskForm):
    name = StringField("Name", [InputRequired("Enter the agency's name."), Length(max=200)], filters=[strip])
    short_name = StringField("Short name", [Optional(), Length(max=40)], filters=[strip])
    category = SelectField(
        "Category",
        [InputRequired("Choose a category.")],
        choices=options([("", "Choose a category"), *AgencyCategory.choices()]),
    )
    billing_contact = StringField("Billing contact", [Optional(), Length(max=200)], filters=[strip])
    billing_email = StringField(
        "Billing email",
        [
            Optional(),
            Email("Enter an email address like finance@example.org.", check_deliverability=False),
        ],
        filters=[strip],
        render_kw={"type": "email"},
    )
    billing_address = TextAreaField("Billing address", [Optional(), Length(max=1000)], filters=[strip])
    purchase_order = StringField(
        "Purchase order or cost code", [Optional(), Length(max=100)], filters=[strip]
    )
    is_active = BooleanField("Shown in the list people choose from", default=True)

    def agency_details(self) -> AgencyDetails:
        return AgencyDetails(
            name=self.name.data,
            short_name=self.short_name.data,
            category=AgencyCategory(self.category.data),
            billing_contact=self.billing_contact.data,
            billing_email=self.billing_email.data,
            billing_address=self.billing_address.data,
            purchase_order=self.purchase_order.data,
            is_active=self.is_active.data,
        )

    def load_agency(self, agency) -> None:
        for name in (
            "name",
            "short_name",
            "billing_contact",
            "billing_email",
            "billing_address",
            "purchase_order",
            "is_active",
        ):
            getattr(self, name).data = getattr(agency, name)
        self.category.data = agency.category.value


class MapOrganisationForm(FlaskForm):
    organisation = HiddenField(validators=[InputRequired()])
    agency = SelectField("Map to agency", [InputRequired("Choose the agency.")], choices=[])


class PeopleSearchForm(FlaskForm):
    class Meta:
        csrf = False

    q = StringField("Name or email", [Optional()], filters=[strip])
    role = SelectField("Role", [Optional()], choices=options([("", "Any role"), *Role.choices()]))
