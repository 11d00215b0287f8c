"""App Home changes (issue 15): each committed state change owes its organisation's Homes a republish;
silent emails indexed for the open-problems listing

Revision ID: 0031_homefix
Revises: 0030_attach
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.db.models

revision: str = "0031_homefix"
down_revision: str | None = "0030_attach"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "home_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("changed_at", services.db.models.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_home_changes")),
    )
    op.create_index(
        "ix_deliveries_org_silent",
        "deliveries",
        ["organisation_id"],
        postgresql_where=sa.text("silent_alerted_at IS NOT NULL"),
        sqlite_where=sa.text("silent_alerted_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_org_silent", table_name="deliveries")
    op.drop_table("home_changes")
