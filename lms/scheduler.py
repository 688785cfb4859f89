"""The scheduler: periodic, idempotent sweeps, run in their own process (`flask lms scheduler`).

Each job selects what is due now from the database and calls the same service the pages use,
so a scheduler that was down catches up when it starts, and two running at once do no harm.
Never started by create_app or the web workers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask

from lms.core.clock import now
from lms.extensions import db

log = logging.getLogger(__name__)


def run_job(app: Flask, job: Callable[..., object]) -> None:
    """Run one sweep inside an app context; a failure is logged and the next run tries again."""
    with app.app_context():
        try:
            job(now())
        except Exception:
            log.exception("Scheduled job %s failed", job.__name__)
            db.session.rollback()
        finally:
            db.session.remove()


def deliver_outbox(moment) -> int:
    from lms.messages.delivery import deliver_pending

    return deliver_pending(moment)


JOBS: list[tuple[Callable[..., object], int]] = [
    (deliver_outbox, 60),
]


def build_scheduler(app: Flask) -> BlockingScheduler:
    scheduler = BlockingScheduler(timezone="UTC")
    for job, seconds in JOBS:
        scheduler.add_job(
            run_job,
            IntervalTrigger(seconds=seconds),
            args=(app, job),
            id=job.__name__,
            # One run at a time; runs missed while busy or down collapse into one, whenever it is.
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            next_run_time=now(),
        )
    return scheduler
