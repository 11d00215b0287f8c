"""daily digest (issue 15 item 2): the organisation's time zone, digest hour and weekly summary day,
and the once-per-period claims (organisation, kind, period) that make a scheduled post happen once

Revision ID: 0023_digest
Revises: 0021_silent_alert
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.db.models

revision: str = "0023_digest"
down_revision: str | None = "0021_silent_alert"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("organisation_settings") as batch:
        batch.add_column(sa.Column("time_zone", sa.String(64), server_default="UTC", nullable=False))
        batch.add_column(sa.Column("digest_hour", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("weekly_summary_day", sa.Integer(), server_default="0", nullable=False))
    op.create_table(
        "period_claims",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("period", sa.String(length=32), nullable=False),
        sa.Column("claimed_at", services.db.models.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name=op.f("fk_period_claims_organisation_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_period_claims")),
        sa.UniqueConstraint("organisation_id", "kind", "period", name="uq_period_claims_org_kind_period"),
    )


def downgrade() -> None:
    op.drop_table("period_claims")
    with op.batch_alter_table("organisation_settings") as batch:
        batch.drop_column("weekly_summary_day")
        batch.drop_column("digest_hour")
        batch.drop_column("time_zone")
