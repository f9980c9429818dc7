"""GraphiQL works inside a network without the internet: every script and style it loads is
served by omnigraph, and is the file strawberry's page vouches for (its SRI hash)."""

from __future__ import annotations

import base64
import hashlib
from html.parser import HTMLParser

from omnigraph.demo import DemoSystems
from tests.conftest import Graph, running_app


class _Assets(HTMLParser):
    """The ``src``/``href`` of every ``script`` and ``link`` of a page, with its integrity."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in {"script", "link"}:
            return
        named = dict(attrs)
        address = named.get("src") or named.get("href")
        if address and not address.startswith("data:"):  # inline (the favicon), nothing loaded
            self.found.append((address, named.get("integrity")))


async def _page_assets(graph: Graph) -> list[tuple[str, str | None]]:
    page = await graph.client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    parser = _Assets()
    parser.feed(page.text)
    return parser.found


async def test_graphiql_loads_nothing_from_outside(graph: Graph) -> None:
    assets = await _page_assets(graph)
    assert len(assets) >= 5  # React, ReactDOM, GraphiQL's script and style, the explorer
    outside = [a for a, _ in assets if "//" in a or not a.startswith("/")]
    assert outside == []


async def test_each_asset_is_served_and_is_the_file_the_page_vouches_for(graph: Graph) -> None:
    for address, integrity in await _page_assets(graph):
        response = await graph.client.get(address)
        assert response.status_code == 200, address
        assert integrity is not None, address
        algorithm, _, expected = integrity.partition("-")
        digest = hashlib.new(algorithm, response.content).digest()
        assert base64.b64encode(digest).decode() == expected, address


async def test_production_serves_neither_the_ide_nor_its_assets(
    demo: DemoSystems, clean_database: str
) -> None:
    async for _, graph in running_app(demo, clean_database, mode="production"):
        assets = "/graphiql-assets/graphiql@3.8.3/graphiql.min.js"
        assert (await graph.client.get(assets)).status_code == 404
