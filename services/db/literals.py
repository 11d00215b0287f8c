"""`column IN ('a', 'b')` with the values written into the SQL, for statements run as executemany.

A bound `IN` list is an "expanding" parameter, which an executemany (one UPDATE for many rows,
the send worker's group commit) cannot take. The values must be the code's own constants (a
status table's names), never input: they are quoted, not bound.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, literal_column


def literal_in(column: ColumnElement[str], values: Iterable[str]) -> ColumnElement[bool]:
    """`column IN (…)` of `values`, sorted (stable SQL text, cached plans), as quoted literals."""
    constants = sorted(values)
    if any("'" in value for value in constants):
        raise ValueError(f"not a constant fit to be written into SQL: {constants!r}")
    return column.in_([literal_column(f"'{value}'") for value in constants])
