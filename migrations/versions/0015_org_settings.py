"""organisation settings: roles, policy, channels, sender and defaults per organisation, and a version

Revision ID: 0015_org_settings
Revises: 0014_heartbeats
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.db.models

revision: str = "0015_org_settings"
down_revision: str | None = "0014_heartbeats"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("organisations") as batch:
        batch.add_column(sa.Column("settings_version", sa.Integer(), server_default="0", nullable=False))
    op.create_table(
        "organisation_settings",
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("senders", sa.JSON(), nullable=False),
        sa.Column("approvers", sa.JSON(), nullable=False),
        sa.Column("admins", sa.JSON(), nullable=False),
        sa.Column("group_members", sa.JSON(), nullable=False),
        sa.Column("approval_policy", sa.String(length=16), nullable=False),
        sa.Column("approval_threshold", services.db.models.Money(), nullable=False),
        sa.Column("notify_channel", sa.String(length=32), nullable=True),
        sa.Column("approvers_channel", sa.String(length=32), nullable=True),
        sa.Column("sender_name", sa.String(length=200), nullable=True),
        sa.Column("bounce_domain", sa.String(length=253), nullable=True),
        sa.Column("default_currency", sa.String(length=3), nullable=False),
        sa.Column("cc", sa.JSON(), nullable=False),
        sa.Column("bcc", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", services.db.models.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_organisation_settings_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("organisation_id", name=op.f("pk_organisation_settings")),
    )


def downgrade() -> None:
    op.drop_table("organisation_settings")
    with op.batch_alter_table("organisations") as batch:
        batch.drop_column("settings_version")
