"""webhook receipts: signed tokens and provider event ids remembered for their signature window

Revision ID: 0006_doors
Revises: 0009_linkpage
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.db.models

revision: str = "0006_doors"
down_revision: str | None = "0009_linkpage"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webhook_receipts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("expires_at", services.db.models.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_receipts")),
        sa.UniqueConstraint("provider", "key", name="uq_webhook_receipts_provider_key"),
    )
    op.create_index("ix_webhook_receipts_expires_at", "webhook_receipts", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_webhook_receipts_expires_at", table_name="webhook_receipts")
    op.drop_table("webhook_receipts")
