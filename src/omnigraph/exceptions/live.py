"""Live exception events for subscribers, from the audit trail itself.

Every status change is a row in ``exception_events`` whose id only grows, so tailing that table
carries changes made by any process (the API, a separate dispatcher, another replica) to the
subscribers of this one, with no broker required. Polling runs only while someone listens.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnigraph.db.models import ExceptionEventRow

__all__ = ["ExceptionEventBus"]

log = structlog.get_logger(__name__)


class ExceptionEventBus:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, poll_seconds: float = 0.25
    ) -> None:
        self.sessions = sessions
        self.poll_seconds = poll_seconds
        self._queues: set[asyncio.Queue[ExceptionEventRow]] = set()
        self._poller: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._starting = asyncio.Lock()
        self._position = 0

    async def subscribe(self) -> AsyncIterator[ExceptionEventRow]:
        """Every exception event from now on, in order, until the subscriber leaves."""
        queue: asyncio.Queue[ExceptionEventRow] = asyncio.Queue(maxsize=1000)
        async with self._starting:  # two first subscribers must not start two pollers
            if self._poller is None or self._poller.done():
                self._position = await self._latest_id()
                self._stop = asyncio.Event()
                self._poller = asyncio.create_task(self._poll(self._stop))
            self._queues.add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._queues.discard(queue)
            if not self._queues:
                await self.aclose()

    async def aclose(self) -> None:
        """Stop polling; the poller finishes its current read so no connection is left open."""
        poller, self._poller = self._poller, None
        if poller is not None:
            self._stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await poller

    async def _latest_id(self) -> int:
        async with self.sessions() as session:
            latest = await session.scalar(select(func.max(ExceptionEventRow.id)))
            return int(latest or 0)

    async def _poll(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                async with self.sessions() as session:
                    rows = list(
                        await session.scalars(
                            select(ExceptionEventRow)
                            .where(ExceptionEventRow.id > self._position)
                            .order_by(ExceptionEventRow.id)
                            .limit(500)
                        )
                    )
                for row in rows:
                    self._position = row.id
                    for queue in list(self._queues):
                        if queue.full():  # a subscriber that stopped reading loses its oldest
                            queue.get_nowait()
                        queue.put_nowait(row)
                if rows:
                    continue
            except Exception:
                log.exception("exception_event_poll_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.poll_seconds)
