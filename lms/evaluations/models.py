"""Evaluations (versioned question sets, answers) and the certificates they unlock."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.bookings.models import Booking
from lms.core.db import UTCDateTime, enum_column
from lms.core.enums import TitledEnum
from lms.extensions import db


class Rating(TitledEnum):
    VERY_LOW = ("1", "Very low")
    LOW = ("2", "Low")
    MEDIUM = ("3", "Medium")
    HIGH = ("4", "High")
    VERY_HIGH = ("5", "Very high")

    @property
    def score(self) -> int:
        return int(self.value)


class QuestionKind(TitledEnum):
    RATING = ("rating", "Rated Very low to Very high")
    TEXT = ("text", "Free text")


class QuestionSet(db.Model):
    """A version of a course's evaluation questions. Editing makes a new version, so answers
    already given keep pointing at the questions they answered."""

    __tablename__ = "question_set"

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(sa.ForeignKey("course.id", ondelete="CASCADE"))
    # The highest version is the one new evaluations use.
    version: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))

    questions: Mapped[list[Question]] = relationship(
        order_by="Question.position", cascade="all, delete-orphan", lazy="selectin"
    )

    __table_args__ = (sa.UniqueConstraint("course_id", "version", name="uq_question_set_course_version"),)


class Question(db.Model):
    __tablename__ = "question"

    id: Mapped[int] = mapped_column(primary_key=True)
    question_set_id: Mapped[int] = mapped_column(sa.ForeignKey("question_set.id", ondelete="CASCADE"))
    position: Mapped[int]
    key: Mapped[str] = mapped_column(sa.String(60))
    text: Mapped[str] = mapped_column(sa.String(500))
    kind: Mapped[QuestionKind] = mapped_column(enum_column(QuestionKind))
    required: Mapped[bool] = mapped_column(default=True)

    __table_args__ = (sa.UniqueConstraint("question_set_id", "key", name="uq_question_set_key"),)

    @property
    def is_rating(self) -> bool:
        return self.kind is QuestionKind.RATING


class Evaluation(db.Model):
    """One delegate's evaluation of one session: final once submitted."""

    __tablename__ = "evaluation"

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(sa.ForeignKey("booking.id", ondelete="RESTRICT"), unique=True)
    question_set_id: Mapped[int] = mapped_column(sa.ForeignKey("question_set.id", ondelete="RESTRICT"))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)

    booking: Mapped[Booking] = relationship()
    question_set: Mapped[QuestionSet] = relationship()
    answers: Mapped[list[Answer]] = relationship(cascade="all, delete-orphan", lazy="selectin")


class Answer(db.Model):
    __tablename__ = "answer"

    id: Mapped[int] = mapped_column(primary_key=True)
    evaluation_id: Mapped[int] = mapped_column(sa.ForeignKey("evaluation.id", ondelete="CASCADE"), index=True)
    question_id: Mapped[int] = mapped_column(sa.ForeignKey("question.id", ondelete="RESTRICT"), index=True)
    rating: Mapped[int | None]
    text: Mapped[str | None] = mapped_column(sa.Text)

    question: Mapped[Question] = relationship(lazy="joined")

    __table_args__ = (
        sa.UniqueConstraint("evaluation_id", "question_id", name="uq_answer_question"),
        sa.CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="rating_range"),
    )


class Certificate(db.Model):
    __tablename__ = "certificate"

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(sa.ForeignKey("booking.id", ondelete="RESTRICT"), unique=True)
    number: Mapped[str] = mapped_column(sa.String(40), unique=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The PDF as issued, rendered once: an issued certificate never changes, so it keeps the
    # partnership's name and logo of the day it was issued. Loaded only when asked for. None for a
    # certificate issued before PDFs were kept, until `flask lms store-certificates` renders it.
    pdf: Mapped[bytes | None] = mapped_column(sa.LargeBinary, deferred=True)
    # The holder's name as printed, kept when their data is erased and CERTIFICATE_NAME_AFTER_ERASURE
    # is "kept"; with "hidden" it stays empty and checking the certificate shows no name.
    kept_name: Mapped[str | None] = mapped_column(sa.String(200))

    booking: Mapped[Booking] = relationship()

    @property
    def holder_name(self) -> str | None:
        """The name a check of the certificate shows: None once the holder's data was erased and
        the name was not kept."""
        person = self.booking.user
        return self.kept_name if person.is_erased else person.full_name
