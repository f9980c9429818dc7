"""Rate limits per caller: a moving window per API key, counted in the ``limits`` package.

Counts live in process memory by default (``async+memory://``); a ``limits`` storage URI such as
``async+redis://host:6379`` shares them between processes.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse_many
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from starlette.requests import HTTPConnection

from omnigraph.auth.principal import Principal
from omnigraph.limits.http_errors import CodedHTTPError

__all__ = ["RateLimiter", "rate_key"]


def rate_key(connection: HTTPConnection) -> str:
    """Whose budget a request spends: the API key's identity, else the client's address."""
    user = connection.scope.get("user")
    if isinstance(user, Principal) and user.via != "development":
        return user.identity
    client = connection.client
    return f"address:{client.host if client else 'unknown'}"


class RateLimiter:
    """Allow each key ``rate`` (``'1200/minute'``, or several: ``'20/second;1200/minute'``)."""

    def __init__(self, rate: str, storage: str = "async+memory://") -> None:
        self.rate = rate
        self.items: list[RateLimitItem] = parse_many(rate)
        backend = storage_from_string(storage)
        if not isinstance(backend, Storage):
            raise ValueError(f"{storage!r} is not an asyncio storage: use an 'async+' URI")
        self._limiter = MovingWindowRateLimiter(backend)

    async def spend(self, key: str, cost: int = 1) -> None:
        """Spend ``cost`` from ``key``'s budget, or raise ``RATE_LIMITED`` (HTTP 429)."""
        for item in self.items:
            if not await self._limiter.hit(item, key, cost=cost):
                stats = await self._limiter.get_window_stats(item, key)
                retry_after = max(1, math.ceil(stats.reset_time - time.time()))
                raise CodedHTTPError(
                    429,
                    "RATE_LIMITED",
                    f"rate limit of {item} exceeded; retry in {retry_after} s",
                    headers={"Retry-After": str(retry_after)},
                    retryAfter=retry_after,
                )
