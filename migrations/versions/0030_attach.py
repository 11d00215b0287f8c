"""Extra attachments (issue 16): uploaded files stored once by SHA-256, and which delivery carries which

Revision ID: 0030_attach
Revises: 0029_notes
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030_attach"
down_revision: str | None = "0029_notes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stored_files",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("media_type", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_stored_files")),
    )
    op.create_table(
        "delivery_attachments",
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
            name=op.f("fk_delivery_attachments_delivery_id_deliveries"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["digest"], ["stored_files.digest"], name=op.f("fk_delivery_attachments_digest_stored_files")
        ),
        sa.PrimaryKeyConstraint("delivery_id", "position", name=op.f("pk_delivery_attachments")),
    )
    op.create_index(op.f("ix_delivery_attachments_digest"), "delivery_attachments", ["digest"])


def downgrade() -> None:
    op.drop_index(op.f("ix_delivery_attachments_digest"), table_name="delivery_attachments")
    op.drop_table("delivery_attachments")
    op.drop_table("stored_files")
