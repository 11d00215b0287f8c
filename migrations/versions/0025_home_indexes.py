"""App Home indexes (issue 15): owed invoices by age, an organisation's sends by status and by time

Revision ID: 0025_home_indexes
Revises: 0024_search_indexes
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0025_home_indexes"
down_revision: str | None = "0024_search_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # *Due today and overdue*: sent invoices by due date, covering the currency and total it sums.
    op.create_index("ix_invoices_owed", "invoices", ["organisation_id", "status", "due_date", "currency", "total"])
    # *Waiting for my approval*, *Scheduled*, *Needs attention*: an organisation's sends in a status, oldest first.
    op.create_index("ix_deliveries_org_status", "deliveries", ["organisation_id", "status", "created_at"])
    # *Recently sent*: an organisation's sends, newest first.
    op.create_index("ix_deliveries_org_created", "deliveries", ["organisation_id", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_org_created", table_name="deliveries")
    op.drop_index("ix_deliveries_org_status", table_name="deliveries")
    op.drop_index("ix_invoices_owed", table_name="invoices")
