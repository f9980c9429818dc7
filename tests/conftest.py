"""Shared fixtures: the demo source systems over real HTTP, a migrated database, the service.

The database is SQLite in a temporary folder, or the server named by
``OMNIGRAPH_TEST_DATABASE_URL`` (``.ci/run`` sets it when PostgreSQL answers on 127.0.0.1:5432).
``OMNIGRAPH_FRAMEWORK_OVERRIDES=false`` runs the services under test on strawberry's and
graphql-core's ordinary paths (``omnigraph.graph.overrides``); tests of an override's own effect
skip then (``needs_overrides``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import TypeAdapter
from sqlalchemy import text, update
from starlette.applications import Starlette

from omnigraph.app import create_app, demo_sources_config
from omnigraph.db.engine import create_engine
from omnigraph.db.models import Base, OutboxCommandRow
from omnigraph.demo import DemoSystems, DemoWorld, build_world
from omnigraph.exceptions.lifecycle import OutboxStatus
from omnigraph.inventory.ledger import LedgerReader
from omnigraph.runtime.services import Services
from omnigraph.security import api_keys
from omnigraph.security.principal import Role
from omnigraph.settings import Settings

# as Settings reads it: "false", "0", "off" or "no" turns the overrides off
FRAMEWORK_OVERRIDES = TypeAdapter(bool).validate_python(
    os.environ.get("OMNIGRAPH_FRAMEWORK_OVERRIDES", "true")
)
needs_overrides = pytest.mark.skipif(
    not FRAMEWORK_OVERRIDES,
    reason="measures an override's own effect; OMNIGRAPH_FRAMEWORK_OVERRIDES is off",
)

ANCHOR = datetime(2026, 11, 20, tzinfo=UTC)
SEED = 7
ORDERS = 160


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No OMNIGRAPH_* variable of the machine's, and no .env file, in the test (settings read
    both)."""
    for name in list(os.environ):
        if name.startswith("OMNIGRAPH_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def world() -> DemoWorld:
    return build_world(seed=SEED, orders=ORDERS, anchor=ANCHOR)


@pytest.fixture(scope="session")
async def demo(world: DemoWorld) -> AsyncIterator[DemoSystems]:
    async with DemoSystems(world) as systems:
        yield systems


@pytest.fixture(scope="module")
async def own_demo(world: DemoWorld) -> AsyncIterator[DemoSystems]:
    """Demo systems of the test module's own, for tests that change their state (commands sent,
    resolutions applied, outages)."""
    async with DemoSystems(world) as systems:
        yield systems


SERVER_DATABASE_URL = os.environ.get("OMNIGRAPH_TEST_DATABASE_URL")
DATABASES = ["sqlite", "server"] if SERVER_DATABASE_URL else ["sqlite"]


@pytest.fixture(scope="session", params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Every database-backed test runs on SQLite, and again on the server when one is set."""
    if request.param == "server":
        assert SERVER_DATABASE_URL is not None
        return SERVER_DATABASE_URL
    return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'omnigraph.sqlite3'}"


@pytest.fixture(scope="session")
async def clean_database(database_url: str) -> str:
    """Start each session from an empty database so migrations run from the beginning."""
    engine = create_engine(database_url)
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.drop_all)
        await connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    await engine.dispose()
    return database_url


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "cache_ttl_seconds": 0,
        "upstream_timeout_seconds": 2,
        # tests that exercise stale-if-error turn it on; elsewhere an outage means null
        "stale_if_error_seconds": 0,
        # tests that need the feed reader turn it on; others see only the exceptions they make
        "report_feed_enabled": False,
        # tests that exercise delivery drive a dispatcher themselves, step by step
        "dispatcher_enabled": False,
        "detector_enabled": False,
        "ledger_enabled": False,
        "drift_enabled": False,
        "reconcile_enabled": False,
        # tests of bulk exports drive their runners themselves, on their own file folder
        "bulk": {"enabled": False},
        "framework_overrides": FRAMEWORK_OVERRIDES,
        **overrides,
    }
    return Settings(**values)


class Graph:
    """A client for the service under test."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def query(self, query: str, **variables: Any) -> dict[str, Any]:
        response = await self.client.post("/graphql", json={"query": query, "variables": variables})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


def services_of(app: Starlette) -> Services:
    """The services of a running ``app`` (typed: Starlette's state is not)."""
    services: Services = app.state.services
    return services


async def issue_key(
    app: Starlette, *roles: Role, name: str | None = None, channel: str | None = None
) -> api_keys.IssuedKey:
    """A fresh API key of the service under test with ``roles`` (and ``channel``), issued now."""
    services = services_of(app)
    return await api_keys.create_key(
        services.sessions,
        name=name or f"test-{'-'.join(roles) or 'none'}",
        roles=frozenset(roles),
        channel=channel,
        now=datetime.now(UTC),
    )


async def authorize(app: Starlette, client: httpx.AsyncClient, *roles: Role) -> str:
    """Give ``client`` a fresh API key with ``roles`` (production mode needs one)."""
    issued = await issue_key(app, *roles)
    client.headers["Authorization"] = f"Bearer {issued.secret}"
    return issued.secret


class Sources:
    """Request counts and outage switches of the demo systems."""

    def __init__(self, demo: DemoSystems) -> None:
        self.demo = demo

    async def reset(self) -> None:
        async with httpx.AsyncClient() as client:
            for url in self.demo.urls.values():
                (await client.post(f"{url}/_stats/reset")).raise_for_status()

    async def calls(self) -> dict[str, dict[str, int]]:
        async with httpx.AsyncClient() as client:
            counts = {}
            for kind, url in self.demo.urls.items():
                response = await client.get(f"{url}/_stats")
                counts[kind] = response.json()["requests"]
            return counts

    async def totals(self) -> dict[str, int]:
        async with httpx.AsyncClient() as client:
            return {
                kind: (await client.get(f"{url}/_stats")).json()["total"]
                for kind, url in self.demo.urls.items()
            }

    @contextlib.asynccontextmanager
    async def down(self, kind: str) -> AsyncIterator[None]:
        """The demo system of ``kind`` answers 503 to everything while inside."""
        await self.outage(kind, True)
        try:
            yield
        finally:
            await self.outage(kind, False)

    async def outage(self, kind: str, down: bool) -> None:
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{self.demo.urls[kind]}/_control/outage", json={"down": down}
            )
            response.raise_for_status()


@pytest.fixture(scope="session")
def sources(demo: DemoSystems) -> Sources:
    return Sources(demo)


@contextlib.asynccontextmanager
async def serving(
    app: Starlette, *, base_url: str = "http://omnigraph", **transport: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """``app`` started (its lifespan) and a client speaking to it in process; ``transport`` are
    ``httpx.ASGITransport`` options (the client's address, ``raise_app_exceptions``)."""
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, **transport), base_url=base_url
        ) as client,
    ):
        yield client


