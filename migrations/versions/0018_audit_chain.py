"""audit chain: each audit entry's place in its organisation's hash chain

Revision ID: 0018_audit_chain
Revises: 0017_account_holder
Create Date: 2026-12-04

Entries are written unsealed (the three columns NULL) by every writer, in bulk if need be; the
sealing step (services/audit_chain.py) gives them their place and hashes later, one sealer at
a time. Entries written before this migration are sealed by the first sealing step.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_audit_chain"
down_revision: str | None = "0017_account_holder"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chain_index", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("entry_hash", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_audit_log_chain", ["organisation_id", "chain_index"], unique=True)
        batch_op.create_index(
            "ix_audit_log_unsealed",
            ["id"],
            unique=False,
            postgresql_where=sa.text("chain_index IS NULL"),
            sqlite_where=sa.text("chain_index IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_unsealed")
        batch_op.drop_index("ix_audit_log_chain")
        batch_op.drop_column("entry_hash")
        batch_op.drop_column("prev_hash")
        batch_op.drop_column("chain_index")
