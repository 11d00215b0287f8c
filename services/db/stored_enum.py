"""The column type of the status columns: a StrEnum stored as its plain string value."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import String, TypeDecorator
from sqlalchemy.engine import Dialect

E = TypeVar("E", bound=StrEnum)


class StoredEnum(TypeDecorator[E]):
    """A status column: a plain VARCHAR holding the enum's value (no CHECK constraint, no native
    PostgreSQL enum, so the tables and migrations are those of a String column), read back as the
    enum member. Writing passes the string through unchanged, as a String column did."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[E], length: int) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: E | str | None, dialect: Dialect) -> str | None:
        return None if value is None else str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> E | None:
        return None if value is None else self.enum(value)
