"""The ``INSERT ... ON CONFLICT`` of the database a session is bound to: PostgreSQL's and SQLite's
share the clause (``on_conflict_do_update``/``on_conflict_do_nothing``, ``excluded``) but are
separate constructs in SQLAlchemy, so every upsert asks here which one to build.

:func:`rows_insert` writes many rows with one small statement: on PostgreSQL the rows travel
as one JSON array, serialised by orjson, and the server takes them apart
(``INSERT ... SELECT ... FROM json_to_recordset($1)``), so the statement has one parameter,
not one per value, is parsed and planned as a small one, and no value goes through a Python
type processor one by one; elsewhere the rows are executemany parameter sets.
:func:`rows_parameters` lays the rows out accordingly.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Table, Text, bindparam, cast, column, func, select
from sqlalchemy.dialects import postgresql, sqlite

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["insert_for", "insert_of", "rows_insert", "rows_parameters"]

ROWS = "rows"


def insert_for(
    session: AsyncSession,
) -> Callable[[Any], postgresql.Insert] | Callable[[Any], sqlite.Insert]:
    """PostgreSQL's ``insert`` on PostgreSQL, SQLite's elsewhere."""
    return insert_of(session.get_bind().dialect.name)


def insert_of(dialect: str) -> Callable[[Any], postgresql.Insert] | Callable[[Any], sqlite.Insert]:
    """PostgreSQL's ``insert`` for ``dialect`` "postgresql", SQLite's for any other."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


@functools.cache
def rows_insert(
    dialect: str, table: Table, columns: tuple[str, ...], shared: tuple[str, ...] = ()
) -> Any:
    """An ``INSERT`` of ``columns`` into ``table`` for the rows :func:`rows_parameters` lays out
    on ``dialect`` (PostgreSQL's or SQLite's, ready for an ``ON CONFLICT`` clause). The
    ``shared`` columns take one value for every row, bound once (on PostgreSQL they are not
    in the JSON, so a page's rows can be laid out before the value is known)."""
    if dialect == "postgresql":
        rows = (
            func.json_to_recordset(cast(bindparam(ROWS, type_=Text()), postgresql.JSON))
            .table_valued(*(column(name, table.c[name].type) for name in columns))
            .render_derived(with_types=True)
        )
        values = [rows.c[name] for name in columns]
        values += [bindparam(name, type_=table.c[name].type) for name in shared]
        return postgresql.insert(table).from_select((*columns, *shared), select(*values))
    return sqlite.insert(table)


def rows_parameters(
    dialect: str,
    columns: tuple[str, ...],
    rows: Sequence[dict[str, Any]],
    shared: dict[str, Any] | None = None,
) -> dict[str, Any] | Sequence[dict[str, Any]]:
    """``rows`` as :func:`rows_insert` takes them on ``dialect``: one JSON array on PostgreSQL
    (datetimes must carry their offset) with the ``shared`` values beside it, the rows
    themselves, each with the ``shared`` values, elsewhere (executemany)."""
    if dialect == "postgresql":
        return {ROWS: orjson.dumps(rows).decode(), **(shared or {})}
    return [row | shared for row in rows] if shared else rows
