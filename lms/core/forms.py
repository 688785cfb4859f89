"""Form pieces shared by the areas."""

from __future__ import annotations

from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from wtforms import DateField as WTFormsDateField
from wtforms import IntegerField as WTFormsIntegerField
from wtforms import SelectField as WTFormsSelectField
from wtforms import SelectMultipleField, validators, widgets
from wtforms.fields.choices import SelectChoice
from wtforms.validators import ValidationError

from lms.core.calendar import EARLIEST_DATE, LATEST_DATE
from lms.core.formatting import format_money, parse_money


class DateField(WTFormsDateField):
    """A date within EARLIEST_DATE..LATEST_DATE; anything else is an error beside the field."""

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        if self.data is not None and not EARLIEST_DATE <= self.data <= LATEST_DATE:
            self.data = None
            raise ValueError(
                f"Enter a date between {EARLIEST_DATE.year} and {LATEST_DATE.year}, for example 14/05/2026."
            )


class Optional(validators.Optional):
    """WTForms' Optional, except that input of nothing but spaces is no input at all: the field's
    text becomes "" rather than slipping, unchecked, past a select's list of choices."""

    def __call__(self, form, field):
        if isinstance(field.data, str) and not field.data.strip():
            field.data = ""
        super().__call__(form, field)


class IntegerField(WTFormsIntegerField):
    """A whole number of at most 15 digits: anything longer is a typing slip, not a quantity."""

    def process_formdata(self, valuelist):
        if valuelist and isinstance(valuelist[0], str) and len(valuelist[0].strip().lstrip("+-")) > 15:
            self.data = None
            raise ValueError("Enter a smaller whole number.")
        super().process_formdata(valuelist)


class Select(widgets.Select):
    """WTForms' select, each plain option written out at once: the same HTML, without building an
    option's attributes (and looking up how to call the option renderer) for every option of every
    select on every page. Options with attributes of their own, groups and multiple choice are left
    to WTForms."""

    def __call__(self, field, **kwargs):
        if self.multiple or field.has_groups():
            return super().__call__(field, **kwargs)
        kwargs.setdefault("id", field.id)
        flags = getattr(field, "flags", None)
        for name in self.validation_attrs:
            if name not in kwargs and getattr(flags, name, None):
                kwargs[name] = getattr(flags, name)
        html = [f"<select {widgets.html_params(name=field.name, **kwargs)}>"]
        for choice in field.iter_choices():
            if choice.render_kw:
                html.append(self.render_option(choice))
                continue
            value = str(choice.value) if isinstance(choice.value, bool) else choice.value
            selected = " selected" if choice.selected else ""
            html.append(f'<option{selected} value="{escape(value)}">{escape(choice.label or value)}</option>')
        html.append("</select>")
        return Markup("".join(html))  # noqa: S704 - every value and label in it was escaped above


class SelectField(WTFormsSelectField):
    widget = Select()


class MultiCheckboxField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


def strip(value):
    return value.strip() if isinstance(value, str) else value


class Money:
    """Validator: the field holds pounds that parse to non-negative pence, at most `maximum_pence`
    (the default, £10 million, fits any amount column)."""

    def __init__(self, maximum_pence: int = 1_000_000_000) -> None:
        self.maximum_pence = maximum_pence

    def __call__(self, form, field):
        try:
            pence = parse_money(field.data or "")
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc
        if pence > self.maximum_pence:
            raise ValidationError(f"Enter at most {format_money(self.maximum_pence)}.")
        field.pence = pence


def options(pairs) -> list[SelectChoice]:
    """(value, label) pairs as the options of a select field."""
    return [SelectChoice(str(value), label) for value, label in pairs]


class ButtonForm(FlaskForm):
    """A button that changes something: only the CSRF token travels."""
