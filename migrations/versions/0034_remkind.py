"""A delivery can be a reminder's email: deliveries.reminder_id (issue 14, sending reminders)

Revision ID: 0034_remkind
Revises: 0033_ladder
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0034_remkind"
down_revision: str | None = "0033_ladder"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("reminder_id", sa.Integer(), nullable=True))
        batch.create_unique_constraint(op.f("uq_deliveries_reminder_id"), ["reminder_id"])
        batch.create_foreign_key(op.f("fk_deliveries_reminder_id_reminders"), "reminders", ["reminder_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_constraint(op.f("fk_deliveries_reminder_id_reminders"), type_="foreignkey")
        batch.drop_constraint(op.f("uq_deliveries_reminder_id"), type_="unique")
        batch.drop_column("reminder_id")
