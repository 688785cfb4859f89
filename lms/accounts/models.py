"""People, their roles, and the agencies they work for."""

from __future__ import annotations

import secrets
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, column_property, mapped_column, relationship

from lms.core.db import UTCDateTime, enum_column
from lms.core.enums import TitledEnum
from lms.extensions import db


class Role(TitledEnum):
    PRACTITIONER = ("practitioner", "Practitioner")
    TRAINER = ("trainer", "Trainer")
    LND_ADMIN = ("lnd_admin", "L&D admin")
    FINANCE = ("finance", "Finance")
    # Follows the training and charges of the staff of one or more organisations (TrainingContact).
    TRAINING_CONTACT = ("training_contact", "Training contact")


# Roles whose accounts need a second factor while STAFF_TWO_FACTOR is on: they see other people's
# training records, bookings or money.
STAFF_ROLES = (Role.LND_ADMIN, Role.FINANCE, Role.TRAINING_CONTACT)


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
    """An organisation a practitioner belongs to: a police force, a trust, the council, and each
    school, GP practice and nursery on its own. Its charges are billed to it, or to its parent when
    it has one (a multi-academy trust for its schools)."""

    __tablename__ = "agency"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    short_name: Mapped[str | None] = mapped_column(sa.String(40))
    category: Mapped[AgencyCategory] = mapped_column(enum_column(AgencyCategory))
    # The code it is officially known by: a school's URN, a GP practice's ODS code.
    official_code: Mapped[str | None] = mapped_column(sa.String(20))
    postcode: Mapped[str | None] = mapped_column(sa.String(10))
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("agency.id"), index=True)
    billing_contact: Mapped[str | None] = mapped_column(sa.String(200))
    billing_email: Mapped[str | None] = mapped_column(sa.String(254))
    billing_address: Mapped[str | None] = mapped_column(sa.Text)
    purchase_order: Mapped[str | None] = mapped_column(sa.String(100))
    is_active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    members: Mapped[list[User]] = relationship(back_populates="agency")
    parent: Mapped[Agency | None] = relationship(remote_side=[id])

    __table_args__ = (
        sa.Index("uq_agency_name_lower", sa.func.lower(name), unique=True),
        sa.Index("uq_agency_official_code", official_code, unique=True),
    )

    @property
    def display_name(self) -> str:
        return f"{self.name} ({self.short_name})" if self.short_name else self.name

    @property
    def payer(self) -> Agency:
        """Who is invoiced for this organisation's charges: its parent when it has one."""
        return self.parent if self.parent is not None else self

    @property
    def label(self) -> str:
        """How people pick it from a list: the name, and the postcode when there is one."""
        return f"{self.display_name}, {self.postcode}" if self.postcode else self.display_name


class OrganisationMapping(db.Model):
    """An organisation name people typed under "other", mapped by L&D onto an agency."""

    __tablename__ = "organisation_mapping"

    id: Mapped[int] = mapped_column(primary_key=True)
    name_key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    agency_id: Mapped[int] = mapped_column(sa.ForeignKey("agency.id", ondelete="CASCADE"))
    mapped_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    mapped_at: Mapped[datetime] = mapped_column(UTCDateTime)

    agency: Mapped[Agency] = relationship()


class TrainingContact(db.Model):
    """A person who follows one organisation's staff: their bookings, attendance and charges.
    What it covers is decided in lms/accounts/contacts.py."""

    __tablename__ = "training_contact"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"), index=True)
    agency_id: Mapped[int] = mapped_column(sa.ForeignKey("agency.id", ondelete="CASCADE"), index=True)
    added_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    agency: Mapped[Agency] = relationship()

    __table_args__ = (sa.UniqueConstraint("user_id", "agency_id"),)


class ContactSummarySent(db.Model):
    """The monthly summary a training contact was sent: one a person a month, so the sweep that
    sends them can run any number of times."""

    __tablename__ = "contact_summary_sent"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"))
    # The first day of the month the summary covers.
    month: Mapped[date] = mapped_column(sa.Date)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (sa.UniqueConstraint("user_id", "month"),)


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
    # Registered, but has not yet followed the link emailed to the address: cannot sign in yet.
    confirmation_pending: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When their personal data was erased (lms/privacy/erasure.py): "Former delegate #id" from then on.
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    agency: Mapped[Agency | None] = relationship(back_populates="members")
    role_rows: Mapped[list[UserRole]] = relationship(cascade="all, delete-orphan", lazy="selectin")
    second_factor: Mapped[SecondFactor | None] = relationship(
        cascade="all, delete-orphan", passive_deletes=True
    )
    # The roles as one text ("lnd_admin,practitioner"), read with the person by every signed-in
    # request (undeferred) rather than their role rows, which the ORM would join and make into
    # objects; `roles` reads it until the role rows themselves are loaded.
    role_names: Mapped[str | None] = column_property(
        sa.select(sa.func.aggregate_strings(UserRole.role, ","))
        .where(UserRole.user_id == id)
        .correlate_except(UserRole)
        .scalar_subquery(),
        deferred=True,
    )

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
        loaded = self.__dict__
        if "role_rows" not in loaded and "role_names" in loaded:
            return {Role(name) for name in (loaded["role_names"] or "").split(",") if name}
        return {row.role for row in self.role_rows}

    def has_role(self, *roles: Role) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def is_staff(self) -> bool:
        """L&D and finance: they grant roles, issue invoices and export personal data."""
        return self.has_role(*STAFF_ROLES)

    @property
    def has_second_factor(self) -> bool:
        return self.second_factor is not None

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
        return self.is_enabled and self.erased_at is None

    @property
    def is_erased(self) -> bool:
        return self.erased_at is not None


class SecondFactor(db.Model):
    """A person's authenticator app: the secret it shares with us (TOTP, RFC 6238)."""

    __tablename__ = "second_factor"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    totp_secret: Mapped[str] = mapped_column(sa.String(32))
    enabled_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RecoveryCode(db.Model):
    """A one-time code for when the authenticator app is lost; only its hash is kept."""

    __tablename__ = "recovery_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"))
    code_hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (sa.UniqueConstraint("user_id", "code_hash"),)


class SignInSession(db.Model):
    """One browser's sign-in. Its secret token travels in the session cookie and only its hash is
    kept here, so ending the row signs that browser out."""

    __tablename__ = "sign_in_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    address: Mapped[str | None] = mapped_column(sa.String(45))
    user_agent: Mapped[str | None] = mapped_column(sa.String(200))
    # When the second factor was last given in this browser: some actions need it recently.
    factor_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()

    def factor_is_fresh(self, now: datetime, minutes: int) -> bool:
        return self.factor_confirmed_at is not None and now - self.factor_confirmed_at <= timedelta(
            minutes=minutes
        )

    @property
    def browser(self) -> str:
        """The browser and system, in words, from its user agent."""
        return describe_user_agent(self.user_agent or "")


# What a user agent says, in the order to look (Edge and Opera also say Chrome; Chrome says Safari).
BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
SYSTEMS = (
    ("Windows", "Windows"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Android", "Android"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def describe_user_agent(agent: str) -> str:
    """"Firefox on Windows": enough to tell one's own sign-ins apart."""
    browser = next((name for mark, name in BROWSERS if mark in agent), "")
    system = next((name for mark, name in SYSTEMS if mark in agent), "")
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or "An unknown browser"
