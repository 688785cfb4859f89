"""Form pieces shared by the areas."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectMultipleField, widgets
from wtforms.fields.choices import SelectChoice
from wtforms.validators import ValidationError

from lms.core.formatting import parse_money


class MultiCheckboxField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


def strip(value):
    return value.strip() if isinstance(value, str) else value


class Money:
    """Validator: the field holds pounds that parse to non-negative pence."""

    def __call__(self, form, field):
        try:
            field.pence = parse_money(field.data or "")
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc


def options(pairs) -> list[SelectChoice]:
    """(value, label) pairs as the options of a select field."""
    return [SelectChoice(str(value), label) for value, label in pairs]


class ButtonForm(FlaskForm):
    """A button that changes something: only the CSRF token travels."""
