"""Reminder ladders as data, the stop-rule state, and the reminders produced (issue 14, items 3 and 6)

Revision ID: 0033_ladder
Revises: 0032_credit
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.db.models

revision: str = "0033_ladder"
down_revision: str | None = "0032_credit"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _organisation(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["organisation_id"], ["organisations.id"], name=op.f(f"fk_{table}_organisation_id_organisations")
    )


def upgrade() -> None:
    op.create_table(
        "reminder_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("offset_days", sa.Integer(), nullable=False),
        sa.Column("tone", sa.String(length=16), nullable=False),
        sa.Column("fee", services.db.models.Money(), nullable=True),
        _organisation("reminder_steps"),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_reminder_steps_customer_id_customers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminder_steps")),
        sa.UniqueConstraint("organisation_id", "customer_id", "offset_days", name="uq_reminder_steps_ladder_offset"),
    )
    op.create_index("ix_reminder_steps_customer", "reminder_steps", ["customer_id"])
    op.create_table(
        "invoice_reminder_states",
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("disputed_reason", sa.Text(), nullable=True),
        sa.Column("disputed_by", sa.String(length=64), nullable=True),
        sa.Column("disputed_at", services.db.models.UtcDateTime(timezone=True), nullable=True),
        sa.Column("promised_until", sa.Date(), nullable=True),
        sa.Column("reminders_on", sa.Boolean(), nullable=True),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", services.db.models.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
            name=op.f("fk_invoice_reminder_states_invoice_id_invoices"),
            ondelete="CASCADE",
        ),
        _organisation("invoice_reminder_states"),
        sa.PrimaryKeyConstraint("invoice_id", name=op.f("pk_invoice_reminder_states")),
    )
    op.create_table(
        "customer_reminder_states",
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("paused_until", sa.Date(), nullable=True),
        sa.Column("paused_by", sa.String(length=64), nullable=False),
        sa.Column("paused_at", services.db.models.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_reminder_states_customer_id_customers"),
            ondelete="CASCADE",
        ),
        _organisation("customer_reminder_states"),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customer_reminder_states")),
    )
    op.create_table(
        "reminders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("step_offset", sa.Integer(), nullable=False),
        sa.Column("tone", sa.String(length=16), nullable=False),
        sa.Column("fee", services.db.models.Money(), nullable=True),
        sa.Column("cohort", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", services.db.models.UtcDateTime(timezone=True), nullable=False),
        _organisation("reminders"),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_reminders_customer_id_customers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminders")),
        sa.UniqueConstraint(
            "organisation_id", "customer_id", "step_offset", "cohort", "state", name="uq_reminders_customer_step_cohort"
        ),
    )
    op.create_index("ix_reminders_org_state", "reminders", ["organisation_id", "state", "id"])
    op.create_table(
        "reminder_invoices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reminder_id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("step_offset", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["reminder_id"],
            ["reminders.id"],
            name=op.f("fk_reminder_invoices_reminder_id_reminders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_reminder_invoices_invoice_id_invoices"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminder_invoices")),
        sa.UniqueConstraint("invoice_id", "step_offset", name="uq_reminder_invoices_invoice_step"),
    )
    op.create_index("ix_reminder_invoices_reminder_id", "reminder_invoices", ["reminder_id"])


def downgrade() -> None:
    op.drop_index("ix_reminder_invoices_reminder_id", table_name="reminder_invoices")
    op.drop_table("reminder_invoices")
    op.drop_index("ix_reminders_org_state", table_name="reminders")
    op.drop_table("reminders")
    op.drop_table("customer_reminder_states")
    op.drop_table("invoice_reminder_states")
    op.drop_index("ix_reminder_steps_customer", table_name="reminder_steps")
    op.drop_table("reminder_steps")
