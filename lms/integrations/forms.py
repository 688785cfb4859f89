"""Forms for integrations and API tokens."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, StringField
from wtforms.validators import Email, InputRequired, Length, ValidationError

from lms.accounts.services import organisation_named
from lms.core.forms import DateField, MultiCheckboxField, Optional, strip
from lms.integrations.tokens import Scope


class IntegrationForm(FlaskForm):
    name = StringField(
        "Name",
        [InputRequired("Give the integration a name."), Length(max=120)],
        filters=[strip],
        description="The system it is, like “Partnership website” or “Police HR”.",
    )
    description = StringField("What it does", [Optional(), Length(max=500)], filters=[strip])
    contact_email = EmailField(
        "Who looks after it",
        [Optional(), Email("Enter an email address."), Length(max=254)],
        filters=[strip],
        description="An email address to tell when something about it goes wrong.",
    )
    organisation = StringField(
        "Organisation",
        [Optional(), Length(max=250)],
        filters=[strip],
        description="For an organisation's own system: it then sees that organisation's staff only "
        "(and the schools it pays for). Start typing, then choose from the list.",
        render_kw={"list": "organisations", "autocomplete": "off", "spellcheck": "false"},
    )

    chosen_agency = None

    def validate_organisation(self, field):
        if field.data:
            self.chosen_agency = organisation_named(field.data)
            if self.chosen_agency is None:
                raise ValidationError("Choose the organisation from the list as you type.")


class TokenForm(FlaskForm):
    name = StringField(
        "Name",
        [InputRequired("Give the token a name."), Length(max=120)],
        filters=[strip],
        description="Where it is used, to tell it apart later.",
    )
    scopes = MultiCheckboxField("What it may read", choices=[])
    expires_on = DateField(
        "Stops working on", [Optional()], description="Leave empty for a token that works until revoked."
    )

    error_fields = {"scopes": "scopes", "expires_on": "expires_on"}

    def offer(self, scopes: list[Scope]) -> TokenForm:
        self.scopes.choices = [(scope.value, f"{scope.title} ({scope.value})") for scope in scopes]
        return self

    def validate_scopes(self, field):
        if not field.data:
            raise ValidationError("Choose at least one thing it may read.")

    @property
    def chosen_scopes(self) -> set[Scope]:
        return {Scope(value) for value in self.scopes.data or []}
