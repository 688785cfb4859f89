"""The schema comes only from the migrations, and the models agree with them."""

import warnings

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from config import BASE_DIR
from lms.extensions import db

MIGRATIONS = str(BASE_DIR / "migrations")


def schema_differences():
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        with warnings.catch_warnings():
            # SQLite cannot reflect expression indexes (lower(name)); PostgreSQL checks them.
            warnings.filterwarnings("ignore", message=".*expression-based index.*")
            return compare_metadata(context, db.metadata)


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
