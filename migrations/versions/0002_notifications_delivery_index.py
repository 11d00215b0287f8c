"""index notifications by delivery (coalescing looks them up on every event)

Revision ID: 0002_notifications_delivery
Revises: c6b16ca3458b
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002_notifications_delivery"
down_revision: str | None = "c6b16ca3458b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_notifications_delivery", "notifications", ["delivery_id", "kind", "status"])


def downgrade() -> None:
    op.drop_index("ix_notifications_delivery", table_name="notifications")
