"""Two replicas of the service: two ``omnigraph serve`` processes sharing one PostgreSQL
database, one Redis and one set of source systems.

A support tool subscribed on replica B hears of an exception acknowledged and resolved through
replica A, a storefront subscribed on B hears of a reservation made on A, and both replicas
selling the last units at once never sell more than there are. Skipped, saying why, where no
PostgreSQL or no Redis answers.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import websockets
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnigraph.app import demo_sources_config
from omnigraph.core.ids import encode_global_id
from omnigraph.db.engine import create_engine, create_session_factory, upgrade_database
from omnigraph.db.models import ReservationRow
from omnigraph.demo import DemoSystems, DemoWorld
from omnigraph.exceptions.catalogue import ExceptionCatalogue
from omnigraph.exceptions.intake import take_in
from omnigraph.inventory.projection import positions_rewritten
from tests.conftest import SERVER_DATABASE_URL
from tests.exceptions.conftest import ACK, RESOLVE, resolve_input
from tests.helpers import RESERVE, free_port, ten_sellable, web_reservation, wms_short_pick
from tests.runtime.conftest import REDIS_URL, forget_keys, reachable_redis

SERVER_URL = make_url(SERVER_DATABASE_URL or "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
SKU = "SKU-REPLICAS"

EXCEPTION_EVENTS = """subscription { exceptionEvents { id status } }"""
AVAILABILITY_CHANGED = """subscription {
  availabilityChanged(skus: ["SKU-REPLICAS"], channel: "web") { locationId availableQuantity } }"""
AVAILABILITY = """query { availability(skus: ["SKU-REPLICAS"], channel: "web") {
  locationId availableQuantity } }"""


def admin_dsn(database: str) -> str:
    url = SERVER_URL.set(drivername="postgresql", database=database)
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="module")
async def replica_database() -> AsyncIterator[str]:
    """A database of its own on the PostgreSQL server, so the suite's tables are left alone."""
    name = f"omnigraph_replicas_{uuid.uuid4().hex[:8]}"
    try:
        admin = await asyncpg.connect(admin_dsn("postgres"), timeout=3)
    except (OSError, asyncpg.PostgresError) as error:
        pytest.skip(f"no PostgreSQL answers at {SERVER_URL.host}:{SERVER_URL.port}: {error}")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = SERVER_URL.set(drivername="postgresql+asyncpg", database=name)
        engine = create_engine(url.render_as_string(hide_password=False))
        await upgrade_database(engine)  # once, before two replicas would race to
        await engine.dispose()
        yield url.render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(scope="module")
async def replica_redis() -> AsyncIterator[tuple[Redis, str]]:
    client = await reachable_redis()
    if client is None:
        pytest.skip(f"no Redis answers at {REDIS_URL} (set OMNIGRAPH_TEST_REDIS_URL)")
    prefix = f"omnigraph-test-{uuid.uuid4().hex[:12]}"
    try:
        yield client, prefix
    finally:
        await forget_keys(client, prefix)
        await client.aclose()


@pytest.fixture(scope="module")
async def replica_sources(world: DemoWorld) -> AsyncIterator[DemoSystems]:
    async with DemoSystems(world) as systems:
        yield systems


@dataclass
class Replica:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    async def query(self, query: str, **variables: Any) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.http, timeout=30) as client:
            response = await client.post("/graphql", json={"query": query, "variables": variables})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert "errors" not in body, body
        return body["data"]  # type: ignore[no-any-return]


def start_replica(name: str, env: dict[str, str], log: Path) -> Replica:
    port = free_port()
    omnigraph = Path(sys.executable).with_name("omnigraph")
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(omnigraph), "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Replica(name, port, process, log)


async def wait_until_serving(replica: Replica) -> None:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            if replica.process.poll() is not None:
                break
            try:
                await client.get(f"{replica.http}/healthz")
                return
            except httpx.TransportError:
                await asyncio.sleep(0.2)
    pytest.fail(f"replica {replica.name} did not start:\n{replica.log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
async def replicas(
    replica_database: str,
    replica_redis: tuple[Redis, str],
    replica_sources: DemoSystems,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[Replica, Replica]]:
    folder = tmp_path_factory.mktemp("replicas")
    config = folder / "sources.toml"
    sources = demo_sources_config(replica_sources.urls).sources
    config.write_text(
        "".join(
            f'[[sources]]\nname = "{s.name}"\nkind = "{s.kind.value}"\nbase_url = "{s.base_url}"\n'
            for s in sources
        )
    )
    _, prefix = replica_redis
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OMNIGRAPH_")},
        "OMNIGRAPH_CONFIG": str(config),
        "OMNIGRAPH_DATABASE_URL": replica_database,
        "OMNIGRAPH_REDIS_URL": REDIS_URL,
        "OMNIGRAPH_REDIS_KEY_PREFIX": prefix,
        # Each replica runs a dispatcher (they share the outbox); the other workers stay off.
        "OMNIGRAPH_DISPATCHER_ENABLED": "true",
        "OMNIGRAPH_REPORT_FEED_ENABLED": "false",
        "OMNIGRAPH_DETECTOR_ENABLED": "false",
        "OMNIGRAPH_LEDGER_ENABLED": "false",
        "OMNIGRAPH_DRIFT_ENABLED": "false",
        "OMNIGRAPH_RECONCILE_ENABLED": "false",
    }
    started = [start_replica(n, env, folder / f"{n}.log") for n in ("a", "b")]
    try:
        for replica in started:
            await wait_until_serving(replica)
        yield started[0], started[1]
    finally:
        for replica in started:
            replica.process.terminate()
        for replica in started:
            try:
                replica.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                replica.process.kill()
                replica.process.wait()


