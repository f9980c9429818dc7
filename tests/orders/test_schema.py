"""Orders end to end: four systems over real HTTP, batched, with provenance and disagreements."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from omnigraph.core.ids import encode_global_id
from omnigraph.demo import DemoWorld
from tests.conftest import Graph, Sources

REPORTING_PAGE = """
query Page($first: Int!, $after: String) {
  orders(first: $first, after: $after) {
    edges { cursor node {
      id name channel state placedAt
      totals { total { amount currency } }
      lines { sku quantity unitPrice { amount } shipped }
      shipments { id carrier }
      payments { id captured { amount } }
    } }
    pageInfo { hasNextPage endCursor }
  }
}
"""

ORDER_DETAIL = """
query Detail($id: ID!) {
  order(id: $id) {
    id name state channelState
    externalRefs { source sourceKind ref }
    totals { total { amount } }
    provenance { field source sourceKind recordRef asOf authoritative }
    disagreements { field authoritative { source sourceKind value } others { sourceKind value } }
    lines { sku unitPrice { amount } picked shipped }
    shipments { id }
    payments { id }
    exceptions { id }
  }
}
"""


def order_id(ref: str) -> str:
    return encode_global_id("Order", "web-store", ref)


async def test_hundred_orders_cost_one_call_per_source(graph: Graph, sources: Sources) -> None:
    await sources.reset()
    body = await graph.query(REPORTING_PAGE, first=100)
    assert "errors" not in body, body.get("errors")
    edges = body["data"]["orders"]["edges"]
    assert len(edges) == 100
    assert await sources.totals() == {"storefront": 1, "erp": 1, "wms": 1, "payments": 1}


async def test_walking_every_page_returns_every_order_newest_first(
    graph: Graph, world: DemoWorld
) -> None:
    seen: list[str] = []
    after = None
    while True:
        body = await graph.query(REPORTING_PAGE, first=37, after=after)
        assert "errors" not in body, body.get("errors")
        page = body["data"]["orders"]
        seen += [edge["node"]["name"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    # the storefront contract: newest placedAt first, then id
    expected = sorted(
        world.storefront_orders,
        key=lambda o: (-datetime.fromisoformat(o["placedAt"]).timestamp(), o["id"]),
    )
    assert seen == [o["name"] for o in expected]


def shipped_order(world: DemoWorld) -> dict[str, Any]:
    planted = {p.order_ref for p in world.planted}
    erp_refs = {s["orderRef"] for s in world.erp_sales_orders}
    paid = {c["metadata"]["order_ref"] for c in world.charges}
    for wo in world.wms_fulfilment_orders:
        ref = wo["orderRef"]
        if wo["status"] == "shipped" and ref not in planted and ref in erp_refs and ref in paid:
            return next(o for o in world.storefront_orders if o["id"] == ref)
    raise AssertionError("the demo world has no clean shipped order")


async def test_one_order_is_assembled_from_four_systems(graph: Graph, world: DemoWorld) -> None:
    order = shipped_order(world)
    body = await graph.query(ORDER_DETAIL, id=order_id(order["id"]))
    assert "errors" not in body, body.get("errors")
    data = body["data"]["order"]
    assert data["state"] == "SHIPPED"
    assert {r["sourceKind"] for r in data["externalRefs"]} == {
        "STOREFRONT",
        "ERP",
        "WMS",
        "PAYMENTS",
    }
    provenance = {p["field"]: p for p in data["provenance"]}
    assert provenance["state"]["sourceKind"] == "WMS"
    assert provenance["state"]["authoritative"]
    assert provenance["totals.total"]["sourceKind"] == "ERP"
    assert provenance["channel"]["sourceKind"] == "STOREFRONT"
    assert provenance["channel"]["recordRef"] == order["id"]
    assert data["disagreements"] == []
    sales_order = next(s for s in world.erp_sales_orders if s["orderRef"] == order["id"])
    assert data["totals"]["total"]["amount"] == sales_order["totals"]["total"]
    assert all(
        line["shipped"] == line_qty
        for line, line_qty in zip(
            data["lines"], [x["quantity"] for x in order["lines"]], strict=True
        )
    )
    assert len(data["shipments"]) >= 1
    assert len(data["payments"]) >= 1


DISAGREEMENT_FIELDS = {
    "late_sync": {"state"},
    "cancelled_but_shipped": {"state", "cancellation"},
    "total_mismatch": {"totals.total"},
    "price_mismatch": {"lines["},
}


async def test_planted_disagreements_are_surfaced_and_nothing_else(
    graph: Graph, world: DemoWorld
) -> None:
    planted: dict[str, set[str]] = {}
    for p in world.planted:
        if p.kind in DISAGREEMENT_FIELDS and p.order_ref:
            planted.setdefault(p.order_ref, set()).update(DISAGREEMENT_FIELDS[p.kind])
    assert planted, "the demo world planted no order disagreements"
    found: dict[str, set[str]] = {}
    after = None
    while True:
        body = await graph.query(
            """query($after: String) {
                 orders(first: 100, after: $after, filter: {hasDisagreement: true}) {
                   edges { node { name disagreements { field } } }
                   pageInfo { hasNextPage endCursor } } }""",
            after=after,
        )
        assert "errors" not in body, body.get("errors")
        page = body["data"]["orders"]
        for edge in page["edges"]:
            ref = "SF-" + edge["node"]["name"].lstrip("#")
            found[ref] = {
                "lines[" if d["field"].startswith("lines[") else d["field"]
                for d in edge["node"]["disagreements"]
            }
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert found == planted


async def test_cancelled_but_shipped_names_both_claims(graph: Graph, world: DemoWorld) -> None:
    ref = next(p.order_ref for p in world.planted if p.kind == "cancelled_but_shipped")
    assert ref is not None
    body = await graph.query(ORDER_DETAIL, id=order_id(ref))
    (disagreement,) = [d for d in body["data"]["order"]["disagreements"] if d["field"] == "state"]
    assert disagreement["authoritative"]["sourceKind"] == "WMS"
    assert disagreement["authoritative"]["value"] in {"SHIPPED", "DELIVERED"}
    assert disagreement["others"] == [{"sourceKind": "STOREFRONT", "value": "CANCELLED"}]
    # the storefront owns the cancellation request; the WMS, which shipped, did not act on it
    (cancellation,) = [
        d for d in body["data"]["order"]["disagreements"] if d["field"] == "cancellation"
    ]
    assert cancellation["authoritative"] == {
        "source": "web-store",
        "sourceKind": "STOREFRONT",
        "value": "CANCELLED",
    }
    assert cancellation["others"] == [{"sourceKind": "WMS", "value": "ACTIVE"}]


async def test_missing_in_erp_falls_back_to_the_storefront_not_authoritatively(
    graph: Graph, world: DemoWorld
) -> None:
    ref = next(p.order_ref for p in world.planted if p.kind == "missing_in_erp")
    assert ref is not None
    body = await graph.query(ORDER_DETAIL, id=order_id(ref))
    assert "errors" not in body
    order = body["data"]["order"]
    total = next(p for p in order["provenance"] if p["field"] == "totals.total")
    assert (total["sourceKind"], total["authoritative"]) == ("STOREFRONT", False)
    assert "ERP" not in {r["sourceKind"] for r in order["externalRefs"]}


async def test_order_by_ref_finds_the_order_from_any_system(graph: Graph, world: DemoWorld) -> None:
    order = shipped_order(world)
    sales_order = next(s for s in world.erp_sales_orders if s["orderRef"] == order["id"])
    fulfilment = next(f for f in world.wms_fulfilment_orders if f["orderRef"] == order["id"])
    query = "query($s: String!, $r: String!) { orderByRef(source: $s, ref: $r) { id name } }"
    charge = next(c for c in world.charges if c["metadata"]["order_ref"] == order["id"])
    for source, ref in [
        ("web-store", order["id"]),
        ("erp", sales_order["id"]),
        ("wms", fulfilment["id"]),
        ("psp", charge["id"]),
    ]:
        body = await graph.query(query, s=source, r=ref)
        assert body["data"]["orderByRef"] == {"id": order_id(order["id"]), "name": order["name"]}
    body = await graph.query(query, s="erp", r="SO-NOPE")
    assert body == {"data": {"orderByRef": None}}
    body = await graph.query(query, s="shopify-eu", r=order["id"])
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "UNKNOWN_SOURCE"
    assert error["message"] == "unknown source 'shopify-eu'; known: erp, psp, web-store, wms"


async def test_node_resolves_orders_and_unknown_ids_are_null(
    graph: Graph, world: DemoWorld
) -> None:
    ref = world.storefront_orders[0]["id"]
    body = await graph.query(
        "query($id: ID!) { node(id: $id) { id ... on Order { channel } } }", id=order_id(ref)
    )
    assert body["data"]["node"]["channel"] == world.storefront_orders[0]["channel"]
    body = await graph.query("query($id: ID!) { order(id: $id) { id } }", id=order_id("SF-999999"))
    assert body == {"data": {"order": None}}


@pytest.mark.parametrize(
    ("query", "variables", "code"),
    [
        ("query($id: ID!) { order(id: $id) { id } }", {"id": "%%%"}, "INVALID_ID"),
        (
            "query($id: ID!) { order(id: $id) { id } }",
            {"id": encode_global_id("Payout", "psp", "po_1")},
            "INVALID_ID",
        ),
        (
            "query($id: ID!) { node(id: $id) { id } }",
            {"id": encode_global_id("Shoe", "x")},
            "INVALID_ID",
        ),
        ("{ orders(first: 101) { edges { cursor } } }", {}, "PAGE_SIZE_OUT_OF_RANGE"),
        ("{ orders(first: -1) { edges { cursor } } }", {}, "PAGE_SIZE_OUT_OF_RANGE"),
        ('{ orders(after: "bm9wZQ") { edges { cursor } } }', {}, "INVALID_CURSOR"),
        ('{ payouts(after: "garbage!") { edges { cursor } } }', {}, "INVALID_CURSOR"),
        ('{ exceptions(after: "garbage!") { edges { cursor } } }', {}, "INVALID_CURSOR"),
        ("{ orders { edges { node { nope } } } }", {}, "GRAPHQL_VALIDATION_FAILED"),
        ("{ orders { ", {}, "GRAPHQL_PARSE_FAILED"),
    ],
)
async def test_bad_input_gets_a_coded_error_not_a_500(
    graph: Graph, query: str, variables: dict[str, Any], code: str
) -> None:
    body = await graph.query(query, **variables)
    assert body.get("data") in (None, {"order": None}, {"node": None})
    assert [e["extensions"]["code"] for e in body["errors"]] == [code]


async def test_a_wrong_kind_of_id_is_named_with_its_article(graph: Graph) -> None:
    payout = encode_global_id("Payout", "psp", "po_1")
    body = await graph.query("query($id: ID!) { order(id: $id) { id } }", id=payout)
    assert body["errors"][0]["message"] == f"{payout!r} is a Payout id, expected an Order id"
    order = encode_global_id("Order", "web-store", "SF-1")
    body = await graph.query("query($id: ID!) { exception(id: $id) { id } }", id=order)
    assert body["errors"][0]["message"] == f"{order!r} is an Order id, expected an Exception id"


async def test_channel_branches_follow_the_systems_records(graph: Graph, world: DemoWorld) -> None:
    seen: dict[str, str] = {}
    after = None
    while True:
        body = await graph.query(
            """query($after: String) { orders(first: 100, after: $after) {
                 edges { node { name fulfilmentMethod channelState } }
                 pageInfo { hasNextPage endCursor } } }""",
            after=after,
        )
        assert "errors" not in body, body.get("errors")
        page = body["data"]["orders"]
        for edge in page["edges"]:
            node = edge["node"]
            if node["channelState"] is not None:
                seen["SF-" + node["name"].lstrip("#")] = node["channelState"]
            assert (node["channelState"] is None) == (node["fulfilmentMethod"] == "ship")
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    missed = {ref for ref, state in seen.items() if state == "MISSED_PICKUP"}
    reported = {r["orderRef"] for r in world.reported_exceptions if r["kind"] == "MISSED_PICKUP"}
    assert reported <= missed  # the stores' own reports agree
    # the rest are holds that ran out between the demo's anchor and today
    now = datetime.now(UTC)
    lapsed = {
        f["orderRef"]
        for f in world.wms_fulfilment_orders
        if f["status"] == "ready_for_pickup" and datetime.fromisoformat(f["pickupHoldUntil"]) < now
    }
    assert missed == lapsed
    held = {f["orderRef"] for f in world.wms_fulfilment_orders if f.get("complianceHold")}
    assert held
    assert {ref for ref, state in seen.items() if state == "COMPLIANCE_HOLD"} == held
    # states that do not depend on today's date (the world's clock stopped at its anchor);
    # SCHEDULED and READY_FOR_PICKUP are covered by the channel-branch table test
    assert {"ASN_SENT", "PICKED_UP", "COMPLIANCE_HOLD"} <= set(seen.values())
