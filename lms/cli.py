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

    @lms_group.command("create-admin")
    @click.option("--email", required=True, help="Their work email address; they sign in with it.")
    @click.option("--name", required=True, help='Their full name, e.g. "Sam Patel".')
    @click.option(
        "--organisation",
        default=None,
        help="The organisation they work for (by default the partnership's name); settle it later "
        "under Organisations.",
    )
    @click.option("--invite", is_flag=True, help="Email them a link to choose a password instead.")
    def create_admin(email: str, name: str, organisation: str | None, invite: bool):
        """Create an L&D administrator: the first one on a new installation, or a way back in."""
        from flask import current_app

        from lms.accounts.services import (
            AccountError,
            PersonDetails,
            create_administrator,
            find_user_by_email,
        )
        from lms.core.db import unit_of_work
        from lms.messages.delivery import deliver_pending

        first, _, last = " ".join(name.split()).rpartition(" ")
        if not first or not last:
            raise click.BadParameter('give a first and a last name, e.g. "Sam Patel"', param_hint="--name")
        existed = find_user_by_email(email) is not None
        password = None
        if not invite and not existed:
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        details = PersonDetails(
            first_name=first,
            last_name=last,
            email=email,
            job_role="Learning and development",
            agency_id=None,
            other_organisation=organisation or current_app.config["PARTNERSHIP_NAME"],
        )
        moment = now()
        try:
            with unit_of_work():
                user, invitation = create_administrator(details, password=password, now=moment)
        except AccountError as error:
            raise click.ClickException(error.message) from None
        if existed:
            click.echo(f"{user.email} already had an account: it now has the L&D administrator role.")
        elif invitation is not None:
            with write_intent():
                deliver_pending(moment)
            click.echo(f"Invited {user.email}: they have been emailed a link to choose a password.")
            click.echo("If no email arrives, check the MAIL_ settings; the scheduler retries every minute.")
        else:
            click.echo(f"Created {user.full_name} <{user.email}>, L&D administrator.")
            click.echo(f"Sign in at {current_app.config['BASE_URL']}/sign-in")
        if current_app.config["STAFF_TWO_FACTOR"]:
            click.echo(
                "At the next sign-in they set up two-step sign-in: have a phone with an authenticator "
                "app ready."
            )

    @lms_group.command("store-certificates")
    def store_certificates():
        """Render and keep the PDF of every certificate issued before PDFs were kept."""
        from lms.core.db import unit_of_work
        from lms.evaluations.services import store_missing_certificates

        total = 0
        while True:
            with unit_of_work():
                stored = store_missing_certificates()
            if not stored:
                break
            total += stored
            click.echo(f"Stored {total} so far...")
        click.echo(f"Stored {total} certificates.")

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
    from lms.imports.cli import register_import_commands

    register_demo_commands(lms_group)
    register_generate_command(lms_group)
    register_import_commands(lms_group)
