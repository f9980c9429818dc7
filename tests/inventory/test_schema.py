"""Availability over the demo business, derived from the WMS's movement ledger."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from omnigraph.db.models import InventoryPositionRow
from omnigraph.demo import DemoWorld
from omnigraph.inventory.policy import DEFAULT_POLICY_PATH, load_default_policy
from omnigraph.runtime.services import Services
from tests.conftest import Graph, Sources

QUERY = """
query($skus: [String!]!, $channel: String!, $promise: Promise!, $at: DateTime) {
  availability(skus: $skus, channel: $channel, promise: $promise, at: $at) {
    id sku locationId availableQuantity onHand buckets { name quantity } explanation asOf
  }
}
"""


async def test_replaying_the_wms_ledger_gives_the_wms_snapshot(
    ledger: Services, world: DemoWorld
) -> None:
    async with ledger.sessions() as session:
        positions = {
            (p.sku, p.location_id): p for p in await session.scalars(select(InventoryPositionRow))
        }
    for row in world.wms_stock:
        position = positions[(row["sku"], row["locationId"])]
        assert (
            position.on_hand,
            position.committed,
            position.damaged,
            position.quality_control,
            position.incoming,
        ) == (
            row["onHand"],
            row["allocated"],
            row["damaged"],
            row["qualityHold"],
            row["incoming"],
        ), row


@pytest.mark.usefixtures("ledger")
async def test_ship_availability_follows_the_ledger_and_the_policy(
    graph: Graph, world: DemoWorld, sources: Sources
) -> None:
    skus = [f"SKU-{i:04d}" for i in range(1, 21)]
    policy = load_default_policy()
    await sources.reset()
    body = await graph.query(QUERY, skus=skus, channel="web", promise="SHIP")
    assert "errors" not in body, body.get("errors")
    answers = body["data"]["availability"]
    expected = {
        (r["sku"], r["locationId"]): max(
            0,
            r["onHand"]
            - r["allocated"]
            - r["damaged"]
            - r["qualityHold"]
            - policy.safety_stock_for("web", r["locationId"]),
        )
        for r in world.wms_stock
        if r["sku"] in skus and policy.serves("web", r["locationId"])
    }
    assert {(a["sku"], a["locationId"]): a["availableQuantity"] for a in answers} == expected
    assert (await sources.totals())["wms"] <= 1  # positions come from the ledger; locations only


@pytest.mark.usefixtures("ledger")
async def test_same_day_pickup_uses_stores_and_honours_cutoff(
    graph: Graph, world: DemoWorld
) -> None:
    stores = {loc["id"] for loc in world.wms_locations if loc["type"] == "store"}
    morning = datetime(2026, 11, 20, 9, 0, tzinfo=UTC).isoformat()
    night = datetime(2026, 11, 20, 22, 0, tzinfo=UTC).isoformat()
    body = await graph.query(
        QUERY, skus=["SKU-0001"], channel="store-pickup", promise="SAME_DAY_PICKUP", at=morning
    )
    answers = body["data"]["availability"]
    # before the stores' 17:00 cut-off: each store that serves pickups answers what its stock
    # leaves (the WMS snapshot, less the safety stock the policy file keeps back at a store)
    document = tomllib.loads(DEFAULT_POLICY_PATH.read_text())
    serving = set(document["locations"]["store-pickup"]) & stores
    kept = {
        store: sum(
            rule["quantity"]
            for rule in document.get("safety_stock", [])
            if rule.get("location", store) == store
            and rule.get("channel", "store-pickup") == "store-pickup"
        )
        for store in serving
    }
    expected = {
        r["locationId"]: max(
            0,
            r["onHand"] - r["allocated"] - r["damaged"] - r["qualityHold"] - kept[r["locationId"]],
        )
        for r in world.wms_stock
        if r["sku"] == "SKU-0001" and r["locationId"] in serving
    }
    assert {a["locationId"]: a["availableQuantity"] for a in answers} == expected
    assert any(expected.values())  # the morning promise is not vacuous: some store can give
    late = (
        await graph.query(
            QUERY, skus=["SKU-0001"], channel="store-pickup", promise="SAME_DAY_PICKUP", at=night
        )
    )["data"]["availability"]
    assert all(a["availableQuantity"] == 0 for a in late)
    assert all("cut-off" in a["explanation"][-1] for a in late)


@pytest.mark.usefixtures("ledger")
async def test_availability_round_trips_through_node(graph: Graph) -> None:
    body = await graph.query(QUERY, skus=["SKU-0002"], channel="web", promise="SHIP")
    first = body["data"]["availability"][0]
    node = await graph.query(
        "query($id: ID!) { node(id: $id)"
        " { ... on InventoryAvailability { sku availableQuantity } } }",
        id=first["id"],
    )
    assert node["data"]["node"] == {
        "sku": "SKU-0002",
        "availableQuantity": first["availableQuantity"],
    }


async def test_unknown_channel_is_a_coded_error(graph: Graph) -> None:
    body = await graph.query(QUERY, skus=["SKU-0001"], channel="teleport", promise="SHIP")
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_a_refused_availability_read_says_what_to_change(graph: Graph) -> None:
    unknown = await graph.query(QUERY, skus=["SKU-0001"], channel="teleport", promise="SHIP")
    (error,) = unknown["errors"]
    assert error["message"] == (
        "unknown channel 'teleport'; known: marketplace, store-pickup, web, wholesale"
    )
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "channel"}

    skus = [f"SKU-{n:05d}" for n in range(1001)]
    too_many = await graph.query(QUERY, skus=skus, channel="web", promise="SHIP")
    (error,) = too_many["errors"]
    assert error["message"] == "at most 1000 skus per call, got 1001"
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "skus"}
    at_most = await graph.query(QUERY, skus=skus[:1000], channel="web", promise="SHIP")
    assert "errors" not in at_most
