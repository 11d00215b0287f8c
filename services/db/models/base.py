"""The declarative base: the one MetaData (with its naming convention) and the column types.

Money is `Decimal` end to end (see `Money`); times are timezone-aware UTC (`UtcDateTime`).
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    MetaData,
    Numeric,
    String,
    Table,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeEngine

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_public_token() -> str:
    """A 256-bit random, URL-safe token for the invoice link page."""
    return secrets.token_urlsafe(32)


class Money(TypeDecorator[Decimal]):
    """Decimal in the database: NUMERIC on PostgreSQL, exact text on SQLite.

    SQLite has no decimal type; NUMERIC there silently becomes a float. Text keeps the
    exact value and sorting by amount is not something any query here needs.
    """

    impl = Numeric(18, 4)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(Numeric(18, 4, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        value = Decimal(value)
        return format(value, "f") if dialect.name == "sqlite" else value  # plain notation: never 1E+2

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(str(value)) if not isinstance(value, Decimal) else value


MONEY_SCALE = 4  # `Money` keeps at most this many decimals (NUMERIC(18, 4))


class _SummedMoney(TypeDecorator[Decimal]):
    """What `money_sum` reads back: NUMERIC on PostgreSQL, an integer of 1/10,000ths on SQLite."""

    impl = Numeric(38, MONEY_SCALE)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(38, MONEY_SCALE, asdecimal=True))

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-MONEY_SCALE)
        return value if isinstance(value, Decimal) else Decimal(str(value))


class money_sum(FunctionElement[Decimal]):
    """SUM of a `Money` column, exact on both databases. PostgreSQL sums NUMERIC exactly; SQLite
    would add the text up as floats, so there each amount is summed as a whole number of
    1/10,000ths (it has at most `MONEY_SCALE` decimals) and turned back into a Decimal when read."""

    type = _SummedMoney()
    inherit_cache = True
    name = "money_sum"


@compiles(money_sum)
def _money_sum(element: money_sum, compiler: SQLCompiler, **kw: Any) -> str:
    return f"SUM({compiler.process(element.clauses, **kw)})"


@compiles(money_sum, "sqlite")
def _money_sum_sqlite(element: money_sum, compiler: SQLCompiler, **kw: Any) -> str:
    """Each text amount as a whole number of 1/10,000ths. Below `_FLOAT_EXACT` the float path is
    exact (a double holds such an amount to well under half a 1/10,000th, so rounding recovers
    it) and fast; above it, the text (plain notation, as `Money` writes it) is read digit for
    digit: its sign, its integer part and its first 4 decimals."""
    x = compiler.process(element.clauses, **kw)
    scale = 10**MONEY_SCALE
    sign = f"(CASE WHEN substr({x}, 1, 1) = '-' THEN -1 ELSE 1 END)"
    whole = f"CAST(ltrim({x}, '-') AS INTEGER) * {scale}"
    decimals = f"substr(substr({x}, instr({x}, '.') + 1) || '{'0' * MONEY_SCALE}', 1, {MONEY_SCALE})"
    fraction = f"(CASE WHEN instr({x}, '.') > 0 THEN CAST({decimals} AS INTEGER) ELSE 0 END)"
    by_text = f"{sign} * ({whole} + {fraction})"
    return f"SUM(CASE WHEN abs({x}) < {_FLOAT_EXACT} THEN CAST(ROUND({x} * {scale}) AS INTEGER) ELSE {by_text} END)"


_FLOAT_EXACT = 10**11  # amounts below this are exact through a double at 4 decimals (2**52 / 10**4 ≈ 4.5e11)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UtcDateTime column")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        stored: datetime = value
        return stored.replace(tzinfo=UTC) if stored.tzinfo is None else stored.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy's documented class attribute
        datetime: UtcDateTime(),
        Decimal: Money(),
        date: Date(),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
    }
    if TYPE_CHECKING:
        # Every model maps one plain table, which the Core write paths (bulk inserts, batched
        # updates) use directly; SQLAlchemy types it as the wider FromClause.
        __table__: ClassVar[Table]
