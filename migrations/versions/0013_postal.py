"""structured postal addresses: street, additional, city, postal code, subdivision (+ the country column)

The free-text `address` of customers and organisations is read into parts with
`services.postal_address.parse_postal_address` — the same reading the import's old
`address` field and the `INVOICEBOT_ORG_ADDRESS` setting get — and then dropped: after this
revision nothing reads it. A country named on the last line fills `country` when that is
empty. The downgrade writes the parts back as lines.

Revision ID: 0013_postal
Revises: 0006_doors
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.postal_address import PostalAddress, address_text, parse_postal_address

revision: str = "0013_postal"
down_revision: str | None = "0006_doors"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("organisations", "customers")
PARTS = (("street", 200), ("additional", 200), ("city", 100), ("postal_code", 20), ("subdivision", 100))


def _table(name: str, *columns: str) -> sa.TableClause:
    return sa.table(name, sa.column("id", sa.Integer()), *(sa.column(column, sa.String()) for column in columns))


def upgrade() -> None:
    connection = op.get_bind()
    for name in TABLES:
        with op.batch_alter_table(name) as batch:
            for column, length in PARTS:
                batch.add_column(sa.Column(column, sa.String(length), nullable=False, server_default=""))
        table = _table(name, "address", "country", *(column for column, _ in PARTS))
        rows = connection.execute(sa.select(table.c.id, table.c.address, table.c.country)).all()
        for row_id, text, country in rows:
            if not (text or "").strip():
                continue
            parts = parse_postal_address(text, country=country or None)
            values = {column: getattr(parts, column)[:length] for column, length in PARTS}
            connection.execute(
                sa.update(table).where(table.c.id == row_id).values(**values, country=parts.country or country)
            )
        # SQLite 3.35+ drops a column in place; copying the table instead would trip the
        # foreign keys that point at it.
        with op.batch_alter_table(name, recreate="never") as batch:
            batch.drop_column("address")


def downgrade() -> None:
    connection = op.get_bind()
    for name in TABLES:
        with op.batch_alter_table(name) as batch:
            batch.add_column(sa.Column("address", sa.Text(), nullable=False, server_default=""))
        table = _table(name, "address", "country", *(column for column, _ in PARTS))
        columns = [table.c[column] for column, _ in PARTS]
        for row in connection.execute(sa.select(table.c.id, table.c.country, *columns)).all():
            parts = PostalAddress(**{column: getattr(row, column) or "" for column, _ in PARTS}, country=row.country)
            connection.execute(sa.update(table).where(table.c.id == row.id).values(address=address_text(parts)))
        with op.batch_alter_table(name, recreate="never") as batch:
            for column, _ in PARTS:
                batch.drop_column(column)