@pytest.fixture
async def database(replica_database: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """The replicas' database, as a third process (this test) sees it."""
    engine = create_engine(replica_database)
    yield create_session_factory(engine)
    await engine.dispose()


class Subscriber:
    """A graphql-transport-ws client of one replica."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    async def receive(self, within: float = 10.0) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(self.connection.recv(), within))
        assert message["type"] == "next", message
        return message["payload"]["data"]  # type: ignore[no-any-return]


@pytest.fixture
async def subscribe() -> AsyncIterator[Any]:
    connections: list[Any] = []

    async def open_subscription(replica: Replica, query: str) -> Subscriber:
        connection = await websockets.connect(replica.ws, subprotocols=["graphql-transport-ws"])
        connections.append(connection)
        await connection.send(json.dumps({"type": "connection_init"}))
        ack = json.loads(await asyncio.wait_for(connection.recv(), 10))
        assert ack["type"] == "connection_ack"
        await connection.send(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}})
        )
        await asyncio.sleep(0.5)  # let the subscription start listening
        return Subscriber(connection)

    yield open_subscription
    for connection in connections:
        await connection.close()


async def open_short_pick(sessions: async_sessionmaker[AsyncSession], world: DemoWorld) -> str:
    """An exception the WMS would report (the demo WMS can still act on the line)."""
    order = next(
        o
        for o in world.wms_fulfilment_orders
        if o["status"] in {"released", "picking", "picked", "packed"}
        and o["lines"][0]["quantity"] - o["lines"][0]["shipped"] - o["lines"][0]["short"] >= 1
    )
    line = order["lines"][0]
    report = wms_short_pick(order, line, dedupe_key=f"replicas:short:{order['id']}:{line['sku']}")
    row, _ = await take_in(sessions, ExceptionCatalogue.load(), report)
    return encode_global_id("Exception", row.id)


async def test_an_exception_resolved_through_one_replica_reaches_a_subscriber_on_the_other(
    replicas: tuple[Replica, Replica],
    subscribe: Any,
    database: async_sessionmaker[AsyncSession],
    world: DemoWorld,
) -> None:
    a, b = replicas
    support = await subscribe(b, EXCEPTION_EVENTS)
    # Reported by a third process that publishes nothing: B hears it from the audit table.
    exception_id = await open_short_pick(database, world)
    assert (await support.receive())["exceptionEvents"] == {"id": exception_id, "status": "OPEN"}

    # Acknowledged and resolved through A: B hears each step from A through Redis.
    acknowledged = await a.query(ACK, id=exception_id)
    assert acknowledged["acknowledgeException"]["userErrors"] == []
    assert (await support.receive())["exceptionEvents"]["status"] == "ACKNOWLEDGED"
    resolved = await a.query(
        RESOLVE, input=resolve_input(exception_id, "BACKORDER", f"replicas-{exception_id}")
    )
    assert resolved["resolveException"]["userErrors"] == []
    steps = [(await support.receive())["exceptionEvents"] for _ in range(2)]
    # The command reached the WMS from whichever replica's dispatcher claimed it first (so the
    # two steps may have been committed by different processes).
    assert {step["id"] for step in steps} == {exception_id}
    assert sorted(step["status"] for step in steps) == ["RESOLUTION_PENDING", "RESOLVED"]


@pytest.fixture
async def last_units(database: async_sessionmaker[AsyncSession]) -> None:
    """SKU-REPLICAS at dc-north: 10 units the web may sell (20 on hand, 5 committed, 1 damaged,
    2 in quality control, 2 of safety stock)."""
    async with database() as session, session.begin():
        # as if the ledger had read the WMS
        session.add(ten_sellable(SKU, last_event_at=datetime.now(UTC)))
        await positions_rewritten(session)


def available(data: dict[str, Any]) -> int:
    return sum(
        answer["availableQuantity"]
        for answer in data["availability"]
        if answer["locationId"] == "dc-north"
    )


@pytest.mark.usefixtures("last_units")
async def test_a_reservation_on_one_replica_reaches_a_subscriber_on_the_other_and_together_they_never_oversell(  # noqa: E501
    replicas: tuple[Replica, Replica],
    subscribe: Any,
    database: async_sessionmaker[AsyncSession],
) -> None:
    a, b = replicas
    stock = available(await a.query(AVAILABILITY))
    assert stock == available(await b.query(AVAILABILITY)) == 10

    storefront = await subscribe(b, AVAILABILITY_CHANGED)
    first = await a.query(RESERVE, input=web_reservation(SKU, "replicas-first"))
    assert first["reserveInventory"]["userErrors"] == []
    assert (await storefront.receive())["availabilityChanged"] == {
        "locationId": "dc-north",
        "availableQuantity": stock - 1,
    }

    # 40 shoppers at once for the 9 units left, half through each replica.
    rush = await asyncio.gather(
        *(
            (a if i % 2 else b).query(RESERVE, input=web_reservation(SKU, f"replicas-rush-{i}"))
            for i in range(40)
        )
    )
    codes = [[e["code"] for e in r["reserveInventory"]["userErrors"]] for r in rush]
    assert codes.count([]) == stock - 1
    assert all(c == [] or c == ["INSUFFICIENT_AVAILABILITY"] for c in codes)
    async with database() as session:
        reserved = await session.scalar(
            select(func.sum(ReservationRow.quantity)).where(
                ReservationRow.sku == SKU, ReservationRow.status == "ACTIVE"
            )
        )
    assert reserved == stock
    assert available(await a.query(AVAILABILITY)) == available(await b.query(AVAILABILITY)) == 0
