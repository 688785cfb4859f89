"""Writing messages to the outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app, render_template

from lms.extensions import db
from lms.messages.models import OutboxMessage


def queue_message(
    kind: str,
    *,
    to: str,
    subject: str,
    template: str,
    now: datetime,
    user: Any | None = None,
    attachments: list[dict[str, Any]] | None = None,
    dedupe_key: str | None = None,
    **context: Any,
) -> OutboxMessage:
    """Render a plain-text message and add it to the outbox; sent after the transaction commits."""
    body = render_template(
        f"messages/{template}",
        config=current_app.config,
        base_url=current_app.config["BASE_URL"],
        recipient=user,
        **context,
    )
    message = OutboxMessage(
        kind=kind,
        recipient=to,
        user_id=user.id if user is not None else None,
        subject=subject,
        body=body,
        attachments=attachments or [],
        dedupe_key=dedupe_key,
        created_at=now,
        next_attempt_at=now,
        attempts=0,
    )
    db.session.add(message)
    return message
