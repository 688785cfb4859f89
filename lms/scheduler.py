"""The scheduler: periodic, idempotent sweeps, run in their own process (`flask lms scheduler`).

Each job selects what is due now from the database and calls the same service the pages use,
so a scheduler that was down catches up when it starts, and two running at once do no harm.
The outbox has a thread of its own here (lms.messages.delivery.Dispatcher): it sends mail as soon
as a commit anywhere wrote some (LISTEN/NOTIFY on PostgreSQL), and sweeps every few seconds; each
sweep then posts the webhook deliveries that are due.
Never started by create_app or the web workers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask

from lms.core.clock import now
from lms.core.db import write_intent
from lms.extensions import db

log = logging.getLogger(__name__)


def run_job(app: Flask, job: Callable[..., object]) -> None:
    """Run one sweep inside an app context and commit it; a failure is logged and retried next run."""
    with app.app_context(), write_intent():
        try:
            done = job(now())
            db.session.commit()
            if done:
                log.info("%s: %s", job.__name__, done)
        except Exception:
            log.exception("Scheduled job %s failed", job.__name__)
            db.session.rollback()
        finally:
            db.session.remove()


def deliver_outbox(moment: datetime) -> int:
    from lms.messages.delivery import deliver_pending

    return deliver_pending(moment)


def deliver_webhooks(moment: datetime) -> int:
    from lms.integrations.webhook_delivery import deliver_webhooks as deliver

    return deliver(moment)


def forget_request_keys(moment: datetime) -> int:
    from lms.core.idempotency import forget_request_keys as forget

    return forget(moment)


def session_reminders(moment: datetime) -> int:
    from lms.bookings.reminders import send_session_reminders

    return send_session_reminders(moment)


def joining_instructions(moment: datetime) -> int:
    from lms.bookings.reminders import send_joining_instructions

    return send_joining_instructions(moment)


def approvals(moment: datetime) -> int:
    """Approvals past their deadline lapse (their places go to the next waiting); managers are
    reminded once, halfway to the deadline."""
    from lms.bookings.approvals import expire_due, remind_due

    return expire_due(moment) + remind_due(moment)


def registers(moment: datetime) -> int:
    """Registers left open: the trainer is reminded once, then the register closes itself."""
    from lms.bookings.registers import close_open_registers, remind_open_registers

    return remind_open_registers(moment) + close_open_registers(moment)


def evaluation_reminders(moment: datetime) -> int:
    from lms.evaluations.services import remind_evaluations

    return remind_evaluations(moment)


def follow_ups(moment: datetime) -> int:
    from lms.followups.services import close_due, invite_due, remind_due

    return invite_due(moment) + remind_due(moment) + close_due(moment)


def contact_summaries(moment: datetime) -> int:
    from lms.accounts.contact_summary import send_contact_summaries

    return send_contact_summaries(moment)


def retention(moment: datetime) -> int:
    """Personal data past its retention period is anonymised or deleted (RETENTION_* settings)."""
    from lms.privacy.retention import sweep_retention

    return sweep_retention(moment)


OUTBOX_SECONDS = 5

# (job, seconds between runs). The outbox goes last, so `--once` sends what the others wrote.
JOBS: list[tuple[Callable[[datetime], int], int]] = [
    (session_reminders, 15 * 60),
    (joining_instructions, 15 * 60),
    (approvals, 15 * 60),
    (registers, 15 * 60),
    (evaluation_reminders, 60 * 60),
    (follow_ups, 60 * 60),
    (forget_request_keys, 60 * 60),
    (contact_summaries, 60 * 60),
    (retention, 24 * 60 * 60),
    (deliver_outbox, OUTBOX_SECONDS),
    (deliver_webhooks, OUTBOX_SECONDS),
]


def run_all_once(app: Flask) -> None:
    """Every sweep once, in order (the `--once` option, and tests)."""
    for job, _ in JOBS:
        run_job(app, job)


class Scheduler(BlockingScheduler):
    """The periodic jobs, and the outbox's dispatcher thread beside them."""

    def __init__(self, app: Flask) -> None:
        super().__init__(timezone="UTC")
        from lms.messages.delivery import Dispatcher

        self.dispatcher = Dispatcher(app, interval=OUTBOX_SECONDS)

    def start(self, *args, **kwargs) -> None:
        self.dispatcher.start()
        super().start(*args, **kwargs)

    def shutdown(self, wait: bool = True) -> None:
        self.dispatcher.stop()
        super().shutdown(wait)


def build_scheduler(app: Flask) -> Scheduler:
    scheduler = Scheduler(app)
    for job, seconds in JOBS:
        if job in (deliver_outbox, deliver_webhooks):
            continue  # the dispatcher's thread sweeps the outbox and the webhooks, and is woken at once
        scheduler.add_job(
            run_job,
            IntervalTrigger(seconds=seconds),
            args=(app, job),
            id=job.__name__,
            name=job.__name__,
            # One run at a time; runs missed while busy or down collapse into one, whenever it is.
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            next_run_time=now(),
        )
    return scheduler
