"""record whether the organisation's mail server offers SMTPUTF8 (non-ASCII local parts)

Revision ID: 0004_addresses
Revises: 0002_notifications_delivery
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_addresses"
down_revision: str | None = "0002_notifications_delivery"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("organisations") as batch:
        batch.add_column(sa.Column("smtp_utf8", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("organisations") as batch:
        batch.drop_column("smtp_utf8")
