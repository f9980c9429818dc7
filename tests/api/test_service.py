"""The service surface: GraphiQL, the examples, caching, the checked-in SDL."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from graphql import parse, validate

from omnigraph.api.export import stale_schema_files, write_subgraph_files
from omnigraph.api.schema import build_schema
from omnigraph.app import EXAMPLES
from omnigraph.demo import DemoSystems, DemoWorld
from omnigraph.graph.overrides import graphql_schema
from tests.conftest import Graph, Sources, running_app


async def test_graphiql_is_served_in_development(graph: Graph) -> None:
    response = await graph.client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def example(graph: Graph, name: str) -> dict[str, Any]:
    """The data of example ``name`` as served at /examples, run as a client would."""
    text = (await graph.client.get(f"/examples/{name}")).text
    body = await graph.query(text)
    assert "errors" not in body, (name, body.get("errors"))
    data: dict[str, Any] = body["data"]
    return data


async def test_every_example_is_served_and_valid(graph: Graph) -> None:
    names = (await graph.client.get("/examples")).json()
    assert sorted(names) == sorted(path.stem for path in EXAMPLES.glob("*.graphql"))
    schema = graphql_schema(build_schema())
    for name in names:
        document = parse((await graph.client.get(f"/examples/{name}")).text)
        assert validate(schema, document) == [], name


async def example_page(
    graph: Graph, name: str, connection: str, size: int, records: dict[str, Any], key: str
) -> list[tuple[Any, Any]]:
    """The nodes of ``connection``'s first page in example ``name``, each with its record in the
    world (``records`` by the node's ``key``): ``size`` of them, with a next page when the world
    holds more."""
    data = await example(graph, name)
    edges = data[connection]["edges"]
    assert len(edges) == size
    assert data[connection]["pageInfo"]["hasNextPage"] is (len(records) > size)
    return [(edge["node"], records[edge["node"][key]]) for edge in edges]


def money(minor: int) -> str:
    return str(Decimal(minor).scaleb(-2).quantize(Decimal("0.01")))


async def test_the_finance_example_shows_the_first_payouts_as_the_provider_has_them(
    graph: Graph, world: DemoWorld
) -> None:
    payouts = {p["id"]: p for p in world.payouts}
    for node, paid in await example_page(graph, "finance-payouts", "payouts", 20, payouts, "ref"):
        assert node["amount"] == {"amount": money(paid["amount"]), "currency": "GBP"}
        assert node["status"] == paid["status"]


async def test_the_reporting_example_pages_the_storefronts_orders(
    graph: Graph, world: DemoWorld
) -> None:
    orders = {o["name"]: o for o in world.storefront_orders}
    page = await example_page(graph, "reporting-orders-page", "orders", 100, orders, "name")
    for node, placed in page:
        assert node["channel"] == placed["channel"]
        assert [(line["sku"], line["quantity"]) for line in node["lines"]] == [
            (line["sku"], line["quantity"]) for line in placed["lines"]
        ]


async def test_the_order_lookup_example_shows_the_order_the_storefront_took(
    graph: Graph, world: DemoWorld
) -> None:
    order = (await example(graph, "support-order-lookup"))["orderByRef"]
    placed = next(o for o in world.storefront_orders if o["id"] == "SF-100001")
    assert order["name"] == placed["name"]
    assert order["customer"] == {k: placed["customer"][k] for k in ("name", "email")}
    assert [(line["sku"], line["title"], line["quantity"]) for line in order["lines"]] == [
        (line["sku"], line["title"], line["quantity"]) for line in placed["lines"]
    ]
    charges = {c["id"] for c in world.charges if c["metadata"].get("order_ref") == "SF-100001"}
    assert {p["id"] for p in order["payments"]} == charges
    assert {ref["sourceKind"] for ref in order["externalRefs"]} >= {"STOREFRONT"}


async def test_the_disputed_orders_example_lists_only_orders_whose_systems_disagree(
    graph: Graph, world: DemoWorld
) -> None:
    edges = (await example(graph, "support-disputed-orders"))["orders"]["edges"]
    planted = {p.order_ref for p in world.planted}
    names = {o["name"]: o["id"] for o in world.storefront_orders}
    assert edges
    for edge in edges:
        assert edge["node"]["disagreements"], edge
        assert names[edge["node"]["name"]] in planted, edge


@pytest.mark.usefixtures("ledger")
async def test_the_availability_example_answers_each_sku_at_stores(
    graph: Graph, world: DemoWorld
) -> None:
    rows = (await example(graph, "storefront-availability"))["availability"]
    stores = {loc["id"] for loc in world.wms_locations if loc["type"] == "store"}
    assert {row["sku"] for row in rows} == {"SKU-0001", "SKU-0002", "SKU-0003"}
    for row in rows:
        assert row["locationId"] in stores, row
        assert 0 <= row["availableQuantity"] <= row["onHand"], row


async def test_the_open_exceptions_example_lists_open_work_and_counts_it_two_ways(
    graph: Graph,
) -> None:
    data = await example(graph, "support-open-exceptions")
    for edge in data["exceptions"]["edges"]:
        assert edge["node"]["status"] in {"OPEN", "ACKNOWLEDGED", "RESOLUTION_FAILED"}, edge
    operations = data["exceptionOperations"]
    by_kind = sum(row["count"] for row in operations["openByKind"])
    assert by_kind == sum(row["count"] for row in operations["openByAge"])


async def test_an_unknown_example_is_a_coded_404(graph: Graph) -> None:
    response = await graph.client.get("/examples/no-such-example")
    assert response.status_code == 404
    assert response.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_ttl_cache_spares_the_sources_a_second_time(
    demo: DemoSystems, clean_database: str, sources: Sources
) -> None:
    query = "{ orders(first: 20) { edges { node { state totals { total { amount } } } } } }"
    async for _, graph in running_app(demo, clean_database, cache_ttl_seconds=60):
        await graph.query(query)
        await sources.reset()
        body = await graph.query(query)
        assert "errors" not in body
        counts = await sources.totals()
    # the listing itself is always fresh; the records behind it come from the cache
    assert counts == {"storefront": 1, "erp": 0, "wms": 0, "payments": 0}


def test_checked_in_schema_matches_the_code(repo_root: Path) -> None:
    assert stale_schema_files(repo_root / "schema") == [], "run `omnigraph export-schema`"


def test_each_sdl_file_says_it_is_generated_and_by_what(repo_root: Path, tmp_path: Path) -> None:
    """A reader opening schema/*.graphql learns not to edit it; the header is part of what
    ``export-schema --check`` compares, so a file without it is stale. The subgraphs' SDL is
    written where the gateway composes it, never checked in, and says so too."""
    files = sorted((repo_root / "schema").glob("*.graphql"))
    assert [p.name for p in files] == ["omnigraph.graphql"]
    subgraphs = write_subgraph_files(tmp_path / "subgraphs")
    assert [p.name for p in subgraphs] == [
        "orders.graphql",
        "inventory.graphql",
        "payouts.graphql",
        "exceptions.graphql",
    ]
    made_by = [(path, "`omnigraph export-schema`") for path in files] + [
        (path, "`omnigraph export-schema --subgraphs`") for path in subgraphs
    ]
    for path, command in made_by:
        first = path.read_text().splitlines()[0]
        assert first.startswith(f"# Generated by {command}"), path.name
        assert "do not edit" in path.read_text().split("\n\n", 1)[0], path.name
    copy = tmp_path / "schema"
    shutil.copytree(repo_root / "schema", copy)
    headless = copy / "omnigraph.graphql"
    headless.write_text(headless.read_text().split("\n\n", 1)[1])
    assert stale_schema_files(copy) == [headless]


async def test_json_in_and_out_means_what_it_meant(graph: Graph) -> None:
    """Bodies are read and answers written with orjson; what it refuses reads as before."""
    body = await graph.query('{ orderByRef(source: "web-store", ref: "no-such-\u00e9") { id } }')
    assert body == {"data": {"orderByRef": None}}
    # an integer past 64 bits (orjson refuses it): GraphQL's own refusal, not an unreadable body
    huge = '{"query": "query($n: Int) { orders(first: $n) { edges { cursor } } }",' + (
        ' "variables": {"n": 123456789012345678901234567890}}'
    )
    response = await graph.client.post(
        "/graphql", content=huge, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200
    (error,) = response.json()["errors"]
    assert "$n" in error["message"]
    assert "Int" in error["message"]
    unreadable = await graph.client.post(
        "/graphql", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert unreadable.status_code == 400
