"""`flask lms ...` commands."""

from __future__ import annotations

import click
from flask import Flask

from lms.core.clock import now
from lms.core.db import write_intent


def register_cli(app: Flask) -> None:
    @app.cli.group("lms")
    def lms_group():
        """Safeguarding training commands."""

    @lms_group.command("deliver-mail")
    def deliver_mail():
        """Send every message in the outbox that is due."""
        from lms.messages.delivery import deliver_pending

        with write_intent():
            sent = deliver_pending(now())
        click.echo(f"Sent {sent} message(s).")

    @lms_group.command("scheduler")
    @click.option("--once", is_flag=True, help="Run every job once and stop.")
    def scheduler(once: bool):
        """Run the periodic jobs: reminders, joining instructions, evaluations, follow-ups, mail."""
        from flask import current_app

        from lms.scheduler import JOBS, build_scheduler, run_all_once

        if once:
            run_all_once(current_app._get_current_object())
            click.echo("Ran every job once.")
            return
        names = ", ".join(f"{job.__name__} every {seconds}s" for job, seconds in JOBS)
        click.echo(f"Scheduler running: {names}. Ctrl+C stops it.")
        try:
            build_scheduler(current_app._get_current_object()).start()
        except (KeyboardInterrupt, SystemExit):
            click.echo("Scheduler stopped.")

    @lms_group.command("is-empty")
    def is_empty():
        """Print "empty" when no agency or person exists yet, otherwise "not empty"."""
        import sqlalchemy as sa

        from lms.accounts.models import Agency, User
        from lms.extensions import db

        has_rows = db.session.scalar(sa.select(sa.exists().where(Agency.id.is_not(None)))) or (
            db.session.scalar(sa.select(sa.exists().where(User.id.is_not(None))))
        )
        click.echo("not empty" if has_rows else "empty")

    from lms.datasets.generate import register_generate_command
    from lms.demo import register_demo_commands

    register_demo_commands(lms_group)
    register_generate_command(lms_group)
