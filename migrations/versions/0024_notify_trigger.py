"""the outbox wakes its dispatchers from the database

On PostgreSQL, a statement that adds messages to the outbox or webhook deliveries notifies the
dispatchers' channel (lms_outbox) itself, delivered when the transaction commits, so a request
that writes them does not send a NOTIFY of its own. Nothing changes on SQLite, which has no
NOTIFY: its dispatcher is woken in the process.

Revision ID: 0024_notify_trigger
Revises: 0023_privacy
Create Date: 2026-12-01 21:50:00.000000

"""
from alembic import op

revision = '0024_notify_trigger'
down_revision = '0023_privacy'
branch_labels = None
depends_on = None

TABLES = ('outbox_message', 'webhook_delivery')


def upgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute(
        """
        CREATE FUNCTION lms_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF EXISTS (SELECT 1 FROM added) THEN
                PERFORM pg_notify('lms_outbox', '');
            END IF;
            RETURN NULL;
        END
        $$
        """
    )
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_notify AFTER INSERT ON {table} "
            "REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION lms_outbox_notify()"
        )


def downgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    for table in TABLES:
        op.execute(f"DROP TRIGGER {table}_notify ON {table}")
    op.execute("DROP FUNCTION lms_outbox_notify()")
