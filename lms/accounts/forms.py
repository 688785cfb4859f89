"""Forms for signing in, registering, resetting a password, and managing people and agencies."""

from __future__ import annotations

import sqlalchemy as sa
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    PasswordField,
    RadioField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Email, EqualTo, InputRequired, Length, ValidationError

from lms.accounts.domains import agency_for_email
from lms.accounts.models import Agency, AgencyCategory, Role, organisation_key
from lms.accounts.passwords import MAX_LENGTH, MIN_LENGTH
from lms.accounts.services import AgencyDetails, PersonDetails, organisation_named, suggest_organisations
from lms.core.forms import DateField, MultiCheckboxField, Optional, SelectField, options, strip
from lms.extensions import db


def organisation_labels(include_id: int | None = None) -> list[str]:
    """What people pick from as they type: every active organisation's name (and postcode)."""
    agencies = db.session.scalars(sa.select(Agency).order_by(Agency.name)).all()
    return [a.label for a in agencies if a.is_active or a.id == include_id]


def agency_choices(include_inactive_id: int | None = None) -> list[SelectChoice]:
    """Organisations as the options of a select (L&D's lists and filters)."""
    agencies = db.session.scalars(sa.select(Agency).order_by(Agency.name)).all()
    choices = [("", "Choose the organisation")]
    choices += [(str(a.id), a.label) for a in agencies if a.is_active or a.id == include_inactive_id]
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
    organisation = StringField(
        "Organisation you work for",
        [Length(max=250)],
        filters=[strip],
        description=(
            "Start typing its name, postcode or code, then choose it from the list. If your work email "
            "address is your organisation's own, we may know it already: leave this empty to use it."
        ),
        render_kw={"list": "organisations", "autocomplete": "off", "spellcheck": "false"},
    )
    not_listed = BooleanField("My organisation is not in the list: use the name as I typed it")
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

    # Where the accounts service's errors about the organisation are shown.
    error_fields = {"agency": "organisation", "other_organisation": "organisation"}
    current_agency: Agency | None = None
    chosen_agency: Agency | None = None

    def with_organisations(self, current: Agency | None = None):
        """Offer the organisation list; `current` (someone's present organisation) stays valid
        even if it is no longer offered to new people."""
        self.current_agency = current
        self.organisation_labels = organisation_labels(current.id if current else None)
        return self

    def validate_organisation(self, field):
        typed = field.data or ""
        if not typed:
            # Left empty by someone whose address's domain is mapped onto an organisation: that one.
            self.chosen_agency = agency_for_email(self.address())
            if self.chosen_agency is not None:
                return
            raise ValidationError("Enter the organisation you work for.")
        if self.not_listed.data:
            return
        current = self.current_agency
        if current is not None and organisation_key(typed) in {
            organisation_key(current.label),
            organisation_key(current.name),
        }:
            self.chosen_agency = current
            return
        self.chosen_agency = organisation_named(typed)
        if self.chosen_agency is None:
            names = [a.label for a in suggest_organisations(typed, limit=3)]
            hint = f" Did you mean {' or '.join(f'“{n}”' for n in names)}?" if names else ""
            raise ValidationError(
                f"“{typed}” is not in the list.{hint} Choose your organisation as you type, or tick "
                "“My organisation is not in the list”."
            )

    def address(self) -> str:
        """The person's email address (the organisation may be known from its domain)."""
        return self.email.data or ""

    def person_details(self) -> PersonDetails:
        agency = None if self.not_listed.data else self.chosen_agency
        return PersonDetails(
            first_name=self.first_name.data,
            last_name=self.last_name.data,
            email=self.address(),
            job_role=self.job_role.data,
            agency_id=agency.id if agency else None,
            other_organisation=None if agency else self.organisation.data,
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
        self.organisation.data = user.agency.label if user.agency else user.other_organisation
        self.not_listed.data = user.agency is None and bool(user.other_organisation)


_CODE = "That is longer than any code: enter the code again."


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
        [InputRequired("Enter your email address."), Length(max=254, message="Enter your email address.")],
        filters=[strip],
        render_kw={"autocomplete": "username", "type": "email", "spellcheck": "false"},
    )
    password = PasswordField(
        "Password",
        [InputRequired("Enter your password."), Length(max=1024, message="That password is too long.")],
        render_kw={"autocomplete": "current-password"},
    )
    next = HiddenField(validators=[Length(max=2000)])


class CodeForm(FlaskForm):
    """A code from an authenticator app, or a recovery code."""

    code = StringField(
        "Code",
        [InputRequired("Enter the code from your authenticator app."), Length(max=40, message=_CODE)],
        filters=[strip],
        description="The 6 digits your authenticator app shows now, or one of your recovery codes.",
        render_kw={"autocomplete": "one-time-code", "spellcheck": "false", "autocapitalize": "none"},
    )


class SetUpForm(FlaskForm):
    """The first code from a newly set-up authenticator app."""

    code = StringField(
        "Code from the app",
        [InputRequired("Enter the 6-digit code the app shows."), Length(max=40, message=_CODE)],
        filters=[strip],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "spellcheck": "false"},
    )


