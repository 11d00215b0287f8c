"""the emails as sent: packed messages and their blobs stored once by content hash (issue 15 item 6)

Revision ID: 0022_sent_messages
Revises: 0021_silent_alert
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.db.models

revision: str = "0022_sent_messages"
down_revision: str | None = "0021_silent_alert"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sent_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("sent_at", services.db.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("skeleton", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"], ["deliveries.id"], name=op.f("fk_sent_messages_delivery_id_deliveries")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name=op.f("fk_sent_messages_organisation_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sent_messages")),
        sa.UniqueConstraint("delivery_id", name=op.f("uq_sent_messages_delivery_id")),
    )
    op.create_index("ix_sent_messages_sent_at", "sent_messages", ["sent_at"])
    op.create_table(
        "sent_blobs",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("last_used_at", services.db.models.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_sent_blobs")),
    )
    op.create_table(
        "sent_message_blobs",
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["sent_messages.id"],
            name=op.f("fk_sent_message_blobs_message_id_sent_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("message_id", "digest", name=op.f("pk_sent_message_blobs")),
    )
    op.create_index("ix_sent_message_blobs_digest", "sent_message_blobs", ["digest"])


def downgrade() -> None:
    op.drop_index("ix_sent_message_blobs_digest", table_name="sent_message_blobs")
    op.drop_table("sent_message_blobs")
    op.drop_table("sent_blobs")
    op.drop_index("ix_sent_messages_sent_at", table_name="sent_messages")
    op.drop_table("sent_messages")
