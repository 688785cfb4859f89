"""Forms for a first sign-in through a provider, and for L&D's email domains."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField
from wtforms.validators import InputRequired, Length, ValidationError

from lms.accounts.domains import MAX_DOMAIN_LENGTH
from lms.accounts.forms import PersonFieldsMixin
from lms.accounts.services import organisation_named
from lms.core.forms import strip


class FirstSignInForm(PersonFieldsMixin, FlaskForm):
    """What the provider did not tell us: the email address comes from the provider, never the form."""

    email = None
    identity_email = ""

    def for_identity(self, email: str, names: dict[str, str]):
        self.identity_email = email
        for name, value in names.items():
            if value and not getattr(self, name).data:
                getattr(self, name).data = value
        return self

    def address(self) -> str:
        return self.identity_email


class EmailDomainForm(FlaskForm):
    domain = StringField(
        "Email domain",
        [InputRequired("Enter the domain, like westmidlands.police.uk."), Length(max=MAX_DOMAIN_LENGTH + 10)],
        filters=[strip],
        description="The part of the organisation's email addresses after the @. Its subdomains are "
        "included unless they are mapped on their own.",
        render_kw={"spellcheck": "false", "autocomplete": "off"},
    )
    organisation = StringField(
        "Organisation",
        [InputRequired("Choose the organisation."), Length(max=250)],
        filters=[strip],
        description="Start typing its name, postcode or code, then choose it from the list.",
        render_kw={"list": "organisations", "autocomplete": "off", "spellcheck": "false"},
    )
    requires_sso = BooleanField("People with this domain must sign in with their organisation's account")

    error_fields = {"agency": "organisation"}
    chosen_agency = None

    def validate_organisation(self, field):
        self.chosen_agency = organisation_named(field.data or "")
        if self.chosen_agency is None:
            raise ValidationError("Choose the organisation from the list as you type.")
