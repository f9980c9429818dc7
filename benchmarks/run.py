"""Omnigraph benchmarks: one command, figures as ratios against a baseline from the same run.

    .venv/bin/python benchmarks/run.py [http] [detection] [ledger] [reconcile] [--orders 5000]
        [--repeat 3] [--duration 10] [--warmup 2] [--connections 16] [--scale small|full|none]
        [--rows availability,lookup,reporting] [--workers 2] [--json cells.json]

``http`` (issue 9): the service under load, in production mode, from another process. It starts
the demo source systems (``omnigraph demo``) and the service with two baselines mounted beside
``/graphql`` (``benchmarks/baselines/``: never in the shipped app) as one uvicorn process, then
drives each cell with wrk (``apt-get install wrk``; a Lua script posts the body) at
``--connections`` (16) for ``--warmup`` (2 s) and then ``--duration`` (10 s) seconds. Rows: the
storefront availability check (20 SKUs, one channel), the support order lookup (one order from
all four sources, with provenance, disagreements and exceptions) and the reporting page
(``orders(first: 100)`` with lines and states), each served three ways: by omnigraph, by a
naive strawberry schema without dataloaders, and by hand-written starlette endpoints over the
same adapters, loaders, record caches and database (the raw limit). The three answers are
checked to be the same data before anything is timed. Per cell: requests/s and its ratio to
raw, p50 and p99 latency, upstream calls per request under load (from the demo systems'
``GET /_stats``), the calls of one request with the record caches emptied, and the ideal (one
call per source per resolver level). The service runs with its default settings (record cache
TTL 5 s, background workers on) except the rate limit, raised out of the way. The same table
carries the scale figures of ``ledger`` and ``reconcile`` at ``--scale small`` (20,000 ledger
events; 10,000 transactions across 50 payouts), ``full`` (the issues' sizes: 500,000 and
1,000,000 events; 1,000,000 transactions across 5,000 payouts) or ``none``. The table is
Markdown, ready for docs/PERFORMANCE.md. ``--rows lookup,reporting`` measures only those rows.
Every row has a fifth variant, the **serving limit**: omnigraph's answer, kept as bytes and
served by a minimal starlette route of the same process, under the same wrk settings, so each
figure shows its share of what uvicorn and starlette alone reach. ``--workers N`` measures
omnigraph (and its response cache) again as ``omnigraph serve --workers N``; ``--json FILE``
writes one object per cell (``operation``, ``variant``: omnigraph, cached, raw, naive or limit,
``workers``, ``rps``, ``p50_ms``, ``p99_ms``). It also prints the lag from a WMS movement to
availability showing it (``--lag-probes`` movements, p50 and p99).

``ledger``: ingestion rate of the inventory ledger (events/s) from a synthetic WMS feed over
10,000 SKUs and 50 locations, and the latency of ``availability`` for 1,000 SKUs at two ledger
sizes side by side (it must not grow with the ledger): the resolver's read, and the same read
as a storefront sends it through ``/graphql`` (three plain fields of every answer; the service
in-process, background work off). Baseline: the same feed pages fetched and parsed without
being applied. SQLite (a temporary file) by default; ``OMNIGRAPH_BENCH_DATABASE_URL``
names a PostgreSQL server, on which a scratch database is made and dropped.

``detection``: the disagreement detector over a seeded demo business, against a baseline that
makes exactly the same upstream calls (storefront pages, ERP and WMS batches by order ref) and
does nothing with the answers. The ratio is what truth-keeping costs on top of fetching.
The demo systems run in the same process, as they do for ``omnigraph serve`` without sources;
both sides pay for them alike.

``bulk`` (issue 21): bulk exports of ``--orders`` orders with lines, state, totals and
provenance, per format (``--formats``), against a client paging ``orders(first: 100)`` through
the same process in the same run: rows/s, upstream calls per 1,000 orders, peak memory growth.
See ``benchmarks/bulk.py``. With ``--over-http``, as a reporting tool sees it: the demo systems,
``omnigraph serve`` and the client in three processes, wall time, each process's CPU and the
service's memory (``benchmarks/bulk_http.py``).

``profile OPERATION``: CPU ms a request and the top frames (pyinstrument) of one operation
in-process (availability, lookup, reporting, or ``fixed``: the per-request path every operation
pays), ``--cached`` asked by the trusted hash. See ``benchmarks/hot_path.py``.

``reconcile``: payments sync and payout reconciliation of ``--transactions`` balance
transactions across ``--payouts`` payouts (issue 6: 1,000,000 across 5,000), each phase in its own
process for its peak memory, against fetch-and-parse and one-``GROUP BY`` baselines. See
``benchmarks/reconcile.py``. Not run by default: the full size takes minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson

from omnigraph.app import demo_sources_config
from omnigraph.db.engine import create_engine, create_session_factory, upgrade_database
from omnigraph.demo import DemoSystems, build_world
from omnigraph.exceptions.catalogue import ExceptionCatalogue
from omnigraph.orders.authority import AuthorityRules
from omnigraph.orders.detector import DisagreementDetector
from omnigraph.settings import Settings
from omnigraph.sources.contract import OrderListFilter
from omnigraph.sources.registry import SourceRegistry

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
                before = {n: c.upstream.calls for n, c in registry.clients.items()}
                scan_seconds, report = await timed(
                    lambda: detector.scan(now=now, raise_exceptions=False), repeat
                )
                calls = (
                    sum(c.upstream.calls - before[n] for n, c in registry.clients.items()) / repeat
                )
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


LEDGER_SKUS = 10_000
LEDGER_LOCATIONS = 50
FEED_PAGE = 1000  # events a feed page


def synthetic_feed(total: int, page_size: int) -> Callable[[httpx.Request], httpx.Response]:
    """A WMS answering /changes with ``total`` generated movements, and /locations. Its pages
    of ``page_size`` events are encoded before it answers (a WMS's own CPU is spent on its own
    machine, not charged to the reader it serves); other pages are made when asked."""
    base = datetime(2026, 1, 1, tzinfo=UTC)
    kinds = ("receipt", "allocate", "ship", "damage", "quality_hold", "quality_release")
    locations = [
        {
            "id": f"loc-{i:02d}",
            "name": f"Location {i}",
            "type": "store" if i else "warehouse",
            "cutoff": "17:00",
            "timezone": "Europe/London",
        }
        for i in range(LEDGER_LOCATIONS)
    ]

    def event(n: int) -> dict[str, object]:
        kind = "receipt" if n % 3 == 0 else kinds[n % len(kinds)]
        at = (base + timedelta(seconds=n)).isoformat()
        return {
            "id": f"evt_{n}",
            "sequence": n,
            "type": f"inventory.{kind}",
            "occurredAt": at,
            "data": {
                "id": f"MOV-{n}",
                "movement": kind,
                "sku": f"SKU-{n % LEDGER_SKUS:05d}",
                "locationId": f"loc-{(n // LEDGER_SKUS) % LEDGER_LOCATIONS:02d}",
                "quantity": 5 if kind == "receipt" else 1,
                "occurredAt": at,
            },
        }

    def page(after: int, limit: int) -> bytes:
        last = min(total, after + limit)
        events = [event(n) for n in range(after + 1, last + 1)]
        body = {"events": events, "nextCursor": str(last), "hasMore": last < total}
        return orjson.dumps(body)

    ready = {after: page(after, page_size) for after in range(0, total, page_size)}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/locations":
            return httpx.Response(200, json={"data": locations, "nextCursor": None})
        after = int(request.url.params.get("after") or 0)
        limit = int(request.url.params.get("limit"))
        body = ready.get(after) if limit == page_size else None
        return httpx.Response(
            200,
            content=body or page(after, limit),
            headers={"content-type": "application/json"},
        )

    return handler


AVAILABILITY_QUERY = (
    'query($skus: [String!]!) { availability(skus: $skus, channel: "web", promise: SHIP)'
    " { sku locationId availableQuantity } }"
)


async def availability_by_graphql(
    url: str, feed: httpx.MockTransport, skus: list[str], repeat: int
) -> tuple[float, int]:
    """The median seconds of the 1,000-SKU read as a storefront sends it (``AVAILABILITY_QUERY``:
    three plain fields of every SKU x location answer), through the whole service in this
    process (``httpx.ASGITransport``; background work off), and the answers it gave."""
    from service_load import NO_BACKGROUND  # benchmarks/service_load.py

    from omnigraph.app import create_app

    settings = Settings(database_url=url, **NO_BACKGROUND, _env_file=None)
    app = create_app(settings, sources=demo_sources_config(LEDGER_URLS), transports={"wms": feed})
    body = {"query": AVAILABILITY_QUERY, "variables": {"skus": skus}}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

            async def read() -> int:
                response = await client.post("/graphql", json=body)
                answer = orjson.loads(response.content)
                if response.status_code != 200 or answer.get("errors"):
                    raise SystemExit(f"{response.status_code}: {response.text[:300]}")
                return len(answer["data"]["availability"])

            await read()  # the locations and the SKUs' positions loaded
            seconds, answers = await timed(read, repeat)
    return seconds, answers if isinstance(answers, int) else 0


async def ledger(sizes: list[int], repeat: int) -> list[dict[str, float]]:
    """Print, and answer, per ledger size: events, ingest seconds, the fetch-only baseline's
    seconds and the median ``availability`` latency for 1,000 SKUs."""
    from statistics_server import analyzing  # benchmarks/statistics_server.py

    from omnigraph.inventory.availability import Promise, read_availability
    from omnigraph.inventory.ledger import LedgerReader
    from omnigraph.inventory.locations import KnownLocations
    from omnigraph.inventory.movements import parse_movement
    from omnigraph.inventory.policy import AllocationPolicy
    from omnigraph.inventory.policy_store import store_policy
    from omnigraph.inventory.projection import PositionsProjection
    from omnigraph.runtime.batch import batch_collection
    from omnigraph.runtime.garbage_collection import tuned_collector
    from omnigraph.runtime.services import Services

    print(f"cores: {os.cpu_count()}   SKUs: {LEDGER_SKUS}   locations: {LEDGER_LOCATIONS}")
    print(
        f"{'ledger events':>14}{'ingest s':>10}{'events/s':>11}{'fetch-only x':>14}"
        f"{'availability(1000 SKUs) ms':>28}{'by GraphQL ms':>15}{'ingest CPU s':>14}"
    )
    skus = [f"SKU-{i:05d}" for i in range(0, LEDGER_SKUS, LEDGER_SKUS // 1000)]
    figures = []
    from replicas import scratch_database  # benchmarks/replicas.py

    for size in sizes:
        async with scratch_database() as url:
            settings = Settings(database_url=url, cache_ttl_seconds=60)
            engine = create_engine(url)
            await upgrade_database(engine)
            sessions = create_session_factory(engine)
            config = demo_sources_config(LEDGER_URLS)
            feed = httpx.MockTransport(synthetic_feed(size, FEED_PAGE))
            registry = SourceRegistry(config, settings, transports={"wms": feed})
            try:
                client = registry.warehouses[0].client
                started = time.perf_counter()
                cursor: str | None = None
                while True:  # the baseline: fetch and parse every page, apply nothing
                    events, cursor, more = await client.changes(cursor, FEED_PAGE)
                    for raw in events:
                        parse_movement(raw)
                    if not more:
                        break
                fetch_seconds = time.perf_counter() - started
                started, cpu = time.perf_counter(), time.process_time()
                # the collector as `omnigraph sync wms` runs a backfill (the service's reader
                # runs under its own tuning, the same young threshold): with Python's default
                # thresholds 65 full collections took 10.8 s of a 1M-event ingest
                async with analyzing(engine, "inventory_ledger, inventory_positions"):
                    with batch_collection():
                        await LedgerReader(sessions, registry, page_size=FEED_PAGE).sync_once()
                ingest_seconds = time.perf_counter() - started
                ingest_cpu = time.process_time() - cpu
                locations = [f"loc-{i:02d}" for i in range(LEDGER_LOCATIONS)]
                policy = AllocationPolicy.parse(
                    {"locations": {"web": locations}, "priority": {"order": ["web"]}}
                )
                await store_policy(
                    sessions, policy, actor="bench", note=None, now=datetime.now(UTC)
                )
                services = Services(settings=settings, registry=registry, sessions=sessions)
                services.provide(KnownLocations(sessions, clock=services.now))
                services.provide(PositionsProjection())  # as the service provides it
                read = functools.partial(
                    read_availability,
                    services,
                    skus=skus,
                    channel="web",
                    promise=Promise.SHIP,
                    at=None,
                    location_ids=None,
                )
                # the collector as the service tunes it while it runs (app.py): without it a
                # read's 50,000 answers fill the old generation and full collections follow
                with tuned_collector(settings.gc_young_threshold):
                    await read()  # warm the locations cache and load the SKUs' positions
                    seconds, _ = await timed(read, repeat)
                by_graphql, answers = await availability_by_graphql(url, feed, skus, repeat)
            finally:
                await registry.aclose()
                await engine.dispose()
        print(
            f"{size:>14,}{ingest_seconds:>10.1f}{size / ingest_seconds:>11,.0f}"
            f"{ingest_seconds / fetch_seconds:>13.1f}x{seconds * 1000:>28.1f}"
            f"{by_graphql * 1000:>15.1f}{ingest_cpu:>14.1f}"
        )
        figures.append(
            {
                "events": size,
                "ingest_seconds": ingest_seconds,
                "fetch_seconds": fetch_seconds,
                "availability_seconds": seconds,
                "graphql_seconds": by_graphql,
                "graphql_answers": answers,
            }
        )
    return figures


LEDGER_URLS = {  # the ledger benchmark's sources: only its WMS answers (a MockTransport)
    "storefront": "http://sf.invalid",
    "erp": "http://erp.invalid",
    "wms": "http://wms.invalid",
    "payments": "http://psp.invalid",
}

SCALE = {  # ledger events per run; payments transactions, payouts
    "small": ([20_000], 10_000, 50),
    "full": ([500_000, 1_000_000], 1_000_000, 5_000),
}


def _row(
    what: str, by: str, throughput: str = "", vs: str = "", p50: str = "", calls: str = ""
) -> list[str]:
    """A row of the ``http`` table (columns as ``service_load.print_table`` prints them)."""
    return [what, by, throughput, vs, "", "", p50, "", "", calls, "", ""]


def scale_rows(scale: str, repeat: int) -> list[list[str]]:
    """The inventory and payouts issues' figures as rows of the ``http`` table; "vs raw" holds
    each one's ratio to its own same-run baseline (fetch and parse only; one ``GROUP BY``)."""
    if scale == "none":
        return []
    from reconcile import reconcile_benchmark  # benchmarks/reconcile.py

    ledger_sizes, transactions, payouts = SCALE[scale]
    rows = []
    for figures in asyncio.run(ledger(ledger_sizes, repeat)):
        events, ingest = int(figures["events"]), figures["ingest_seconds"]
        rows.append(
            _row(
                f"Inventory ledger ingest ({events:,} events)",
                "LedgerReader.sync_once",
                f"{events / ingest:,.0f} events/s",
                f"{ingest / figures['fetch_seconds']:.1f}x fetch+parse",
            )
        )
        rows.append(
            _row(
                # every SKU x location position exists from 500,000 events on
                f"availability for 1,000 SKUs (ledger of {events:,} events)",
                "resolver",
                p50=f"{figures['availability_seconds'] * 1000:.0f} (median of {repeat})",
            )
        )
        rows.append(
            _row(
                f"the same read by GraphQL ({int(figures['graphql_answers']):,} answers,"
                " 3 fields each)",
                "/graphql in-process",
                p50=f"{figures['graphql_seconds'] * 1000:.0f} (median of {repeat})",
            )
        )
    results = reconcile_benchmark(transactions, payouts)
    baselines = {"ingest": "fetch+parse", "reconcile": "one GROUP BY"}
    labels = {"ingest": "PaymentsReader.sync_once", "reconcile": "Reconciler.reconcile_pending"}
    for phase, base in (("ingest", "fetch"), ("reconcile", "equation")):
        seconds = results[phase]["seconds"]
        calls = sum(results[phase]["calls"].values())
        rows.append(
            _row(
                f"Payouts {phase} ({transactions:,} txns, {payouts:,} payouts)",
                labels[phase],
                f"{transactions / seconds:,.0f} txns/s",
                f"{seconds / results[base]['seconds']:.1f}x {baselines[phase]}",
                calls=f"{calls * 1000 / transactions:.2f} per 1,000 txns",
            )
        )
    return rows


