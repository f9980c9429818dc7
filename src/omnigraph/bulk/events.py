"""News of exports for subscribers (``bulkOperationChanged``): which export just moved (a page
written, finished, failed, cancelled). This process's subscribers hear its own runners at once;
with Redis the news also goes out on ``<prefix>:events:bulk``, so a subscriber on one replica
hears the runner on another. Without Redis, subscribers also re-read their export every
``poll_seconds`` (``omnigraph.bulk.schema``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from redis.asyncio import Redis

from omnigraph.runtime.pubsub import RedisChannel

__all__ = ["BulkEvents", "BulkWakeup"]


class BulkWakeup:
    """Set when an export is started here: an idle runner of this process looks at once."""

    def __init__(self) -> None:
        self.event = asyncio.Event()

    def wake(self) -> None:
        self.event.set()


class BulkEvents:
    def __init__(self, redis: Redis | None = None, *, channel: str = "omnigraph:events:bulk"):
        self._queues: set[asyncio.Queue[str]] = set()
        self._channel = RedisChannel(redis, channel, self._relayed) if redis is not None else None

    def publish(self, operation: str) -> None:
        self._deliver(operation)
        if self._channel is not None:
            self._channel.send({"operation": operation})

    def _relayed(self, payload: dict[str, Any]) -> None:
        operation = payload.get("operation")
        if isinstance(operation, str):
            self._deliver(operation)

    def _deliver(self, operation: str) -> None:
        for queue in list(self._queues):
            if queue.full():  # a subscriber that stopped reading loses its oldest notice
                queue.get_nowait()
            queue.put_nowait(operation)

    @contextlib.asynccontextmanager
    async def listening(self) -> AsyncIterator[asyncio.Queue[str]]:
        """A queue of the ids of exports that moved, for as long as the block runs."""
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=1000)
        async with contextlib.AsyncExitStack() as stack:
            if self._channel is not None:
                await stack.enter_async_context(self._channel.listening())
            self._queues.add(queue)
            try:
                yield queue
            finally:
                self._queues.discard(queue)

    async def aclose(self) -> None:
        if self._channel is not None:
            await self._channel.aclose()
