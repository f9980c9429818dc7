"""What autovacuum's analyze does for a benchmark on a PostgreSQL server that runs without it
(this machine's): without it a table that grows during a run is planned from the statistics
of the empty one it was."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from omnigraph.runtime.periodic import repeating

__all__ = ["analyzing"]


@contextlib.asynccontextmanager
async def analyzing(
    engine: AsyncEngine, tables: str = "", every: float = 10.0
) -> AsyncIterator[None]:
    """On PostgreSQL, ``ANALYZE`` every ``every`` seconds while the body runs, as autovacuum's
    analyze would: a server with autovacuum off (this machine's) plans a growing ledger from the
    statistics of an empty one (the movement-id check used only the index's first column and
    read every entry of the source: 2.6 s a page at 400,000 events)."""
    if engine.dialect.name != "postgresql":
        yield
        return

    async def analyze() -> None:
        async with engine.connect() as connection:
            await connection.execute(text(f"ANALYZE {tables}" if tables else "ANALYZE"))
            await connection.commit()

    async with repeating(every, analyze):
        yield