async def running_app(
    demo: DemoSystems, database_url: str, **overrides: Any
) -> AsyncIterator[tuple[Starlette, Graph]]:
    app = create_app(
        make_settings(database_url, **overrides), sources=demo_sources_config(demo.urls)
    )
    async with serving(app) as client:
        yield app, Graph(client)


@pytest.fixture(scope="session")
async def service(demo: DemoSystems, clean_database: str) -> AsyncIterator[tuple[Starlette, Graph]]:
    async for pair in running_app(demo, clean_database):
        yield pair


@pytest.fixture(scope="module")
async def own_service(
    own_demo: DemoSystems, clean_database: str
) -> AsyncIterator[tuple[Starlette, Graph]]:
    """The service on the test module's own demo systems.

    The database outlives the module (one per session), its demo systems do not: a command
    left waiting (a circuit still open, a backoff not yet over) by another module, or by the
    session's service, is marked dead when the module starts, and the module's own when it
    ends, or a dispatcher here or later would deliver it to demo systems that never saw its
    order."""
    async for app, graph in running_app(own_demo, clean_database):
        await _close_waiting_commands(app, "owed to another module's demo systems")
        yield app, graph
        await _close_waiting_commands(app, "the test module that owed it ended")


async def _close_waiting_commands(app: Starlette, why: str) -> None:
    async with services_of(app).sessions() as session, session.begin():
        await session.execute(
            update(OutboxCommandRow)
            .where(OutboxCommandRow.status == OutboxStatus.PENDING.value)
            .values(status=OutboxStatus.DEAD.value, last_error=why)
        )


@pytest.fixture
def graph(service: tuple[Starlette, Graph]) -> Graph:
    return service[1]


@pytest.fixture
def app(service: tuple[Starlette, Graph]) -> Starlette:
    return service[0]


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]


@pytest.fixture
async def ledger(app: Starlette) -> Services:
    """The inventory ledger read from the demo WMS's feed (idempotent: a later call reads only
    what is new)."""
    services = services_of(app)
    await LedgerReader(services.sessions, services.registry).sync_once()
    return services