def main() -> None:
    if sys.argv[1:2] == ["profile"]:  # its own arguments: benchmarks/hot_path.py
        from hot_path import main as profile_main

        profile_main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "benchmarks",
        nargs="*",
        help="http, detection, ledger, reconcile, bulk (default: detection and ledger)",
    )
    parser.add_argument("--duration", type=float, default=10.0, help="http: seconds per cell")
    parser.add_argument("--warmup", type=float, default=2.0, help="http: warm-up seconds")
    parser.add_argument("--connections", type=int, default=16, help="http: wrk connections")
    parser.add_argument("--demo-orders", type=int, default=300, help="http: demo business size")
    parser.add_argument(
        "--rows", default=None, help="http: only these rows, e.g. 'lookup,reporting'"
    )
    parser.add_argument(
        "--scale",
        choices=["small", "full", "none"],
        default="small",
        help="http: ledger and reconcile figures in the same table (full: the issues' sizes)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="http: also serve omnigraph as `omnigraph serve --workers N` (N > 1)",
    )
    parser.add_argument(
        "--json", type=Path, default=None, help="http: write one object per cell to this file"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="http: measure each row's raw, limit, omnigraph and cached cells in turn N times",
    )
    parser.add_argument(
        "--lag-probes",
        type=int,
        default=20,
        help="http: WMS movements timed until availability shows them",
    )
    parser.add_argument("--orders", type=int, default=5000)
    parser.add_argument(
        "--ledger-sizes",
        default="500000,1000000",
        help="ledger events, comma-separated (from 500,000 every position exists)",
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--transactions", type=int, default=100_000, help="reconcile: 1000000")
    parser.add_argument("--payouts", type=int, default=500, help="reconcile: 5000")
    parser.add_argument(
        "--profile", action="store_true", help="reconcile: under cProfile, print the top functions"
    )
    parser.add_argument(
        "--formats", default="jsonl,csv,parquet", help="bulk: the export formats measured"
    )
    parser.add_argument(
        "--over-http",
        action="store_true",
        help="bulk: the demo systems, the service and the client in three processes, over HTTP",
    )
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error(f"--rounds must be 1 or more, got {args.rounds}")
    for name in args.benchmarks or ["detection", "ledger"]:
        if name == "http":
            # benchmarks/service_load.py
            from service_load import cells_json, http_benchmark, print_table

            measured = http_benchmark(
                duration=args.duration,
                warmup=args.warmup,
                connections=args.connections,
                orders=args.demo_orders,
                only=args.rows,
                workers=args.workers,
                lag_probes=args.lag_probes,
                rounds=args.rounds,
            )
            print_table(measured, scale_rows(args.scale, args.repeat))
            if args.json is not None and measured is not None:
                args.json.write_text(json.dumps(cells_json(measured), indent=1) + "\n")
                print(f"wrote {args.json}")
        elif name == "detection":
            asyncio.run(detection(args.orders, args.repeat))
        elif name == "ledger":
            sizes = [int(size) for size in args.ledger_sizes.split(",")]
            asyncio.run(ledger(sizes, args.repeat))
        elif name == "reconcile":
            from reconcile import reconcile_benchmark  # benchmarks/reconcile.py

            reconcile_benchmark(args.transactions, args.payouts, profile=args.profile)
        elif name == "bulk":
            if args.over_http:
                from bulk_http import bulk_over_http  # benchmarks/bulk_http.py

                bulk_over_http(args.orders, args.formats.split(","))
            else:
                from bulk import bulk_benchmark  # benchmarks/bulk.py

                bulk_benchmark(args.orders, args.formats.split(","))
        else:
            parser.error(
                f"unknown benchmark {name!r}; known: http, detection, ledger, reconcile, bulk"
            )


if __name__ == "__main__":
    main()
