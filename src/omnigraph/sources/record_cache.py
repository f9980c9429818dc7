"""The per-source record cache: in this process, or in Redis shared by every replica.

Keys are tuples such as ``("orders", "id", "SF-100248")``; values are the JSON the source
answered (a record, a list of records, or ``{}`` for "the source has no such record"). Both
caches answer a batch of keys at once, so a loader batch costs one lookup (``MGET``) and one
write (a pipeline of ``SET ... PX``), not one per record.

A Redis that is down or slow is a cache miss, never an error: the source answers instead.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol

import structlog
from cachetools import TTLCache
from redis.asyncio import Redis
from redis.exceptions import RedisError

__all__ = ["CacheKey", "LocalRecordCache", "RecordCache", "RedisRecordCache"]

CacheKey = tuple[str, ...]

log = structlog.get_logger(__name__)


class RecordCache(Protocol):
    """Records a source answered, each kept for the source's TTL."""

    async def get_many(self, keys: Sequence[CacheKey]) -> list[Any]:
        """The cached value of each key, ``None`` where there is none."""
        ...

    async def put_many(self, items: Sequence[tuple[CacheKey, Any]]) -> None: ...

    async def forget_many(self, keys: Sequence[CacheKey]) -> None:
        """Drop these keys (the source said they changed): the next read asks the source."""
        ...

    async def clear(self) -> None: ...


class LocalRecordCache:
    """This process's memory (the default, and the only cache without Redis)."""

    def __init__(self, *, ttl_seconds: float, max_entries: int) -> None:
        self._entries: TTLCache[CacheKey, Any] = TTLCache(maxsize=max_entries, ttl=ttl_seconds)

    async def get_many(self, keys: Sequence[CacheKey]) -> list[Any]:
        return [self._entries.get(key) for key in keys]

    async def put_many(self, items: Sequence[tuple[CacheKey, Any]]) -> None:
        for key, value in items:
            self._entries[key] = value

    async def forget_many(self, keys: Sequence[CacheKey]) -> None:
        for key in keys:
            self._entries.pop(key, None)

    async def clear(self) -> None:
        self._entries.clear()


class RedisRecordCache:
    """Redis, shared by the replicas: a record one fetched, the others read.

    Keys are ``<prefix>:<collection>:<kind>:<id>`` with the source in the prefix
    (``omnigraph:cache:wms:fulfilment-orders:id:WO-700239``), values JSON, expiry Redis's own.
    """

    def __init__(self, client: Redis, *, prefix: str, ttl_seconds: float) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_ms = max(1, round(ttl_seconds * 1000))

    def key(self, key: CacheKey) -> str:
        return ":".join((self.prefix, *key))

    async def get_many(self, keys: Sequence[CacheKey]) -> list[Any]:
        if not keys:
            return []
        try:
            raw = await self.client.mget([self.key(key) for key in keys])
        except (RedisError, OSError) as error:
            log.warning("record_cache_unavailable", prefix=self.prefix, error=str(error))
            return [None] * len(keys)
        return [None if value is None else json.loads(value) for value in raw]

    async def put_many(self, items: Sequence[tuple[CacheKey, Any]]) -> None:
        if not items:
            return
        pipe = self.client.pipeline(transaction=False)
        for key, value in items:
            pipe.set(self.key(key), json.dumps(value, separators=(",", ":")), px=self.ttl_ms)
        try:
            await pipe.execute()
        except (RedisError, OSError) as error:
            log.warning("record_cache_unavailable", prefix=self.prefix, error=str(error))

    async def forget_many(self, keys: Sequence[CacheKey]) -> None:
        if not keys:
            return
        try:
            await self.client.unlink(*(self.key(key) for key in keys))
        except (RedisError, OSError) as error:
            log.warning("record_cache_unavailable", prefix=self.prefix, error=str(error))

    async def clear(self) -> None:
        """Forget this source's records, for every replica."""
        pattern = _glob_escape(self.prefix) + ":*"
        batch: list[bytes | str] = []
        async for name in self.client.scan_iter(match=pattern, count=1000):
            batch.append(name)
            if len(batch) >= 1000:
                await self.client.unlink(*batch)
                batch = []
        if batch:
            await self.client.unlink(*batch)


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
