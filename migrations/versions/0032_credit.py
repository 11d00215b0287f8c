"""Credit notes (issue 16): an invoices row of kind credit_note, correcting another invoice

Revision ID: 0032_credit
Revises: 0031_homefix
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0032_credit"
down_revision: str | None = "0031_homefix"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("invoices") as batch:
        batch.add_column(sa.Column("kind", sa.String(length=16), server_default="invoice", nullable=False))
        batch.add_column(sa.Column("corrects_invoice_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("credit_reason", sa.Text(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_invoices_corrects_invoice_id_invoices"), "invoices", ["corrects_invoice_id"], ["id"]
        )
        batch.create_index("ix_invoices_corrects", ["corrects_invoice_id"])
        # App Home's covering index for what is owed now filters on the kind too (credit notes owe nothing)
        batch.drop_index("ix_invoices_owed")
        batch.create_index("ix_invoices_owed", ["organisation_id", "status", "kind", "due_date", "currency", "total"])


def downgrade() -> None:
    with op.batch_alter_table("invoices") as batch:
        batch.drop_index("ix_invoices_owed")
        batch.create_index("ix_invoices_owed", ["organisation_id", "status", "due_date", "currency", "total"])
        batch.drop_index("ix_invoices_corrects")
        batch.drop_constraint(op.f("fk_invoices_corrects_invoice_id_invoices"), type_="foreignkey")
        batch.drop_column("credit_reason")
        batch.drop_column("corrects_invoice_id")
        batch.drop_column("kind")
