"""document validations: the UBL checks' verdict per e-invoice content digest

Revision ID: 0012_ubl
Revises: 0013_postal
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.db.models

revision: str = "0012_ubl"
down_revision: str | None = "0013_postal"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "document_validations",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("failures", sa.JSON(), nullable=False),
        sa.Column("validated_at", services.db.models.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_document_validations")),
    )


def downgrade() -> None:
    op.drop_table("document_validations")
