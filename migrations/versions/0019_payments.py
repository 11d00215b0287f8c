"""payments: what was received against an invoice, full or partial, from Slack, the CLI or an import

Revision ID: 0019_payments
Revises: 0018_audit_chain
Create Date: 2026-12-04

`idempotency_key` is set for imported lines (invoice + amount + date + reference), so importing
the same bank export twice records nothing twice; a unique constraint enforces it. Payments
recorded by a person leave it empty (NULLs never collide).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.db.models

revision: str = "0019_payments"
down_revision: str | None = "0018_audit_chain"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("amount", services.db.models.Money(), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("reference", sa.String(length=140), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", services.db.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("idempotency_key", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name=op.f("fk_payments_organisation_id_organisations")
        ),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"], name=op.f("fk_payments_invoice_id_invoices")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("organisation_id", "idempotency_key", name="uq_payments_org_idempotency_key"),
    )
    op.create_index("ix_payments_invoice", "payments", ["invoice_id"])


def downgrade() -> None:
    op.drop_index("ix_payments_invoice", table_name="payments")
    op.drop_table("payments")
