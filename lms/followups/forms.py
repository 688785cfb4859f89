"""The level-2 follow-up survey form."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import RadioField, TextAreaField
from wtforms.validators import InputRequired, Length, ValidationError

from lms.core.forms import MultiCheckboxField, Optional, options, strip
from lms.evaluations.models import Rating
from lms.followups.models import Applied, Barrier, PracticeChange
from lms.followups.services import FollowUpAnswers


class FollowUpForm(FlaskForm):
    applied = RadioField(
        "Have you applied the learning in your practice?",
        [InputRequired("Say whether you have applied the learning.")],
        choices=options(Applied.choices()),
        validate_choice=False,
    )
    example = TextAreaField(
        "An example of a change in your practice",
        [Optional(), Length(max=5000)],
        filters=[strip],
        description="Leave out names or anything that identifies a child or family.",
    )
    confidence = RadioField(
        "Your confidence in responding to this topic now",
        [InputRequired("Choose how confident you are now.")],
        choices=options(Rating.choices()),
        validate_choice=False,
    )
    barriers = MultiCheckboxField("What got in the way, if anything?", choices=options(Barrier.choices()))
    barrier_other = TextAreaField("Other barrier", [Optional(), Length(max=2000)], filters=[strip])
    multi_agency = RadioField(
        "Has it improved multi-agency working or information sharing?",
        [InputRequired("Say whether it has improved multi-agency working.")],
        choices=options(Applied.choices()),
        validate_choice=False,
    )

    def answers(self) -> FollowUpAnswers:
        return FollowUpAnswers(
            applied=Applied(self.applied.data),
            example=self.example.data or "",
            confidence=Rating(self.confidence.data),
            barriers=[
                Barrier(value) for value in self.barriers.data or [] if value in {b.value for b in Barrier}
            ],
            barrier_other=self.barrier_other.data or "",
            multi_agency=Applied(self.multi_agency.data),
        )

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        for name, enum in (("applied", Applied), ("confidence", Rating), ("multi_agency", Applied)):
            value = getattr(self, name).data
            if value and value not in {member.value for member in enum}:
                getattr(self, name).errors = [*getattr(self, name).errors, "Choose one of the answers."]
                valid = False
        return valid


class ManagerCommentForm(FlaskForm):
    change = RadioField(
        "How much has their practice changed since the training?",
        [InputRequired("Say how much their practice has changed.")],
        choices=options(PracticeChange.choices()),
        validate_choice=False,
    )
    comment = TextAreaField(
        "What change have you seen in their practice?",
        [Optional(), Length(max=5000)],
        filters=[strip],
        description="Leave out names or anything that identifies a child or family.",
    )

    def validate_change(self, field):
        if field.data and field.data not in {member.value for member in PracticeChange}:
            raise ValidationError("Choose one of the answers.")
