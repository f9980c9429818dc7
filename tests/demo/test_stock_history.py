"""The WMS's inventory movements replay to its stock snapshot, tell a believable history on the
way, and agree with the fulfilment orders they come from."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import pytest

from omnigraph.demo import (
    DISPOSITIONS,
    MOVEMENTS,
    STOCK_BUCKETS,
    DemoWorld,
    build_world,
    replay_movements,
)
from omnigraph.demo import world as world_module
from omnigraph.demo.movements import apply_movement

from .conftest import ANCHOR

Record = dict[str, Any]
# What each movement carries besides id, movement, sku, locationId, quantity and occurredAt.
DETAILS = {
    "receipt": {"expectedReceiptId"},
    "expected_receipt": {"expectedReceiptId", "expectedAt"},
    "allocate": {"fulfilmentOrderId", "orderRef"},
    "deallocate": {"fulfilmentOrderId", "orderRef"},
    "pick": {"fulfilmentOrderId"},
    "ship": {"fulfilmentOrderId", "shipmentId"},
    "adjustment": {"reason"},
    "cycle_count": {"countedQuantity"},
    "damage": {"fulfilmentOrderId"},
    "damage_disposal": set(),
    "quality_hold": {"reason"},
    "quality_release": {"reason"},
    "transfer_out": {"transferId", "toLocationId"},
    "transfer_in": {"transferId", "fromLocationId", "expectedReceiptId"},
    "return_receipt": {"orderRef", "fulfilmentOrderId", "disposition"},
}
BASE = {"id", "movement", "sku", "locationId", "quantity", "occurredAt"}


def assert_replays_to_the_snapshot(movements: list[Record], stock: list[Record]) -> None:
    replayed = replay_movements(movements)
    rows = {(row["sku"], row["locationId"]): row for row in stock}
    assert set(replayed) == set(rows)  # every row has a history, and no other row does
    for key, row in rows.items():
        assert replayed[key] == {bucket: row[bucket] for bucket in STOCK_BUCKETS}, key


@pytest.mark.parametrize(("orders", "seed"), [(40, 7), (300, 7), (300, 8), (300, 21)])
def test_replaying_the_movements_gives_the_stock_snapshot(orders: int, seed: int) -> None:
    world = build_world(seed=seed, orders=orders, anchor=ANCHOR)
    assert_replays_to_the_snapshot(world.inventory_movements, world.wms_stock)


def test_a_large_world_replays_to_its_snapshot_too() -> None:
    world = build_world(seed=7, orders=5000, anchor=ANCHOR)
    assert_replays_to_the_snapshot(world.inventory_movements, world.wms_stock)
    assert len(world.inventory_movements) > 20_000


def test_the_feed_carries_the_movements_in_order(world: DemoWorld) -> None:
    events = [e for e in world.events["wms"] if e["recordType"] == "inventory_movement"]
    assert [e["data"] for e in events] == world.inventory_movements
    for event in events:
        data = event["data"]
        assert event["type"] == f"inventory.{data['movement']}"
        assert (event["recordId"], event["occurredAt"]) == (data["id"], data["occurredAt"])
    ids = [m["id"] for m in world.inventory_movements]
    assert ids == [f"MOV-{number:07d}" for number in range(1, len(ids) + 1)]
    assert all(m["occurredAt"] < ANCHOR.isoformat() for m in world.inventory_movements)


def test_every_movement_has_its_documented_shape(world: DemoWorld) -> None:
    for movement in world.inventory_movements:
        kind = movement["movement"]
        assert set(movement) == BASE | DETAILS[kind], movement
        assert isinstance(movement["quantity"], int)
        if kind not in {"adjustment", "cycle_count"}:
            assert movement["quantity"] > 0, movement
        if kind == "adjustment":
            assert movement["quantity"] != 0
            assert movement["reason"]


def test_every_movement_and_disposition_occurs_at_the_default_size(world: DemoWorld) -> None:
    kinds = Counter(m["movement"] for m in world.inventory_movements)
    assert set(kinds) == set(MOVEMENTS)
    returns = [m for m in world.inventory_movements if m["movement"] == "return_receipt"]
    assert {m["disposition"] for m in returns} == set(DISPOSITIONS)
    counts = [m for m in world.inventory_movements if m["movement"] == "cycle_count"]
    assert {m["quantity"] > 0 for m in counts} == {True, False}


@pytest.mark.parametrize("orders", [40, 300])
def test_free_stock_never_dips_below_zero_on_the_way(orders: int) -> None:
    world = world_of(orders)
    rows: dict[tuple[str, str], dict[str, int]] = defaultdict(
        lambda: dict.fromkeys(STOCK_BUCKETS, 0)
    )
    for movement in world.inventory_movements:
        row = rows[movement["sku"], movement["locationId"]]
        before = row["onHand"]
        apply_movement(row, movement)
        assert min(row.values()) >= 0, movement
        assert row["onHand"] >= row["allocated"] + row["damaged"] + row["qualityHold"], movement
        if movement["movement"] == "cycle_count":
            assert movement["countedQuantity"] == before + movement["quantity"] == row["onHand"]


def world_of(orders: int) -> DemoWorld:
    return build_world(seed=7, orders=orders, anchor=ANCHOR)


def test_the_floor_movements_follow_the_fulfilment_orders(world: DemoWorld) -> None:
    by_order: dict[str, list[Record]] = defaultdict(list)
    for movement in world.inventory_movements:
        if movement.get("fulfilmentOrderId"):
            by_order[movement["fulfilmentOrderId"]].append(movement)
    damage_reports = Counter(
        (r["fulfilmentOrderId"], r["sku"], r["quantity"]) for r in world.reported_of("DAMAGE")
    )
    for order in world.wms_fulfilment_orders:
        moves = by_order.pop(order["id"])
        assert {m["locationId"] for m in moves} == {order["locationId"]}

        def of(kind: str, moves: list[Record] = moves) -> list[Record]:
            return [m for m in moves if m["movement"] == kind]

        lines = order["lines"]
        assert sorted(
            (m["sku"], m["quantity"], m["occurredAt"], m["orderRef"]) for m in of("allocate")
        ) == sorted(
            (line["sku"], line["quantity"], order["releasedAt"], order["orderRef"])
            for line in lines
        )
        assert sorted(
            (m["shipmentId"], m["sku"], m["quantity"], m["occurredAt"]) for m in of("ship")
        ) == sorted(
            (shipment["id"], line["sku"], line["quantity"], shipment["shippedAt"])
            for shipment in order["shipments"]
            for line in shipment["lines"]
        )
        released = sorted((m["sku"], m["quantity"], m["orderRef"]) for m in of("deallocate"))
        if order["status"] == "cancelled":
            assert released == sorted(
                (li["sku"], li["quantity"], order["orderRef"]) for li in lines
            )
        else:
            assert released == []
        picks = Counter()
        for pick in of("pick"):
            picks[pick["sku"]] += pick["quantity"]
            assert pick["occurredAt"] > order["releasedAt"]
        for line in lines:
            # Damage found at the packing bench leaves the tote after the pick.
            assert line["picked"] <= picks[line["sku"]] <= line["picked"] + line["damaged"]
        assert sorted(
            (m["sku"], m["quantity"], m["orderRef"]) for m in of("return_receipt")
        ) == sorted(
            (line["sku"], line["returned"], order["orderRef"]) for line in lines if line["returned"]
        )
        for damage in of("damage"):
            damage_reports[order["id"], damage["sku"], damage["quantity"]] -= 1
    assert by_order == {}  # no movement names an order the WMS does not have
    assert +damage_reports == Counter()  # every damage report has its movement


def test_expected_receipts_land_after_they_are_announced(world: DemoWorld) -> None:
    announced: dict[str, Record] = {}
    settled: Counter[str] = Counter()
    transfers_out: dict[str, Record] = {}
    for movement in world.inventory_movements:
        kind = movement["movement"]
        if kind == "expected_receipt":
            assert movement["expectedReceiptId"] not in announced
            assert movement["expectedAt"] >= movement["occurredAt"]
            announced[movement["expectedReceiptId"]] = movement
        elif kind == "transfer_out":
            transfers_out[movement["transferId"]] = movement
        elif kind in {"receipt", "transfer_in"} and movement["expectedReceiptId"]:
            expected = announced[movement["expectedReceiptId"]]
            assert (expected["sku"], expected["locationId"]) == (
                movement["sku"],
                movement["locationId"],
            )
            assert expected["occurredAt"] < movement["occurredAt"]
            settled[movement["expectedReceiptId"]] += movement["quantity"]
            if kind == "transfer_in":
                sent = transfers_out[movement["transferId"]]
                assert movement["expectedReceiptId"] == movement["transferId"]
                assert movement["fromLocationId"] == sent["locationId"]
    for transfer, sent in transfers_out.items():
        # Announced at the store the moment it leaves the DC.
        expected = announced[transfer]
        assert (expected["sku"], expected["locationId"], expected["quantity"]) == (
            sent["sku"],
            sent["toLocationId"],
            sent["quantity"],
        )
        assert expected["occurredAt"] == sent["occurredAt"]
    assert {d for d in announced if d.startswith("TR")} == set(transfers_out)
    incoming: Counter[tuple[str, str]] = Counter()
    for document, expected in announced.items():
        assert settled[document] <= expected["quantity"]
        incoming[expected["sku"], expected["locationId"]] += (
            expected["quantity"] - settled[document]
        )
    for row in world.wms_stock:
        assert incoming[row["sku"], row["locationId"]] == row["incoming"]
    open_documents = {d for d, e in announced.items() if settled[d] < e["quantity"]}
    # Purchase orders and transfers, settled, still on their way, and part received.
    assert {d[:2] for d in open_documents} == {d[:2] for d in set(announced) - open_documents}
    assert {"PO", "TR"} == {d[:2] for d in open_documents}
    assert any(settled[d] > 0 for d in open_documents)


def test_the_history_leaves_every_other_record_as_it_was(
    world: DemoWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(world_module, "write_stock_history", lambda *args: [])
    plain = build_world(seed=7, orders=300, anchor=ANCHOR).as_json()
    full = world.as_json()
    assert plain.pop("inventory_movements") == []
    full.pop("inventory_movements")

    def without_movements(events: list[Record]) -> list[Record]:
        return [
            {k: v for k, v in e.items() if k not in {"id", "sequence"}}
            for e in events
            if e["recordType"] != "inventory_movement"
        ]

    def ungraded(fulfilment: Record) -> None:
        # The history grades the returns the WMS received; without it they read `restock`.
        for receipt in fulfilment["returnReceipts"]:
            for line in receipt["lines"]:
                line["disposition"] = "restock"

    for world_json in (plain, full):
        world_json["events"]["wms"] = without_movements(world_json["events"]["wms"])
        for event in world_json["events"]["wms"]:
            if event["recordType"] == "fulfilment_order":
                ungraded(event["data"])
        for fulfilment in world_json["wms_fulfilment_orders"]:
            ungraded(fulfilment)
    assert any(
        line["disposition"] != "restock"
        for fulfilment in world.wms_fulfilment_orders
        for receipt in fulfilment["returnReceipts"]
        for line in receipt["lines"]
    )
    assert full == plain
