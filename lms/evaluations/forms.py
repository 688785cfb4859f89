"""The evaluation form, built from a course's current question set, and the question editor."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, RadioField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length

from lms.core.forms import Optional, options, strip
from lms.evaluations.models import QuestionKind, QuestionSet, Rating
from lms.evaluations.services import QuestionDraft


def evaluation_form(question_set: QuestionSet, formdata=None) -> FlaskForm:
    """A form with one field per question, named q<question id>."""

    class EvaluationForm(FlaskForm):
        question_set_id = HiddenField()

    for question in question_set.questions:
        if question.kind is QuestionKind.RATING:
            field = RadioField(
                question.text,
                [InputRequired(f"Choose a rating for “{question.text}”.")],
                choices=options(Rating.choices()),
                validate_choice=False,
            )
        else:
            checks = [InputRequired(f"Answer “{question.text}”.")] if question.required else [Optional()]
            field = TextAreaField(question.text, [*checks, Length(max=5000)], filters=[strip])
        setattr(EvaluationForm, f"q{question.id}", field)
    form = EvaluationForm(formdata=formdata) if formdata is not None else EvaluationForm()
    if not form.question_set_id.data:
        form.question_set_id.data = str(question_set.id)
    return form


def answers_from(form, question_set: QuestionSet) -> dict[int, str]:
    return {q.id: getattr(form, f"q{q.id}").data or "" for q in question_set.questions}


def slug(text: str) -> str:
    return "_".join("".join(c if c.isalnum() else " " for c in text.lower()).split())[:60]


class QuestionsForm(FlaskForm):
    rated = TextAreaField(
        "Rated questions, one a line",
        [InputRequired("Keep at least one rated question.")],
        description="Each is answered Very low, Low, Medium, High or Very high.",
    )
    free_text = TextAreaField(
        "Free-text questions, one a line",
        [Optional()],
        description="End a line with (optional) to make that answer optional.",
    )

    def drafts(self) -> list[QuestionDraft]:
        drafts = [
            QuestionDraft(slug(line), line.strip()[:500], QuestionKind.RATING)
            for line in (self.rated.data or "").splitlines()
            if line.strip()
        ]
        for line in (self.free_text.data or "").splitlines():
            line = line.strip()
            if not line:
                continue
            optional = line.lower().endswith("(optional)")
            text = line[: -len("(optional)")].strip() if optional else line
            drafts.append(QuestionDraft(slug(text), text[:500], QuestionKind.TEXT, required=not optional))
        return drafts

    def load(self, questions) -> None:
        rated = [q.text for q in questions if q.kind is QuestionKind.RATING]
        free = [
            q.text + ("" if q.required else " (optional)") for q in questions if q.kind is QuestionKind.TEXT
        ]
        self.rated.data = "\n".join(rated)
        self.free_text.data = "\n".join(free)


class VerifyForm(FlaskForm):
    class Meta:
        csrf = False

    number = StringField(
        "Certificate number",
        [InputRequired("Enter the number printed on the certificate."), Length(max=40)],
        filters=[strip],
        render_kw={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "characters"},
    )
