"""Omnigraph benchmarks: one command, figures as ratios against a baseline from the same run.

    .venv/bin/python benchmarks/run.py [detection] [--orders 5000] [--repeat 3]

``detection``: the disagreement detector over a seeded demo business, against a baseline that
makes exactly the same upstream calls (storefront pages, ERP and WMS batches by order ref) and
does nothing with the answers. The ratio is what truth-keeping costs on top of fetching.
The demo systems run in the same process, as they do for ``omnigraph serve`` without sources;
both sides pay for them alike.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from omnigraph.app import demo_sources_config
from omnigraph.db.engine import create_engine, create_session_factory, upgrade_database
from omnigraph.exceptions.catalogue import ExceptionCatalogue
from omnigraph.settings import Settings
from omnigraph.sources.registry import SourceRegistry
from omnigraph.sources.sim import DemoSystems, build_world
from omnigraph.sources.storefront import OrderListFilter
from omnigraph.truth.authority import AuthorityRules
from omnigraph.truth.detector import DisagreementDetector

PAGE = 200


async def fetch_only(registry: SourceRegistry) -> int:
    """The baseline: the detector's upstream calls, answers discarded."""
    orders = 0
    for storefront in registry.storefronts:
        cursor: str | None = None
        while True:
            page = await storefront.list_orders(limit=PAGE, cursor=cursor, filter=OrderListFilter())
            refs = [o.id for o in page.orders]
            orders += len(refs)
            await asyncio.gather(
                *(erp.sales_orders_by_order_ref(refs) for erp in registry.erps),
                *(wms.fulfilment_orders_by_order_ref(refs) for wms in registry.warehouses),
            )
            if not page.next_cursor:
                return orders
            cursor = page.next_cursor
    return orders


async def timed(run: Callable[[], Awaitable[object]], repeat: int) -> tuple[float, object]:
    samples, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = await run()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples), result


async def detection(orders: int, repeat: int) -> None:
    world = build_world(seed=7, orders=orders, anchor=datetime(2026, 11, 20, tzinfo=UTC))
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{folder}/bench.sqlite3"
        settings = Settings(database_url=url, cache_ttl_seconds=0)
        engine = create_engine(url)
        await upgrade_database(engine)
        async with DemoSystems(world) as demo:
            registry = SourceRegistry(demo_sources_config(demo.urls), settings)
            detector = DisagreementDetector(
                create_session_factory(engine),
                registry,
                AuthorityRules.load(),
                ExceptionCatalogue.load(),
                page_size=PAGE,
            )
            now = datetime.now(UTC)
            try:
                base_seconds, _ = await timed(lambda: fetch_only(registry), repeat)
                before = {n: c.calls for n, c in registry.clients.items()}
                scan_seconds, report = await timed(
                    lambda: detector.scan(now=now, raise_exceptions=False), repeat
                )
                calls = sum(c.calls - before[n] for n, c in registry.clients.items()) / repeat
                raise_seconds, raised = await timed(lambda: detector.scan(now=now), 1)
            finally:
                await registry.aclose()
        await engine.dispose()
    scanned = report.orders  # type: ignore[attr-defined]
    print(f"cores: {os.cpu_count()}   orders: {scanned}   median of {repeat} runs")
    print(f"{'what':<38}{'seconds':>9}{'orders/s':>11}{'calls/order':>13}{'vs baseline':>13}")
    rows = [
        ("baseline: same upstream calls only", base_seconds, calls),
        ("detection (compare, no intake)", scan_seconds, calls),
        ("detection + exception intake (1 run)", raise_seconds, calls),
    ]
    for label, seconds, upstream in rows:
        print(
            f"{label:<38}{seconds:>9.3f}{scanned / seconds:>11.0f}{upstream / scanned:>13.4f}"
            f"{seconds / base_seconds:>12.2f}x"
        )
    print(f"disagreements: {dict(report.disagreements)}")  # type: ignore[attr-defined]
    print(f"exceptions raised: {dict(raised.raised)}")  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("benchmarks", nargs="*", help="detection (the default)")
    parser.add_argument("--orders", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for name in args.benchmarks or ["detection"]:
        if name != "detection":
            parser.error(f"unknown benchmark {name!r}; known: detection")
        asyncio.run(detection(args.orders, args.repeat))


if __name__ == "__main__":
    main()
