"""reporting

Revision ID: 0005_reporting
Revises: 0004_finance
Create Date: 2026-11-22 00:12:45.619734

"""
import warnings

from alembic import op
import sqlalchemy as sa

import lms.core.db
import lms.core.timezones


# revision identifiers, used by Alembic.
revision = '0005_reporting'
down_revision = '0004_finance'
branch_labels = None
depends_on = None


def upgrade():
    # Add the column, fill it from each session's start in UK time, then require it.
    op.add_column('course_session', sa.Column('local_month', sa.String(length=7), nullable=True))
    connection = op.get_bind()
    sessions = sa.table('course_session', sa.column('id', sa.Integer), sa.column('starts_at', lms.core.db.UTCDateTime()),
                        sa.column('local_month', sa.String))
    for session_id, starts_at in connection.execute(sa.select(sessions.c.id, sessions.c.starts_at)).all():
        month = lms.core.timezones.to_london(starts_at).strftime('%Y-%m')
        connection.execute(sa.update(sessions).where(sessions.c.id == session_id).values(local_month=month))
    with warnings.catch_warnings():
        # SQLite copies the table, reflecting its neighbours, whose lower() indexes it cannot read.
        warnings.simplefilter('ignore')
        with op.batch_alter_table('course_session', schema=None) as batch_op:
            batch_op.alter_column('local_month', existing_type=sa.String(length=7), nullable=False)
            batch_op.create_index(batch_op.f('ix_course_session_local_month'), ['local_month'], unique=False)


def downgrade():
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        with op.batch_alter_table('course_session', schema=None) as batch_op:
            batch_op.drop_index(batch_op.f('ix_course_session_local_month'))
            batch_op.drop_column('local_month')
