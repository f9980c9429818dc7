"""Bulk exports against a client paging ``orders(first: 100)``, in one process, one run (issue
21's Performance section).

    .venv/bin/python benchmarks/run.py bulk [--orders 5000] [--formats jsonl,csv,parquet]

One demo business of ``--orders`` orders (its four systems in this process, as ``serve`` starts
them), one service on a fresh SQLite database with the record cache off (each side asks the
sources for everything it reads). The query: orders with their lines, state, totals and
provenance. Per row:

- **paging**: a client pages ``orders(first: 100)`` with that selection through the service's
  ASGI app (no network: the service's own cost, JSON both ways), until the last page;
- **bulk FORMAT**: ``runBulkQuery`` with the same selection, one runner stepped to the end in
  this process (pages through the schema as the caller, the spool, the file), then the file
  downloaded;
- **upstream calls alone, pages of N (the floor)**: the calls such an export must make (each
  storefront page, then one batch per system for its orders), parsed, and nothing else: the
  most any export asking the systems in pages of N could reach; N is 100 (a live page) and
  ``bulk.direct_page_size`` (500, the pages of an orders export omnigraph answers itself).

Every row starts cold: no truths kept (``OrderTruths``) and no records parsed before it.

Figures: orders/s and rows/s per CPU second of the process (orders plus their lines and
provenance entries; CPU time, since everything runs in this one process and the machine may be
busy with other work: the wall-clock seconds are shown beside), the ratio to paging, upstream
calls per 1,000 orders (the demo systems' ``/_stats``), and the growth of the process's peak
RSS during the row (``ru_maxrss``; the bulk rows run first, so each growth is its own).
"""

from __future__ import annotations

import asyncio
import functools
import os
import resource
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from omnigraph.app import BACKGROUND_SWITCHES, create_app, demo_sources_config
from omnigraph.bulk.events import BulkEvents
from omnigraph.bulk.resolvers import SchemaPages
from omnigraph.bulk.runner import BulkRunner
from omnigraph.bulk.store import BulkFiles
from omnigraph.core.clock import DEMO_ANCHOR, StartedClock
from omnigraph.demo import DemoSystems, build_world
from omnigraph.orders.truth import OrderTruths
from omnigraph.runtime.services import Services
from omnigraph.settings import Settings
from omnigraph.sources.bulk import bulk_reads
from omnigraph.sources.contract import OrderListFilter
from omnigraph.sources.parsing import forget_kept_records

SELECTION = """id name channel state placedAt
  totals { total { amount currency } }
  lines { sku quantity unitPrice { amount currency } }
  provenance { field source asOf }"""
EXPORT = f"{{ orders {{ edges {{ node {{ {SELECTION} }} }} }} }}"
PAGE = f"""query($after: String) {{ orders(first: 100, after: $after) {{
  edges {{ node {{ {SELECTION} }} }} pageInfo {{ hasNextPage endCursor }} }} }}"""
START = """mutation($input: RunBulkQueryInput!) { runBulkQuery(input: $input) {
  bulkOperation { id } userErrors { code message } } }"""
STATUS = """query($id: ID!) { bulkOperation(id: $id) {
  status rootObjectCount objectCount fileSize url errorCode } }"""


@dataclass
class Row:
    name: str
    seconds: float  # CPU seconds of the process: the demo systems, the service, the client
    wall: float
    orders: int
    rows: int
    calls: int
    peak_growth_mb: float
    file_bytes: int | None = None


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


async def _calls(demo: DemoSystems) -> int:
    total = 0
    async with httpx.AsyncClient() as client:
        for url in demo.urls.values():
            total += int((await client.get(f"{url}/_stats")).json()["total"])
    return total


async def _reset(demo: DemoSystems) -> None:
    async with httpx.AsyncClient() as client:
        for url in demo.urls.values():
            (await client.post(f"{url}/_stats/reset")).raise_for_status()


async def _graphql(client: httpx.AsyncClient, query: str, **variables: Any) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


async def _paging(client: httpx.AsyncClient) -> tuple[int, int, None]:
    orders = rows = 0
    after = None
    while True:
        page = (await _graphql(client, PAGE, after=after))["orders"]
        for edge in page["edges"]:
            node = edge["node"]
            orders += 1
            rows += 1 + len(node["lines"]) + len(node["provenance"])
        if not page["pageInfo"]["hasNextPage"]:
            return orders, rows, None
        after = page["pageInfo"]["endCursor"]


async def _upstream_alone(services: Services, size: int) -> tuple[int, int, None]:
    """The calls an export of the same orders in pages of ``size`` must make, and nothing
    else: each page from the storefront, then its orders' sales orders, fulfilment orders and
    charges in one batch per system, parsed as the service parses them (pages of 100 as live
    queries do, keeping the records; larger ones as the direct export pages do, not keeping
    them). No truth, no rows: the floor under any export asking the systems that way."""
    if size > 100:
        with bulk_reads():
            return await _upstream_pages(services, size)
    return await _upstream_pages(services, size)


