"""What replicas share through Redis: the record cache and the subscription events.

Each "replica" here is one object of its kind in this process (two source clients, two buses)
sharing a real Redis; tests/runtime/test_replicas.py runs two service processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from omnigraph.core.errors import ConfigurationError
from omnigraph.core.sources import SourceKind
from omnigraph.db.engine import create_engine, create_session_factory, upgrade_database
from omnigraph.exceptions.catalogue import ExceptionCatalogue, ExceptionKind
from omnigraph.exceptions.intake import ExceptionReport, take_in
from omnigraph.exceptions.live import ExceptionEvent, ExceptionEventBus
from omnigraph.exceptions.resolution import acknowledge
from omnigraph.graph.limits.http_errors import CodedHTTPError
from omnigraph.graph.limits.rate import RateLimiter
from omnigraph.inventory.live import AvailabilityBus
from omnigraph.runtime.pubsub import connect_redis
from omnigraph.settings import Settings, SourceConfig
from omnigraph.sources.contract import ContractClient
from tests.runtime.conftest import REDIS_URL

T = TypeVar("T")


class Storefront:
    """A storefront at the edge that answers every id but ``gone`` and records what it was
    asked."""

    def __init__(self) -> None:
        self.asked: list[list[str]] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if request.url.path == "/orders/batch":
            self.asked.append(body["ids"])
            return httpx.Response(
                200, json={"data": [{"id": i, "name": f"#{i}"} for i in body["ids"] if i != "gone"]}
            )
        self.asked.append(body["orderRefs"])
        return httpx.Response(
            200, json={"data": [{"id": f"tx-{r}", "orderRef": r} for r in body["orderRefs"]]}
        )


@pytest.fixture
def storefront() -> Storefront:
    return Storefront()


@pytest.fixture
async def replicas(
    redis: Redis, prefix: str, storefront: Storefront
) -> AsyncIterator[Callable[..., ContractClient]]:
    """Source clients for one storefront, as two replicas would each build theirs."""
    built: list[ContractClient] = []

    def build(client: Redis | None = redis, ttl: float = 30) -> ContractClient:
        source = SourceConfig(name="web-store", kind=SourceKind.STOREFRONT, base_url="http://sf")
        built.append(
            ContractClient(
                source,
                timeout_seconds=2,
                cache_ttl_seconds=ttl,
                cache_max_entries=1000,
                transport=httpx.MockTransport(storefront.handler),
                redis=client,
                redis_key_prefix=prefix,
            )
        )
        return built[-1]

    yield build
    for client in built:
        await client.upstream.aclose()


async def test_a_record_one_replica_fetched_is_read_by_the_other(
    replicas: Callable[..., ContractClient], storefront: Storefront, redis: Redis, prefix: str
) -> None:
    a, b = replicas(), replicas()
    first = await a.batch_get("orders", ["SF-1", "SF-2", "gone"])
    assert set(first) == {"SF-1", "SF-2"}
    # B asks the source only for what A did not fetch: "gone" is known to be missing.
    second = await b.batch_get("orders", ["SF-2", "SF-1", "gone", "SF-3"])
    assert second == {
        "SF-1": {"id": "SF-1", "name": "#SF-1"},
        "SF-2": {"id": "SF-2", "name": "#SF-2"},
        "SF-3": {"id": "SF-3", "name": "#SF-3"},
    }
    assert storefront.asked == [["SF-1", "SF-2", "gone"], ["SF-3"]]
    # The same holds for records looked up by order ref.
    await a.by_order_ref("transactions", ["SF-1"])
    assert await b.by_order_ref("transactions", ["SF-1", "SF-9"]) == {
        "SF-1": [{"id": "tx-SF-1", "orderRef": "SF-1"}],
        "SF-9": [{"id": "tx-SF-9", "orderRef": "SF-9"}],
    }
    assert storefront.asked[2:] == [["SF-1"], ["SF-9"]]
    # JSON in Redis under the source's prefix, expiring with the source's TTL.
    key = f"{prefix}:cache:web-store:orders:id:SF-1"
    assert json.loads(await redis.get(key)) == {"id": "SF-1", "name": "#SF-1"}
    assert 0 < await redis.pttl(key) <= 30_000


async def test_clearing_the_cache_clears_it_for_every_replica(
    replicas: Callable[..., ContractClient], storefront: Storefront
) -> None:
    a, b = replicas(), replicas()
    await a.batch_get("orders", ["SF-1"])
    await b.upstream.clear_cache()
    await a.batch_get("orders", ["SF-1"])
    assert storefront.asked == [["SF-1"], ["SF-1"]]


async def test_reference_data_is_shared_too(replicas: Callable[..., ContractClient]) -> None:
    a, b = replicas(), replicas()
    fetches = 0

    async def fetch() -> list[dict[str, Any]]:
        nonlocal fetches
        fetches += 1
        return [{"id": "dc-north"}]

    assert await a.upstream.cached(("locations",), fetch) == [{"id": "dc-north"}]
    assert await b.upstream.cached(("locations",), fetch) == [{"id": "dc-north"}]
    assert fetches == 1


async def test_a_redis_that_does_not_answer_is_a_cache_miss_not_an_error(
    replicas: Callable[..., ContractClient], storefront: Storefront
) -> None:
    nowhere = connect_redis("redis://127.0.0.1:9/0")  # the discard port: nothing listens
    try:
        client = replicas(nowhere)
        assert set(await client.batch_get("orders", ["SF-1"])) == {"SF-1"}
        assert set(await client.batch_get("orders", ["SF-1"])) == {"SF-1"}
    finally:
        await nowhere.aclose()
    assert storefront.asked == [["SF-1"], ["SF-1"]]


@contextlib.asynccontextmanager
async def listening(subscription: AsyncIterator[T]) -> AsyncIterator[asyncio.Queue[T]]:
    """Read ``subscription`` into a queue from a task, until the block ends."""
    received: asyncio.Queue[T] = asyncio.Queue()

    async def read() -> None:
        async for item in subscription:
            received.put_nowait(item)

    task = asyncio.create_task(read())
    await asyncio.sleep(0.2)  # the first subscriber opens the Redis subscription
    try:
        yield received
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await subscription.aclose()  # type: ignore[attr-defined]


async def test_availability_changes_reach_the_other_replica_and_are_heard_once_here(
    redis: Redis, prefix: str
) -> None:
    channel = f"{prefix}:events:availability"
    a, b = AvailabilityBus(redis, channel=channel), AvailabilityBus(redis, channel=channel)
    try:
        async with listening(a.subscribe()) as on_a, listening(b.subscribe()) as on_b:
            a.publish([("SKU-1", "dc-north")])
            a.publish([("SKU-2", "dc-north"), ("SKU-2", "store-london")])
            assert await asyncio.wait_for(on_b.get(), 5) == {("SKU-1", "dc-north")}
            assert await asyncio.wait_for(on_b.get(), 5) == {
                ("SKU-2", "dc-north"),
                ("SKU-2", "store-london"),
            }
            assert [on_a.get_nowait(), on_a.get_nowait()] == [
                {("SKU-1", "dc-north")},
                {("SKU-2", "dc-north"), ("SKU-2", "store-london")},
            ]
            await asyncio.sleep(0.1)
            assert on_a.empty()  # not again through Redis
    finally:
        await a.aclose()
        await b.aclose()


@pytest.fixture
async def shared_database(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'shared.sqlite3'}")
    await upgrade_database(engine)
    yield engine
    await engine.dispose()


async def short_pick(sessions: async_sessionmaker[AsyncSession], n: int) -> str:
    report = ExceptionReport(
        kind=ExceptionKind.SHORT_PICK,
        dedupe_key=f"scale:short:{n}",
        subject=f"SF-{n}",
        subject_type="order",
        summary="1 x SKU-1 short",
        detected_at=datetime.now(UTC),
        reported_by="wms",
        owner_source="wms",
        details={"fulfilmentOrderId": f"WO-{n}", "sku": "SKU-1", "quantity": 1},
    )
    row, _ = await take_in(sessions, ExceptionCatalogue.load(), report)
    return row.id


async def test_an_exception_event_committed_on_one_replica_reaches_the_other_through_redis(
    redis: Redis, prefix: str, shared_database: AsyncEngine
) -> None:
    channel = f"{prefix}:events:exceptions"
    sessions_a = create_session_factory(shared_database)
    sessions_b = create_session_factory(shared_database)
    # B's tail of the audit table is too slow to matter here: only Redis can carry the event.
    a = ExceptionEventBus(sessions_a, redis=redis, channel=channel)
    b = ExceptionEventBus(sessions_b, redis=redis, channel=channel, poll_seconds=3600)
    a.watch(sessions_a)
    b.watch(sessions_b)
    try:
        async with listening(b.subscribe()) as on_b:
            exception_id = await short_pick(sessions_a, 1)
            opened: ExceptionEvent = await asyncio.wait_for(on_b.get(), 5)
            assert (opened.exception_id, opened.status, opened.actor) == (
                exception_id,
                "OPEN",
                "wms",
            )
            await acknowledge(
                sessions_a, exception_id, actor="agent", note="on it", now=datetime.now(UTC)
            )
            acknowledged = await asyncio.wait_for(on_b.get(), 5)
            assert (acknowledged.status, acknowledged.note) == ("ACKNOWLEDGED", "on it")
            assert acknowledged.id > opened.id
    finally:
        await a.aclose()
        await b.aclose()


async def test_each_event_is_delivered_once_whichever_way_it_arrives(
    redis: Redis, prefix: str, shared_database: AsyncEngine
) -> None:
    channel = f"{prefix}:events:exceptions"
    publishing = create_session_factory(shared_database)
    silent = create_session_factory(shared_database)  # a process that publishes nothing
    local = ExceptionEventBus(publishing, redis=redis, channel=channel, poll_seconds=0.05)
    remote = ExceptionEventBus(publishing, redis=redis, channel=channel, poll_seconds=0.05)
    local.watch(publishing)
    try:
        async with listening(local.subscribe()) as here, listening(remote.subscribe()) as there:
            # At commit, through Redis and by the tail: each subscriber hears it once.
            first = await short_pick(publishing, 2)
            # Only the tail of the audit table sees this one.
            second = await short_pick(silent, 3)
            for received in (here, there):
                events = [await asyncio.wait_for(received.get(), 5) for _ in range(2)]
                assert sorted(e.exception_id for e in events) == sorted([first, second])
                await asyncio.sleep(0.2)  # several tail reads later: no repeats
                assert received.empty()
    finally:
        await local.aclose()
        await remote.aclose()


def test_rate_limits_are_counted_in_the_redis_replicas_share_unless_told_otherwise() -> None:
    alone = Settings(redis_url=None, rate_limit_storage=None)
    assert alone.effective_rate_limit_storage == "async+memory://"
    shared = Settings(redis_url="redis://cache:6379/2")
    assert shared.effective_rate_limit_storage == "async+redis://cache:6379/2"
    assert (
        Settings(redis_url="unix:///run/redis.sock").effective_rate_limit_storage
        == "async+redis+unix:///run/redis.sock"
    )
    chosen = Settings(redis_url="redis://cache:6379/2", rate_limit_storage="async+memory://")
    assert chosen.effective_rate_limit_storage == "async+memory://"
    with pytest.raises(ConfigurationError, match="not a Redis URL"):
        Settings(redis_url="cache:6379")


async def test_replicas_spend_one_budget_per_key(redis: Redis, prefix: str) -> None:
    storage = "async+" + REDIS_URL
    a = RateLimiter("3/minute", storage, key_prefix=f"{prefix}:limits")
    b = RateLimiter("3/minute", storage, key_prefix=f"{prefix}:limits")
    try:
        await a.spend("api_key:shop", 2)
        await b.spend("api_key:shop")
        with pytest.raises(CodedHTTPError) as refused:
            await a.spend("api_key:shop")
        assert refused.value.status_code == 429
        await b.spend("api_key:other")  # each key has its own budget
    finally:
        await a.aclose()
        await b.aclose()


async def test_a_rate_limit_storage_that_does_not_answer_lets_requests_through() -> None:
    limiter = RateLimiter("1/minute", "async+redis://127.0.0.1:9/0")  # nothing listens there
    try:
        for _ in range(3):
            await limiter.spend("api_key:shop")
    finally:
        await limiter.aclose()
