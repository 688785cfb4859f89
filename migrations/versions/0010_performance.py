"""performance (indexes for sweeps, stored certificates)

The scheduler's sweeps read only what can be due: evaluation requests not yet reminded, by when
they were made; sessions by when they ended (follow-up invitations); follow-up surveys still
open, by when they close. Each index leads a sweep straight to the rows that can be due (the
evaluation index leaves the others out altogether), so a sweep with nothing due costs the same
whatever the years of history.

A certificate's PDF is rendered once, when it is issued, and kept: an issued certificate never
changes. Certificates issued before have none (they are rendered when downloaded until
`flask lms store-certificates` keeps them).

Revision ID: 0010_performance
Revises: 0009_past_records
Create Date: 2026-12-01 16:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


revision = '0010_performance'
down_revision = '0009_past_records'
branch_labels = None
depends_on = None

EVALUATION_DUE = 'evaluation_reminded_at IS NULL AND evaluation_requested_at IS NOT NULL'


def upgrade():
    op.add_column('certificate', sa.Column('pdf', sa.LargeBinary(), nullable=True))
    op.create_index(
        'ix_booking_evaluation_due',
        'booking',
        ['evaluation_requested_at'],
        postgresql_where=sa.text(EVALUATION_DUE),
        sqlite_where=sa.text(EVALUATION_DUE),
    )
    op.create_index('ix_course_session_ends_at', 'course_session', ['ends_at'])
    op.drop_index('ix_follow_up_open', table_name='follow_up')
    # Open surveys first (NULL, NULL), then by when they close. Not partial: SQLite keeps no
    # statistics for an empty partial index and would then read surveys through their sessions.
    op.create_index('ix_follow_up_open', 'follow_up', ['closed_at', 'submitted_at', 'closes_at'])


def downgrade():
    op.drop_index('ix_follow_up_open', table_name='follow_up')
    op.create_index('ix_follow_up_open', 'follow_up', ['closes_at', 'submitted_at'])
    op.drop_index('ix_course_session_ends_at', table_name='course_session')
    op.drop_index('ix_booking_evaluation_due', table_name='booking')
    # SQLite (3.35 and later) drops a plain column in place, so no table is copied.
    op.execute('ALTER TABLE certificate DROP COLUMN pdf')
