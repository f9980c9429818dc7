"""Fixtures for the scale tests: a Redis of the test's own (keys and channels under a prefix
unique to the test, deleted afterwards), skipped with a reason where no Redis answers."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from omnigraph.runtime.pubsub import connect_redis

REDIS_URL = os.environ.get("OMNIGRAPH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


async def reachable_redis() -> Redis | None:
    client = connect_redis(REDIS_URL)
    try:
        await client.ping()
    except (RedisError, OSError):
        await client.aclose()
        return None
    return client


@pytest.fixture
def prefix() -> str:
    return f"omnigraph-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def redis(prefix: str) -> AsyncIterator[Redis]:
    client = await reachable_redis()
    if client is None:
        pytest.skip(f"no Redis answers at {REDIS_URL} (set OMNIGRAPH_TEST_REDIS_URL)")
    try:
        yield client
    finally:
        await forget_keys(client, prefix)
        await client.aclose()


async def forget_keys(client: Redis, prefix: str) -> None:
    """Delete the test's keys only: other test runs may share this Redis."""
    names = [name async for name in client.scan_iter(match=f"{prefix}:*", count=1000)]
    if names:
        await client.unlink(*names)
