"""Hive Gateway in front of four subgraph processes answers the contract's queries exactly as
the single process does.

Each subgraph runs as its own process (``omnigraph serve --subgraph NAME``, production mode),
all sharing one SQLite file and the demo source systems; ``federation/gateway.sh`` composes the
checked-in subgraph SDL with their URLs and starts the gateway. The client's API key travels
through the gateway to every subgraph.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import OperationType, parse
from graphql.language import OperationDefinitionNode

from omnigraph.app import EXAMPLES, demo_sources_config, reconciliation_worker
from omnigraph.demo import DemoSystems, DemoWorld
from omnigraph.exceptions.catalogue import ExceptionCatalogue
from omnigraph.exceptions.source_reports import SourceReportReader
from omnigraph.inventory.ledger import LedgerReader
from omnigraph.orders.authority import AuthorityRules
from omnigraph.orders.detector import DisagreementDetector
from omnigraph.runtime.services import Services
from omnigraph.security.principal import Role
from tests.conftest import issue_key, running_app, services_of
from tests.helpers import free_port

REPO = Path(__file__).resolve().parents[2]
FEDERATION = REPO / "federation"
SUBGRAPHS = ("orders", "inventory", "payouts", "exceptions")
STARTUP_SECONDS = 120

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None
    or not (FEDERATION / "node_modules" / "@graphql-hive" / "gateway").is_dir(),
    reason="Hive Gateway not installed: needs Node.js and `npm ci --prefix federation`",
)

ORDER = """
query Order($id: ID!) {
  order(id: $id) {
    id name channel state channelState
    externalRefs { source sourceKind ref }
    lines { sku quantity shipped unitPrice { amount currency }
            provenance(field: "unitPrice") { source authoritative } }
    provenance(field: "state") { source sourceKind recordRef asOf authoritative }
    disagreements { field authoritative { source value } others { source value } }
    exceptions { id kind status ownerSource subject allowedResolutions }
  }
}"""

ORDERS_WITH_EXCEPTIONS = """
query OrdersWithExceptions {
  orders(first: 30, filter: { hasOpenException: true }) {
    edges { cursor node { id name state exceptions { id kind status } } }
    pageInfo { hasNextPage endCursor }
  }
}"""

PAYOUT = """
query Payout($id: ID!) {
  payout(id: $id) {
    id ref status amount { amount currency }
    reconciliation {
      status variance { amount } gross { amount } refunds { amount } fees { amount }
      unmatchedItems { status reason transactionId orderRef difference { amount } }
    }
  }
}"""

NODES = """
query Nodes($order: ID!, $payout: ID!, $exception: ID!) {
  order: node(id: $order) { id ... on Order { name state exceptions { id } } }
  payout: node(id: $payout) { id ... on Payout { ref status } }
  exception: node(id: $exception) { id ... on Exception { kind status subject } }
}"""

ACKNOWLEDGE = """
mutation Acknowledge($id: ID!) {
  acknowledgeException(id: $id, note: "through the gateway") {
    exception { id status }
    userErrors { code }
  }
}"""


def example_queries() -> dict[str, str]:
    """The examples a support agent, a storefront, reporting and finance use."""
    queries = {}
    for path in sorted(EXAMPLES.glob("*.graphql")):
        text = path.read_text()
        operations = [d for d in parse(text).definitions if isinstance(d, OperationDefinitionNode)]
        if all(op.operation is OperationType.QUERY for op in operations):
            queries[path.stem] = text
    return queries


def sources_toml(demo: DemoSystems) -> str:
    """The demo systems as a sources file, under the names the single process gives them."""
    entries = [
        f'[[sources]]\nname = "{s.name}"\nkind = "{s.kind.value}"\nbase_url = "{s.base_url}"\n'
        for s in demo_sources_config(demo.urls).sources
    ]
    return "\n".join(entries)


class Process:
    """A child process writing to a log file, stopped at the end."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], folder: Path) -> None:
        self.name = name
        self.log = folder / f"{name}.log"
        with self.log.open("wb") as out:
            self.popen = subprocess.Popen(
                command, env=env, cwd=folder, stdout=out, stderr=subprocess.STDOUT
            )

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])

    async def wait_until_ready(self, url: str, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        async with httpx.AsyncClient(timeout=5) as client:
            while True:
                if self.popen.poll() is not None:
                    pytest.fail(f"{self.name} exited with {self.popen.returncode}:\n{self.tail()}")
                try:
                    if (await client.get(url)).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if loop.time() > deadline:
                    pytest.fail(f"{self.name} not ready at {url}:\n{self.tail()}")
                await asyncio.sleep(0.25)

    async def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                await asyncio.to_thread(self.popen.wait, 15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                await asyncio.to_thread(self.popen.wait)


@dataclass
class Federation:
    gateway: httpx.AsyncClient
    single: httpx.AsyncClient

    async def both(self, query: str, **variables: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """The answer through the gateway and the single process's, each without errors."""
        answers = []
        for client in (self.gateway, self.single):
            response = await client.post("/graphql", json={"query": query, "variables": variables})
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            assert "errors" not in body, body["errors"]
            answers.append(body["data"])
        return answers[0], answers[1]


async def populate(services: Services) -> None:
    """What the background workers would have done: ledger, exceptions, reconciliation."""
    await LedgerReader(services.sessions, services.registry).sync_once()
    await SourceReportReader(
        services.sessions, services.registry, services.get(ExceptionCatalogue)
    ).sync_once()
    await DisagreementDetector(
        services.sessions,
        services.registry,
        services.get(AuthorityRules),
        services.get(ExceptionCatalogue),
    ).scan(now=datetime.now(UTC))
    worker = reconciliation_worker(services)
    await worker.reader.sync_once()
    await worker.reconciler.reconcile_pending()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("federation")


@pytest.fixture(scope="module")
async def gateway_demo(world: DemoWorld) -> AsyncIterator[DemoSystems]:
    async with DemoSystems(world) as systems:
        yield systems


@pytest.fixture(scope="module")
def subgraph_env(folder: Path, gateway_demo: DemoSystems) -> dict[str, str]:
    config = folder / "sources.toml"
    config.write_text(sources_toml(gateway_demo))
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("OMNIGRAPH_")}
    return {
        **inherited,
        "OMNIGRAPH_MODE": "production",
        "OMNIGRAPH_DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'omnigraph.sqlite3'}",
        "OMNIGRAPH_CONFIG": str(config),
        "OMNIGRAPH_HOST": "127.0.0.1",
        # as the single process under test: no record cache, nothing served stale
        "OMNIGRAPH_CACHE_TTL_SECONDS": "0",
        "OMNIGRAPH_STALE_IF_ERROR_SECONDS": "0",
        # the test does the background work once, before anything is asked
        **{
            f"OMNIGRAPH_{worker}_ENABLED": "false"
            for worker in ("DISPATCHER", "REPORT_FEED", "LEDGER", "DRIFT", "DETECTOR", "RECONCILE")
        },
    }


@pytest.fixture(scope="module")
async def federation(
    folder: Path, gateway_demo: DemoSystems, subgraph_env: dict[str, str]
) -> AsyncIterator[Federation]:
    database_url = subgraph_env["OMNIGRAPH_DATABASE_URL"]
    processes: list[Process] = []
    async for app, graph in running_app(gateway_demo, database_url, mode="production"):
        services = services_of(app)
        await populate(services)
        key = await issue_key(app, Role.ADMIN, name="gateway-test")
        single = graph.client
        single.headers["Authorization"] = f"Bearer {key.secret}"
        try:
            deadline = asyncio.get_running_loop().time() + STARTUP_SECONDS
            urls = {}
            for name in SUBGRAPHS:
                port = free_port()
                urls[name] = f"http://127.0.0.1:{port}"
                command = [sys.executable, "-m", "omnigraph", "serve", "--subgraph", name]
                env = {**subgraph_env, "OMNIGRAPH_PORT": str(port)}
                processes.append(Process(name, command, env, folder))
            for process in processes:
                await process.wait_until_ready(f"{urls[process.name]}/healthz", deadline)
            port = free_port()
            env = {
                **subgraph_env,
                **{f"{name.upper()}_URL": f"{url}/graphql" for name, url in urls.items()},
                # no SCHEMA_DIR: the script writes the subgraphs' SDL from the code under test
                "OMNIGRAPH": f"{sys.executable} -m omnigraph",
                "SUPERGRAPH": str(folder / "supergraph.graphql"),
                "HOST": "127.0.0.1",
                "PORT": str(port),
            }
            gateway = Process("gateway", ["sh", str(FEDERATION / "gateway.sh")], env, folder)
            processes.append(gateway)
            await gateway.wait_until_ready(f"http://127.0.0.1:{port}/readiness", deadline)
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}",
                headers={"Authorization": f"Bearer {key.secret}"},
                timeout=30,
            ) as client:
                yield Federation(client, single)
        finally:
            for process in reversed(processes):
                await process.stop()


