"""The ``INSERT ... ON CONFLICT`` of the database a session is bound to: PostgreSQL's and SQLite's
share the clause (``on_conflict_do_update``/``on_conflict_do_nothing``, ``excluded``) but are
separate constructs in SQLAlchemy, so every upsert asks here which one to build."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy.dialects import postgresql, sqlite

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["insert_for"]


def insert_for(
    session: AsyncSession,
) -> Callable[[Any], postgresql.Insert] | Callable[[Any], sqlite.Insert]:
    """PostgreSQL's ``insert`` on PostgreSQL, SQLite's elsewhere."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert
    return sqlite.insert
