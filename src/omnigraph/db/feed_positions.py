"""Where omnigraph stands in each source's change feed: a ``SourceCursorRow`` per source and
feed, read before a page is fetched and moved in the transaction that stores the page.

A reader that stores a page under its own claim (:func:`claim_feed_position`) stores it only if
no other reader moved the position since the page was read from it, so two replicas following
one feed never store a page twice.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnigraph.db.models import SourceCursorRow
from omnigraph.db.upsert import insert_for

__all__ = ["claim_feed_position", "feed_position", "move_feed_position"]


async def feed_position(
    sessions: async_sessionmaker[AsyncSession], source: str, feed: str
) -> SourceCursorRow | None:
    """Where ``source``'s ``feed`` was last read to; None before its first page."""
    async with sessions() as session:
        return await session.get(SourceCursorRow, (source, feed))


async def claim_feed_position(
    session: AsyncSession, source: str, feed: str, *, read_from: str | None, now: datetime
) -> SourceCursorRow | None:
    """The position, locked for ``session``'s transaction, if it still stands at ``read_from``
    (where the page about to be stored was read from); a first page creates it. None when
    another reader moved it meanwhile: the page is then left, to be read again from there.

    Two readers storing a feed's first page at once both find no position: each inserts it
    unless it is there (the second waits for the first's transaction, then inserts nothing),
    and both then lock the one row, so the second sees the first's page stored."""
    position = await session.get(
        SourceCursorRow, (source, feed), with_for_update=True, populate_existing=True
    )
    if position is None:
        await session.execute(
            insert_for(session)(SourceCursorRow)
            .values(source=source, feed=feed, cursor=None, last_sequence=None, updated_at=now)
            .on_conflict_do_nothing(index_elements=["source", "feed"])
        )
        position = await session.get(
            SourceCursorRow, (source, feed), with_for_update=True, populate_existing=True
        )
        assert position is not None  # inserted above, or by the reader that came first
    if position.cursor != read_from:
        return None
    return position


async def move_feed_position(
    session: AsyncSession, source: str, feed: str, cursor: str | None, now: datetime
) -> None:
    """Set the position to ``cursor``, whatever it was."""
    position = await session.get(SourceCursorRow, (source, feed))
    if position is None:
        session.add(SourceCursorRow(source=source, feed=feed, cursor=cursor, updated_at=now))
    else:
        position.cursor, position.updated_at = cursor, now
