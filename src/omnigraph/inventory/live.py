"""Availability changes for subscribers: which (sku, location) positions just moved.

Fed by this process's ledger reader and reservation mutations. Subscribers recompute the
availability they watch and hear only about answers that changed. (Across replicas, a shared
broker carries the same notifications; see the deployment notes.)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable

__all__ = ["AvailabilityBus"]


class AvailabilityBus:
    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[frozenset[tuple[str, str]]]] = set()

    def publish(self, changed: Iterable[tuple[str, str]]) -> None:
        keys = frozenset(changed)
        if not keys:
            return
        for queue in list(self._queues):
            if queue.full():  # a subscriber that stopped reading loses its oldest notice
                queue.get_nowait()
            queue.put_nowait(keys)

    async def subscribe(self) -> AsyncIterator[frozenset[tuple[str, str]]]:
        queue: asyncio.Queue[frozenset[tuple[str, str]]] = asyncio.Queue(maxsize=100)
        self._queues.add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._queues.discard(queue)
