"""The import commands: a progress bar, a summary, each problem as `line N, column C: reason`, and an
exit status a script can test."""

from __future__ import annotations

import pytest

from lms.accounts.models import Agency, User
from lms.bookings.models import Booking
from lms.extensions import db
from lms.messages.models import OutboxMessage
from tests.conftest import Mailbox
from tests.imports.helpers import DATA, count, organisation_coded


def command(app, *args: str):
    return app.test_cli_runner().invoke(args=["lms", *args])


def path(name: str) -> str:
    return str(DATA / name)


def test_import_organisations_imports_and_summarises(app):
    result = command(app, "import-organisations", path("gias-establishments.csv"))
    assert result.exit_code == 0, result.output
    assert "Imported 11 rows: 11 created, 1 closed and not in the list: left out." in result.output
    assert "Note: line 3, column Trusts (name): Brookvale Learning Trust is added" in result.output
    assert organisation_coded("TRUST-9901") is not None
    again = command(app, "import-organisations", path("gias-establishments.csv"))
    assert again.exit_code == 0 and "11 unchanged, 1 closed and not in the list" in again.output


def test_a_dry_run_changes_nothing(app):
    result = command(app, "import-organisations", "--dry-run", path("epraccur.csv"))
    assert result.exit_code == 0, result.output
    assert "ready to import (4 created, 2 closed and not in the list: left out)" in result.output
    assert count(Agency) == 0


def test_problems_are_printed_by_line_and_column_and_the_command_fails(app):
    result = command(app, "import-organisations", path("organisations-bad.csv"))
    assert result.exit_code == 1
    assert "line 3, column category: “Schools” is not one of" in result.output
    assert "line 7, column official_code: This code is already on line 2 of this file." in result.output
    assert "nothing was imported" in result.output
    assert count(Agency) == 0


def test_the_layout_can_be_forced(app):
    result = command(app, "import-organisations", "--layout", "gias", path("organisations.csv"))
    assert result.exit_code == 2 and "missing the column" in result.output


def test_a_file_that_cannot_be_read_exits_with_2(app, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    result = command(app, "import-people", str(empty))
    assert result.exit_code == 2 and "The file is empty" in result.output


def test_the_go_live_sequence_loads_everyone_and_their_history(app, mailbox):
    for name, file in (
        ("import-organisations", "organisations.csv"),
        ("import-people", "people.csv"),
        ("import-programme", "programme.csv"),
        ("import-attendance", "attendance.csv"),
    ):
        result = command(app, name, path(file))
        assert result.exit_code == 0, result.output
    assert count(User) == 4 and count(Booking) == 4
    # New people's invitations went as soon as the import was committed.
    assert len(mailbox.messages) == 4
    assert "/password/reset/" in Mailbox.text(mailbox.to("amira.khan@example.org")[0])


def test_people_can_be_imported_without_invitations(app, mailbox):
    assert command(app, "import-organisations", path("organisations.csv")).exit_code == 0
    result = command(app, "import-people", "--no-invitations", path("people.csv"))
    assert result.exit_code == 0, result.output
    assert "Imported 4 rows: 4 created." in result.output
    assert count(OutboxMessage) == 0 and mailbox.messages == []


@pytest.mark.parametrize(
    "name", ["import-organisations", "import-people", "import-programme", "import-attendance"]
)
def test_each_command_says_what_it_does(app, name):
    result = command(app, name, "--help")
    assert result.exit_code == 0 and "--dry-run" in result.output


def test_a_failed_import_leaves_the_session_usable(app):
    command(app, "import-people", path("people-bad.csv"))
    assert db.session.scalar(db.select(db.func.count(User.id))) == 0
