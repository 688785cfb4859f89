"""Forms for waivers, invoice runs, payments and credit notes."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import InputRequired, Length, ValidationError

from lms.core.forms import DateField, Money, MultiCheckboxField, Optional, SelectField, options, strip
from lms.finance.models import ChargeStatus, WaiverReason


class WaiverForm(FlaskForm):
    reason = SelectField(
        "Reason",
        [InputRequired("Choose why the charge is waived.")],
        choices=options([("", "Choose a reason"), *WaiverReason.choices()]),
    )
    note = TextAreaField(
        "Details",
        [Optional(), Length(max=2000)],
        filters=[strip],
        description="Needed when the reason is Other.",
    )

    def validate_reason(self, field):
        if field.data and field.data not in {r.value for r in WaiverReason}:
            raise ValidationError("Choose one of the reasons.")


class PeriodForm(FlaskForm):
    start = DateField("From", [InputRequired("Enter the first day of the period.")])
    end = DateField("To", [InputRequired("Enter the last day of the period.")])

    def validate_end(self, field):
        if field.data and self.start.data and field.data < self.start.data:
            raise ValidationError("The period must end on or after the day it starts.")


class FilterForm(FlaskForm):
    class Meta:
        csrf = False

    start = DateField("From", [Optional()])
    end = DateField("To", [Optional()])
    agency = SelectField("Organisation", [Optional()], choices=[])
    status = SelectField(
        "Status", [Optional()], choices=options([("", "Any status"), *ChargeStatus.choices()])
    )


class CreditNoteForm(FlaskForm):
    lines = MultiCheckboxField("Lines to credit", choices=[], coerce=int)
    reason = TextAreaField(
        "Why", [InputRequired("Say why the invoice is credited."), Length(max=2000)], filters=[strip]
    )

    def validate_lines(self, field):
        if not field.data:
            raise ValidationError("Choose at least one line to credit.")


class PlaceFeeForm(FlaskForm):
    fee = StringField(
        "Fee per place (£)",
        [Optional(), Money(maximum_pence=10_000_000)],
        render_kw={"inputmode": "decimal"},
        description="Leave empty for the partnership's usual fee.",
    )

    @property
    def pence(self) -> int | None:
        """The fee typed, in pence; None when left empty."""
        return getattr(self.fee, "pence", None) if self.fee.data else None


class PaymentForm(FlaskForm):
    received_on = DateField("Received on", [InputRequired("Enter the day the payment was received.")])
    amount = StringField(
        "Amount (£)",
        [InputRequired("Enter the amount received."), Money(maximum_pence=10_000_000_000)],
        render_kw={"inputmode": "decimal"},
    )
    reference = StringField(
        "Reference",
        [Optional(), Length(max=100)],
        filters=[strip],
        description="The remittance or bank reference, if any.",
    )

    @property
    def pence(self) -> int:
        """The amount typed, in pence."""
        return getattr(self.amount, "pence", 0)
