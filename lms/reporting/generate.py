"""`flask lms generate-bookings`: a large synthetic dataset for measuring the reports."""

from __future__ import annotations

import click


def register_generate_command(group: click.Group) -> None:
    @group.command("generate-bookings")
    @click.option("--count", default=1_000_000, show_default=True, help="How many bookings to create.")
    def generate_bookings(count: int):
        """Fill an empty database with COUNT bookings over several years, for benchmarks."""
        raise click.ClickException("Not written yet.")
