"""Where one operation's time goes: CPU milliseconds a request, then its top frames.

    PYTHONPATH=src .venv/bin/python benchmarks/run.py profile availability|lookup|reporting|fixed
        [--cached] [--raw] [--requests 300] [--concurrency 16] [--top 30] [--tree]
        [--statements] [--calls] [--paired-compiled ROUNDS]

(also ``benchmarks/hot_path.py`` with the same arguments; not named ``profile.py``, which would
shadow the standard library's ``profile`` module that ``cProfile`` imports for every script in
this folder.)

One process holds the demo source systems, the service (``create_app`` with its lifespan, in
production mode, the ``http`` benchmark's settings: rate limit raised out of the way, response
cache 1 s, background workers off so only requests are profiled) and the client, which posts
through ``httpx.ASGITransport`` (no network: the service's own cost, JSON both ways, the
authentication and middleware included). The database is prepared as the ``http`` benchmark
prepares it (ledger, exception reports, disagreements, one key per role, the shipped examples
registered as trusted documents).

Operations: the ``http`` benchmark's three (``--cached``: asked for by the trusted document's
hash, so the response cache answers; ``--raw``: the hand-written baseline's route for the same
answer, ``benchmarks/baselines/raw.py``, in the same app, for a side-by-side profile) and
``fixed``: ``{ __typename }`` with the storefront key,
the per-request path every operation pays (authentication, rate limit, logging, parsing,
validation, the view). First a run without the profiler gives CPU ms a request
(``time.process_time``, the median of three runs of ``--requests``, ``--concurrency`` requests
in flight), then pyinstrument samples one more run and prints the functions with the most self
time (``--tree``: the call tree instead; ``--statements``: the SQL statements a request, counted
over ``--requests`` requests one at a time, instead of the CPU and the profile; ``--calls``:
the Python function calls a request, counted by cProfile over ``--requests`` requests one at a
time, the client included, then the ``--top`` functions with the most time of their own;
``--paired-compiled ROUNDS``: the CPU a request with and without compiled selections,
alternating within each round, and their ratio).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import orjson
from baselines.app import create_benchmark_app  # benchmarks/baselines/app.py
from pyinstrument import Profiler
from service_load import (  # benchmarks/service_load.py
    NO_BACKGROUND,
    OPERATIONS,
    RATE_LIMIT,
    _prepare,
)
from sqlalchemy import event
from sqlalchemy.engine import Engine

from omnigraph.app import create_app, demo_sources_config
from omnigraph.demo import DemoSystems, build_world
from omnigraph.graph.overrides import graphql_schema
from omnigraph.graph.overrides.leaf_execution import PLANS
from omnigraph.security.principal import Role
from omnigraph.settings import Settings

FIXED = {"query": "{ __typename }"}


async def _batch(
    client: httpx.AsyncClient,
    body: dict[str, Any],
    key: str,
    requests: int,
    concurrency: int,
    path: str = "/graphql",
) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    remaining = iter(range(requests))

    async def worker() -> None:
        for _ in remaining:
            response = await client.post(path, json=body, headers=headers)
            answer = orjson.loads(response.content)
            if response.status_code != 200 or answer.get("errors"):
                raise SystemExit(f"{response.status_code}: {response.text[:300]}")

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def profile(args: argparse.Namespace) -> None:
    world = build_world(seed=7, orders=300)
    async with DemoSystems(world) as demo:
        config = demo_sources_config(demo.urls)
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite+aiosqlite:///{folder}/profile.sqlite3"
            keys, refs, hashes = await _prepare(url, config)
            settings = Settings(
                mode="production",
                database_url=url,
                rate_limit=RATE_LIMIT,
                response_cache_seconds=1,
                **NO_BACKGROUND,
                _env_file=None,
            )
            app = create_app(settings, sources=config)
            path = "/graphql"
            if args.operation == "fixed":
                body, key = FIXED, keys[Role.STOREFRONT]
            else:
                found = next(op for op in OPERATIONS if op.key == args.operation)
                variables = _lookup(refs) if found.key == "lookup" else found.variables
                found = replace(found, variables=variables, persisted=hashes[found.document])
                body = found.persisted_body() if args.cached else found.graphql_body()
                key = keys[found.role]
                if args.raw:
                    benchmark_app = create_benchmark_app(settings, sources=config)
                    app = benchmark_app.app
                    path = found.raw_path
                    body = (
                        {**found.raw_body, **variables} if found.key == "lookup" else found.raw_body
                    )
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://profile", timeout=120
                ) as client:
                    await _batch(
                        client, body, key, args.concurrency, args.concurrency, path
                    )  # warm
                    if args.statements:
                        await _statements(client, body, key, args.requests, args.operation, path)
                        return
                    if args.calls:
                        await _calls(
                            client, body, key, args.requests, args.operation, path, args.top
                        )
                        return
                    if args.paired_compiled:
                        plans = graphql_schema(app.state.graphql.schema).extensions
                        await _paired_compiled(
                            client, body, key, args.requests, args.paired_compiled, path, plans
                        )
                        return
                    samples = []
                    for _ in range(3):
                        cpu = time.process_time()
                        await _batch(client, body, key, args.requests, args.concurrency, path)
                        samples.append((time.process_time() - cpu) * 1000 / args.requests)
                    profiler = Profiler(interval=0.0005, async_mode="disabled")
                    profiler.start()
                    await _batch(client, body, key, args.requests, args.concurrency, path)
                    profiler.stop()
    label = args.operation + (" (response cache)" if args.cached else "")
    label += " (raw)" if args.raw else ""
    print(
        f"{label}: {statistics.median(samples):.2f} CPU ms a request (median of 3 runs of"
        f" {args.requests}, {args.concurrency} in flight; runs: "
        + ", ".join(f"{s:.2f}" for s in samples)
        + ")"
    )
    if args.tree:
        print(profiler.output_text(show_all=False))
        return
    flat = profiler.output_text(flat=True, flat_time="self").splitlines()
    print("\n".join(flat[: args.top + 8]))


async def _statements(
    client: httpx.AsyncClient,
    body: dict[str, Any],
    key: str,
    requests: int,
    label: str,
    path: str = "/graphql",
) -> None:
    """SQL statements a request: every statement any engine of the process sends while
    ``requests`` requests run one at a time (so the background work's share, the leases and
    the exception-event tail, shows as a fraction), the most frequent first."""
    counts: Counter[str] = Counter()

    def count(*args: Any) -> None:
        statement = str(args[2])
        counts[" ".join(statement.split())[:120]] += 1

    event.listen(Engine, "before_cursor_execute", count)
    try:
        await _batch(client, body, key, requests, 1, path)
    finally:
        event.remove(Engine, "before_cursor_execute", count)
    print(f"{label}: {sum(counts.values()) / requests:.2f} SQL statements a request ({requests})")
    for statement, seen in counts.most_common(10):
        print(f"{seen / requests:8.2f}  {statement}")


async def _calls(
    client: httpx.AsyncClient,
    body: dict[str, Any],
    key: str,
    requests: int,
    label: str,
    path: str = "/graphql",
    top: int = 0,
) -> None:
    """Python function calls a request (cProfile's count over ``requests`` requests one at a
    time, the client included): a figure the machine's speed does not move (a coroutine
    counts once per resumption, so the figure is the same only for the same code); then the
    ``top`` functions with the most time of their own, each with its calls a request and its
    own and cumulative milliseconds a request under the profiler (which inflates small
    functions: compare them with each other, not with the CPU figure)."""
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        await _batch(client, body, key, requests, 1, path)
    finally:
        profiler.disable()
    stats: dict[Any, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    calls = sum(entry[1] for entry in stats.values())
    print(f"{label}: {calls / requests:,.0f} Python calls a request ({requests}, one at a time)")
    if top <= 0:
        return
    print(f"{'calls':>10} {'own ms':>8} {'cum ms':>8}  function (a request, under cProfile)")
    ranked = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)
    for (filename, line, name), (_, total, own, cumulative, _) in ranked[:top]:
        where = name if filename == "~" else f"{name} ({Path(filename).name}:{line})"
        print(
            f"{total / requests:>10,.1f} {own * 1000 / requests:>8.3f}"
            f" {cumulative * 1000 / requests:>8.3f}  {where}"
        )


async def _paired_compiled(
    client: httpx.AsyncClient,
    body: dict[str, Any],
    key: str,
    requests: int,
    rounds: int,
    path: str,
    kept: dict[str, Any],
) -> None:
    """What compiled selections buy (optimisation 48), paired in one process: each round runs
    ``requests`` requests with them and without them (each kept object plan's compiled
    function set aside, so its objects complete from their steps, and put back after), in
    alternating order, and prints the CPU milliseconds a request of both and their ratio; then
    the median ratio. Both halves of a round run seconds apart in the same process, so a
    machine whose speed drifts moves them together."""
    await _batch(client, body, key, requests, 16, path)  # the plans compiled

    def slots() -> list[list[Any]]:
        return [
            plan.compiled
            for document in kept[PLANS].values()
            for plan in document.object_plans.values()
        ]

    compiled = [(slot, slot[0]) for slot in slots() if callable(slot[0])]
    if not compiled:
        raise SystemExit("no selection of this operation was compiled")

    async def timed(with_compiled: bool) -> float:
        for slot, function in compiled:
            slot[0] = function if with_compiled else False  # False: complete from steps
        cpu = time.process_time()
        await _batch(client, body, key, requests, 16, path)
        return (time.process_time() - cpu) * 1000 / requests

    ratios = []
    try:
        for turn in range(rounds):
            order = (True, False) if turn % 2 == 0 else (False, True)
            got = {with_compiled: await timed(with_compiled) for with_compiled in order}
            ratios.append(got[True] / got[False])
            print(
                f"round {turn + 1}: compiled {got[True]:.2f}, steps {got[False]:.2f} CPU ms a"
                f" request; compiled/steps {ratios[-1]:.3f}"
            )
    finally:
        for slot, function in compiled:
            slot[0] = function
    print(
        f"compiled/steps, median of {rounds} rounds: {statistics.median(ratios):.3f}"
        f" ({len(compiled)} selections compiled)"
    )


def _lookup(refs: list[str]) -> dict[str, Any]:
    """The support lookup's variables: the first order with an exception (the harness picks
    the fullest answer over HTTP; any order with an exception exercises every part)."""
    return {"source": "web-store", "ref": refs[0]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("operation", choices=["availability", "lookup", "reporting", "fixed"])
    parser.add_argument("--cached", action="store_true", help="ask by the trusted hash")
    parser.add_argument(
        "--raw", action="store_true", help="the hand-written baseline (benchmarks/baselines/raw.py)"
    )
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--top", type=int, default=30, help="functions shown (with --calls: by own time)"
    )
    parser.add_argument("--tree", action="store_true", help="the call tree instead")
    parser.add_argument(
        "--statements", action="store_true", help="SQL statements a request instead of CPU"
    )
    parser.add_argument(
        "--calls", action="store_true", help="Python calls a request (cProfile) instead of CPU"
    )
    parser.add_argument(
        "--paired-compiled",
        type=int,
        default=0,
        metavar="ROUNDS",
        help="CPU a request with and without compiled selections, paired in ROUNDS rounds",
    )
    asyncio.run(profile(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
