"""training contacts

A training contact follows the staff of one or more organisations (training_contact: one row a
person and organisation); the role joins the known values of user_role.role. The monthly summary
each contact is sent is recorded in contact_summary_sent, one a person a month.

Revision ID: 0015_training_contacts
Revises: 0014_approvals
Create Date: 2026-12-01 18:00:00.000000

"""

import warnings

import sqlalchemy as sa
from alembic import op

from lms.core.db import UTCDateTime

revision = "0015_training_contacts"
down_revision = "0014_approvals"
branch_labels = None
depends_on = None


ROLES_BEFORE = ("practitioner", "trainer", "lnd_admin", "finance")
ROLES_AFTER = (*ROLES_BEFORE, "training_contact")


def known_values_check(column, values):
    listed = ", ".join("'{}'".format(value.replace("'", "''")) for value in values)
    return f"{column} IN ({listed})"


def upgrade():
    _replace_role_check(ROLES_AFTER)
    op.create_table(
        "training_contact",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("added_by_id", sa.Integer(), nullable=True),
        sa.Column("added_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_training_contact_user_id_user"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["agency.id"],
            name=op.f("fk_training_contact_agency_id_agency"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["added_by_id"],
            ["user.id"],
            name=op.f("fk_training_contact_added_by_id_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_contact")),
        sa.UniqueConstraint("user_id", "agency_id", name=op.f("uq_training_contact_user_id_agency_id")),
    )
    op.create_index(op.f("ix_training_contact_user_id"), "training_contact", ["user_id"], unique=False)
    op.create_index(op.f("ix_training_contact_agency_id"), "training_contact", ["agency_id"], unique=False)
    op.create_table(
        "contact_summary_sent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_contact_summary_sent_user_id_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_summary_sent")),
        sa.UniqueConstraint("user_id", "month", name=op.f("uq_contact_summary_sent_user_id_month")),
    )


def downgrade():
    op.drop_table("contact_summary_sent")
    op.drop_index(op.f("ix_training_contact_agency_id"), table_name="training_contact")
    op.drop_index(op.f("ix_training_contact_user_id"), table_name="training_contact")
    op.drop_table("training_contact")
    # Nobody may keep a role the older schema does not know: the role goes with its organisations.
    op.execute("DELETE FROM user_role WHERE role = 'training_contact'")
    _replace_role_check(ROLES_BEFORE)


def _replace_role_check(values):
    """user_role is referred to by no other table, so copying it in SQLite's batch mode touches
    nothing else."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with op.batch_alter_table("user_role", schema=None) as batch_op:
            batch_op.drop_constraint(op.f("ck_user_role_role_known"), type_="check")
            batch_op.create_check_constraint(
                op.f("ck_user_role_role_known"), known_values_check("role", values)
            )
