"""The select every form uses writes the same HTML as WTForms' own, only sooner."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict
from wtforms import Form
from wtforms import SelectField as WTFormsSelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired

from lms.core.forms import SelectField, options

CHOICES = options(
    [
        ("", "Any topic"),
        ("1", "Neglect & <abuse>"),
        ("2", 'Say "no"'),
        ("3", ""),  # no label: the value is shown
        ("4", "Domestic abuse"),
    ]
)


def rendered(field_class, data, choices=CHOICES, validators=(), **render):
    class TheirForm(Form):
        topic = field_class("Topic", list(validators), choices=choices)

    form = TheirForm(MultiDict(data))
    form.validate()
    return str(form.topic(**render))


@pytest.mark.parametrize(
    "data",
    [{}, {"topic": "2"}, {"topic": ""}, {"topic": "not offered"}, {"topic": "1"}],
)
def test_ours_writes_what_wtforms_writes(data):
    ours = rendered(SelectField, data, validators=[InputRequired()], **{"aria-describedby": "topic-hint"})
    theirs = rendered(
        WTFormsSelectField, data, validators=[InputRequired()], **{"aria-describedby": "topic-hint"}
    )
    assert ours == theirs
    assert "&lt;abuse&gt;" in ours and "<abuse>" not in ours
    assert ours.count("<option") == len(CHOICES)


def test_a_chosen_option_is_marked_selected():
    html = rendered(SelectField, {"topic": "4"})
    assert '<option selected value="4">Domestic abuse</option>' in html
    assert html.count(" selected") == 1


def test_options_with_attributes_of_their_own_and_groups_are_left_to_wtforms():
    with_attributes = [SelectChoice("1", "One", render_kw={"disabled": True}), SelectChoice("2", "Two")]
    grouped = [SelectChoice("1", "One", optgroup="Odd"), SelectChoice("2", "Two", optgroup="Even")]
    for choices in (with_attributes, grouped, options([(True, "Yes"), (False, "No")])):
        assert rendered(SelectField, {"topic": "2"}, choices=choices) == rendered(
            WTFormsSelectField, {"topic": "2"}, choices=choices
        )
    assert "<optgroup" in rendered(SelectField, {}, choices=grouped)
    assert '<option disabled value="1">' in rendered(SelectField, {}, choices=with_attributes)
