"""How long the console's pages take on the demo (issue 22): each page, then the GraphQL each
page runs (the queue's, the order's), 20 times each, in process (no network), after the demo's
first background rounds. Prints the median and the slowest.

    PYTHONPATH=src:. .venv/bin/python benchmarks/console_pages.py
"""

from __future__ import annotations

import asyncio
import re
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from tests.helpers import served_demo

JS = (Path(__file__).parents[1] / "src/omnigraph/console/static/console.js").read_text()
NOT_RESOLVED = ["OPEN", "ACKNOWLEDGED", "RESOLUTION_PENDING", "RESOLUTION_FAILED"]
ROUNDS = 20


def document(name: str) -> str:
    """A query as console.js sends it (its template parts filled in)."""
    found = re.search(rf"const {name} = `(.*?)`;", JS, re.S)
    fields = re.search(r"const EXCEPTION_FIELDS = `(.*?)`;", JS, re.S)
    assert found
    assert fields
    return (
        found.group(1)
        .replace("${EXCEPTION_FIELDS}", fields.group(1))
        .replace("${CLAIM}", "source sourceKind value asOf recordRef")
    )


async def timed(label: str, call: Callable[[], Awaitable[httpx.Response]]) -> None:
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        response = await call()
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.text
        assert '"errors"' not in response.text, response.text
    print(f"{label}: median {statistics.median(times):.1f} ms, slowest {max(times):.1f} ms")


async def main() -> None:
    async with served_demo(Path(tempfile.mkdtemp())) as (_app, client):
        queue = {"query": document("QUEUE"), "variables": {"filter": {"statuses": NOT_RESOLVED}}}
        order = {"query": document("ORDER"), "variables": {"source": "wms", "ref": "WO-700262"}}
        await timed("GET /console", lambda: client.get("/console"))
        await timed("GET /console/order", lambda: client.get("/console/order"))
        await timed("the queue's query", lambda: client.post("/graphql", json=queue))
        await timed("the order's query", lambda: client.post("/graphql", json=order))


if __name__ == "__main__":
    asyncio.run(main())
