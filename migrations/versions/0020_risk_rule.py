"""risk rule: ask for approval on a new domain or changed recipients (issue 17 item 2), per organisation

Revision ID: 0020_risk_rule
Revises: 0019_payments
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_risk_rule"
down_revision: str | None = "0019_payments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("organisation_settings") as batch:
        batch.add_column(sa.Column("approve_new_recipients", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("organisation_settings") as batch:
        batch.drop_column("approve_new_recipients")
