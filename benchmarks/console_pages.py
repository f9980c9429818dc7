"""How long the console's pages take on the demo (issue 22): each page as a browser loads it
(the page, the sign-in probe, then every GraphQL request the page makes before it is drawn:
the map follows its pages of current disagreements), 20 times each, in process (no network),
after the demo's first background rounds. Prints the median and the slowest of each page and of
each query.

    PYTHONPATH=src:. .venv/bin/python benchmarks/console_pages.py
"""

from __future__ import annotations

import asyncio
import re
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from tests.helpers import served_demo

JS = (Path(__file__).parents[1] / "src/omnigraph/console/static/console.js").read_text()
NOT_RESOLVED = ["OPEN", "ACKNOWLEDGED", "RESOLUTION_PENDING", "RESOLUTION_FAILED"]
ROUNDS = 20


def document(name: str) -> str:
    """A query as console.js sends it (its template parts filled in)."""
    found = re.search(rf'const {name} = [`"](.*?)[`"];', JS, re.S)
    fields = re.search(r"const EXCEPTION_FIELDS = `(.*?)`;", JS, re.S)
    assert found
    assert fields
    return (
        found.group(1)
        .replace("${EXCEPTION_FIELDS}", fields.group(1))
        .replace("${CLAIM}", "source sourceKind value asOf recordRef")
    )


async def ask(client: httpx.AsyncClient, name: str, **variables: Any) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": document(name), "variables": variables})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


async def timed(label: str, call: Callable[[], Awaitable[object]]) -> None:
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        await call()
        times.append((time.perf_counter() - start) * 1000)
    print(f"{label}: median {statistics.median(times):.1f} ms, slowest {max(times):.1f} ms")


def page_load(
    client: httpx.AsyncClient, path: str, then: Callable[[], Awaitable[object]]
) -> Callable[[], Awaitable[object]]:
    async def load() -> None:
        page = await client.get(path)
        assert page.status_code == 200
        await ask(client, "PROBE")
        await then()

    return load


async def main() -> None:
    async with served_demo(Path(tempfile.mkdtemp())) as (_app, client):
        as_of = datetime.fromisoformat((await ask(client, "PROBE"))["exceptionOperations"]["asOf"])
        window = {"from": (as_of - timedelta(days=30)).isoformat(), "to": as_of.isoformat()}

        async def queue() -> object:
            return await ask(client, "QUEUE", filter={"statuses": NOT_RESOLVED})

        async def order() -> object:
            return await ask(client, "ORDER", source="wms", ref="WO-700262")

        async def dashboard() -> object:
            await ask(client, "OPERATIONS")
            return await ask(client, "PAYOUTS", **window)

        async def system_map() -> object:
            after = None
            while True:
                kept = (await ask(client, "DISAGREEING", after=after))["currentDisagreements"]
                if not kept["pageInfo"]["hasNextPage"]:
                    break
                after = kept["pageInfo"]["endCursor"]
            return await ask(client, "OWNERS")

        for label, path, then in (
            ("queue", "/console", queue),
            ("order truth", "/console/order", order),
            ("dashboard", "/console/dashboard", dashboard),
            ("system map", "/console/map", system_map),
        ):
            await timed(f"page {label} ({path}, loaded)", page_load(client, path, then))
        await timed("  the queue's query", queue)
        await timed("  the order's query", order)
        await timed("  the dashboard's queries", dashboard)
        await timed("  the map's queries", system_map)


if __name__ == "__main__":
    asyncio.run(main())
