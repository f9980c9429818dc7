"""The ``http`` benchmark: omnigraph under load, beside a raw starlette and a naive strawberry
baseline served by the same process, driven by wrk from another process.

Three processes: the demo source systems (``omnigraph demo``), the service in production mode
with the baselines mounted (``baselines/app.py``, one uvicorn worker, the service's default
settings: record cache TTL 5 s, background workers on), and wrk. The rate limit is raised to
1,000,000/second so it never refuses (its check still runs on every request). Before timing,
each baseline's answer is checked to be the same data as omnigraph's; upstream calls are read
from the demo systems' ``GET /_stats`` before and after each cell, counting only the routes the
operation may use (the background workers' feed reads are left out).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from processes import stop, wait_until_up
from sqlalchemy import select

from omnigraph.api.schema import build_schema
from omnigraph.app import EXAMPLES
from omnigraph.db.engine import create_engine, create_session_factory, upgrade_database
from omnigraph.db.models import ExceptionRow
from omnigraph.exceptions.catalogue import ExceptionCatalogue
from omnigraph.exceptions.source_reports import SourceReportReader
from omnigraph.graph.overrides import graphql_schema
from omnigraph.inventory.ledger import LedgerReader
from omnigraph.orders.authority import AuthorityRules
from omnigraph.orders.detector import DisagreementDetector
from omnigraph.security import api_keys
from omnigraph.security.document_manifest import read_operations
from omnigraph.security.document_store import register_documents
from omnigraph.security.principal import Role
from omnigraph.settings import Settings, SourcesConfig
from omnigraph.sources.registry import SourceRegistry

__all__ = ["OPERATIONS", "http_benchmark"]

BENCHMARKS = Path(__file__).resolve().parent
KINDS = ("storefront", "erp", "wms", "payments")
NAMES = {"storefront": "web-store", "erp": "erp", "wms": "wms", "payments": "psp"}
RATE_LIMIT = "1000000/second"
# the service's background work switched off, so an in-process measurement sees requests only
NO_BACKGROUND = {
    "dispatcher_enabled": False,
    "report_feed_enabled": False,
    "ledger_enabled": False,
    "drift_enabled": False,
    "detector_enabled": False,
    "reconcile_enabled": False,
}
CACHED = "omnigraph, response cache 1 s"
LIMIT = "serving limit"
VARIANTS = ("omnigraph", CACHED, "naive strawberry", "raw starlette", LIMIT)
# each variant's name in the ``--json`` output
VARIANT_KEYS = {
    "omnigraph": "omnigraph",
    CACHED: "cached",
    "naive strawberry": "naive",
    "raw starlette": "raw",
    LIMIT: "limit",
}
RESPONSE_CACHE_SECONDS = "1"


@dataclass(frozen=True, slots=True)
class Operation:
    """One row of the table: an example and its hand-written twin."""

    label: str
    key: str  # its name in the ``--json`` output: availability, lookup, reporting
    document: str  # src/omnigraph/examples/<document>.graphql
    variables: dict[str, Any]
    role: Role
    raw_path: str
    raw_body: dict[str, Any]
    ideal: dict[str, int]  # calls per source kind: one per source per resolver level
    routes: dict[str, frozenset[str]]  # the contract routes the operation may use, per kind
    channel: str | None = None
    cacheable: bool = True  # its root fields are among the response cache's defaults
    persisted: str | None = None  # the hash of its registered (trusted) document

    def variants(self) -> tuple[str, ...]:
        return tuple(v for v in VARIANTS if v != CACHED or self.cacheable)

    def text(self) -> str:
        return (EXAMPLES / f"{self.document}.graphql").read_text()

    def graphql_body(self) -> dict[str, Any]:
        return {"query": self.text(), "variables": self.variables}

    def persisted_body(self) -> dict[str, Any]:
        """Asked for by the hash of the registered document, as a trusted client asks."""
        assert self.persisted is not None
        persisted = {"version": 1, "sha256Hash": self.persisted}
        return {"extensions": {"persistedQuery": persisted}, "variables": self.variables}


SKUS = [f"SKU-{i:04d}" for i in range(1, 21)]
BY_REF = {
    "erp": frozenset({"POST /sales-orders/by-order-ref", "POST /sales-orders/batch"}),
    "wms": frozenset({"POST /fulfilment-orders/by-order-ref", "POST /fulfilment-orders/batch"}),
    "payments": frozenset({"POST /charges/by-order-ref", "POST /charges/batch"}),
}


def operations(lookup_ref: str) -> list[Operation]:
    return [
        Operation(
            "Storefront availability check (20 SKUs)",
            "availability",
            "storefront-availability",
            {"skus": SKUS, "channel": "store-pickup"},
            Role.STOREFRONT,
            "/baseline/raw/availability",
            {"skus": SKUS, "channel": "store-pickup"},
            # one resolver level: positions come from the ledger, locations from the WMS
            {"wms": 1},
            {"wms": frozenset({"GET /locations", "POST /stock/query"})},
            channel="store-pickup",
        ),
        Operation(
            "Support order lookup",
            "lookup",
            "support-order-lookup",
            {"source": "web-store", "ref": lookup_ref},
            Role.SUPPORT,
            "/baseline/raw/order-lookup",
            {"source": "web-store", "ref": lookup_ref},
            # the order (storefront), then its fields at one level: ERP, WMS, payments
            {"storefront": 1, "erp": 1, "wms": 1, "payments": 1},
            {"storefront": frozenset({"POST /orders/batch", "GET /orders"}), **BY_REF},
        ),
        Operation(
            "Reporting page (orders(first: 100))",
            "reporting",
            "reporting-orders-page",
            {},
            Role.REPORTING,
            "/baseline/raw/orders-page",
            {"first": 100},
            # the listing (storefront), then every order's fields at one level: ERP, WMS
            {"storefront": 1, "erp": 1, "wms": 1},
            {"storefront": frozenset({"GET /orders", "POST /orders/batch"}), **BY_REF},
            cacheable=False,  # the orders listing is fresh by contract: never a kept answer
        ),
    ]


OPERATIONS = operations("SF-100001")


@dataclass(slots=True)
class Cell:
    requests: int = 0  # answered with data and no errors
    attempted: int = 0  # every response wrk read
    served: int = 0  # every request the server finished, those wrk stopped waiting for too
    seconds: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    failed: int = 0
    failure: str | None = None  # the first failed answer, as wrk saw it
    calls: dict[str, int] = field(default_factory=dict)
    cold: dict[str, int] = field(default_factory=dict)
    cpu_ms: float = 0.0  # the service process's CPU per request served (its background work too)
    variant: str = ""  # set on the cells of ``--workers`` processes: the variant they repeat
    workers: int = 1

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def calls_per_request(self) -> float:
        return sum(self.calls.values()) / self.served if self.served else 0.0


# -- processes ---------------------------------------------------------------------------------


def _free_ports(count: int) -> int:
    """The first of ``count`` consecutive free loopback ports."""
    for _ in range(200):
        base = random.randint(20_000, 40_000)
        try:
            for port in range(base, base + count):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise SystemExit("no free loopback ports")


@contextmanager
def _process(
    argv: list[str], env: Mapping[str, str], log: Path, cwd: Path
) -> Iterator[subprocess.Popen[bytes]]:
    environment = {**os.environ, **env}
    if environment.get("PYTHONPATH"):  # the children run elsewhere: the same code, not ../src
        environment["PYTHONPATH"] = os.pathsep.join(
            os.path.abspath(p) for p in environment["PYTHONPATH"].split(os.pathsep) if p
        )
    with log.open("wb") as out:
        process = subprocess.Popen(argv, env=environment, stdout=out, stderr=out, cwd=cwd)
    try:
        yield process
    finally:
        stop(process)


# -- setup -------------------------------------------------------------------------------------


def _sources_config(urls: Mapping[str, str]) -> str:
    return "".join(
        f'[[sources]]\nname = "{NAMES[kind]}"\nkind = "{kind}"\nbase_url = "{url}"\n\n'
        for kind, url in urls.items()
    )


async def _prepare(
    url: str, config: SourcesConfig
) -> tuple[dict[Role, str], list[str], dict[str, str]]:
    """Migrate, read the ledger and the exception reports, detect disagreements (as the
    service's workers would), issue one API key per role, register the shipped examples as
    trusted documents (``omnigraph documents register``); answer the keys, the refs of orders
    with exceptions and each operation's document hash."""
    engine = create_engine(url)
    registry = SourceRegistry(config, Settings(database_url=url, _env_file=None))
    try:
        await upgrade_database(engine)
        sessions = create_session_factory(engine)
        catalogue = ExceptionCatalogue.load()
        await LedgerReader(sessions, registry).sync_once()
        await SourceReportReader(sessions, registry, catalogue).sync_once()
        detector = DisagreementDetector(sessions, registry, AuthorityRules.load(), catalogue)
        await detector.scan(now=datetime.now(UTC))
        keys = {}
        for role, channel in (
            (Role.STOREFRONT, "store-pickup"),
            (Role.SUPPORT, None),
            (Role.REPORTING, None),
        ):
            issued = await api_keys.create_key(
                sessions,
                name=f"bench-{role.value}",
                roles=frozenset({role}),
                channel=channel,
                now=datetime.now(UTC),
            )
            keys[role] = issued.secret
        async with sessions() as session:
            refs = list(
                await session.scalars(
                    select(ExceptionRow.order_ref)
                    .where(ExceptionRow.order_ref.is_not(None))
                    .distinct()
                    .order_by(ExceptionRow.order_ref)
                )
            )
        schema = graphql_schema(build_schema())
        documents = {
            op.document: read_operations(EXAMPLES / f"{op.document}.graphql", schema)[0]
            for op in OPERATIONS
        }
        await register_documents(sessions, documents.values(), now=datetime.now(UTC))
        hashes = {name: document.sha256 for name, document in documents.items()}
        return keys, [ref for ref in refs if ref], hashes
    finally:
        await registry.aclose()
        await engine.dispose()


def _choose_lookup_order(client: httpx.Client, key: str, refs: list[str]) -> str:
    """An order that exercises every part of the lookup: shipments, payments, a disagreement,
    an exception (the fullest answer among the candidates)."""
    document = (EXAMPLES / "support-order-lookup.graphql").read_text()
    best, best_score = "SF-100001", -1
    for ref in refs[:40]:
        body = client.post(
            "/graphql",
            json={"query": document, "variables": {"source": "web-store", "ref": ref}},
            headers={"Authorization": f"Bearer {key}"},
        ).json()
        order = (body.get("data") or {}).get("orderByRef")
        if not order or body.get("errors"):
            continue
        parts = ("shipments", "payments", "disagreements", "exceptions")
        score = sum(bool(order[part]) for part in parts) * 100 + len(order["lines"])
        if score > best_score:
            best, best_score = ref, score
    return best


# -- checks and counts -------------------------------------------------------------------------


def _first_difference(a: Any, b: Any, path: str = "") -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for name in sorted(set(a) | set(b)):
            found = _first_difference(a.get(name), b.get(name), f"{path}.{name}")
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items vs {len(b)}"
        for index, (x, y) in enumerate(zip(a, b, strict=True)):
            found = _first_difference(x, y, f"{path}[{index}]")
            if found:
                return found
        return None
    return None if a == b else f"{path}: {a!r} vs {b!r}"


def _requests(op: Operation) -> dict[str, tuple[str, dict[str, Any]]]:
    requests = {
        "omnigraph": ("/graphql", op.graphql_body()),
        CACHED: ("/graphql", op.persisted_body()) if op.cacheable else ("", {}),
        "naive strawberry": ("/baseline/naive/graphql", op.graphql_body()),
        "raw starlette": (op.raw_path, op.raw_body),
        LIMIT: (f"/baseline/limit/{op.key}", {}),
    }
    return {variant: requests[variant] for variant in op.variants()}


def _summary(op: Operation, data: dict[str, Any]) -> str:
    if "availability" in data:
        rows = data["availability"]
        summary = (
            f"{len(rows)} SKU x location answers, {sum(r['availableQuantity'] for r in rows)} units"
        )
        # same-day pickup answers 0 past a store's cut-off: a run's units depend on its hour
        closed = sum(
            any("same-day cut-off" in term for term in row.get("explanation") or ()) for row in rows
        )
        return f"{summary} ({closed} past their store's same-day cut-off)" if closed else summary
    if "orderByRef" in data:
        order = data["orderByRef"]
        return (
            f"{op.variables['ref']}: {len(order['lines'])} lines, {len(order['shipments'])}"
            f" shipments, {len(order['payments'])} payments, {len(order['provenance'])}"
            f" provenance entries, {len(order['disagreements'])} disagreements,"
            f" {len(order['exceptions'])} exceptions"
        )
    edges = data["orders"]["edges"]
    lines = [line for e in edges for line in e["node"]["lines"]]
    return (
        f"{len(edges)} orders, {len(lines)} lines, {sum(x['quantity'] for x in lines)} units"
        f" ordered, {sum(x['shipped'] for x in lines)} shipped"
    )


def verify(client: httpx.Client, op: Operation, key: str) -> str:
    """The same data from every variant, or stop: the comparison is only honest if they agree.
    The serving limit is given omnigraph's answer, byte for byte, to serve."""
    answers = {}
    headers = {"Authorization": f"Bearer {key}"}
    for variant, (path, body) in _requests(op).items():
        if variant == LIMIT:
            omnigraph = client.post("/graphql", json=op.graphql_body(), headers=headers)
            client.put(path, content=omnigraph.content, headers=headers).raise_for_status()
        response = client.post(path, json=body, headers=headers)
        payload = response.json()
        if response.status_code != 200 or payload.get("errors") or not payload.get("data"):
            raise SystemExit(
                f"{op.label}: {variant} answered {response.status_code}: {response.text[:500]}"
            )
        answers[variant] = payload["data"]
    for variant in op.variants()[1:]:
        difference = _first_difference(answers["omnigraph"], answers[variant])
        if difference:
            raise SystemExit(f"{op.label}: {variant} differs from omnigraph at {difference}")
    return _summary(op, answers["omnigraph"])


def _stats(client: httpx.Client, urls: Mapping[str, str]) -> dict[str, dict[str, int]]:
    return {kind: client.get(f"{url}/_stats").json()["requests"] for kind, url in urls.items()}


def _calls(
    op: Operation, before: dict[str, dict[str, int]], after: dict[str, dict[str, int]]
) -> dict[str, int]:
    counts = {}
    for kind in KINDS:
        routes = op.routes.get(kind, frozenset())
        counts[kind] = sum(
            count - before[kind].get(route, 0)
            for route, count in after[kind].items()
            if route in routes
        )
    return counts


def _settle(client: httpx.Client) -> dict[str, int]:
    """Wait until the requests still running after wrk stopped are done: the server keeps
    serving a request whose client went away (the naive baseline's can take long). Answer how
    many requests the server has finished, per path."""
    state: dict[str, Any] = {}
    for _ in range(600):
        state = client.get("/baseline/_inflight").json()
        if state["serving"] == 0:
            served: dict[str, int] = state["served"]
            return served
        time.sleep(0.5)
    raise SystemExit(
        "the service was still busy 5 minutes after wrk stopped; requests still being served,"
        f" per path: {state.get('running')}"
    )


def cold_calls(
    client: httpx.Client, urls: Mapping[str, str], op: Operation, variant: str, key: str
) -> dict[str, int]:
    """Upstream calls of one request with every record cache empty."""
    path, body = _requests(op)[variant]
    headers = {"Authorization": f"Bearer {key}"}
    client.post("/baseline/_caches/clear", headers=headers).raise_for_status()
    before = _stats(client, urls)
    client.post(path, json=body, headers=headers).raise_for_status()
    return _calls(op, before, _stats(client, urls))


# -- wrk ---------------------------------------------------------------------------------------

LUA = """\
wrk.method = "POST"
wrk.path = "{path}"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
wrk.body = [==[{body}]==]

local threads = {{}}
function setup(thread) table.insert(threads, thread) end
function init(args) failed = 0 end

-- a 200 carrying GraphQL errors is a failure too: it must not count as throughput
function response(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then
    failed = failed + 1
    if failed == 1 then
      sample = status .. " " .. string.gsub(string.sub(body, 1, 300), "\\n", " ")
    end
  end
end

function done(summary, latency, requests)
  local e, bad = summary.errors, 0
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("failed")
    if thread:get("sample") then io.write("FAILED " .. thread:get("sample") .. "\\n") end
  end
  io.write(string.format(
    "RESULT {{\\"requests\\": %d, \\"duration_us\\": %d, \\"p50_us\\": %d,"
    .. " \\"p99_us\\": %d, \\"failed\\": %d, \\"socket_errors\\": %d}}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    bad, e.connect + e.read + e.write + e.timeout))
end
"""


def wrk(
    script: Path, base_url: str, *, seconds: float, connections: int, threads: int
) -> dict[str, Any]:
    """One wrk run; its counts, p50 and p99, and the first failed answer (``sample``)."""
    argv = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "30s",
        "--latency",
        "-s",
        str(script),
        base_url,
    ]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    line = next((x for x in out.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"wrk printed no result:\n{out}")
    result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
    result["sample"] = next((x[7:] for x in out.splitlines() if x.startswith("FAILED ")), None)
    return result


# -- the table ---------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _rate(per_second: float) -> str:
    return f"{per_second:,.0f}" if per_second >= 10 else f"{per_second:.1f}"


def _per_source(counts: Mapping[str, float], digits: int = 0) -> str:
    shown = [
        f"{kind[:3] if kind != 'storefront' else 'sf'} {counts[kind]:.{digits}f}"
        for kind in KINDS
        if counts.get(kind)
    ]
    return ", ".join(shown) or "0"


def _cold(cell: Cell) -> str:
    if cell.workers > 1:  # served without the benchmark's routes: not counted cold
        return ""
    return f"{sum(cell.cold.values())} ({_per_source(cell.cold)})"


def _share(rps: float, limit: float) -> str:
    return f"{100 * rps / limit:.1f}%" if limit else ""


def _percentile(values: list[float], percent: int) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(percent / 100 * (len(ordered) - 1)))]


