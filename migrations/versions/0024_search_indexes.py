"""search indexes: invoices by amount for `/invoices find` (issue 15 item 7)

Revision ID: 0024_search_indexes
Revises: 0023_digest
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0024_search_indexes"
down_revision: str | None = "0023_digest"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_invoices_org_total", "invoices", ["organisation_id", "total"])


def downgrade() -> None:
    op.drop_index("ix_invoices_org_total", table_name="invoices")
