"""single sign-on and email domains

email_domain maps an email address's domain onto an organisation (one row a domain, lower case),
and says whether people of that domain must sign in through their organisation's provider.
external_identity links a person to their account at an OpenID Connect provider (one row a
provider and subject).

Revision ID: 0017_sign_in
Revises: 0016_charging_policy
Create Date: 2026-12-01 18:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

from lms.core.db import UTCDateTime

revision = '0017_sign_in'
down_revision = '0016_charging_policy'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "email_domain",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("requires_sso", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("added_by_id", sa.Integer(), nullable=True),
        sa.Column("added_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("domain = lower(domain)", name=op.f("ck_email_domain_lower_case")),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_email_domain_agency_id_agency"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["added_by_id"], ["user.id"], name=op.f("fk_email_domain_added_by_id_user"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_domain")),
        sa.UniqueConstraint("domain", name=op.f("uq_email_domain_domain")),
    )
    op.create_index(op.f("ix_email_domain_agency_id"), "email_domain", ["agency_id"], unique=False)
    op.create_table(
        "external_identity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("linked_at", UTCDateTime(), nullable=False),
        sa.Column("last_used_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_external_identity_user_id_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_external_identity")),
        sa.UniqueConstraint("provider", "subject", name=op.f("uq_external_identity_provider_subject")),
    )
    op.create_index(op.f("ix_external_identity_user_id"), "external_identity", ["user_id"], unique=False)


def downgrade():
    op.drop_index(op.f("ix_external_identity_user_id"), table_name="external_identity")
    op.drop_table("external_identity")
    op.drop_index(op.f("ix_email_domain_agency_id"), table_name="email_domain")
    op.drop_table("email_domain")
