"""organisations: the bank account holder's name (printed with the IBAN, in the EPC QR code and the UBL)

Revision ID: 0017_account_holder
Revises: 0016_installations
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_account_holder"
down_revision: str | None = "0016_installations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("organisations") as batch:
        batch.add_column(sa.Column("account_holder", sa.String(length=200), server_default="", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("organisations") as batch:
        batch.drop_column("account_holder")