async def _upstream_pages(services: Services, size: int) -> tuple[int, int, None]:
    registry = services.registry
    orders = 0
    for storefront in registry.storefronts:
        cursor = None
        while True:
            page = await storefront.list_orders(limit=size, cursor=cursor, filter=OrderListFilter())
            refs = [order.id for order in page.orders]
            orders += len(refs)
            await asyncio.gather(
                *(erp.sales_orders_by_order_ref(refs) for erp in registry.erps),
                *(wms.fulfilment_orders_by_order_ref(refs) for wms in registry.warehouses),
                *(psp.charges_by_order_ref(refs) for psp in registry.payments),
            )
            cursor = page.next_cursor
            if cursor is None:
                break
    return orders, 0, None


async def _bulk(client: httpx.AsyncClient, services: Services, format: str) -> tuple[int, int, int]:
    started = (
        await _graphql(
            client,
            START,
            input={"query": EXPORT, "format": format, "idempotencyKey": f"bench-{format}"},
        )
    )["runBulkQuery"]
    assert not started["userErrors"], started
    runner = BulkRunner(
        services.sessions,
        services.get(BulkFiles),
        services.get(SchemaPages),
        worker="bench",
        policy=services.settings.bulk,
        clock=services.now,
        on_change=services.get(BulkEvents).publish,
    )
    while await runner.step():
        pass
    done = (await _graphql(client, STATUS, id=started["bulkOperation"]["id"]))["bulkOperation"]
    assert done["status"] == "COMPLETED", done
    size = 0
    async with client.stream("GET", done["url"]) as response:
        async for chunk in response.aiter_bytes():
            size += len(chunk)
    assert size == int(done["fileSize"])
    return int(done["rootObjectCount"]), int(done["objectCount"]), size


async def _row(
    name: str,
    demo: DemoSystems,
    services: Services,
    measure: Callable[[], Awaitable[tuple[int, int, int | None]]],
) -> Row:
    """One row: ``measure`` (answering orders, rows and the file's size) timed, with the
    upstream calls it made and the growth of the process's peak RSS meanwhile."""
    await _reset(demo)
    # no row takes the truths or parsed records another row left: each starts cold
    services.get(OrderTruths).clear()
    forget_kept_records()
    before = _peak_mb()
    started, cpu = time.perf_counter(), time.process_time()
    orders, rows, size = await measure()
    seconds = time.process_time() - cpu
    wall = time.perf_counter() - started
    return Row(name, seconds, wall, orders, rows, await _calls(demo), _peak_mb() - before, size)


async def _measure(demo: DemoSystems, orders: int, formats: list[str]) -> list[Row]:
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            database_url=f"sqlite+aiosqlite:///{Path(folder) / 'bench.sqlite3'}",
            cache_ttl_seconds=0,
            stale_if_error_seconds=0,
            **dict.fromkeys(BACKGROUND_SWITCHES, False),
            metrics_enabled=False,
            bulk={
                "enabled": False,  # stepped here
                "directory": str(Path(folder) / "bulk"),
                "pages_per_step": 1_000_000,
                "max_running_per_key": 10,
            },
            _env_file=None,
        )
        app = create_app(
            settings, sources=demo_sources_config(demo.urls), clock=StartedClock(DEMO_ANCHOR)
        )
        results: list[Row] = []
        async with app.router.lifespan_context(app):
            services: Services = app.state.services
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://bench", timeout=600
            ) as client:
                await _graphql(client, PAGE, after=None)  # warm: schema, caches, pools
                _ = services.get(SchemaPages).schema  # the schema export pages run through
                for format in formats:
                    measure = functools.partial(_bulk, client, services, format.upper())
                    results.append(await _row(f"bulk {format}", demo, services, measure))
                paging = await _row(
                    "paging orders(first: 100)", demo, services, lambda: _paging(client)
                )
                results.insert(0, paging)
                for size in (100, services.settings.bulk.direct_page_size):
                    floor = await _row(
                        f"upstream calls alone, pages of {size} (the floor)",
                        demo,
                        services,
                        functools.partial(_upstream_alone, services, size),
                    )
                    results.append(floor)
        assert all(r.orders == orders for r in results), [(r.name, r.orders) for r in results]
        return results


def bulk_benchmark(orders: int, formats: list[str]) -> None:
    world = build_world(seed=7, orders=orders, anchor=DEMO_ANCHOR)

    async def run() -> list[Row]:
        async with DemoSystems(world) as demo:
            return await _measure(demo, orders, formats)

    load = os.getloadavg()[0]
    rows = asyncio.run(run())
    base = rows[0].orders / rows[0].seconds
    print(
        f"\n{orders} orders; orders with lines, state, totals and provenance (record cache off);"
        f" load average {load:.1f} before, {os.getloadavg()[0]:.1f} after\n"
    )
    print(
        "| row | CPU s (wall s) | orders/s | rows/s | vs paging | upstream calls / 1,000 orders"
        " | peak RSS growth | file |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        rate = row.orders / row.seconds
        print(
            f"| {row.name} | {row.seconds:.1f} ({row.wall:.1f}) | {rate:,.0f}"
            f" | {row.rows / row.seconds:,.0f}"
            f" | {rate / base:.2f}x | {row.calls * 1000 / row.orders:.1f}"
            f" | {row.peak_growth_mb:.0f} MB"
            f" | {'' if row.file_bytes is None else f'{row.file_bytes / 1e6:.1f} MB'} |"
        )
