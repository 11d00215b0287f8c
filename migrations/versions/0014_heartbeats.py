"""loop heartbeats: each background loop's last verdict, per process, for the web's /healthz

Revision ID: 0014_heartbeats
Revises: 0012_ubl
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.db.models

revision: str = "0014_heartbeats"
down_revision: str | None = "0012_ubl"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "loop_heartbeats",
        sa.Column("process", sa.String(length=200), nullable=False),
        sa.Column("loop", sa.String(length=100), nullable=False),
        sa.Column("healthy", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("seconds_since_progress", sa.Float(), nullable=False),
        sa.Column("reported_at", services.db.models.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("process", "loop", name=op.f("pk_loop_heartbeats")),
    )


def downgrade() -> None:
    op.drop_table("loop_heartbeats")