@dataclass(slots=True)
class Measured:
    ops: list[Operation]
    results: dict[str, dict[str, Cell]]
    summaries: dict[str, str]
    settings: dict[str, Any]
    lag_ms: list[float] = field(default_factory=list)
    # with ``rounds`` over 1: per operation and variant, each round's cell, in the order run
    rounds: dict[str, dict[str, list[Cell]]] = field(default_factory=dict)


def cells_json(measured: Measured) -> list[dict[str, Any]]:
    """One object per cell, as ``--json`` writes them (with ``rounds_rps``, each round's rate,
    when the run had rounds)."""
    cells = []
    for op in measured.ops:
        rounds = measured.rounds.get(op.label, {})
        for name, cell in measured.results[op.label].items():
            entry: dict[str, Any] = {
                "operation": op.key,
                "variant": VARIANT_KEYS[cell.variant or name],
                "workers": cell.workers,
                "rps": round(cell.rps, 1),
                "p50_ms": round(cell.p50_ms, 2),
                "p99_ms": round(cell.p99_ms, 2),
            }
            if name in rounds:
                entry["rounds_rps"] = [round(each.rps, 1) for each in rounds[name]]
            cells.append(entry)
    return cells


def _median_cell(cells: list[Cell]) -> Cell:
    """The round whose rate is the median (the lower of the two middle ones for an even
    count): its latencies, CPU and calls are that round's own."""
    ordered = sorted(cells, key=lambda cell: cell.rps)
    return ordered[(len(ordered) - 1) // 2]


def paired_ratios(measured: Measured, label: str, variant: str, against: str) -> list[float]:
    """Per round, ``variant``'s rate over ``against``'s measured in the same round (seconds
    apart, so a machine whose speed drifts over minutes moves both); none where the row has
    no such variant (the reporting page has no response-cache cell)."""
    cells = measured.rounds.get(label, {})
    mine, theirs = cells.get(variant), cells.get(against)
    if not mine or not theirs:
        return []
    return [a.rps / b.rps for a, b in zip(mine, theirs, strict=True) if b.rps]


def print_table(measured: Measured | None, scale_rows: list[list[str]]) -> None:
    """One Markdown table: the HTTP rows (when measured), then the scale figures."""
    print()
    print(f"command: {' '.join([os.path.relpath(sys.executable), *sys.argv])}")
    results = measured.results if measured else {}
    ops = measured.ops if measured else []
    print(
        f"machine: {os.cpu_count()} cores, {_cpu_model()}, Python {platform.python_version()};"
        f" load average {os.getloadavg()[0]:.1f} at the end (other work on the machine shows there)"
    )
    if measured is not None:
        settings = measured.settings
        print(
            f"wrk: {settings['connections']} connections, {settings['threads']} threads,"
            f" {settings['warmup']:.0f} s warm-up then {settings['duration']:.0f} s per cell;"
            " service: one uvicorn process (the '... workers' rows: `omnigraph serve --workers"
            f" {settings['workers']}`), OMNIGRAPH_MODE=production, default settings"
            " (record cache TTL 5 s, background workers on), rate limit raised out of the way,"
            f" OMNIGRAPH_RESPONSE_CACHE_SECONDS={RESPONSE_CACHE_SECONDS} (only the"
            f" '{CACHED}' rows ask by a trusted document's hash; the 'omnigraph' rows send the"
            " text, which always executes)"
        )
    print()
    print(
        "| operation | served by | throughput | vs raw | of the serving limit | service CPU ms"
        " a request | p50 ms | p99 ms | p99/p50 | upstream calls/request under load | one"
        " request, caches empty | ideal |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for op in ops:
        assert measured is not None
        raw = results[op.label]["raw starlette"].rps
        limit = results[op.label][LIMIT].rps
        for variant in results[op.label]:
            cell = results[op.label][variant]
            label = op.label if variant == "omnigraph" else ""
            notes = [f"{cell.failed} failed"] if cell.failed else []
            if not cell.requests:
                notes.append(f"none answered within {measured.settings['duration']:.0f} s")
            note = f" ({'; '.join(notes)})" if notes else ""
            calls = {k: v / cell.served for k, v in cell.calls.items()} if cell.served else {}
            latency = (
                f" {cell.p50_ms:.1f} | {cell.p99_ms:.1f} | {cell.p99_ms / cell.p50_ms:.1f} |"
                if cell.requests and cell.p50_ms
                else " | | |"
            )
            print(
                f"| {label} | {variant} | {_rate(cell.rps)} req/s{note} |"
                f" {cell.rps / raw if raw else 0:.2f} | {_share(cell.rps, limit)} |"
                f" {f'{cell.cpu_ms:.2f}' if cell.cpu_ms else ''} |{latency}"
                f" {cell.calls_per_request:.3f} ({_per_source(calls, 3)}) |"
                f" {_cold(cell)} |"
                f" {sum(op.ideal.values())} ({_per_source(op.ideal)}) |"
            )
    for row in scale_rows:
        print("| " + " | ".join(row) + " |")
    print()
    if measured is not None and measured.lag_ms:
        lags = measured.lag_ms
        print(
            f"- ledger event -> availability lag over {len(lags)} WMS movements on the idle"
            f" service: p50 {_percentile(lags, 50):.0f} ms, p99 {_percentile(lags, 99):.0f} ms,"
            f" max {max(lags):.0f} ms (movement accepted by the WMS until the executed"
            " availability query shows it; inf: not shown within 10 s)"
        )
    for op in ops:
        assert measured is not None
        if measured.rounds.get(op.label):
            print(f"- {op.label}: {_rounds_note(measured, op.label)}")
    for op in ops:
        assert measured is not None
        count = len(op.variants())
        print(f"- {op.label}: {measured.summaries[op.label]} (the {count} answers are identical)")
        for variant in results[op.label]:
            if results[op.label][variant].failure:
                print(f"  - first failure, {variant}: {results[op.label][variant].failure}")


def _rounds_note(measured: Measured, label: str) -> str:
    """Each round's ratios, paired within the round, and their medians."""
    rounds = len(next(iter(measured.rounds[label].values())))
    parts = []
    for variant, against, what in (
        ("omnigraph", "raw starlette", "omnigraph of raw"),
        ("omnigraph", LIMIT, "omnigraph of the limit"),
        ("raw starlette", LIMIT, "raw of the limit"),
        (CACHED, LIMIT, "response-cache hit of the limit"),
    ):
        ratios = paired_ratios(measured, label, variant, against)
        if not ratios:
            continue
        form = "{:.1%}" if against == LIMIT else "{:.2f}"
        shown = " / ".join(form.format(ratio) for ratio in ratios)
        parts.append(f"{what} {shown} (median {form.format(statistics.median(ratios))})")
    return (
        f"{rounds} rounds, each measuring raw, the limit, omnigraph and the response cache in"
        " turn (the table shows each variant's median round); paired within rounds: "
        + "; ".join(parts)
    )


# -- the benchmark -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Bench:
    """What every cell of one run is measured with: its folder, the demo systems, the keys
    per role and the wrk options."""

    tmp: Path
    urls: Mapping[str, str]
    keys: Mapping[Role, str]
    options: dict[str, Any]


def _run_cell(
    bench: _Bench,
    cell: Cell,
    op: Operation,
    variant: str,
    *,
    name: str,
    server: str,
    client: httpx.Client,
    settle: bool,
    pid: int | None = None,
) -> None:
    """Warm up, then measure one cell (``op`` served as ``variant``, reported as ``name``) with
    wrk. ``settle``: wait for the server to finish every request (``/baseline/_inflight``) and
    count those it served; otherwise (a server without the benchmark's routes) count what wrk
    read."""
    path, body = _requests(op)[variant]
    options, urls = bench.options, bench.urls
    script = bench.tmp / "post.lua"
    script.write_text(LUA.format(path=path, key=bench.keys[op.role], body=json.dumps(body)))
    wrk(script, server, seconds=options["warmup"], **options["wrk"])
    served = _settle(client).get(path, 0) if settle else 0
    if not settle:
        time.sleep(1)
    before = _stats(client, urls)
    cpu = _cpu_seconds(pid)
    result = wrk(script, server, seconds=options["duration"], **options["wrk"])
    if settle:
        cell.served = _settle(client).get(path, 0) - served
        if pid is not None and cell.served:
            cell.cpu_ms = (_cpu_seconds(pid) - cpu) * 1000 / cell.served
    else:
        time.sleep(1)
        cell.served = result["requests"]
    cell.calls = _calls(op, before, _stats(client, urls))
    cell.attempted = result["requests"]
    cell.requests = result["requests"] - result["failed"]
    cell.seconds = result["duration_us"] / 1e6
    cell.p50_ms = result["p50_us"] / 1000
    cell.p99_ms = result["p99_us"] / 1000
    cell.failed = result["failed"] + result["socket_errors"]
    cell.failure = result["sample"]
    _report(op, name, cell)


def _cpu_seconds(pid: int | None) -> float:
    """User and system CPU seconds of process ``pid`` so far (Linux ``/proc``), 0 without."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ledger_lag(
    client: httpx.Client, wms_url: str, key: str, probes: int, *, timeout: float = 10.0
) -> list[float]:
    """Milliseconds from a WMS movement accepted by the WMS until the availability query
    (executed, never a kept answer) shows it, for ``probes`` movements of one unit in turn, on
    the idle service (before the load cells); a movement not shown within ``timeout`` counts
    as ``inf``."""
    op = OPERATIONS[0]
    body = {"query": op.text(), "variables": {"skus": SKUS[:1], "channel": "store-pickup"}}
    headers = {"Authorization": f"Bearer {key}"}

    def on_hand() -> tuple[str, int]:
        rows = client.post("/graphql", json=body, headers=headers).json()["data"]["availability"]
        first = min(rows, key=lambda row: row["locationId"])
        return first["locationId"], first["onHand"]

    lags = []
    rng = random.Random(20)
    for _ in range(probes):
        # at a random moment of the ledger's poll, not just after the last one reflected
        time.sleep(rng.uniform(0, 1))
        location, before = on_hand()
        movement = {"movement": "adjustment", "sku": SKUS[0], "locationId": location}
        response = client.post(
            f"{wms_url}/_control/movements", json={"movements": [{**movement, "quantity": 1}]}
        )
        response.raise_for_status()
        moved = time.monotonic()
        while time.monotonic() - moved < timeout:
            if on_hand()[1] > before:
                lags.append((time.monotonic() - moved) * 1000)
                break
            time.sleep(0.02)
        else:
            lags.append(float("inf"))
    return lags


def http_benchmark(
    *,
    duration: float,
    warmup: float,
    connections: int,
    orders: int,
    only: str | None = None,
    workers: int = 1,
    lag_probes: int = 20,
    rounds: int = 1,
) -> Measured | None:
    """Measure every operation (or those whose label contains a word of ``only``, e.g.
    "lookup,reporting") served every way, the serving limit included; with ``workers`` over
    1, omnigraph again as ``omnigraph serve --workers N``; with ``rounds`` over 1, the raw,
    limit, omnigraph and response-cache cells of each operation measured in turn that many
    times (the naive baseline once, last). ``None`` when wrk is missing."""
    if shutil.which("wrk") is None:
        print(
            "http benchmark skipped: wrk is not installed. Install it from the OS packages"
            " (Debian/Ubuntu: `apt-get install wrk`) and run again."
        )
        return None
    threads = max(1, min(os.cpu_count() or 1, connections))
    options = {
        "warmup": warmup,
        "duration": duration,
        "wrk": {"connections": connections, "threads": threads},
    }
    with tempfile.TemporaryDirectory(prefix="omnigraph-bench-") as folder:
        tmp = Path(folder)
        base = _free_ports(6)
        urls = {kind: f"http://127.0.0.1:{base + i}" for i, kind in enumerate(KINDS)}
        service_url = f"http://127.0.0.1:{base + 4}"
        demo_argv = [
            sys.executable,
            "-m",
            "omnigraph",
            "demo",
            "--base-port",
            str(base),
            "--orders",
            str(orders),
        ]
        with _process(demo_argv, {}, tmp / "demo.log", tmp) as demo:
            for url in urls.values():
                wait_until_up(f"{url}/health", demo, 60, tmp / "demo.log")
            config_path = tmp / "sources.toml"
            config_path.write_text(_sources_config(urls))
            database = f"sqlite+aiosqlite:///{tmp}/omnigraph.sqlite3"
            sources = Settings(config=config_path, _env_file=None).sources_config
            assert sources is not None
            print(f"preparing: ledger, exception reports, disagreements over {orders} demo orders")
            keys, refs, hashes = asyncio.run(_prepare(database, sources))
            bench = _Bench(tmp, urls, keys, options)
            env = {
                "OMNIGRAPH_MODE": "production",
                "OMNIGRAPH_DATABASE_URL": database,
                "OMNIGRAPH_CONFIG": str(config_path),
                "OMNIGRAPH_HOST": "127.0.0.1",
                "OMNIGRAPH_PORT": str(base + 4),
                "OMNIGRAPH_RATE_LIMIT": RATE_LIMIT,
                # trusted documents asked for by hash are kept a second; text never is
                "OMNIGRAPH_RESPONSE_CACHE_SECONDS": RESPONSE_CACHE_SECONDS,
            }
            service_argv = [sys.executable, str(BENCHMARKS / "baselines" / "app.py")]
            with _process(service_argv, env, tmp / "service.log", tmp) as service:
                wait_until_up(f"{service_url}/healthz", service, 60, tmp / "service.log")
                with httpx.Client(base_url=service_url, timeout=60) as client:
                    lookup = _choose_lookup_order(client, keys[Role.SUPPORT], refs)
                    ops = [
                        replace(op, persisted=hashes[op.document])
                        for op in operations(lookup)
                        if not only
                        or any(w.strip().lower() in op.label.lower() for w in only.split(","))
                    ]
                    summaries = {op.label: verify(client, op, keys[op.role]) for op in ops}
                    for op in ops:
                        print(f"verified {op.label}: {summaries[op.label]}")
                    lags = ledger_lag(client, urls["wms"], keys[Role.STOREFRONT], lag_probes)
                    # cold counts first, one request at a time on an idle server
                    results: dict[str, dict[str, Cell]] = {
                        op.label: {
                            v: Cell(cold=cold_calls(client, urls, op, v, keys[op.role]))
                            for v in op.variants()
                        }
                        for op in ops
                    }
                    kept: dict[str, dict[str, list[Cell]]] = {}
                    for op in ops:
                        # the naive baseline last: its stampedes must not slow the others
                        order = ("raw starlette", LIMIT, "omnigraph", CACHED)
                        timed = [v for v in order if v in op.variants()]
                        cells: dict[str, list[Cell]] = {v: [] for v in timed}
                        for turn in range(rounds):
                            for variant in timed:
                                cell = Cell(cold=results[op.label][variant].cold)
                                _run_cell(
                                    bench,
                                    cell,
                                    op,
                                    variant,
                                    name=variant
                                    if rounds == 1
                                    else f"{variant} (round {turn + 1} of {rounds})",
                                    server=service_url,
                                    client=client,
                                    settle=True,
                                    pid=service.pid,
                                )
                                cells[variant].append(cell)
                        for variant in timed:
                            results[op.label][variant] = _median_cell(cells[variant])
                        if rounds > 1:
                            kept[op.label] = cells
                        if "naive strawberry" in op.variants():
                            _run_cell(
                                bench,
                                results[op.label]["naive strawberry"],
                                op,
                                "naive strawberry",
                                name="naive strawberry",
                                server=service_url,
                                client=client,
                                settle=True,
                                pid=service.pid,
                            )
            if workers > 1:
                _measure_workers(bench, ops, results, env, base + 5, workers)
    settings = {
        "connections": connections,
        "threads": threads,
        "warmup": warmup,
        "duration": duration,
        "workers": workers,
        "rounds": rounds,
    }
    return Measured(ops, results, summaries, settings, lags, kept)


def _report(op: Operation, variant: str, cell: Cell) -> None:
    print(
        f"  {op.label} / {variant}: {cell.rps:,.0f} req/s,"
        f" p50 {cell.p50_ms:.1f} ms, p99 {cell.p99_ms:.1f} ms",
        flush=True,
    )


def _measure_workers(
    bench: _Bench,
    ops: list[Operation],
    results: dict[str, dict[str, Cell]],
    env: Mapping[str, str],
    port: int,
    workers: int,
) -> None:
    """The omnigraph variants again, served by ``omnigraph serve --workers N`` (processes
    sharing the database) once the single process has stopped."""
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "omnigraph", "serve", "--workers", str(workers)]
    log = bench.tmp / "workers.log"
    with _process(argv, {**env, "OMNIGRAPH_PORT": str(port)}, log, bench.tmp) as served:
        wait_until_up(f"{url}/healthz", served, 60, log)
        with httpx.Client(base_url=url, timeout=60) as client:
            for op in ops:
                for variant in ("omnigraph", CACHED):
                    if variant not in op.variants():
                        continue
                    name = f"{variant}, {workers} workers"
                    cell = results[op.label][name] = Cell(variant=variant, workers=workers)
                    _run_cell(
                        bench, cell, op, variant, name=name, server=url, client=client, settle=False
                    )
