"""Availability changes for subscribers: which (sku, location) positions just moved.

Fed by the ledger reader and the reservation mutations. Subscribers recompute the availability
they watch and hear only about answers that changed. This process's subscribers hear its own
changes at once, in memory; with Redis (``OMNIGRAPH_REDIS_URL``) every change also goes out on
the ``<prefix>:events:availability`` channel, so a subscriber on any replica hears of a
reservation made through another.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from redis.asyncio import Redis

from omnigraph.runtime.pubsub import RedisChannel, Subscribers

__all__ = ["AvailabilityBus"]


class AvailabilityBus:
    def __init__(
        self, redis: Redis | None = None, *, channel: str = "omnigraph:events:availability"
    ) -> None:
        self._channel = RedisChannel(redis, channel, self._relayed) if redis is not None else None
        self._subscribers: Subscribers[frozenset[tuple[str, str]]] = Subscribers(
            self._channel, backlog=100
        )
        self._listeners: list[Callable[[frozenset[tuple[str, str]]], None]] = []

    @property
    def subscribers(self) -> int:
        """How many subscribers listen in this process now."""
        return len(self._subscribers)

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
        self._subscribers.deliver(keys)

    async def subscribe(self) -> AsyncIterator[frozenset[tuple[str, str]]]:
        async with self._subscribers.listening() as queue:
            while True:
                yield await queue.get()

    async def aclose(self) -> None:
        if self._channel is not None:
            await self._channel.aclose()
