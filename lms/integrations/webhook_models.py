"""Webhooks: an integration's subscriptions to events, and each event's delivery to them.

A delivery is written in the same transaction as the change it reports, with its payload as it
was then; the dispatcher sends it later, outside any request, and records every attempt.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from lms.core.db import UTCDateTime, enum_column
from lms.core.enums import TitledEnum
from lms.extensions import db
from lms.integrations.models import Integration


class DeliveryStatus(TitledEnum):
    PENDING = ("pending", "Waiting to be sent")
    DELIVERED = ("delivered", "Delivered")
    FAILED = ("failed", "Failed")


class WebhookSubscription(db.Model):
    """Where an integration wants events sent, which ones, and the secret they are signed with.

    The secret is kept as it is (not hashed): the app needs it to sign every delivery. After a
    rotation the previous secret also signs until `previous_secret_until`, so the receiver can
    switch without losing an event."""

    __tablename__ = "webhook_subscription"

    id: Mapped[int] = mapped_column(primary_key=True)
    integration_id: Mapped[int] = mapped_column(
        sa.ForeignKey("integration.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(sa.String(2000))
    secret: Mapped[str] = mapped_column(sa.String(100))
    previous_secret: Mapped[str | None] = mapped_column(sa.String(100))
    previous_secret_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    secret_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    integration: Mapped[Integration] = relationship(lazy="joined")
    events: Mapped[list[WebhookSubscriptionEvent]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="WebhookSubscriptionEvent.event_type"
    )

    @property
    def event_types(self) -> list[str]:
        return [event.event_type for event in self.events]

    @property
    def is_sending(self) -> bool:
        """Whether new events are sent: the subscription is on, its integration not revoked and its
        organisation, if it has one, still active."""
        return self.active and self.integration.may_act

    def secrets(self, now: datetime) -> list[str]:
        return signing_secrets(self.secret, self.previous_secret, self.previous_secret_until, now)


def signing_secrets(secret: str, previous: str | None, until: datetime | None, now: datetime) -> list[str]:
    """The secrets a delivery is signed with now: the current one, and the previous one for a
    while after a rotation."""
    return [secret, previous] if previous and until is not None and until > now else [secret]


class WebhookSubscriptionEvent(db.Model):
    """One event type a subscription wants (a row each, so emitting is a join, not a text match)."""

    __tablename__ = "webhook_subscription_event"

    subscription_id: Mapped[int] = mapped_column(
        sa.ForeignKey("webhook_subscription.id", ondelete="CASCADE"), primary_key=True
    )
    event_type: Mapped[str] = mapped_column(sa.String(60), primary_key=True)

    __table_args__ = (sa.Index("ix_webhook_subscription_event_event_type", "event_type"),)


class WebhookDelivery(db.Model):
    """One event for one subscription: the body as it was when the event happened, and where its
    sending stands. The event id is the same on every attempt, so receivers can drop a repeat."""

    __tablename__ = "webhook_delivery"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(
        sa.ForeignKey("webhook_subscription.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[str] = mapped_column(sa.String(40))
    event_type: Mapped[str] = mapped_column(sa.String(60))
    payload: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[DeliveryStatus] = mapped_column(enum_column(DeliveryStatus, length=16))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(sa.String(500))

    subscription: Mapped[WebhookSubscription] = relationship()
    attempt_log: Mapped[list[WebhookAttempt]] = relationship(
        back_populates="delivery", order_by="WebhookAttempt.id", lazy="selectin"
    )

    __table_args__ = (
        sa.UniqueConstraint("subscription_id", "event_id"),
        sa.CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        sa.Index(
            "ix_webhook_delivery_due",
            "next_attempt_at",
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        ),
    )

    @property
    def is_pending(self) -> bool:
        return self.status is DeliveryStatus.PENDING

    @property
    def is_delivered(self) -> bool:
        return self.status is DeliveryStatus.DELIVERED

    @property
    def has_failed(self) -> bool:
        return self.status is DeliveryStatus.FAILED

    @property
    def can_send_again(self) -> bool:
        return self.has_failed


class WebhookAttempt(db.Model):
    """One try at sending a delivery: when, how long it took, and what the receiver answered."""

    __tablename__ = "webhook_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        sa.ForeignKey("webhook_delivery.id", ondelete="CASCADE"), index=True
    )
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_ms: Mapped[int]
    status_code: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(sa.String(500))
    succeeded: Mapped[bool]

    delivery: Mapped[WebhookDelivery] = relationship(back_populates="attempt_log")
