"""bookings

Revision ID: 0002_bookings
Revises: 0001_foundation
Create Date: 2026-11-21 23:18:28.109515

"""
import warnings

from alembic import op
import sqlalchemy as sa

import lms.core.db


# revision identifiers, used by Alembic.
revision = '0002_bookings'
down_revision = '0001_foundation'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == 'sqlite':
        # SQLite adds a foreign key only by copying the table (batch mode). Reflecting the
        # referred course table meets its lower(title) index, which SQLite cannot reflect.
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            with op.batch_alter_table('course_session', recreate='always') as batch_op:
                _add_session_columns(batch_op)
    else:
        with op.batch_alter_table('course_session') as batch_op:
            _add_session_columns(batch_op)

    op.create_table('booking',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('agency_id', sa.Integer(), nullable=True),
    sa.Column('other_organisation', sa.String(length=200), nullable=True),
    sa.Column('status', sa.Enum('confirmed', 'waiting', 'cancelled', 'substituted', name='bookingstatus', native_enum=False, length=32), nullable=False),
    sa.Column('booked_at', lms.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('booked_by_id', sa.Integer(), nullable=True),
    sa.Column('confirmed_at', lms.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('waitlisted_at', lms.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('promoted_without_notice', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('promoted_at', lms.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', lms.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('cancelled_by_id', sa.Integer(), nullable=True),
    sa.Column('cancellation_reason', sa.Enum('delegate', 'removed', 'session_cancelled', name='cancellationreason', native_enum=False, length=32), nullable=True),
    sa.Column('is_late_cancellation', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('substitute_of_id', sa.Integer(), nullable=True),
    sa.Column('is_walk_in', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('attendance', sa.Enum('attended', 'partial', 'no_show', name='attendance', native_enum=False, length=32), nullable=True),
    sa.Column('attendance_marked_at', lms.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('attendance_marked_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("attendance IS NULL OR status = 'confirmed'", name=op.f('ck_booking_attendance_confirmed')),
    sa.CheckConstraint("status IN ('confirmed', 'waiting', 'cancelled', 'substituted')", name=op.f('ck_booking_status_known')),
    sa.ForeignKeyConstraint(['agency_id'], ['agency.id'], name=op.f('fk_booking_agency_id_agency'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['attendance_marked_by_id'], ['user.id'], name=op.f('fk_booking_attendance_marked_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['booked_by_id'], ['user.id'], name=op.f('fk_booking_booked_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['cancelled_by_id'], ['user.id'], name=op.f('fk_booking_cancelled_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['session_id'], ['course_session.id'], name=op.f('fk_booking_session_id_course_session'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['substitute_of_id'], ['booking.id'], name=op.f('fk_booking_substitute_of_id_booking'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_booking_user_id_user'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_booking'))
    )
    with op.batch_alter_table('booking', schema=None) as batch_op:
        batch_op.create_index('ix_booking_session_status', ['session_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_booking_user_id'), ['user_id'], unique=False)
        batch_op.create_index('uq_booking_live_per_person', ['session_id', 'user_id'], unique=True, postgresql_where=sa.text("status IN ('confirmed', 'waiting')"), sqlite_where=sa.text("status IN ('confirmed', 'waiting')"))

    # ### end Alembic commands ###


def _add_session_columns(batch_op):
    batch_op.add_column(sa.Column('sequence', sa.Integer(), server_default='0', nullable=False))
    batch_op.add_column(sa.Column('register_closed_at', lms.core.db.UTCDateTime(timezone=True), nullable=True))
    batch_op.add_column(sa.Column('register_closed_by_id', sa.Integer(), nullable=True))
    batch_op.create_foreign_key(
        batch_op.f('fk_course_session_register_closed_by_id_user'), 'user',
        ['register_closed_by_id'], ['id'], ondelete='SET NULL',
    )


def downgrade():
    # ### commands auto generated by Alembic - please adjust! ###
    if op.get_bind().dialect.name == 'sqlite':
        # SQLite 3.35+ drops a plain column in place; the foreign key column needs its constraint gone first.
        op.execute('PRAGMA foreign_keys=OFF')
        with warnings.catch_warnings():
            # Reflecting the referred course table meets its lower(title) index, which SQLite cannot reflect.
            warnings.simplefilter('ignore')
            with op.batch_alter_table('course_session', schema=None, recreate='always') as batch_op:
                batch_op.drop_column('register_closed_by_id')
                batch_op.drop_column('register_closed_at')
                batch_op.drop_column('sequence')
        op.execute('PRAGMA foreign_keys=ON')
    else:
        op.drop_constraint(op.f('fk_course_session_register_closed_by_id_user'), 'course_session', type_='foreignkey')
        op.drop_column('course_session', 'register_closed_by_id')
        op.drop_column('course_session', 'register_closed_at')
        op.drop_column('course_session', 'sequence')

    with op.batch_alter_table('booking', schema=None) as batch_op:
        batch_op.drop_index('uq_booking_live_per_person', postgresql_where=sa.text("status IN ('confirmed', 'waiting')"), sqlite_where=sa.text("status IN ('confirmed', 'waiting')"))
        batch_op.drop_index(batch_op.f('ix_booking_user_id'))
        batch_op.drop_index('ix_booking_session_status')

    op.drop_table('booking')
    # ### end Alembic commands ###
