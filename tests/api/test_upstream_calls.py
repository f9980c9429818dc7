"""The smoke benchmark: the ``http`` benchmark's operations (``benchmarks/run.py http``) cost at
most one upstream call per source per resolver level, whatever the list length, and answer what
the demo systems hold. Counts and answers only: speed lives in ``benchmarks/``.

The service under test caches no records (``cache_ttl_seconds=0``), so every count is a cold one.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from omnigraph.app import EXAMPLES
from omnigraph.demo import DemoWorld
from omnigraph.inventory.policy import load_default_policy
from tests.conftest import Graph, Sources

NO_CALLS = {"storefront": 0, "erp": 0, "wms": 0, "payments": 0}


def operation(name: str) -> str:
    return (EXAMPLES / f"{name}.graphql").read_text()


async def run(graph: Graph, sources: Sources, name: str, **variables: Any) -> dict[str, Any]:
    """The operation's data, after asserting it came without errors; the counts start at 0."""
    await sources.reset()
    body = await graph.query(operation(name), **variables)
    assert "errors" not in body, body.get("errors")
    data: dict[str, Any] = body["data"]
    return data


def shipped_by_sku(world: DemoWorld, ref: str) -> Counter[str]:
    shipped: Counter[str] = Counter()
    for fulfilment in world.wms_fulfilment_orders:
        if fulfilment["orderRef"] == ref:
            for line in fulfilment["lines"]:
                shipped[line["sku"]] += line["shipped"]
    return shipped


@pytest.mark.usefixtures("ledger")
async def test_storefront_availability_costs_one_wms_call(
    graph: Graph, sources: Sources, world: DemoWorld
) -> None:
    skus = [f"SKU-{i:04d}" for i in range(1, 21)]
    data = await run(graph, sources, "storefront-availability", skus=skus, channel="store-pickup")
    # positions come from omnigraph's ledger; the WMS is asked for its locations, once
    assert await sources.calls() == {
        "storefront": {},
        "erp": {},
        "wms": {"GET /locations": 1},
        "payments": {},
    }
    policy = load_default_policy()
    stock = {
        (row["sku"], row["locationId"]): row["onHand"]
        for row in world.wms_stock
        if row["sku"] in skus and policy.serves("store-pickup", row["locationId"])
    }
    answers = {(a["sku"], a["locationId"]): a["onHand"] for a in data["availability"]}
    assert answers == stock
    assert all(a["availableQuantity"] <= a["onHand"] for a in data["availability"])


def lookup_order(world: DemoWorld) -> dict[str, Any]:
    """A storefront order all four systems know, shipped, with a planted state disagreement."""
    erp = {s["orderRef"] for s in world.erp_sales_orders}
    paid = {c["metadata"]["order_ref"] for c in world.charges}
    for planted in world.planted_of("late_sync"):
        ref = planted.order_ref
        if ref in erp and ref in paid and shipped_by_sku(world, ref):
            return next(o for o in world.storefront_orders if o["id"] == ref)
    raise AssertionError("the demo world has no shipped, paid late-sync order")


async def test_support_lookup_costs_one_call_per_source(
    graph: Graph, sources: Sources, world: DemoWorld
) -> None:
    order = lookup_order(world)
    ref = order["id"]
    data = await run(graph, sources, "support-order-lookup", source="web-store", ref=ref)
    # the order, then every field of it and of its lines from one batch per source
    assert await sources.calls() == {
        "storefront": {"POST /orders/batch": 1},
        "erp": {"POST /sales-orders/by-order-ref": 1},
        "wms": {"POST /fulfilment-orders/by-order-ref": 1},
        "payments": {"POST /charges/by-order-ref": 1},
    }
    found = data["orderByRef"]
    assert found["name"] == order["name"]
    assert [(x["sku"], x["quantity"]) for x in found["lines"]] == [
        (x["sku"], x["quantity"]) for x in order["lines"]
    ]
    shipped = shipped_by_sku(world, ref)
    assert {x["sku"]: x["shipped"] for x in found["lines"]} == {
        x["sku"]: shipped[x["sku"]] for x in order["lines"]
    }
    shipments = {
        s["id"] for f in world.wms_fulfilment_orders if f["orderRef"] == ref for s in f["shipments"]
    }
    assert {s["id"] for s in found["shipments"]} == shipments
    charges = {c["id"] for c in world.charges if c["metadata"]["order_ref"] == ref}
    assert {p["id"] for p in found["payments"]} == charges
    assert {r["sourceKind"] for r in found["externalRefs"]} == {
        "STOREFRONT",
        "ERP",
        "WMS",
        "PAYMENTS",
    }
    assert "state" in {d["field"] for d in found["disagreements"]}
    assert {p["sourceKind"] for p in found["provenance"]} == {
        "STOREFRONT",
        "ERP",
        "WMS",
        "PAYMENTS",
    }
    assert isinstance(found["exceptions"], list)  # from omnigraph's database: no upstream call


@pytest.mark.parametrize("first", [10, 100])
async def test_reporting_page_calls_do_not_grow_with_its_length(
    graph: Graph, sources: Sources, world: DemoWorld, first: int
) -> None:
    document = operation("reporting-orders-page").replace("first: 100", "first: $first")
    document = document.replace("($after: String,", "($first: Int!, $after: String,")
    await sources.reset()
    body = await graph.query(document, first=first)
    assert "errors" not in body, body.get("errors")
    # one listing, then one batch each for the ERP (totals) and the WMS (states, quantities)
    assert await sources.calls() == {
        "storefront": {"GET /orders": 1},
        "erp": {"POST /sales-orders/by-order-ref": 1},
        "wms": {"POST /fulfilment-orders/by-order-ref": 1},
        "payments": {},
    }
    edges = body["data"]["orders"]["edges"]
    assert len(edges) == first
    orders = {o["name"]: o for o in world.storefront_orders}
    for edge in edges:
        node = edge["node"]
        order = orders[node["name"]]
        assert [(x["sku"], x["quantity"]) for x in node["lines"]] == [
            (x["sku"], x["quantity"]) for x in order["lines"]
        ]
        shipped = shipped_by_sku(world, order["id"])
        assert [x["shipped"] for x in node["lines"]] == [shipped[x["sku"]] for x in order["lines"]]
        assert node["state"]
        assert node["totals"]["total"]["currency"] == order["currency"].upper()
