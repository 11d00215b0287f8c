"""App Home viewers (issue 15): who opened App Home, so any process's notifier can republish it

Revision ID: 0026_home_viewers
Revises: 0025_home_indexes
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.db.models

revision: str = "0026_home_viewers"
down_revision: str | None = "0025_home_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "home_viewers",
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("opened_at", services.db.models.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_home_viewers_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("organisation_id", "user_id", name=op.f("pk_home_viewers")),
    )
    op.create_index("ix_home_viewers_org_opened", "home_viewers", ["organisation_id", "opened_at"])


def downgrade() -> None:
    op.drop_index("ix_home_viewers_org_opened", table_name="home_viewers")
    op.drop_table("home_viewers")
