"""revoked invoice links: a withdrawn link answers 410 Gone instead of the unknown-link 404

Revision ID: 0009_linkpage
Revises: 0004_addresses
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.db.models

revision: str = "0009_linkpage"
down_revision: str | None = "0004_addresses"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "revoked_invoice_links",
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("revoked_by", sa.String(length=64), nullable=False),
        sa.Column("revoked_at", services.db.models.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
            name=op.f("fk_revoked_invoice_links_invoice_id_invoices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_revoked_invoice_links_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("token_sha256", name=op.f("pk_revoked_invoice_links")),
    )
    op.create_index(
        op.f("ix_revoked_invoice_links_invoice_id"), "revoked_invoice_links", ["invoice_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_revoked_invoice_links_invoice_id"), table_name="revoked_invoice_links")
    op.drop_table("revoked_invoice_links")
