"""The console's pages are served in development and production, carry no data, and load
nothing from outside omnigraph."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from starlette.applications import Starlette

from omnigraph.demo import DemoSystems
from tests.conftest import Graph, running_app

CONSOLE = Path(__file__).resolve().parents[2] / "src" / "omnigraph" / "console"
PAGES = ["/console", "/console/order", "/console/dashboard", "/console/map"]


@pytest.fixture(scope="module")
async def production(demo: DemoSystems, clean_database: str) -> AsyncIterator[Graph]:
    pair: tuple[Starlette, Graph]
    async for pair in running_app(demo, clean_database, mode="production"):
        yield pair[1]


@pytest.mark.parametrize("path", PAGES)
async def test_pages_are_served_in_development(graph: Graph, path: str) -> None:
    response = await graph.client.get(path)
    assert response.status_code == 200
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert '<script src="/console/static/console.js"' in response.text


@pytest.mark.parametrize("path", PAGES)
async def test_pages_are_served_in_production_without_a_key(production: Graph, path: str) -> None:
    """The pages hold no data (it comes from /graphql, with the key), so they need none."""
    response = await production.client.get(path)
    assert response.status_code == 200
    script = await production.client.get("/console/static/console.js")
    assert script.status_code == 200
    refused = await production.client.post("/graphql", json={"query": "{ __typename }"})
    assert refused.status_code == 401  # while /graphql still wants one


def test_nothing_is_loaded_from_outside_omnigraph() -> None:
    for path in CONSOLE.rglob("*"):
        if path.suffix in {".html", ".js", ".css"}:
            assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]", path.read_text()), path
