"""People, their roles, and the agencies they work for."""

from __future__ import annotations

import secrets
from datetime import datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.core.db import UTCDateTime, enum_column
from lms.core.enums import TitledEnum
from lms.extensions import db


class Role(TitledEnum):
    PRACTITIONER = ("practitioner", "Practitioner")
    TRAINER = ("trainer", "Trainer")
    LND_ADMIN = ("lnd_admin", "L&D admin")
    FINANCE = ("finance", "Finance")


class AgencyCategory(TitledEnum):
    POLICE = ("police", "Police")
    LOCAL_AUTHORITY = ("local_authority", "Local authority")
    CHILDRENS_SOCIAL_CARE = ("childrens_social_care", "Children's social care")
    HEALTH_COMMISSIONER = ("health_commissioner", "Health - commissioner")
    HEALTH_ACUTE = ("health_acute", "Health - acute trust")
    HEALTH_COMMUNITY = ("health_community", "Health - community trust")
    HEALTH_MENTAL = ("health_mental", "Health - mental health trust")
    HEALTH_PRIMARY = ("health_primary", "Health - primary care")
    EDUCATION_EARLY_YEARS = ("education_early_years", "Education - early years")
    EDUCATION_SCHOOL = ("education_school", "Education - school")
    EDUCATION_POST16 = ("education_post16", "Education - post-16")
    YOUTH_JUSTICE = ("youth_justice", "Youth justice")
    PROBATION = ("probation", "Probation")
    COURTS = ("courts", "Courts and family justice")
    VOLUNTARY = ("voluntary", "Voluntary and community")
    FAITH = ("faith", "Faith")
    HOUSING = ("housing", "Housing")
    PRIVATE = ("private", "Private and independent")
    OTHER = ("other", "Other")

    @classmethod
    def from_title(cls, title: str) -> AgencyCategory:
        for member in cls:
            if member.title.lower() == title.strip().lower():
                return member
        raise ValueError(f"Unknown agency category {title!r}")


def organisation_key(name: str) -> str:
    """How typed organisation names are grouped: case and spacing do not matter."""
    return " ".join(name.split()).casefold()


class Agency(db.Model):
    __tablename__ = "agency"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    short_name: Mapped[str | None] = mapped_column(sa.String(40))
    category: Mapped[AgencyCategory] = mapped_column(enum_column(AgencyCategory))
    billing_contact: Mapped[str | None] = mapped_column(sa.String(200))
    billing_email: Mapped[str | None] = mapped_column(sa.String(254))
    billing_address: Mapped[str | None] = mapped_column(sa.Text)
    purchase_order: Mapped[str | None] = mapped_column(sa.String(100))
    is_active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    members: Mapped[list[User]] = relationship(back_populates="agency")

    __table_args__ = (sa.Index("uq_agency_name_lower", sa.func.lower(name), unique=True),)

    @property
    def display_name(self) -> str:
        return f"{self.name} ({self.short_name})" if self.short_name else self.name


class OrganisationMapping(db.Model):
    """An organisation name people typed under "other", mapped by L&D onto an agency."""

    __tablename__ = "organisation_mapping"

    id: Mapped[int] = mapped_column(primary_key=True)
    name_key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    agency_id: Mapped[int] = mapped_column(sa.ForeignKey("agency.id", ondelete="CASCADE"))
    mapped_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    mapped_at: Mapped[datetime] = mapped_column(UTCDateTime)

    agency: Mapped[Agency] = relationship()


class UserRole(db.Model):
    __tablename__ = "user_role"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[Role] = mapped_column(enum_column(Role), primary_key=True)


class User(UserMixin, db.Model):
    __tablename__ = "user"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    first_name: Mapped[str] = mapped_column(sa.String(100))
    last_name: Mapped[str] = mapped_column(sa.String(100))
    job_role: Mapped[str] = mapped_column(sa.String(150))
    agency_id: Mapped[int | None] = mapped_column(sa.ForeignKey("agency.id", ondelete="RESTRICT"), index=True)
    other_organisation: Mapped[str | None] = mapped_column(sa.String(200))
    line_manager_name: Mapped[str | None] = mapped_column(sa.String(200))
    line_manager_email: Mapped[str | None] = mapped_column(sa.String(254))
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    # Part of the sign-in cookie; changing it signs the person out everywhere.
    session_token: Mapped[str] = mapped_column(sa.String(64), unique=True)
    is_enabled: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    agency: Mapped[Agency | None] = relationship(back_populates="members")
    role_rows: Mapped[list[UserRole]] = relationship(cascade="all, delete-orphan", lazy="selectin")

    __table_args__ = (
        sa.CheckConstraint(
            "(agency_id IS NOT NULL) OR (other_organisation IS NOT NULL)",
            name="has_organisation",
        ),
    )

    @staticmethod
    def normalise_email(email: str) -> str:
        return email.strip().lower()

    @staticmethod
    def new_session_token() -> str:
        return secrets.token_urlsafe(32)

    @hybrid_property
    def full_name(self) -> str:
        return self.first_name + " " + self.last_name

    @property
    def roles(self) -> set[Role]:
        return {row.role for row in self.role_rows}

    def has_role(self, *roles: Role) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def organisation_name(self) -> str:
        if self.agency is not None:
            return self.agency.name
        return self.other_organisation or ""

    # Flask-Login
    def get_id(self) -> str:
        return self.session_token

    @property
    def is_active(self) -> bool:  # type: ignore[override]
        return self.is_enabled
