"""Writing messages to the outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app, g, has_request_context, render_template

from lms.extensions import db
from lms.messages.models import OutboxMessage


def absolute_url(endpoint: str, **values: Any) -> str:
    """A full link to a page, built without a request (jobs and commands send mail too)."""
    path = current_app.url_map.bind("localhost").build(endpoint, values)
    return current_app.config["BASE_URL"] + path


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
        link=absolute_url,
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
    if has_request_context():
        g.setdefault("outbox_messages", []).append(message)
    return message
