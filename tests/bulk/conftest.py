"""A service whose bulk exports the tests run by hand: its runners are stepped page by page
on a clock the tests move (no waiting), its files in a folder of its own."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from starlette.applications import Starlette

from omnigraph.app import create_app, demo_sources_config
from omnigraph.bulk.events import BulkEvents
from omnigraph.bulk.operations import ACTIVE
from omnigraph.bulk.resolvers import SchemaPages
from omnigraph.bulk.runner import BulkRunner
from omnigraph.bulk.store import BulkFiles
from omnigraph.db.models import BulkOperationRow
from omnigraph.demo import DemoSystems
from omnigraph.runtime.services import Services
from omnigraph.security.principal import Role
from tests.clocks import WallClock
from tests.conftest import issue_key, make_settings, services_of, serving

PAGE_SIZE_CAP = 25  # 160 demo orders: seven pages
# the pages of an export omnigraph answers without executing GraphQL (DirectRoot):
# 160 demo orders in four
DIRECT_PAGE_SIZE = 40
CLAIM_SECONDS = 60.0
RETENTION_SECONDS = 3600.0
START = """mutation($input: RunBulkQueryInput!) { runBulkQuery(input: $input) {
  bulkOperation { id status format objectCount rootObjectCount url errorCode }
  userErrors { code field message } } }"""
STATUS = """query($id: ID!) { bulkOperation(id: $id) {
  id status objectCount rootObjectCount fileSize url errorCode errorMessage expiresAt } }"""
CANCEL = """mutation($id: ID!) { cancelBulkOperation(id: $id) {
  bulkOperation { id status url } userErrors { code message } } }"""

_names = itertools.count(1)


@dataclass
class Bulk:
    app: Starlette
    client: httpx.AsyncClient
    clock: WallClock
    folder: Path

    @property
    def services(self) -> Services:
        return services_of(self.app)

    async def key(self, *roles: Role, channel: str | None = None) -> str:
        issued = await issue_key(
            self.app, *roles, name=f"bulk-test-{next(_names)}", channel=channel
        )
        return issued.secret

    async def query(self, token: str, query: str, **variables: Any) -> dict[str, Any]:
        response = await self.client.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def listed(self, token: str, selection: str, first: int) -> list[dict[str, Any]]:
        """Every order with ``selection``, as a client paging ``orders(first:)`` directly
        sees them: the reference an export's rows are compared with."""
        page = f"""query($after: String) {{ orders(first: {first}, after: $after) {{
          edges {{ node {{ {selection} }} }} pageInfo {{ hasNextPage endCursor }} }} }}"""
        nodes: list[dict[str, Any]] = []
        after = None
        while True:
            body = await self.query(token, page, after=after)
            assert "errors" not in body, body
            connection = body["data"]["orders"]
            nodes += [edge["node"] for edge in connection["edges"]]
            if not connection["pageInfo"]["hasNextPage"]:
                return nodes
            after = connection["pageInfo"]["endCursor"]

    async def start(
        self, token: str, query: str, format: str = "JSONL", key: str | None = None
    ) -> dict[str, Any]:
        body = await self.query(
            token,
            START,
            input={
                "query": query,
                "format": format,
                "idempotencyKey": key or f"export-{next(_names)}",
            },
        )
        assert "errors" not in body, body
        payload: dict[str, Any] = body["data"]["runBulkQuery"]
        return payload

    async def status(self, token: str, operation: str) -> dict[str, Any]:
        body = await self.query(token, STATUS, id=operation)
        assert "errors" not in body, body
        found: dict[str, Any] = body["data"]["bulkOperation"]
        return found

    def runner(self, worker: str = "runner-1") -> BulkRunner:
        services = self.services
        return BulkRunner(
            services.sessions,
            services.get(BulkFiles),
            services.get(SchemaPages),
            worker=worker,
            policy=services.settings.bulk,
            clock=services.now,
            on_change=services.get(BulkEvents).publish,
        )

    async def run(self, runner: BulkRunner | None = None, *, max_steps: int = 500) -> int:
        """Step a runner until nothing is left to do; the steps taken."""
        runner = runner or self.runner()
        for step in range(1, max_steps + 1):
            if not await runner.step():
                return step
        raise AssertionError(f"still running after {max_steps} steps")

    async def exported(self, token: str, query: str, format: str = "JSONL") -> str:
        """Start an export of ``query``, run it to the end, and give its download url."""
        operation = (await self.start(token, query, format))["bulkOperation"]
        await self.run()
        url: str = (await self.status(token, operation["id"]))["url"]
        return url

    async def download(self, token: str, url: str, **headers: str) -> httpx.Response:
        return await self.client.get(url, headers={"Authorization": f"Bearer {token}", **headers})

    def files_of(self, row_id: str) -> list[str]:
        return sorted(p.name for p in self.folder.glob(f"{row_id}.*"))


@pytest.fixture(scope="module")
async def bulk(
    demo: DemoSystems, clean_database: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Bulk]:
    folder = tmp_path_factory.mktemp("bulk")
    clock = WallClock(datetime.now(UTC))
    settings = make_settings(
        clean_database,
        auth_cache_seconds=0,
        limits={"max_page_size": PAGE_SIZE_CAP},
        bulk={
            "enabled": False,  # the tests step the runners
            "directory": str(folder),
            "pages_per_step": 1,
            "direct_page_size": DIRECT_PAGE_SIZE,
            "claim_seconds": CLAIM_SECONDS,
            "retention_seconds": RETENTION_SECONDS,
            "max_running_per_key": 2,
            "max_page_attempts": 2,
        },
    )
    app = create_app(settings, sources=demo_sources_config(demo.urls), clock=clock)
    async with serving(app) as client:
        yield Bulk(app, client, clock, folder)


async def _end_every_export(bulk: Bulk) -> None:
    async with bulk.services.sessions() as session, session.begin():
        await session.execute(
            update(BulkOperationRow)
            .where(BulkOperationRow.status.in_(ACTIVE))
            .values(status="CANCELED", claim_token=None, claimed_until=None)
        )


@pytest.fixture(autouse=True)
async def no_export_left_running(bulk: Bulk) -> AsyncIterator[None]:
    """Each test's runners find only its own exports: any other test of the session left
    under way (the shared database) is ended before, and this test's after."""
    await _end_every_export(bulk)
    yield
    await _end_every_export(bulk)
