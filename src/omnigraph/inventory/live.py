"""Availability changes for subscribers: which (sku, location) positions just moved.

Fed by the ledger reader and the reservation mutations. Subscribers recompute the availability
they watch and hear only about answers that changed. This process's subscribers hear its own
changes at once, in memory; with Redis (``OMNIGRAPH_REDIS_URL``) every change also goes out on
the ``<prefix>:events:availability`` channel, so a subscriber on any replica hears of a
reservation made through another.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from redis.asyncio import Redis

from omnigraph.runtime.pubsub import RedisChannel

__all__ = ["AvailabilityBus"]


class AvailabilityBus:
    def __init__(
        self, redis: Redis | None = None, *, channel: str = "omnigraph:events:availability"
    ) -> None:
        self._queues: set[asyncio.Queue[frozenset[tuple[str, str]]]] = set()
        self._channel = RedisChannel(redis, channel, self._relayed) if redis is not None else None
        self._listeners: list[Callable[[frozenset[tuple[str, str]]], None]] = []

    @property
    def subscribers(self) -> int:
        """How many subscribers listen in this process now."""
        return len(self._queues)

    def listen(self, listener: Callable[[frozenset[tuple[str, str]]], None]) -> None:
        """Call ``listener`` with every change published here or relayed by another replica,
        subscribers or not."""
        self._listeners.append(listener)

    def publish(self, changed: Iterable[tuple[str, str]]) -> None:
        keys = frozenset(changed)
        if not keys:
            return
        self._deliver(keys)
        if self._channel is not None:
            self._channel.send({"changed": sorted(keys)})

    def _relayed(self, payload: dict[str, Any]) -> None:
        changed = payload.get("changed")
        if isinstance(changed, list):
            self._deliver(frozenset((str(sku), str(location)) for sku, location in changed))

    def _deliver(self, keys: frozenset[tuple[str, str]]) -> None:
        for listener in self._listeners:
            listener(keys)
        for queue in list(self._queues):
            if queue.full():  # a subscriber that stopped reading loses its oldest notice
                queue.get_nowait()
            queue.put_nowait(keys)

    async def subscribe(self) -> AsyncIterator[frozenset[tuple[str, str]]]:
        queue: asyncio.Queue[frozenset[tuple[str, str]]] = asyncio.Queue(maxsize=100)
        async with contextlib.AsyncExitStack() as stack:
            if self._channel is not None:
                await stack.enter_async_context(self._channel.listening())
            self._queues.add(queue)
            try:
                while True:
                    yield await queue.get()
            finally:
                self._queues.discard(queue)

    async def aclose(self) -> None:
        if self._channel is not None:
            await self._channel.aclose()
