"""Availability from the WMS snapshot, per channel and promise."""

from __future__ import annotations

from datetime import UTC, datetime

from omnigraph.sources.sim import DemoWorld
from tests.conftest import Graph, Sources

QUERY = """
query($skus: [String!]!, $channel: String!, $promise: Promise!, $at: DateTime) {
  availability(skus: $skus, channel: $channel, promise: $promise, at: $at) {
    id sku locationId availableQuantity onHand buckets { name quantity } explanation
  }
}
"""


def expected_available(row: dict[str, int]) -> int:
    return max(0, row["onHand"] - row["allocated"] - row["damaged"] - row["qualityHold"])


async def test_ship_availability_counts_the_warehouse_only(
    graph: Graph, world: DemoWorld, sources: Sources
) -> None:
    skus = [f"SKU-{i:04d}" for i in range(1, 21)]
    await sources.reset()
    body = await graph.query(QUERY, skus=skus, channel="web", promise="SHIP")
    assert "errors" not in body, body.get("errors")
    answers = body["data"]["availability"]
    warehouses = {loc["id"] for loc in world.wms_locations if loc["type"] == "warehouse"}
    expected = {
        (r["sku"], r["locationId"]): expected_available(r)
        for r in world.wms_stock
        if r["sku"] in skus and r["locationId"] in warehouses
    }
    assert {(a["sku"], a["locationId"]): a["availableQuantity"] for a in answers} == expected
    assert (await sources.totals())["wms"] <= 2  # one stock query, one (cached) locations read


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
    assert {a["locationId"] for a in answers} <= stores
    assert answers
    late = (
        await graph.query(
            QUERY, skus=["SKU-0001"], channel="store-pickup", promise="SAME_DAY_PICKUP", at=night
        )
    )["data"]["availability"]
    assert all(a["availableQuantity"] == 0 for a in late)
    assert all("cut-off" in a["explanation"][-1] for a in late)


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