@pytest.mark.parametrize("name", sorted(example_queries()))
async def test_examples_answer_the_same_through_the_gateway(
    federation: Federation, name: str
) -> None:
    through_gateway, single = await federation.both(example_queries()[name])
    assert through_gateway == single


async def test_orders_with_their_exceptions_from_the_exceptions_subgraph(
    federation: Federation,
) -> None:
    through_gateway, single = await federation.both(ORDERS_WITH_EXCEPTIONS)
    assert through_gateway == single
    orders = [edge["node"] for edge in single["orders"]["edges"]]
    assert any(order["exceptions"] for order in orders)

    order_id = next(order["id"] for order in orders if order["exceptions"])
    through_gateway, single = await federation.both(ORDER, id=order_id)
    assert through_gateway == single
    assert single["order"]["exceptions"]
    assert single["order"]["lines"]
    assert single["order"]["provenance"]


async def test_payout_reconciliation_through_the_gateway(federation: Federation) -> None:
    _, single = await federation.both("{ payouts(first: 50) { edges { node { id } } } }")
    ids = [edge["node"]["id"] for edge in single["payouts"]["edges"]]
    assert ids
    unreconciled = False
    for payout_id in ids[:10]:
        through_gateway, single = await federation.both(PAYOUT, id=payout_id)
        assert through_gateway == single
        unreconciled |= bool(single["payout"]["reconciliation"]["unmatchedItems"])
    assert unreconciled, "no payout with unmatched lines among the first ten"


