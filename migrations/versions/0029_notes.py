"""Notes visibility (issue 16 item 4): internal or customer-visible notes, and a delivery's "show notes"

Invoice notes and line notes are customer-visible unless an import marks them internal; a
delivery shows the visible notes unless the review modal's box was unticked. Existing rows
keep today's behaviour (every note shown).

Revision ID: 0029_notes
Revises: 0028_texts
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029_notes"
down_revision: str | None = "0028_texts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("invoices") as batch:
        batch.add_column(sa.Column("notes_visible", sa.Boolean(), server_default=sa.true(), nullable=False))
    with op.batch_alter_table("invoice_lines") as batch:
        batch.add_column(sa.Column("note", sa.Text(), nullable=True))
        batch.add_column(sa.Column("note_visible", sa.Boolean(), server_default=sa.true(), nullable=False))
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("show_notes", sa.Boolean(), server_default=sa.true(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("show_notes")
    with op.batch_alter_table("invoice_lines") as batch:
        batch.drop_column("note_visible")
        batch.drop_column("note")
    with op.batch_alter_table("invoices") as batch:
        batch.drop_column("notes_visible")
