"""silent-email alert (issue 15 item 3): hours per delivery route, per organisation; the once-only mark

Revision ID: 0021_silent_alert
Revises: 0020_risk_rule
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.db.models

revision: str = "0021_silent_alert"
down_revision: str | None = "0020_risk_rule"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("organisation_settings") as batch:
        batch.add_column(sa.Column("silent_after_provider_hours", sa.Integer(), server_default="24", nullable=False))
        batch.add_column(sa.Column("silent_after_smtp_hours", sa.Integer(), server_default="72", nullable=False))
    with op.batch_alter_table("deliveries") as batch:
        # Set in the transaction that owes the alert, by an UPDATE … WHERE silent_alerted_at IS NULL: once only.
        batch.add_column(sa.Column("silent_alerted_at", services.db.models.UtcDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("silent_alerted_at")
    with op.batch_alter_table("organisation_settings") as batch:
        batch.drop_column("silent_after_smtp_hours")
        batch.drop_column("silent_after_provider_hours")
