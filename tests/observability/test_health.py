"""Liveness, readiness and source status: a down source never makes a replica unready, a broken
database does, the process stays live either way, and however many requests ask for the
sources' status each source is probed at most once per window (counted by the demo systems
themselves). Time for the windows comes from a clock the tests move."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from omnigraph.db.engine import create_engine, downgrade_database, upgrade_database
from omnigraph.demo import DemoSystems
from omnigraph.observability.health import Health
from tests.clocks import SecondsClock
from tests.conftest import Graph, Sources, running_app, services_of

WINDOW = 30.0  # OMNIGRAPH_SOURCE_STATUS_SECONDS in these tests


async def running(
    demo: DemoSystems, database_url: str, clock: SecondsClock
) -> AsyncIterator[tuple[Starlette, Graph]]:
    """The service, its health checks kept on ``clock``."""
    async for app, graph in running_app(demo, database_url, source_status_seconds=WINDOW):
        health: Health | None = getattr(app.state, "health", None)
        if health is not None:
            health.readiness.clock = health.sources.clock = clock
        yield app, graph


@pytest.fixture
def clock() -> SecondsClock:
    return SecondsClock(1_000.0)


@pytest.fixture
async def health_service(
    demo: DemoSystems, clean_database: str, clock: SecondsClock
) -> AsyncIterator[tuple[Starlette, Graph]]:
    async for pair in running(demo, clean_database, clock):
        yield pair


@pytest.fixture
async def own_database(
    demo: DemoSystems, tmp_path: Path, clock: SecondsClock
) -> AsyncIterator[tuple[Starlette, Graph, Path]]:
    """A service on a SQLite file of its own, which the test may break."""
    path = tmp_path / "own.sqlite3"
    async for app, graph in running(demo, f"sqlite+aiosqlite:///{path}", clock):
        yield app, graph, path


async def probes(sources: Sources) -> dict[str, int]:
    calls = await sources.calls()
    return {kind: counts.get("GET /health", 0) for kind, counts in calls.items()}


async def get_many(client: httpx.AsyncClient, path: str, n: int) -> list[httpx.Response]:
    return list(await asyncio.gather(*(client.get(path) for _ in range(n))))


def source_statuses(body: dict[str, Any]) -> dict[str, str]:
    return {name: source["status"] for name, source in body["sources"].items()}


async def test_many_requests_probe_each_source_once_per_window(
    health_service: tuple[Starlette, Graph], sources: Sources, clock: SecondsClock
) -> None:
    _, graph = health_service
    await sources.reset()
    # 200 requests, 50 at a time, as a health checker and a careless script would send them
    answers = [r for _ in range(4) for r in await get_many(graph.client, "/healthz", 50)]
    assert {r.status_code for r in answers} == {200}
    assert await probes(sources) == {"storefront": 1, "erp": 1, "wms": 1, "payments": 1}
    first = answers[0].json()["sources"]
    assert {s["checkedAt"] for s in first.values()} == {first["erp"]["checkedAt"]}
    assert all(r.json()["sources"] == first for r in answers)  # the same probe for all

    clock.advance(WINDOW - 1)  # still within the window: nothing asked again
    await get_many(graph.client, "/healthz", 50)
    assert await probes(sources) == {"storefront": 1, "erp": 1, "wms": 1, "payments": 1}
    clock.advance(1)  # the window has passed: one more probe each, for the next 50
    await get_many(graph.client, "/healthz", 50)
    assert await probes(sources) == {"storefront": 2, "erp": 2, "wms": 2, "payments": 2}
    # liveness and readiness never ask a source
    await get_many(graph.client, "/livez", 50)
    clock.advance(WINDOW)
    await get_many(graph.client, "/readyz", 50)
    assert await probes(sources) == {"storefront": 2, "erp": 2, "wms": 2, "payments": 2}


async def test_a_down_source_shows_in_the_status_and_keeps_the_replica_ready(
    health_service: tuple[Starlette, Graph], sources: Sources, clock: SecondsClock
) -> None:
    _, graph = health_service
    clock.advance(WINDOW)
    async with sources.down("erp"):
        ready = await graph.client.get("/readyz")
        health = await graph.client.get("/healthz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "database": "ok", "migrations": "ok"}
    assert health.status_code == 200  # the graph serves around a down source
    body = health.json()
    assert body["status"] == "degraded"
    assert body["ready"]["status"] == "ready"
    assert source_statuses(body) == {
        "web-store": "ok",
        "erp": "unavailable",
        "wms": "ok",
        "psp": "ok",
    }
    assert body["sources"]["erp"]["kind"] == "erp"
    assert "checkedAt" in body["sources"]["erp"]
    # until the next window the last probe stands; then the source is back
    assert source_statuses((await graph.client.get("/healthz")).json())["erp"] == "unavailable"
    clock.advance(WINDOW)
    recovered = (await graph.client.get("/healthz")).json()
    assert recovered["status"] == "ok"
    assert set(source_statuses(recovered).values()) == {"ok"}


async def test_a_broken_database_makes_the_replica_unready_but_still_live(
    own_database: tuple[Starlette, Graph, Path], clock: SecondsClock
) -> None:
    app, graph, path = own_database
    assert (await graph.client.get("/readyz")).status_code == 200
    # the database file is gone (a lost volume): every new connection fails
    os.rename(path, path.with_suffix(".moved"))
    path.mkdir()
    services = services_of(app)
    await services.sessions.kw["bind"].dispose()
    clock.advance(1)
    ready = await graph.client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json() == {"status": "unready", "database": "unavailable", "migrations": "unknown"}
    health = await graph.client.get("/healthz")
    assert health.status_code == 503
    assert health.json()["status"] == "unready"
    live = await graph.client.get("/livez")
    assert (live.status_code, live.json()) == (200, {"status": "live"})


async def test_a_database_behind_the_migrations_makes_the_replica_unready(
    own_database: tuple[Starlette, Graph, Path], clock: SecondsClock
) -> None:
    _, graph, path = own_database
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        await downgrade_database(engine, "-1")
        clock.advance(1)
        ready = await graph.client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json() == {"status": "unready", "database": "ok", "migrations": "behind"}
        await upgrade_database(engine)
        clock.advance(1)
        assert (await graph.client.get("/readyz")).status_code == 200
    finally:
        await engine.dispose()


async def test_a_database_left_before_the_migrations_baseline_makes_the_replica_unready(
    own_database: tuple[Starlette, Graph, Path], clock: SecondsClock
) -> None:
    """At a revision the baseline replaced, which the previous release has to bring to the
    baseline first (not one newer code wrote, which this code would serve)."""
    _, graph, path = own_database
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0013'")
    clock.advance(1)
    ready = await graph.client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json() == {"status": "unready", "database": "ok", "migrations": "behind"}
