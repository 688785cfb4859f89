"""Forms for the programme and the catalogue filters."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from flask import current_app
from flask_wtf import FlaskForm
from wtforms import BooleanField, DecimalField, StringField, TextAreaField, TimeField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, NumberRange, ValidationError

from lms.accounts.models import Role, User, UserRole
from lms.core.formatting import format_pounds_plain
from lms.core.forms import DateField, IntegerField, Money, Optional, SelectField, options, strip
from lms.core.timezones import InvalidLocalTime, london_to_utc, to_london
from lms.courses.models import Course, CourseLevel, DeliveryMode, Topic
from lms.courses.services import CatalogueFilter, CourseDetails, SessionDetails
from lms.extensions import db

# Built once: the catalogue asks for it on every page. Names and ids, not Topic objects.
_TOPICS = sa.select(Topic.id, Topic.name).order_by(Topic.name)


def topic_choices(blank: str) -> list[SelectChoice]:
    return options([("", blank), *db.session.execute(_TOPICS)])


class CatalogueFilterForm(FlaskForm):
    class Meta:
        csrf = False

    q = StringField(
        "Search",
        [Optional(), Length(max=200)],
        filters=[strip],
        description="Words in the title, description, audience or provider",
    )
    topic = SelectField("Topic", [Optional()], choices=[])
    mode = SelectField(
        "Delivery", [Optional()], choices=options([("", "Any delivery"), *DeliveryMode.choices()])
    )
    date_from = DateField("From", [Optional()])
    date_to = DateField("To", [Optional()])
    sort = SelectField(
        "Sort by",
        [Optional()],
        choices=options([("date", "Date, soonest first"), ("places", "Places left, most first")]),
        default="date",
    )

    def validate_date_to(self, field):
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise ValidationError("The end date must be on or after the start date.")

    def filters(self) -> CatalogueFilter:
        topic = self.topic.data if self.topic.data and self.topic.data.isdigit() else None
        mode = self.mode.data if self.mode.data in {m.value for m in DeliveryMode} else None
        return CatalogueFilter(
            topic_id=int(topic) if topic else None,
            delivery_mode=DeliveryMode(mode) if mode else None,
            date_from=self.date_from.data,
            date_to=self.date_to.data,
            text=self.q.data or "",
            by_places_left=self.sort.data == "places",
        )


class CourseForm(FlaskForm):
    title = StringField("Title", [InputRequired("Enter the course title."), Length(max=300)], filters=[strip])
    topic_id = SelectField("Topic", [Optional()], choices=[])
    new_topic = StringField("Or a new topic", [Optional(), Length(max=150)], filters=[strip])
    description = TextAreaField(
        "Description", [InputRequired("Describe the course."), Length(max=5000)], filters=[strip]
    )
    target_audience = TextAreaField(
        "Target audience",
        [InputRequired("Say who the course is for."), Length(max=2000)],
        filters=[strip],
    )
    level = SelectField("Level", [InputRequired("Choose a level.")], choices=options(CourseLevel.choices()))
    delivery_mode = SelectField(
        "Delivery mode",
        [InputRequired("Choose how it is delivered.")],
        choices=options(DeliveryMode.choices()),
    )
    duration_hours = DecimalField(
        "Duration (CPD hours)",
        [
            InputRequired("Enter the duration in hours, for example 3 or 2.5."),
            NumberRange(min=Decimal("0.25"), max=Decimal("100"), message="Enter between 0.25 and 100 hours."),
        ],
        places=2,
        render_kw={"inputmode": "decimal", "step": "0.25"},
    )
    provider = StringField(
        "Training provider",
        [InputRequired("Enter the training provider."), Length(max=200)],
        filters=[strip],
    )
    is_active = BooleanField("Offered (shown in the catalogue)", default=True)
    needs_approval = BooleanField(
        "Bookings need the line manager's approval",
        description="Used when the partnership asks for approval of the courses L&D choose.",
    )

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        # Checked here, not inline: Optional() ends the topic's own chain when it is empty.
        if not self.topic_id.data and not self.new_topic.data:
            self.topic_id.errors = [*self.topic_id.errors, "Choose a topic, or type a new one."]
            return False
        return valid

    def course_details(self) -> CourseDetails:
        """The details on the form; a topic typed in is added by the service (topic_id 0 until then)."""
        return CourseDetails(
            title=self.title.data,
            topic_id=0 if self.new_topic.data else int(self.topic_id.data),
            description=self.description.data,
            target_audience=self.target_audience.data,
            level=CourseLevel(self.level.data),
            delivery_mode=DeliveryMode(self.delivery_mode.data),
            duration_minutes=int(round(self.duration_hours.data * 60)),
            provider=self.provider.data,
            is_active=self.is_active.data,
            needs_approval=self.needs_approval.data,
        )

    def load_course(self, course: Course) -> None:
        for name in ("title", "description", "target_audience", "provider", "is_active", "needs_approval"):
            getattr(self, name).data = getattr(course, name)
        self.topic_id.data = str(course.topic_id)
        self.level.data = course.level.value
        self.delivery_mode.data = course.delivery_mode.value
        self.duration_hours.data = Decimal(course.duration_minutes) / 60


def trainer_choices() -> list[SelectChoice]:
    trainers = db.session.scalars(
        sa.select(User)
        .join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == Role.TRAINER, User.is_enabled.is_(True))
        .order_by(User.last_name, User.first_name)
    ).all()
    return options([("", "No trainer yet"), *[(t.id, t.full_name) for t in trainers]])


def course_choices() -> list[SelectChoice]:
    courses = db.session.scalars(sa.select(Course).order_by(Course.title)).all()
    return options([("", "Choose a course"), *[(c.id, c.title) for c in courses]])


class SessionForm(FlaskForm):
    # Where the programme's errors about a session's details are shown on this form.
    error_fields = {"starts_at": "date", "ends_at": "end_time", "cost": "cost", "course_id": "course_id"}

    course_id = SelectField("Course", [InputRequired("Choose a course.")], choices=[])
    date = DateField("Date", [InputRequired("Enter the date, for example 14/05/2026.")])
    start_time = TimeField("Starts (UK time)", [InputRequired("Enter the start time, for example 09:30.")])
    end_date = DateField(
        "Ends on (if a later day)",
        [Optional()],
        description="Leave blank for a session that ends the same day.",
    )
    end_time = TimeField("Ends (UK time)", [InputRequired("Enter the end time, for example 12:30.")])
    delivery_mode = SelectField("Delivery mode", [InputRequired()], choices=options(DeliveryMode.choices()))
    venue = TextAreaField("Venue (name and address)", [Optional(), Length(max=1000)], filters=[strip])
    online_link = StringField(
        "Online joining link",
        [Optional(), Length(max=500)],
        filters=[strip],
        render_kw={"type": "url", "spellcheck": "false"},
        description="Shown only to delegates with a confirmed place.",
    )
    trainer_id = SelectField("Trainer", [Optional()], choices=[])
    places = IntegerField(
        "Places (commissioned)",
        [
            InputRequired("Enter the number of places."),
            NumberRange(min=1, max=2000, message="Enter between 1 and 2,000 places."),
        ],
        render_kw={"inputmode": "numeric"},
    )
    overbook_percent = IntegerField(
        "Overbooking percent",
        [
            InputRequired("Enter the overbooking percent (0 for none)."),
            NumberRange(min=0, max=100, message="Enter between 0 and 100."),
        ],
        render_kw={"inputmode": "numeric"},
    )
    cost = StringField(
        "Commissioning cost (£)",
        [InputRequired("Enter the cost in pounds, 0 if none."), Money()],
        render_kw={"inputmode": "decimal"},
    )

    def prefill(self) -> None:
        self.overbook_percent.data = current_app.config["OVERBOOK_PERCENT"]
        self.cost.data = "0.00"

    def _moment(self, day, at, field) -> datetime:
        try:
            return london_to_utc(datetime.combine(day, at))
        except InvalidLocalTime as exc:
            field.errors = [*field.errors, str(exc)]
            raise

    def session_details(self) -> SessionDetails | None:
        """The details, or None after putting a message beside a time that does not exist."""
        try:
            starts = self._moment(self.date.data, self.start_time.data, self.start_time)
            ends = self._moment(self.end_date.data or self.date.data, self.end_time.data, self.end_time)
        except InvalidLocalTime:
            return None
        return SessionDetails(
            course_id=int(self.course_id.data),
            starts_at=starts,
            ends_at=ends,
            delivery_mode=DeliveryMode(self.delivery_mode.data),
            venue=self.venue.data,
            online_link=self.online_link.data,
            trainer_id=int(self.trainer_id.data) if self.trainer_id.data else None,
            places=self.places.data,
            overbook_percent=self.overbook_percent.data,
            cost_pence=self.cost.pence,
        )

    def load_session(self, session) -> None:
        starts, ends = to_london(session.starts_at), to_london(session.ends_at)
        self.course_id.data = str(session.course_id)
        self.date.data = starts.date()
        self.start_time.data = starts.time()
        self.end_date.data = ends.date() if ends.date() != starts.date() else None
        self.end_time.data = ends.time()
        self.delivery_mode.data = session.delivery_mode.value
        self.venue.data = session.venue
        self.online_link.data = session.online_link
        self.trainer_id.data = str(session.trainer_id) if session.trainer_id else ""
        self.places.data = session.places
        self.overbook_percent.data = session.overbook_percent
        self.cost.data = format_pounds_plain(session.cost_pence)


class CancelSessionForm(FlaskForm):
    reason = TextAreaField(
        "Why is the session cancelled?",
        [InputRequired("Say why the session is cancelled."), Length(max=1000)],
        filters=[strip],
    )
