"""Exceptions read from omnigraph's own store: by id, filtered, and on their order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette

from omnigraph.core.ids import encode_global_id
from omnigraph.db.models import ExceptionEventRow, ExceptionRow
from omnigraph.demo import DemoWorld
from tests.conftest import Graph, services_of

AT = datetime(2026, 11, 19, 12, tzinfo=UTC)


async def seed_exceptions(app: Starlette, order_ref: str) -> None:
    services = services_of(app)
    async with services.sessions() as session, session.begin():
        for i, (kind, status, owner) in enumerate(
            [("SHORT_PICK", "OPEN", "wms"), ("PAYOUT_MISMATCH", "RESOLVED", "payments")]
        ):
            row_id = f"00000000-0000-0000-0000-00000000000{i}"
            if await session.get(ExceptionRow, row_id):
                return
            session.add(
                ExceptionRow(
                    id=row_id,
                    kind=kind,
                    status=status,
                    severity="HIGH",
                    owner_source={"wms": "wms", "payments": "psp"}[owner],
                    owner_kind=owner,
                    subject=order_ref,
                    subject_type="order",
                    order_source="web-store",
                    order_ref=order_ref if kind == "SHORT_PICK" else None,
                    dedupe_key=f"test:{kind}:{order_ref}",
                    summary=f"{kind} on {order_ref}",
                    details=(
                        {"fulfilmentOrderId": "FO-1", "sku": "SKU-0001", "quantity": 1}
                        if kind == "SHORT_PICK"
                        else {}
                    ),
                    detected_at=AT - timedelta(hours=i),
                    updated_at=AT,
                )
            )
            await session.flush()
            session.add(
                ExceptionEventRow(
                    exception_id=row_id, at=AT, status="OPEN", actor="wms", note="reported"
                )
            )
            if status == "RESOLVED":
                session.add(
                    ExceptionEventRow(
                        exception_id=row_id,
                        at=AT,
                        status="RESOLVED",
                        actor="ops@example.com",
                        note="booked",
                    )
                )


def settled_orders(world: DemoWorld) -> list[dict[str, Any]]:
    """Delivered orders: no other test raises exceptions about them."""
    planted = {p.order_ref for p in world.planted}
    delivered = {f["orderRef"] for f in world.wms_fulfilment_orders if f["status"] == "delivered"}
    return [o for o in world.storefront_orders if o["id"] in delivered - planted]


async def test_exceptions_are_listed_filtered_and_attached_to_orders(
    app: Starlette, graph: Graph, world: DemoWorld
) -> None:
    ref = settled_orders(world)[0]["id"]
    await seed_exceptions(app, ref)
    body = await graph.query(
        """{ exceptions(first: 100, filter: {ownerKind: WMS}) { edges { node {
               id kind status ownerSource ownerKind subject allowedResolutions
               history { status actor note } } } } }"""
    )
    assert "errors" not in body, body.get("errors")
    nodes = [e["node"] for e in body["data"]["exceptions"]["edges"]]
    assert {n["ownerKind"] for n in nodes} == {"WMS"}
    (node,) = [n for n in nodes if n["subject"] == ref]
    assert node["kind"] == "SHORT_PICK"
    assert node["ownerKind"] == "WMS"
    assert "BACKORDER" in node["allowedResolutions"]
    assert node["history"] == [{"status": "OPEN", "actor": "wms", "note": "reported"}]

    order = await graph.query(
        "query($id: ID!) { order(id: $id) { exceptions { id kind } } }",
        id=encode_global_id("Order", "web-store", ref),
    )
    assert order["data"]["order"]["exceptions"] == [{"id": node["id"], "kind": "SHORT_PICK"}]

    resolved = await graph.query(
        "{ exceptions(filter: {statuses: [RESOLVED]})"
        " { edges { node { id history { status } } } } }"
    )
    (only,) = [
        e
        for e in resolved["data"]["exceptions"]["edges"]
        if e["node"]["history"] == [{"status": "OPEN"}, {"status": "RESOLVED"}]
    ]
    by_id = await graph.query(
        "query($id: ID!) { exception(id: $id) { kind } }", id=only["node"]["id"]
    )
    assert by_id["data"]["exception"] == {"kind": "PAYOUT_MISMATCH"}

    open_orders = await graph.query(
        "{ orders(first: 100, filter: {hasOpenException: true}) { edges { node { name } } } }"
    )
    names = {e["node"]["name"] for e in open_orders["data"]["orders"]["edges"]}
    assert settled_orders(world)[0]["name"] in names
    assert settled_orders(world)[1]["name"] not in names


async def test_exception_pages_follow_cursors(
    app: Starlette, graph: Graph, world: DemoWorld
) -> None:
    await seed_exceptions(app, settled_orders(world)[0]["id"])
    first = await graph.query(
        "{ exceptions(first: 1) { edges { node { id } } pageInfo { hasNextPage endCursor } } }"
    )
    page = first["data"]["exceptions"]
    assert page["pageInfo"]["hasNextPage"]
    second = await graph.query(
        "query($a: String) { exceptions(first: 1, after: $a)"
        " { edges { node { id } } pageInfo { hasNextPage } } }",
        a=page["pageInfo"]["endCursor"],
    )
    assert second["data"]["exceptions"]["edges"][0]["node"]["id"] != page["edges"][0]["node"]["id"]
