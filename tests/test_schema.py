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
