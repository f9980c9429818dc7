"""Rate limits per caller: a moving window per API key, counted in the ``limits`` package.

Counts live in process memory by default (``async+memory://``); a ``limits`` storage URI such as
``async+redis://host:6379`` shares them between processes (through redis-py, which the service
already uses for its shared cache, rather than ``limits``' default Redis client).
"""

from __future__ import annotations

import math
import time

import structlog
from limits import RateLimitItem, parse_many
from limits.aio.storage import RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string
from redis.asyncio import ConnectionPool
from redis.exceptions import RedisError
from starlette.requests import HTTPConnection

from omnigraph.graph.limits.http_errors import CodedHTTPError
from omnigraph.security.principal import Principal

__all__ = ["RateLimiter", "rate_key"]

log = structlog.get_logger(__name__)

REDIS_SCHEMES = ("async+redis://", "async+rediss://", "async+redis+unix://")


def rate_key(connection: HTTPConnection) -> str:
    """Whose budget a request spends: the API key's identity, else the client's address."""
    user = connection.scope.get("user")
    if isinstance(user, Principal) and user.via != "development":
        return user.identity
    client = connection.client
    return f"address:{client.host if client else 'unknown'}"


class RateLimiter:
    """Allow each key ``rate`` (``'1200/minute'``, or several: ``'20/second;1200/minute'``)."""

    def __init__(
        self, rate: str, storage: str = "async+memory://", *, key_prefix: str = "omnigraph:limits"
    ) -> None:
        self.rate = rate
        self.items: list[RateLimitItem] = parse_many(rate)
        self._pool: ConnectionPool | None = None
        backend: object
        if storage.startswith(REDIS_SCHEMES):
            # A pool of our own, so that closing the service closes its connections.
            url = storage.removeprefix("async+").replace("redis+unix://", "unix://")
            self._pool = ConnectionPool.from_url(
                url, socket_timeout=2.0, socket_connect_timeout=1.0
            )
            backend = RedisStorage(
                storage,
                implementation="redispy",
                key_prefix=key_prefix,
                connection_pool=self._pool,  # type: ignore[arg-type]  # passed on to redis-py
            )
        else:
            backend = storage_from_string(storage)
        if not isinstance(backend, Storage):
            raise ValueError(f"{storage!r} is not an asyncio storage: use an 'async+' URI")
        self._limiter = MovingWindowRateLimiter(backend)

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()

    async def spend(self, key: str, cost: int = 1) -> None:
        """Spend ``cost`` from ``key``'s budget, or raise ``RATE_LIMITED`` (HTTP 429).

        A shared storage that does not answer lets the request through (and says so in the
        log): an outage of the counter must not become an outage of the service."""
        for item in self.items:
            try:
                allowed = await self._limiter.hit(item, key, cost=cost)
            except (RedisError, OSError, StorageError) as error:
                log.warning("rate_limit_storage_unavailable", error=str(error))
                return
            if not allowed:
                stats = await self._limiter.get_window_stats(item, key)
                retry_after = max(1, math.ceil(stats.reset_time - time.time()))
                raise CodedHTTPError(
                    429,
                    "RATE_LIMITED",
                    f"rate limit of {item} exceeded; retry in {retry_after} s",
                    headers={"Retry-After": str(retry_after)},
                    retryAfter=retry_after,
                )
