"""Bulk exports as a reporting tool sees them: the demo systems, the service and the client in
three processes, over HTTP (``benchmarks/run.py bulk --over-http``).

``omnigraph demo`` serves the four systems with ``--orders`` orders in a process of its own;
``omnigraph serve`` (production mode, one uvicorn process, SQLite; as in benchmarks/bulk.py,
the record cache and the background work other than exports off) answers the client, which
pages ``orders(first: 100)`` with a reporting key, then starts the same selection as a bulk
export in each format, watches ``bulkOperation(id)`` every half second until it completes and
downloads the file. Per row: the wall seconds the client waited, the service's CPU seconds
(``/proc/PID/stat``) and the demo systems', and the service's resident memory (``VmRSS``,
sampled every 0.2 s) before the row and at its peak: what an export costs the service itself,
with nothing else in its process.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from processes import wait_until_up
from service_load import KINDS, _free_ports, _process, _sources_config

from bulk import EXPORT, PAGE, START, STATUS
from omnigraph.app import BACKGROUND_SWITCHES
from omnigraph.core.clock import DEMO_ANCHOR
from omnigraph.db.engine import create_engine, create_session_factory, upgrade_database
from omnigraph.security import api_keys
from omnigraph.security.principal import Role

__all__ = ["bulk_over_http"]

_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class _PeakRss:
    """The highest ``VmRSS`` of a process while the block runs, sampled every 0.2 s."""

    def __init__(self, pid: int) -> None:
        self.pid, self._done = pid, threading.Event()
        self.before = self.peak = _rss_mb(pid)
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._done.wait(0.2):
            self.peak = max(self.peak, _rss_mb(self.pid))

    def __enter__(self) -> _PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_mb(self.pid))


@dataclass
class Row:
    name: str
    wall: float
    service_cpu: float
    demo_cpu: float
    orders: int
    rss_before: float
    rss_peak: float
    file_bytes: int | None = None


def _graphql(client: httpx.Client, query: str, **variables: Any) -> dict[str, Any]:
    answer = client.post("/graphql", json={"query": query, "variables": variables}).json()
    assert not answer.get("errors"), answer["errors"]
    return answer["data"]  # type: ignore[no-any-return]


def _paging(client: httpx.Client) -> tuple[int, int | None]:
    orders, after = 0, None
    while True:
        page = _graphql(client, PAGE, after=after)["orders"]
        orders += len(page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            return orders, None
        after = page["pageInfo"]["endCursor"]


def _export(client: httpx.Client, format: str) -> tuple[int, int | None]:
    started = _graphql(
        client,
        START,
        input={"query": EXPORT, "format": format, "idempotencyKey": f"http-{format}"},
    )["runBulkQuery"]
    assert not started["userErrors"], started
    operation = started["bulkOperation"]["id"]
    while True:
        done = _graphql(client, STATUS, id=operation)["bulkOperation"]
        if done["status"] not in ("CREATED", "RUNNING"):
            break
        time.sleep(0.5)
    assert done["status"] == "COMPLETED", done
    size = 0
    with client.stream("GET", done["url"]) as response:
        for chunk in response.iter_bytes():
            size += len(chunk)
    assert size == int(done["fileSize"])
    return int(done["rootObjectCount"]), size


def _row(name: str, service: int, demo: int, measure: Callable[[], tuple[int, int | None]]) -> Row:
    service_cpu, demo_cpu = _cpu_seconds(service), _cpu_seconds(demo)
    with _PeakRss(service) as rss:
        started = time.perf_counter()
        orders, size = measure()
        wall = time.perf_counter() - started
    return Row(
        name,
        wall,
        _cpu_seconds(service) - service_cpu,
        _cpu_seconds(demo) - demo_cpu,
        orders,
        rss.before,
        rss.peak,
        size,
    )


async def _reporting_key(database: str) -> str:
    engine = create_engine(database)
    try:
        await upgrade_database(engine)
        issued = await api_keys.create_key(
            create_session_factory(engine),
            name="bench-reporting",
            roles=frozenset({Role.REPORTING}),
            channel=None,
            now=datetime.now(UTC),
        )
        return issued.secret
    finally:
        await engine.dispose()


def bulk_over_http(orders: int, formats: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="omnigraph-bulk-") as folder:
        tmp = Path(folder)
        base = _free_ports(5)
        urls = {kind: f"http://127.0.0.1:{base + i}" for i, kind in enumerate(KINDS)}
        service_url = f"http://127.0.0.1:{base + 4}"
        # `omnigraph demo` as a module of this folder: its --orders stops at 20,000
        demo_argv = [sys.executable, __file__, "demo", str(orders), str(base)]
        print(f"starting the demo systems with {orders:,} orders")
        with _process(demo_argv, {}, tmp / "demo.log", tmp) as demo:
            for url in urls.values():
                wait_until_up(f"{url}/health", demo, 1800, tmp / "demo.log")
            # the service's clock starts at the demo's instant, as `omnigraph demo` writes it
            anchor = DEMO_ANCHOR.isoformat().replace("+00:00", "Z")
            (tmp / "sources.toml").write_text(
                f'demo_as_of = "{anchor}"\n\n' + _sources_config(urls)
            )
            database = f"sqlite+aiosqlite:///{tmp}/omnigraph.sqlite3"
            key = asyncio.run(_reporting_key(database))
            env = {
                "OMNIGRAPH_MODE": "production",
                "OMNIGRAPH_DATABASE_URL": database,
                "OMNIGRAPH_CONFIG": str(tmp / "sources.toml"),
                "OMNIGRAPH_HOST": "127.0.0.1",
                "OMNIGRAPH_PORT": str(base + 4),
                "OMNIGRAPH_RATE_LIMIT": "off",
                "OMNIGRAPH_BULK_DIRECTORY": str(tmp / "bulk"),
                "OMNIGRAPH_BULK_POLL_SECONDS": "0.2",
                "OMNIGRAPH_BULK_MAX_RUNNING_PER_KEY": "10",
                # as benchmarks/bulk.py: each side asks the sources for everything it reads,
                # and no background work but the exports' shares the service's CPU
                "OMNIGRAPH_CACHE_TTL_SECONDS": "0",
                "OMNIGRAPH_STALE_IF_ERROR_SECONDS": "0",
                **{f"OMNIGRAPH_{switch.upper()}": "false" for switch in BACKGROUND_SWITCHES},
            }
            argv = [sys.executable, "-m", "omnigraph", "serve"]
            with _process(argv, env, tmp / "service.log", tmp) as service:
                wait_until_up(f"{service_url}/healthz", service, 120, tmp / "service.log")
                headers = {"Authorization": f"Bearer {key}"}
                with httpx.Client(base_url=service_url, headers=headers, timeout=600) as client:
                    _graphql(client, PAGE, after=None)  # warm: schema, pools
                    rows = [
                        _row(
                            f"bulk {format}",
                            service.pid,
                            demo.pid,
                            lambda format=format: _export(client, format.upper()),
                        )
                        for format in formats
                    ]
                    rows.insert(
                        0,
                        _row(
                            "paging orders(first: 100)",
                            service.pid,
                            demo.pid,
                            lambda: _paging(client),
                        ),
                    )
    _print(orders, rows)


def _print(orders: int, rows: list[Row]) -> None:
    paging = rows[0]
    print(
        f"\n{orders:,} orders with lines, state, totals and provenance, over HTTP: the demo"
        " systems, the service (production mode) and the client in three processes"
    )
    print(
        "| row | wall s | orders/s (wall) | vs paging (wall) | service CPU s | orders per service"
        " CPU s | vs paging (service CPU) | demo CPU s | service RSS before -> peak | file |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        rate, per_cpu = row.orders / row.wall, row.orders / row.service_cpu
        print(
            f"| {row.name} | {row.wall:.1f} | {rate:,.0f} | {paging.wall / row.wall:.2f}x"
            f" | {row.service_cpu:.1f} | {per_cpu:,.0f}"
            f" | {paging.service_cpu / row.service_cpu:.2f}x | {row.demo_cpu:.1f}"
            f" | {row.rss_before:.0f} -> {row.rss_peak:.0f} MB"
            f" | {'' if row.file_bytes is None else f'{row.file_bytes / 1e6:.1f} MB'} |"
        )


def _demo(orders: int, base_port: int) -> None:
    """The demo business of ``benchmarks/bulk.py`` (seed 7, the demo's instant), served until
    the process is stopped."""
    from omnigraph.demo import build_world, run_forever

    world = build_world(seed=7, orders=orders, anchor=DEMO_ANCHOR)
    ports = {kind: base_port + i for i, kind in enumerate(KINDS)}
    asyncio.run(run_forever(world, ports=ports))


if __name__ == "__main__" and sys.argv[1:2] == ["demo"]:
    _demo(int(sys.argv[2]), int(sys.argv[3]))
