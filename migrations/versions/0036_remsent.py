"""Reminders turned into their email become `sent` (issue 14): the owed ones stay few

Dispatched reminders used to stay `queued` for ever, so every minute's queries over owed
reminders (dispatch's claim, the preview, the loops' organisation lists) read every reminder
ever produced. Rows a delivery already names become `sent`; a partial unique index keeps one
owed-or-emailed reminder per customer, step and day, as the `queued` row alone did before.

Revision ID: 0036_remsent
Revises: 0035_preview
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0036_remsent"
down_revision: str | None = "0035_preview"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOT_SKIPPED = sa.text("state <> 'skipped'")


def upgrade() -> None:
    op.execute(
        "UPDATE reminders SET state = 'sent' WHERE state = 'queued'"
        " AND EXISTS (SELECT 1 FROM deliveries WHERE deliveries.reminder_id = reminders.id)"
    )
    op.create_index(
        "uq_reminders_one_email",
        "reminders",
        ["organisation_id", "customer_id", "step_offset", "cohort"],
        unique=True,
        sqlite_where=NOT_SKIPPED,
        postgresql_where=NOT_SKIPPED,
    )


def downgrade() -> None:
    op.drop_index("uq_reminders_one_email", table_name="reminders")
    op.execute("UPDATE reminders SET state = 'queued' WHERE state = 'sent'")
