"""A source that is down costs only its own fields, with an error that names it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from omnigraph.core.ids import encode_global_id
from omnigraph.demo import DemoSystems, DemoWorld
from tests.conftest import Graph, Sources
from tests.orders.test_schema import shipped_order

QUERY = """
query($id: ID!) {
  order(id: $id) {
    name state
    totals { total { amount } }
    shipments { id }
    payments { id }
    provenance(field: "state") { sourceKind authoritative }
  }
}
"""


@pytest.fixture
async def wms_down(sources: Sources) -> AsyncIterator[None]:
    async with sources.down("wms"):
        yield


@pytest.mark.usefixtures("wms_down")
async def test_wms_outage_nulls_physical_fields_and_keeps_the_rest(
    graph: Graph, world: DemoWorld
) -> None:
    order = shipped_order(world)
    body = await graph.query(QUERY, id=encode_global_id("Order", "web-store", order["id"]))
    data = body["data"]["order"]
    assert data["name"] == order["name"]
    assert data["totals"]["total"]["amount"]  # the ERP still answers
    assert data["payments"]  # so does the payments provider
    assert data["shipments"] is None
    # state is non-null in the contract: served from the storefront, flagged as not authoritative
    assert data["provenance"] == [{"sourceKind": "STOREFRONT", "authoritative": False}]
    errors = body["errors"]
    assert {e["extensions"]["code"] for e in errors} == {"UPSTREAM_UNAVAILABLE"}
    assert {e["extensions"]["source"] for e in errors} == {"wms"}
    assert ["order", "shipments"] in [e["path"] for e in errors]
    assert ["order", "state"] in [e["path"] for e in errors]


async def test_a_stopped_source_mid_session_degrades_then_recovers(
    graph: Graph, demo: DemoSystems, world: DemoWorld
) -> None:
    order = shipped_order(world)
    order_id = encode_global_id("Order", "web-store", order["id"])
    await demo.stop("payments")
    try:
        body = await graph.query(QUERY, id=order_id)
        assert body["data"]["order"]["payments"] is None
        assert body["data"]["order"]["shipments"]
        errors = body["errors"]
        assert all(
            e["extensions"] == {"code": "UPSTREAM_UNAVAILABLE", "source": "psp"} for e in errors
        )
        # payments is null; provenance is served without the payments entries, and says so
        assert sorted(e["path"] for e in errors) == [["order", "payments"], ["order", "provenance"]]
    finally:
        await demo.start("payments")
    body = await graph.query(QUERY, id=order_id)
    assert "errors" not in body
    assert body["data"]["order"]["payments"]


PAGE = """
{
  orders(first: 100) {
    edges {
      node { name state totals { total { amount } } lines { sku shipped unitPrice { amount } } }
    }
  }
}
"""


@pytest.mark.usefixtures("wms_down")
async def test_wms_outage_on_a_preloaded_page_costs_each_order_its_physical_fields(
    graph: Graph,
) -> None:
    # the page's truths are made once in `orders`; each field still fails or degrades alone
    body = await graph.query(PAGE)
    nodes = [edge["node"] for edge in body["data"]["orders"]["edges"]]
    assert nodes
    assert all(n["state"] and n["totals"]["total"]["amount"] for n in nodes)
    lines = [line for n in nodes for line in n["lines"]]
    assert all(line["shipped"] is None and line["unitPrice"] for line in lines)
    errors = body["errors"]
    assert all(e["extensions"] == {"code": "UPSTREAM_UNAVAILABLE", "source": "wms"} for e in errors)
    paths = [e["path"] for e in errors]
    assert sorted(p[-1] for p in paths if p[-1] == "state") == ["state"] * len(nodes)
    assert len([p for p in paths if p[-1] == "shipped"]) == len(lines)
    assert ["orders", "edges", 0, "node", "lines", 0, "shipped"] in paths


@pytest.mark.usefixtures("wms_down")
async def test_wms_outage_by_ref_matches_the_order_by_id(graph: Graph, world: DemoWorld) -> None:
    order = shipped_order(world)
    by_ref = await graph.query(
        QUERY.replace("$id: ID!", "$ref: String!").replace(
            "order(id: $id)", 'order: orderByRef(source: "web-store", ref: $ref)'
        ),
        ref=order["id"],
    )
    by_id = await graph.query(QUERY, id=encode_global_id("Order", "web-store", order["id"]))
    assert by_ref["data"] == by_id["data"]

    def errors(body: dict[str, Any]) -> list[tuple[str, str, str]]:
        return sorted((str(e["path"]), e["message"], str(e["extensions"])) for e in body["errors"])

    assert errors(by_ref) == errors(by_id)
