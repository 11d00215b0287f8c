"""The send window and autosend (issue 14): when scheduled mail may leave, whose holidays close it, who autosends

Revision ID: 0027_window
Revises: 0026_home_viewers
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027_window"
down_revision: str | None = "0026_home_viewers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("organisation_settings") as batch:
        batch.add_column(sa.Column("send_window", sa.String(64), server_default="Mon-Fri 09:00-17:00", nullable=False))
        batch.add_column(sa.Column("holiday_country", sa.String(2), server_default="", nullable=False))
        batch.add_column(sa.Column("autosend", sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("autosend", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("autosend")
    with op.batch_alter_table("organisation_settings") as batch:
        batch.drop_column("autosend")
        batch.drop_column("holiday_country")
        batch.drop_column("send_window")