class SignInLinkForm(FlaskForm):
    email = StringField(
        "Email address",
        [
            InputRequired("Enter your email address."),
            Email("Enter an email address like name@example.org.", check_deliverability=False),
            Length(max=254),
        ],
        filters=[strip],
        render_kw={"autocomplete": "email", "type": "email"},
    )


class SecurityEventSearchForm(FlaskForm):
    class Meta:
        csrf = False

    q = StringField("Person's name or email", [Optional(), Length(max=200)], filters=[strip])
    kind = SelectField("Kind", [Optional()], choices=[])
    start = DateField("From", [Optional()])
    end = DateField("To", [Optional()])

    def with_kinds(self, kinds: dict[str, str]):
        self.kind.choices = options([("", "Every kind"), *kinds.items()])
        return self

    def validate_end(self, field):
        if field.data and self.start.data and field.data < self.start.data:
            raise ValidationError("The end date must be on or after the start date.")


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
    name = StringField(
        "Name", [InputRequired("Enter the organisation's name."), Length(max=200)], filters=[strip]
    )
    short_name = StringField("Short name", [Optional(), Length(max=40)], filters=[strip])
    category = SelectField(
        "Sector",
        [InputRequired("Choose a sector.")],
        choices=options([("", "Choose a sector"), *AgencyCategory.choices()]),
    )
    official_code = StringField(
        "Official code",
        [Optional(), Length(max=20)],
        filters=[strip],
        description="A school's URN or a GP practice's ODS code, if it has one.",
    )
    postcode = StringField("Postcode", [Optional(), Length(max=10)], filters=[strip])
    parent_id = SelectField(
        "Charges are paid by",
        [Optional()],
        choices=[],
        description="Leave as it is unless another organisation pays, such as a multi-academy trust.",
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

    def with_parents(self, agency: Agency | None):
        """Offer as payers the organisations that pay for themselves (one level of parents)."""
        payers = db.session.scalars(
            sa.select(Agency).where(Agency.parent_id.is_(None)).order_by(Agency.name)
        ).all()
        others = [(a.id, a.label) for a in payers if agency is None or a.id != agency.id]
        self.parent_id.choices = options([("", "The organisation itself"), *others])
        return self

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
            official_code=self.official_code.data,
            postcode=self.postcode.data,
            parent_id=int(self.parent_id.data) if self.parent_id.data else None,
        )

    def load_agency(self, agency) -> None:
        for name in (
            "name",
            "short_name",
            "official_code",
            "postcode",
            "billing_contact",
            "billing_email",
            "billing_address",
            "purchase_order",
            "is_active",
        ):
            getattr(self, name).data = getattr(agency, name)
        self.category.data = agency.category.value
        self.parent_id.data = str(agency.parent_id) if agency.parent_id else ""


class MapOrganisationForm(FlaskForm):
    """Settle a typed "not listed" name: one of the likely matches, another organisation, or a new one."""

    NEW = "new"
    ANOTHER = "another"

    organisation = HiddenField(validators=[InputRequired(), Length(max=200)])
    target = RadioField(
        "Which organisation is it?", [InputRequired("Choose what to do with it.")], choices=[]
    )
    another = StringField(
        "Another organisation",
        [Optional(), Length(max=250)],
        filters=[strip],
        description="Start typing its name, postcode or code.",
        render_kw={"list": "organisations", "autocomplete": "off"},
    )
    category = SelectField(
        "Sector of the new organisation",
        [Optional()],
        choices=options([("", "Choose a sector"), *AgencyCategory.choices()]),
    )
    chosen_agency: Agency | None = None

    def offer(self, suggestions: list[Agency]):
        self.suggestions = suggestions
        self.organisation_labels = organisation_labels()
        self.target.choices = [
            *[(str(a.id), a.label) for a in suggestions],
            (self.ANOTHER, "Another organisation"),
            (self.NEW, f"Add “{self.organisation.data}” as a new organisation"),
        ]
        return self

    def validate_another(self, field):
        if self.target.data != self.ANOTHER:
            return
        self.chosen_agency = organisation_named(field.data or "")
        if self.chosen_agency is None:
            raise ValidationError("Choose the organisation from the list as you type.")

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        # Checked here: Optional() ends the sector's own chain when it is empty.
        if self.target.data == self.NEW and not self.category.data:
            self.category.errors = [*self.category.errors, "Choose the new organisation's sector."]
            return False
        if valid and self.target.data != self.NEW and self.chosen_agency is None:
            self.another.errors = [*self.another.errors, "Choose the organisation from the list as you type."]
            return False
        return valid

    def validate_target(self, field):
        if field.data and field.data.isdigit():
            self.chosen_agency = next((a for a in self.suggestions if str(a.id) == field.data), None)


class OrganisationSearchForm(FlaskForm):
    class Meta:
        csrf = False

    q = StringField("Name, code or postcode", [Optional(), Length(max=200)], filters=[strip])
    category = SelectField(
        "Sector", [Optional()], choices=options([("", "Any sector"), *AgencyCategory.choices()])
    )


class PeopleSearchForm(FlaskForm):
    class Meta:
        csrf = False

    q = StringField("Name or email", [Optional()], filters=[strip])
    role = SelectField("Role", [Optional()], choices=options([("", "Any role"), *Role.choices()]))