async def test_node_completes_references_in_the_owning_subgraph(federation: Federation) -> None:
    _, ids = await federation.both(
        "{ orders(filter: { hasOpenException: true }, first: 1) { edges { node { id"
        " exceptions { id } } } } payouts(first: 1) { edges { node { id } } } }"
    )
    order = ids["orders"]["edges"][0]["node"]
    variables = {
        "order": order["id"],
        "payout": ids["payouts"]["edges"][0]["node"]["id"],
        "exception": order["exceptions"][0]["id"],
    }
    through_gateway, single = await federation.both(NODES, **variables)
    assert through_gateway == single
    assert single["payout"]["ref"]
    assert single["exception"]["kind"]


async def test_a_mutation_through_the_gateway_is_seen_by_the_single_process(
    federation: Federation,
) -> None:
    query = "{ exceptions(first: 1, filter: { statuses: [OPEN] }) { edges { node { id } } } }"
    _, single = await federation.both(query)
    exception_id = single["exceptions"]["edges"][0]["node"]["id"]
    through_gateway, _ = await federation.both(ACKNOWLEDGE, id=exception_id)
    assert through_gateway["acknowledgeException"] == {
        "exception": {"id": exception_id, "status": "ACKNOWLEDGED"},
        "userErrors": [],
    }
    _, single = await federation.both(
        "query($id: ID!) { exception(id: $id) { status history { status note } } }",
        id=exception_id,
    )
    assert single["exception"]["status"] == "ACKNOWLEDGED"
    assert single["exception"]["history"][-1]["note"] == "through the gateway"


async def test_without_a_key_the_gateway_passes_the_refusal_on(federation: Federation) -> None:
    async with httpx.AsyncClient(base_url=federation.gateway.base_url) as anonymous:
        response = await anonymous.post(
            "/graphql", json={"query": "{ orders(first: 1) { edges { node { id } } } }"}
        )
    body = response.json()
    assert not (body.get("data") or {}).get("orders")
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


ENGINES_ADMITTING = """
const semver = require("semver");
const lock = require("./package-lock.json");
const declared = require("./package.json").engines.node;
const refusing = Object.entries(lock.packages)
  .filter(([, entry]) => entry.engines && entry.engines.node)
  .filter(([, entry]) => !semver.satisfies(process.version, entry.engines.node)
    || !semver.satisfies(semver.minVersion(declared), entry.engines.node))
  .map(([name, entry]) => `${name} needs node ${entry.engines.node}`);
console.log(JSON.stringify({ node: process.version, declared, refusing }));
"""


def test_every_locked_package_runs_on_the_node_we_declare_and_test_with() -> None:
    """The lockfile, ``package.json``'s ``engines``, the README and the gateway image agree:
    no package needs a newer Node.js than the one declared (and installed here)."""
    checked = subprocess.run(
        ["node", "-e", ENGINES_ADMITTING],
        cwd=FEDERATION,
        capture_output=True,
        text=True,
        check=True,
    )
    found = json.loads(checked.stdout)
    assert found["refusing"] == []
    major, minor, _ = found["declared"].removeprefix(">=").split(".")
    assert f"Node.js >= {major}.{minor}" in (REPO / "README.md").read_text()
    assert f"FROM node:{major}-slim" in (REPO / "Dockerfile").read_text()
