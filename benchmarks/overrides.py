"""What each framework override buys, in CPU milliseconds a request, in one process.

    .venv/bin/python benchmarks/overrides.py [--requests 60] [--rounds 5] [--base-port 8301]
        [--calls]

The demo source systems run as their own process (``omnigraph demo``); the service runs here,
``create_app`` with its lifespan, development mode, background workers off, record cache TTL
300 s (so, once warm, only the reporting page's listing is asked of the storefront, as under
load). Variants of the same service: every override off
(``OMNIGRAPH_FRAMEWORK_OVERRIDES=false``), all on but one (what each one buys where the others
are on), all on, and the default build (all on, as ``create_app`` makes it).
Per round, the variants take turns; each posts the shipped operation ``--requests`` times from
16 concurrent tasks through ``httpx.ASGITransport`` and ``time.process_time()`` is divided by
the requests. The answers of every variant are checked equal first. The table gives medians
over ``--rounds`` rounds: the support order lookup and the reporting page (``orders(first:
100)``). ``--calls`` counts Python function calls a request instead (cProfile over 20
sequential requests a variant, client included), a figure the machine's load does not move.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
from starlette.applications import Starlette

from omnigraph.app import BACKGROUND_SWITCHES, EXAMPLES, create_app, demo_sources_config
from omnigraph.graph.overrides import (
    LeafExecutionContext,
    LeanExtensionsRunner,
    ValidationVerdicts,
    lighten,
)
from omnigraph.graph.overrides.context_release import release
from omnigraph.settings import Settings

KINDS = ("storefront", "erp", "wms", "payments")
OPERATIONS = {
    "support lookup": {
        "query": (EXAMPLES / "support-order-lookup.graphql").read_text(),
        "variables": {"source": "web-store", "ref": "SF-100248"},
    },
    "reporting page": {"query": (EXAMPLES / "reporting-orders-page.graphql").read_text()},
}


def _leaf(app: Starlette) -> None:
    app.state.graphql.schema.execution_context_class = LeafExecutionContext


def _lean(app: Starlette) -> None:
    lighten(app.state.graphql.schema)


def _validation(app: Starlette) -> None:
    schema = app.state.graphql.schema
    schema.extensions = (*schema.extensions, ValidationVerdicts().extension)


def _release(app: Starlette) -> None:
    app.state.graphql.release_context = release  # as ReleasingGraphQL does


def _hooks(app: Starlette) -> None:
    app.state.graphql.schema.extensions_runner = LeanExtensionsRunner


ALL = {
    "leaf execution": _leaf,
    "lean resolvers": _lean,
    "validation verdicts": _validation,
    "context release": _release,
    "extension hooks": _hooks,
}
# each variant: the service built with the overrides off, then these turned on (None: the
# default build, with them all on)
VARIANTS: dict[str, list[Callable[[Starlette], None]] | None] = {
    "all off": [],
    **{f"all but {name}": [on for other, on in ALL.items() if other != name] for name in ALL},
    "all on": list(ALL.values()),
    "all on, as built by default": None,
}


@contextlib.asynccontextmanager
async def service(
    database: str, urls: dict[str, str], variant: list[Callable[[Starlette], None]] | None
) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        database_url=database,
        cache_ttl_seconds=300,
        **dict.fromkeys(BACKGROUND_SWITCHES, False),
        metrics_enabled=False,
        rate_limit="off",
        framework_overrides=variant is None,
    )
    app = create_app(settings, sources=demo_sources_config(urls))
    for turn_on in variant or []:
        turn_on(app)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://omnigraph") as client:
            yield client


async def answer(client: httpx.AsyncClient, body: dict[str, Any]) -> bytes:
    response = await client.post("/graphql", json=body)
    response.raise_for_status()
    assert b'"errors"' not in response.content, response.content[:300]
    return response.content


async def cpu_ms(client: httpx.AsyncClient, body: dict[str, Any], requests: int) -> float:
    queue = list(range(requests))

    async def worker() -> None:
        while queue:
            queue.pop()
            await answer(client, body)

    start = time.process_time()
    await asyncio.gather(*(worker() for _ in range(16)))
    return (time.process_time() - start) * 1000 / requests


async def calls(client: httpx.AsyncClient, body: dict[str, Any], requests: int = 20) -> float:
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(requests):
        await answer(client, body)
    profile.disable()
    total: int = pstats.Stats(profile).total_calls  # type: ignore[attr-defined]
    return total / requests


async def measure(urls: dict[str, str], requests: int, rounds: int, count: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        database = f"sqlite+aiosqlite:///{folder}/bench.sqlite3"
        async with contextlib.AsyncExitStack() as stack:
            clients = {
                name: await stack.enter_async_context(service(database, urls, variant))
                for name, variant in VARIANTS.items()
            }
            for body in OPERATIONS.values():  # warm, and the same answers everywhere
                answers = {name: await answer(client, body) for name, client in clients.items()}
                assert len(set(answers.values())) == 1, "the variants answer differently"
            figures: dict[tuple[str, str], list[float]] = {}
            for _ in range(rounds):
                for operation, body in OPERATIONS.items():
                    for name, client in clients.items():
                        if count:
                            taken = await calls(client, body)
                        else:
                            taken = await cpu_ms(client, body, requests)
                        figures.setdefault((operation, name), []).append(taken)
    print(f"| variant | {' | '.join(OPERATIONS)} |")
    print(f"| --- |{' --- |' * len(OPERATIONS)}")
    for name in VARIANTS:
        cells = []
        for operation in OPERATIONS:
            values = figures[(operation, name)]
            if count:
                cells.append(f"{statistics.median(values):,.0f}")
            else:
                low, high = min(values), max(values)
                cells.append(f"{statistics.median(values):.2f} ({low:.2f}-{high:.2f})")
        print(f"| {name} | {' | '.join(cells)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--base-port", type=int, default=8301)
    parser.add_argument("--calls", action="store_true", help="count calls, not CPU time")
    args = parser.parse_args()
    urls = {kind: f"http://127.0.0.1:{args.base_port + i}" for i, kind in enumerate(KINDS)}
    demo = subprocess.Popen(
        [sys.executable, "-m", "omnigraph", "demo", "--base-port", str(args.base_port)],
        stdout=subprocess.DEVNULL,
        env={**os.environ, "OMNIGRAPH_LOG_FORMAT": "json"},
    )
    try:
        for _ in range(300):  # the demo world takes a few seconds to build
            try:
                httpx.get(f"{urls['payments']}/_stats", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        asyncio.run(measure(urls, args.requests, 1 if args.calls else args.rounds, args.calls))
    finally:
        demo.terminate()
        demo.wait(timeout=10)


if __name__ == "__main__":
    main()
