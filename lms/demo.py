"""Demo data (filled in by the demo-data command)."""

from __future__ import annotations

import click


def register_demo_commands(group: click.Group) -> None:
    @group.command("demo-data")
    def demo_data():
        """Load a believable financial year of demo data into an empty database."""
        click.echo("Not built yet")
