"""The schema comes only from the migrations, and the models agree with them."""

import re
import warnings

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from config import BASE_DIR
from lms.core.db import known_values_check
from lms.extensions import db

MIGRATIONS = str(BASE_DIR / "migrations")


def schema_differences():
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        with warnings.catch_warnings():
            # SQLite cannot reflect expression indexes (lower(name)); PostgreSQL checks them.
            warnings.filterwarnings("ignore", message=".*expression-based index.*")
            return compare_metadata(context, db.metadata)


def quoted_values(sql: str) -> set[str]:
    """The string literals in a CHECK as SQLite keeps it or as PostgreSQL prints it back."""
    return {value.replace("''", "'") for value in re.findall(r"'((?:[^']|'')*)'", sql)}


def enum_columns() -> list[sa.Column]:
    return [
        column
        for table in db.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, sa.Enum)
    ]


def checks_of(table: sa.Table) -> dict[str, sa.CheckConstraint]:
    return {c.name: c for c in table.constraints if isinstance(c, sa.CheckConstraint)}


@pytest.mark.committing
def test_models_and_migrations_agree(app):
    with app.app_context():
        assert schema_differences() == []


@pytest.mark.committing
def test_migrations_run_down_to_empty_and_up_again(app):
    with app.app_context():
        downgrade(directory=MIGRATIONS, revision="base")
        tables = set(sa.inspect(db.engine).get_table_names()) - {"alembic_version"}
        assert tables == set()
        upgrade(directory=MIGRATIONS)
        assert "course_session" in sa.inspect(db.engine).get_table_names()
        assert schema_differences() == []


def test_every_enum_column_is_checked_against_its_values(app_context):
    columns = enum_columns()
    assert len(columns) >= 16
    for column in columns:
        check = checks_of(column.table).get(f"ck_{column.table.name}_{column.name}_known")
        assert check is not None, f"{column.table.name}.{column.name} has no CHECK of its values"
        assert str(check.sqltext) == str(known_values_check(column.name, column.type.enums).sqltext)


def test_the_migrated_database_holds_every_check_the_models_declare(app_context):
    # Alembic's comparison leaves CHECK constraints out; this one reads them back from the database.
    inspector = sa.inspect(db.session.connection())
    for table in db.metadata.sorted_tables:
        declared = checks_of(table)
        in_database = {c["name"]: c["sqltext"] for c in inspector.get_check_constraints(table.name)}
        assert set(in_database) == set(declared), table.name
        for column in table.columns:
            if isinstance(column.type, sa.Enum):
                sql = in_database[f"ck_{table.name}_{column.name}_known"]
                assert quoted_values(sql) == set(column.type.enums), (table.name, column.name)


def test_the_database_refuses_agency_and_course_names_differing_only_in_case(app_context):
    from tests.factories import create_agency, create_course

    create_agency("Birmingham City Council")
    with pytest.raises(sa.exc.IntegrityError), db.session.begin_nested():
        create_agency("BIRMINGHAM city council")
    create_course("Online Safety")
    with pytest.raises(sa.exc.IntegrityError), db.session.begin_nested():
        create_course("online safety")


@pytest.mark.committing
def test_the_reporting_migration_fills_each_sessions_uk_month(app):
    from datetime import UTC, datetime

    with app.app_context():
        downgrade(directory=MIGRATIONS, revision="0004_finance")
        now = datetime(2026, 5, 1, tzinfo=UTC).replace(tzinfo=None)
        with db.engine.begin() as connection:
            connection.execute(sa.text("INSERT INTO topic (id, name) VALUES (1, 'Neglect')"))
            connection.execute(
                sa.text(
                    "INSERT INTO course (id, title, topic_id, description, target_audience, level,"
                    " delivery_mode, duration_minutes, provider, is_active, created_at)"
                    " VALUES (1, 'GCP2', 1, '', '', 'foundation', 'webinar', 180, 'NSPCC', :yes, :now)"
                ),
                {"yes": True, "now": now},
            )
            # 23:30 UTC on 31 May is 00:30 on 1 June in London.
            connection.execute(
                sa.text(
                    "INSERT INTO course_session (id, course_id, starts_at, ends_at, delivery_mode, places,"
                    " overbook_percent, cost_pence, status, sequence, created_at, updated_at) VALUES"
                    " (1, 1, :starts, :ends, 'webinar', 20, 10, 0, 'scheduled', 0, :now, :now)"
                ),
                {"starts": datetime(2026, 5, 31, 23, 30), "ends": datetime(2026, 6, 1, 2, 30), "now": now},
            )
        upgrade(directory=MIGRATIONS)
        with db.engine.connect() as connection:
            assert connection.execute(sa.text("SELECT local_month FROM course_session")).scalar() == "2026-06"
        with db.engine.begin() as connection:
            for table in ("course_session", "course", "topic"):
                connection.execute(sa.text(f"DELETE FROM {table}"))  # noqa: S608 - fixed names


@pytest.mark.committing
def test_the_known_values_migration_names_a_value_it_would_refuse(app, capsys):
    from datetime import datetime

    with app.app_context():
        downgrade(directory=MIGRATIONS, revision="0006_budget")
        try:
            with db.engine.begin() as connection:
                connection.execute(sa.text("INSERT INTO topic (id, name) VALUES (1, 'Neglect')"))
                connection.execute(
                    sa.text(
                        "INSERT INTO course (id, title, topic_id, description, target_audience, level,"
                        " delivery_mode, duration_minutes, provider, is_active, created_at)"
                        " VALUES (1, 'GCP2', 1, '', '', 'expert', 'webinar', 180, 'NSPCC', :yes, :now)"
                    ),
                    {"yes": True, "now": datetime(2026, 5, 1)},
                )
            # Flask-Migrate prints the error and exits, leaving the database as it was.
            with pytest.raises(SystemExit):
                upgrade(directory=MIGRATIONS)
            assert "course.level holds values no longer known: ['expert']" in capsys.readouterr().err
            with db.engine.connect() as connection:
                assert connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == (
                    "0006_budget"
                )
            with db.engine.begin() as connection:
                connection.execute(sa.text("UPDATE course SET level = 'advanced'"))
            upgrade(directory=MIGRATIONS)
            with db.engine.connect() as connection:
                assert connection.execute(sa.text("SELECT level FROM course")).scalar() == "advanced"
        finally:
            with db.engine.begin() as connection:
                for table in ("course", "topic"):
                    connection.execute(sa.text(f"DELETE FROM {table}"))  # noqa: S608 - fixed names
            upgrade(directory=MIGRATIONS)
        assert schema_differences() == []
