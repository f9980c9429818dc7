"""News of exports for subscribers (``bulkOperationChanged``): which export just moved (a page
written, finished, failed, cancelled). This process's subscribers hear its own runners at once;
with Redis the news also goes out on ``<prefix>:events:bulk``, so a subscriber on one replica
hears the runner on another. Without Redis, subscribers also re-read their export every
``poll_seconds`` (``omnigraph.bulk.schema``)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from redis.asyncio import Redis

from omnigraph.runtime.pubsub import RedisChannel, Subscribers

__all__ = ["BulkEvents", "BulkWakeup"]


class BulkWakeup:
    """Set when an export is started here: an idle runner of this process looks at once."""

    def __init__(self) -> None:
        self.event = asyncio.Event()

    def wake(self) -> None:
        self.event.set()


class BulkEvents:
    def __init__(self, redis: Redis | None = None, *, channel: str = "omnigraph:events:bulk"):
        self._channel = RedisChannel(redis, channel, self._relayed) if redis is not None else None
        self._subscribers: Subscribers[str] = Subscribers(self._channel, backlog=1000)

    def publish(self, operation: str) -> None:
        self._subscribers.deliver(operation)
        if self._channel is not None:
            self._channel.send({"operation": operation})

    def _relayed(self, payload: dict[str, Any]) -> None:
        operation = payload.get("operation")
        if isinstance(operation, str):
            self._subscribers.deliver(operation)

    def listening(self) -> contextlib.AbstractAsyncContextManager[asyncio.Queue[str]]:
        """A queue of the ids of exports that moved, for as long as the block runs."""
        return self._subscribers.listening()

    async def aclose(self) -> None:
        if self._channel is not None:
            await self._channel.aclose()
