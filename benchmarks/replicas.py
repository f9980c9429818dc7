"""``replicas``: what health checks and background work cost the sources on many replicas
(issue 18, points 14 and 16). Loopback only, bounded counts.

    .venv/bin/python benchmarks/replicas.py health [--requests 200]
    .venv/bin/python benchmarks/replicas.py background [--replicas 4] [--seconds 12]

``health``: one service (``create_app``, production defaults but a development key-less mode)
in front of the demo systems; ``--requests`` concurrent ``GET /healthz``, then the probes each
demo system counted (``GET /health``) and the status codes, first with all sources up, then
with the ERP down.

``background``: ``--replicas`` services in one process sharing one database and the demo
systems, every background task on (the defaults), for ``--seconds`` of wall time; then each
task's runs summed over the replicas (``omnigraph_periodic_runs_total`` of each replica's
``/metrics``), how many replicas ran it, and the source calls the demo systems counted.
SQLite (a temporary file) by default; ``OMNIGRAPH_BENCH_DATABASE_URL`` names a PostgreSQL
server, where a scratch database is made and dropped afterwards.

Only ``create_app``, its settings and HTTP are used, so the same script measures an older tree
(``PYTHONPATH=<tree>/src``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import tempfile
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.applications import Starlette

from omnigraph.app import create_app, demo_sources_config
from omnigraph.demo import DemoSystems, build_world
from omnigraph.settings import Settings

RUNS = re.compile(r'^omnigraph_periodic_runs_total\{outcome="(\w+)",task="(\w+)"\} ([0-9.e+]+)$')


@contextlib.asynccontextmanager
async def service(
    demo: DemoSystems, database: str, **settings: Any
) -> AsyncIterator[httpx.AsyncClient]:
    app: Starlette = create_app(
        Settings(database_url=database, _env_file=None, **settings),
        sources=demo_sources_config(demo.urls),
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://omnigraph") as client:
            yield client


async def source_calls(demo: DemoSystems) -> dict[str, Counter[str]]:
    async with httpx.AsyncClient(timeout=120) as client:
        return {
            kind: Counter((await client.get(f"{url}/_stats")).json()["requests"])
            for kind, url in demo.urls.items()
        }


async def reset(demo: DemoSystems) -> None:
    async with httpx.AsyncClient(timeout=120) as client:
        for url in demo.urls.values():
            (await client.post(f"{url}/_stats/reset")).raise_for_status()


async def outage(demo: DemoSystems, kind: str, down: bool) -> None:
    async with httpx.AsyncClient(timeout=120) as client:
        await client.post(f"{demo.urls[kind]}/_control/outage", json={"down": down})


async def health(requests: int) -> None:
    world = build_world(seed=7, orders=40)
    with tempfile.TemporaryDirectory() as tmp:
        database = f"sqlite+aiosqlite:///{Path(tmp) / 'health.sqlite3'}"
        quiet = {f"{task}_enabled": False for task in BACKGROUND}
        async with DemoSystems(world) as demo, service(demo, database, **quiet) as client:
            for label, down in (("all sources up", None), ("erp down", "erp")):
                if down:
                    await outage(demo, down, True)
                await reset(demo)
                answers = await asyncio.gather(*(client.get("/healthz") for _ in range(requests)))
                probes = {k: c["GET /health"] for k, c in (await source_calls(demo)).items()}
                codes = Counter(a.status_code for a in answers)
                print(
                    f"{label}: {requests} x GET /healthz -> status codes {dict(codes)};"
                    f" source probes {probes} (total {sum(probes.values())})"
                )
                for path in ("/livez", "/readyz"):
                    answer = await client.get(path)
                    print(f"  GET {path} -> {answer.status_code}")
                if down:
                    await outage(demo, down, False)


BACKGROUND = ("dispatcher", "report_feed", "ledger", "drift", "detector", "reconcile")


def runs_by_task(scrape: str) -> dict[str, float]:
    runs: dict[str, float] = defaultdict(float)
    for line in scrape.splitlines():
        if match := RUNS.match(line):
            runs[match[2]] += float(match[3])
    return runs


@contextlib.asynccontextmanager
async def scratch_database() -> AsyncIterator[str]:
    """A temporary SQLite file, or a scratch database on OMNIGRAPH_BENCH_DATABASE_URL's
    PostgreSQL server."""
    server = os.environ.get("OMNIGRAPH_BENCH_DATABASE_URL")
    if not server:
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite+aiosqlite:///{Path(tmp) / 'replicas.sqlite3'}"
        return
    name = f"omnigraph_bench_replicas_{os.getpid()}"
    admin = create_async_engine(make_url(server), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def background(replicas: int, seconds: float) -> None:
    world = build_world(seed=7, orders=40)
    async with scratch_database() as database:
        async with DemoSystems(world) as demo, contextlib.AsyncExitStack() as stack:
            clients = [
                await stack.enter_async_context(service(demo, database)) for _ in range(replicas)
            ]
            await reset(demo)
            await asyncio.sleep(seconds)
            scrapes = [runs_by_task((await c.get("/metrics")).text) for c in clients]
            calls = await source_calls(demo)
        tasks = sorted({task for scrape in scrapes for task in scrape})
        backend = make_url(database).get_backend_name()
        print(f"{replicas} replicas, one {backend} database, {seconds:g} s, every task on:")
        print("| task | runs, all replicas | replicas that ran it |")
        print("| --- | --- | --- |")
        for task in tasks:
            total = sum(scrape.get(task, 0) for scrape in scrapes)
            ran = sum(1 for scrape in scrapes if scrape.get(task, 0) > 0)
            print(f"| {task} | {total:g} | {ran} |")
        contract = {
            kind: sum(n for route, n in counts.items() if route != "GET /health")
            for kind, counts in calls.items()
        }
        print(f"source calls in the window: {contract} (total {sum(contract.values())})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    health_parser = commands.add_parser("health")
    health_parser.add_argument("--requests", type=int, default=200)
    background_parser = commands.add_parser("background")
    background_parser.add_argument("--replicas", type=int, default=4)
    background_parser.add_argument("--seconds", type=float, default=12.0)
    args = parser.parse_args()
    if args.command == "health":
        asyncio.run(health(args.requests))
    else:
        asyncio.run(background(args.replicas, args.seconds))


if __name__ == "__main__":
    main()
