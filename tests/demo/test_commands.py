"""Each demo system really applies its commands: once per Idempotency-Key, visibly in the
records it serves and on its change feed, and refuses what it cannot do with a reason."""

from __future__ import annotations

import copy
import dataclasses
import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from omnigraph.demo import (
    APP_FACTORIES,
    DemoWorld,
)
from tests.demo.conftest import BATCH_PATHS

Record = dict[str, Any]


class Owner:
    """One demo system under test: sends commands, reads records, and reads its feed's news."""

    def __init__(self, client: httpx.AsyncClient, world: DemoWorld, kind: str) -> None:
        self.client = client
        self.kind = kind
        self.seen = len(world.events[kind])
        self.moved: list[Record] = []
        self._keys = itertools.count(1)

    async def send(self, command_type: str, payload: Record, key: str | None = None) -> Record:
        key = key or f"{command_type}-{next(self._keys)}"
        response = await self.client.post(
            "/commands",
            json={"type": command_type, "payload": payload},
            headers={"Idempotency-Key": key},
        )
        assert response.status_code == 202, response.text
        answer: Record = response.json()
        assert answer["type"] == command_type
        return answer

    async def accepted(self, command_type: str, payload: Record, key: str | None = None) -> str:
        answer = await self.send(command_type, payload, key)
        assert answer["status"] == "accepted", answer
        assert answer["detail"]
        return str(answer["detail"])

    async def rejected(self, command_type: str, payload: Record, reason: str) -> None:
        answer = await self.send(command_type, payload)
        assert answer["status"] == "rejected", answer
        assert reason in answer["detail"], answer

    async def record(self, record_id: str, path: str | None = None) -> Record:
        response = await self.client.post(path or BATCH_PATHS[self.kind], json={"ids": [record_id]})
        (record,) = response.raise_for_status().json()["data"]
        return dict(record)

    async def stock(self, sku: str, location: str) -> Record:
        body = {"skus": [sku], "locationIds": [location]}
        (row,) = (await self.client.post("/stock/query", json=body)).json()["data"]
        return dict(row)

    async def news(self) -> list[Record]:
        """Feed events since the last look, stock movements aside (kept in `moved`)."""
        page = await self.client.get("/changes", params={"after": self.seen, "limit": 500})
        events: list[Record] = page.raise_for_status().json()["events"]
        self.seen += len(events)
        self.moved += [e["data"] for e in events if e["recordType"] == "inventory_movement"]
        return [e for e in events if e["recordType"] != "inventory_movement"]

    async def log(self) -> list[Record]:
        return list((await self.client.get("/_commands")).json()["data"])


@asynccontextmanager
async def owner(kind: str, world: DemoWorld) -> AsyncIterator[Owner]:
    transport = httpx.ASGITransport(app=APP_FACTORIES[kind](world))
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
        yield Owner(client, world, kind)


def line_of(record: Record, sku: str) -> Record:
    (line,) = [line for line in record["lines"] if line["sku"] == sku]
    return dict(line)


def planted_order(world: DemoWorld, kind: str) -> str:
    """The storefront order the one disagreement of `kind` was planted on."""
    (planted,) = world.planted_of(kind)
    assert planted.order_ref is not None
    return planted.order_ref


def fulfilment(world: DemoWorld, fulfilment_id: str) -> Record:
    return next(f for f in world.wms_fulfilment_orders if f["id"] == fulfilment_id)


def first(records: list[Record], keep: Callable[[Record], bool]) -> Record:
    return next(record for record in records if keep(record))


def with_stock(world: DemoWorld, sku: str, location: str, **changes: int) -> DemoWorld:
    """A copy of `world` whose stock row for `sku` at `location` reads differently."""
    stock = copy.deepcopy(world.wms_stock)
    row = first(stock, lambda r: (r["sku"], r["locationId"]) == (sku, location))
    row.update(changes)
    return dataclasses.replace(world, wms_stock=stock)


def line_payload(report: Record, quantity: int | None = None) -> Record:
    return {
        "fulfilmentOrderId": report["fulfilmentOrderId"],
        "sku": report["sku"],
        "quantity": report["quantity"] if quantity is None else quantity,
    }


def first_line_payload(fulfilment_order: Record, quantity: int) -> Record:
    """A line command's payload for the first line of a fulfilment order."""
    return {
        "fulfilmentOrderId": fulfilment_order["id"],
        "sku": fulfilment_order["lines"][0]["sku"],
        "quantity": quantity,
    }


def around_now(moment: str, world: DemoWorld) -> bool:
    """A command's timestamp: the wall clock, but never before the world's anchor."""
    now = max(datetime.now(UTC), world.anchor)
    return abs(datetime.fromisoformat(moment) - now) < timedelta(minutes=5)


# -- WMS: a short pick ------------------------------------------------------------------------


async def test_ship_partial_ships_what_was_picked_and_cancels_the_short_units(
    small_world: DemoWorld,
) -> None:
    (report,) = small_world.reported_of("SHORT_PICK")
    before = fulfilment(small_world, report["fulfilmentOrderId"])
    in_hand = {li["sku"]: li["picked"] - li["shipped"] for li in before["lines"]}
    async with owner("wms", small_world) as wms:
        stock_before = {sku: await wms.stock(sku, before["locationId"]) for sku in in_hand}
        detail = await wms.accepted("fulfilment.ship_partial", line_payload(report), key="ship-1")
        replay = await wms.send("fulfilment.ship_partial", line_payload(report), key="ship-1")
        after = await wms.record(before["id"])
        events = await wms.news()
        stock_after = {sku: await wms.stock(sku, before["locationId"]) for sku in in_hand}
        (logged,) = await wms.log()

    assert (replay["status"], replay["detail"]) == ("accepted", detail)
    (shipment,) = after["shipments"][len(before["shipments"]) :]
    assert shipment["id"] in detail
    assert {entry["sku"]: entry["quantity"] for entry in shipment["lines"]} == {
        sku: n for sku, n in in_hand.items() if n
    }
    short = line_of(after, report["sku"])
    was = line_of(before, report["sku"])
    assert short["quantity"] == was["quantity"] - report["quantity"] == short["shipped"]
    assert (short["cancelled"], short["short"]) == (report["quantity"], 0)
    assert after["status"] == "shipped"
    assert [(e["type"], e["data"]) for e in events] == [("fulfilment_order.shipped", after)]
    assert around_now(after["updatedAt"], small_world)
    for sku, n in in_hand.items():
        written_off = report["quantity"] if sku == report["sku"] else 0
        assert stock_after[sku]["onHand"] == stock_before[sku]["onHand"] - n - written_off
        held = line_of(before, sku)["quantity"]
        assert stock_after[sku]["allocated"] == stock_before[sku]["allocated"] - held
    assert (logged["deliveries"], logged["applications"]) == (2, 1)


async def test_backorder_substitute_and_cancel_resolve_a_short_pick(
    small_world: DemoWorld,
) -> None:
    (report,) = small_world.reported_of("SHORT_PICK")
    before = fulfilment(small_world, report["fulfilmentOrderId"])
    was = line_of(before, report["sku"])
    location = before["locationId"]
    units = report["quantity"]

    async with owner("wms", small_world) as wms:
        stock = await wms.stock(report["sku"], location)
        assert "backordered" in await wms.accepted("fulfilment.backorder", line_payload(report))
        after = await wms.record(before["id"])
        assert (await wms.news())[0]["type"] == "fulfilment_order.updated"
        assert (await wms.stock(report["sku"], location))["onHand"] == stock["onHand"] - units
    line = line_of(after, report["sku"])
    assert (line["short"], line["backordered"], line["quantity"]) == (0, units, was["quantity"])
    assert after["status"] == before["status"]

    async with owner("wms", small_world) as wms:
        detail = await wms.accepted("fulfilment.substitute", line_payload(report))
        after = await wms.record(before["id"])
        (event,) = await wms.news()
        (added,) = [li for li in after["lines"] if li["substituteFor"] == report["sku"]]
        added_stock = await wms.stock(added["sku"], location)
    items = {item["sku"]: item for item in small_world.erp_items}
    assert added["sku"] in detail
    assert items[added["sku"]]["name"] in detail
    assert items[added["sku"]]["category"] == items[report["sku"]]["category"]
    assert (added["quantity"], added["picked"], added["packed"]) == (units, units, units)
    line = line_of(after, report["sku"])
    assert (line["quantity"], line["substituted"], line["short"]) == (
        was["quantity"] - units,
        units,
        0,
    )
    assert event["data"] == after
    original = first(
        small_world.wms_stock, lambda r: (r["sku"], r["locationId"]) == (added["sku"], location)
    )
    assert added_stock["allocated"] == original["allocated"] + units

    async with owner("wms", small_world) as wms:
        assert "cancelled" in await wms.accepted("fulfilment.cancel_line", line_payload(report))
        line = line_of(await wms.record(before["id"]), report["sku"])
    assert (line["quantity"], line["cancelled"], line["short"]) == (
        was["quantity"] - units,
        units,
        0,
    )


# -- WMS: damage ------------------------------------------------------------------------------


async def test_replace_takes_good_units_from_stock_and_writes_off_the_broken(
    small_world: DemoWorld,
) -> None:
    (report,) = small_world.reported_of("DAMAGE")
    before = fulfilment(small_world, report["fulfilmentOrderId"])
    location, units = report["locationId"], report["quantity"]
    async with owner("wms", small_world) as wms:
        stock = await wms.stock(report["sku"], location)
        assert "replaced" in await wms.accepted("fulfilment.replace", line_payload(report))
        after = await wms.record(before["id"])
        (event,) = await wms.news()
        now = await wms.stock(report["sku"], location)
        await wms.rejected("fulfilment.replace", line_payload(report), "has 0 damaged")
    line, was = line_of(after, report["sku"]), line_of(before, report["sku"])
    assert (line["damaged"], line["picked"]) == (0, was["picked"] + units)
    assert (event["type"], event["data"]) == ("fulfilment_order.updated", after)
    assert now["onHand"] == stock["onHand"] - units
    assert now["damaged"] == stock["damaged"] - units
    assert now["allocated"] == stock["allocated"]


async def test_replace_is_refused_without_free_stock(small_world: DemoWorld) -> None:
    (report,) = small_world.reported_of("DAMAGE")
    row = first(
        small_world.wms_stock,
        lambda r: (r["sku"], r["locationId"]) == (report["sku"], report["locationId"]),
    )
    # Every unit in the building is allocated, broken or on hold: nothing to replace with.
    bare = row["allocated"] + row["damaged"] + row["qualityHold"] - report["quantity"]
    world = with_stock(small_world, report["sku"], report["locationId"], onHand=bare)
    async with owner("wms", world) as wms:
        await wms.rejected("fulfilment.replace", line_payload(report), "only 0")
        assert await wms.news() == []
        assert await wms.record(report["fulfilmentOrderId"]) == fulfilment(
            small_world, report["fulfilmentOrderId"]
        )


async def test_ship_remainder_leaves_damaged_units_open(small_world: DemoWorld) -> None:
    (report,) = small_world.reported_of("DAMAGE")
    before = fulfilment(small_world, report["fulfilmentOrderId"])
    async with owner("wms", small_world) as wms:
        detail = await wms.accepted(
            "fulfilment.ship_remainder", {"fulfilmentOrderId": before["id"]}
        )
        after = await wms.record(before["id"])
        await wms.rejected(
            "fulfilment.ship_remainder", {"fulfilmentOrderId": before["id"]}, "nothing on"
        )
        assert [e["data"] for e in await wms.news()] == [after]
    (shipment,) = after["shipments"][len(before["shipments"]) :]
    assert shipment["id"] in detail
    damaged = line_of(after, report["sku"])
    assert damaged["damaged"] == report["quantity"]
    assert damaged["shipped"] == damaged["quantity"] - report["quantity"]
    assert after["status"] == "partially_shipped"
    assert all(
        li["shipped"] == li["quantity"] for li in after["lines"] if li["sku"] != report["sku"]
    )


async def test_ship_remainder_and_cancel_remainder_close_orders(small_world: DemoWorld) -> None:
    reported = {r["fulfilmentOrderId"] for r in small_world.reported_exceptions}
    released = first(
        small_world.wms_fulfilment_orders,
        lambda f: f["status"] == "released" and f["id"] not in reported,
    )
    packed = first(
        small_world.wms_fulfilment_orders,
        lambda f: f["status"] == "packed" and f["id"] not in reported,
    )
    async with owner("wms", small_world) as wms:
        await wms.accepted("fulfilment.ship_remainder", {"fulfilmentOrderId": released["id"]})
        shipped = await wms.record(released["id"])
        await wms.accepted("fulfilment.cancel_remainder", {"fulfilmentOrderId": packed["id"]})
        cancelled = await wms.record(packed["id"])
        events = await wms.news()
        await wms.rejected(
            "fulfilment.cancel_remainder", {"fulfilmentOrderId": packed["id"]}, "is cancelled"
        )
    assert shipped["status"] == "shipped"
    assert all(
        li["picked"] == li["packed"] == li["shipped"] == li["quantity"] for li in shipped["lines"]
    )
    assert cancelled["status"] == "cancelled"
    assert [(li["quantity"], li["cancelled"]) for li in cancelled["lines"]] == [
        (0, li["quantity"]) for li in packed["lines"]
    ]
    assert [(e["type"], e["recordId"]) for e in events] == [
        ("fulfilment_order.shipped", released["id"]),
        ("fulfilment_order.cancelled", packed["id"]),
    ]


# -- WMS: a missed pickup ---------------------------------------------------------------------


async def test_extend_hold_moves_the_pickup_deadline(small_world: DemoWorld) -> None:
    (report,) = small_world.reported_of("MISSED_PICKUP")
    order_id = report["fulfilmentOrderId"]
    async with owner("wms", small_world) as wms:
        detail = await wms.accepted(
            "pickup.extend_hold", {"fulfilmentOrderId": order_id, "days": 3}
        )
        after = await wms.record(order_id)
        (event,) = await wms.news()
        for days, reason in [(15, "at most 14"), (0, "positive integer"), ("3", "positive")]:
            await wms.rejected(
                "pickup.extend_hold", {"fulfilmentOrderId": order_id, "days": days}, reason
            )
    hold = datetime.fromisoformat(after["pickupHoldUntil"])
    assert after["pickupHoldUntil"] in detail
    assert around_now((hold - timedelta(days=3)).isoformat(), small_world)
    assert after["status"] == "ready_for_pickup"
    assert (event["type"], event["data"]) == ("fulfilment_order.updated", after)


async def test_pickup_cancel_restocks_the_store(small_world: DemoWorld) -> None:
    (report,) = small_world.reported_of("MISSED_PICKUP")
    before = fulfilment(small_world, report["fulfilmentOrderId"])
    store = report["locationId"]
    async with owner("wms", small_world) as wms:
        stock = {li["sku"]: await wms.stock(li["sku"], store) for li in before["lines"]}
        assert "restocked" in await wms.accepted(
            "pickup.cancel", {"fulfilmentOrderId": before["id"]}
        )
        after = await wms.record(before["id"])
        (event,) = await wms.news()
        for line in before["lines"]:
            now = await wms.stock(line["sku"], store)
            assert now["allocated"] == stock[line["sku"]]["allocated"] - line["quantity"]
            assert now["onHand"] == stock[line["sku"]]["onHand"]
        shipping = first(small_world.wms_fulfilment_orders, lambda f: f["status"] == "packed")
        await wms.rejected("pickup.cancel", {"fulfilmentOrderId": shipping["id"]}, "no pickup")
        await wms.rejected(
            "pickup.extend_hold", {"fulfilmentOrderId": before["id"], "days": 1}, "not waiting"
        )
    assert (after["status"], after["pickupHoldUntil"]) == ("cancelled", None)
    assert all((li["quantity"], li["picked"]) == (0, 0) for li in after["lines"])
    assert (event["type"], event["data"]) == ("fulfilment_order.cancelled", after)


async def test_convert_to_ship_sends_the_order_from_the_store(small_world: DemoWorld) -> None:
    (report,) = small_world.reported_of("MISSED_PICKUP")
    before = fulfilment(small_world, report["fulfilmentOrderId"])
    async with owner("wms", small_world) as wms:
        detail = await wms.accepted("pickup.convert_to_ship", {"fulfilmentOrderId": before["id"]})
        after = await wms.record(before["id"])
        (event,) = await wms.news()
        await wms.rejected(
            "pickup.convert_to_ship", {"fulfilmentOrderId": before["id"]}, "not waiting"
        )
    (shipment,) = after["shipments"]
    assert shipment["id"] in detail
    assert (shipment["carrier"], after["status"], after["pickupHoldUntil"]) == (
        "DPD",
        "shipped",
        None,
    )
    assert shipment["lines"] == [
        {"sku": li["sku"], "quantity": li["quantity"]} for li in before["lines"]
    ]
    assert event["type"] == "fulfilment_order.shipped"


# -- WMS: a wholesale order on compliance hold ------------------------------------------------


def held_order(world: DemoWorld) -> Record:
    return first(world.wms_fulfilment_orders, lambda f: f["complianceHold"] is not None)


async def test_compliance_release_lifts_the_hold_once(small_world: DemoWorld) -> None:
    held = held_order(small_world)
    delivered = first(small_world.wms_fulfilment_orders, lambda f: f["status"] == "delivered")
    payload = {"fulfilmentOrderId": held["id"]}
    async with owner("wms", small_world) as wms:
        detail = await wms.accepted("compliance.release", payload, key="release-1")
        replay = await wms.send("compliance.release", payload, key="release-1")
        after = await wms.record(held["id"])
        events = await wms.news()
        await wms.rejected("compliance.release", payload, "has no compliance hold")
        await wms.rejected(
            "compliance.release", {"fulfilmentOrderId": delivered["id"]}, "has no compliance hold"
        )
        await wms.rejected("compliance.release", {}, "payload.fulfilmentOrderId")
        assert await wms.news() == []
        logged = await wms.log()
    assert held["id"] in detail
    assert held["complianceHold"]["reason"] in detail
    assert (replay["status"], replay["detail"]) == ("accepted", detail)
    assert after["complianceHold"] is None
    assert {**held, "complianceHold": None, "updatedAt": after["updatedAt"]} == after
    assert around_now(after["updatedAt"], small_world)
    assert [(e["type"], e["recordId"], e["data"]) for e in events] == [
        ("fulfilment_order.compliance_released", held["id"], after)
    ]
    assert [(entry["status"], entry["deliveries"], entry["applications"]) for entry in logged] == [
        ("accepted", 2, 1),
        ("rejected", 1, 0),
        ("rejected", 1, 0),
        ("rejected", 1, 0),
    ]


async def test_shipping_a_wholesale_order_sends_its_asn(small_world: DemoWorld) -> None:
    held = held_order(small_world)
    trade = {o["id"] for o in small_world.storefront_orders if o["channel"] == "wholesale"}
    notified = first(
        small_world.wms_fulfilment_orders,
        lambda f: f["status"] == "partially_shipped" and f["orderRef"] in trade,
    )
    retail = first(
        small_world.wms_fulfilment_orders,
        lambda f: f["status"] == "released" and f["orderRef"] not in trade,
    )
    async with owner("wms", small_world) as wms:
        for order in (held, notified, retail):
            await wms.accepted("fulfilment.ship_remainder", {"fulfilmentOrderId": order["id"]})
        shipped = {order["id"]: await wms.record(order["id"]) for order in (held, notified, retail)}
    # Held, no ASN yet: it goes out with the shipment; the hold lapses once nothing is left.
    after = shipped[held["id"]]
    assert after["asnSentAt"] == after["shipments"][-1]["shippedAt"]
    assert (after["complianceHold"] is None) == (after["status"] == "shipped")
    # An ASN sent at packing stands; retail orders have none.
    assert shipped[notified["id"]]["asnSentAt"] == notified["asnSentAt"] is not None
    assert shipped[notified["id"]]["status"] == "shipped"
    assert shipped[retail["id"]]["asnSentAt"] is None


async def test_cancelling_a_held_order_drops_its_hold(small_world: DemoWorld) -> None:
    held = held_order(small_world)
    async with owner("wms", small_world) as wms:
        await wms.accepted("fulfilment.cancel_remainder", {"fulfilmentOrderId": held["id"]})
        after = await wms.record(held["id"])
        (event,) = await wms.news()
        await wms.rejected(
            "compliance.release", {"fulfilmentOrderId": held["id"]}, "has no compliance hold"
        )
    assert (after["status"], after["complianceHold"], after["asnSentAt"]) == (
        "cancelled",
        None,
        None,
    )
    assert (event["type"], event["data"]) == ("fulfilment_order.cancelled", after)


# -- WMS: stock and records -------------------------------------------------------------------


async def test_cycle_count_rebuilds_allocation_and_emits_the_row(small_world: DemoWorld) -> None:
    row = first(small_world.wms_stock, lambda r: r["allocated"] > 0)
    sku, location = row["sku"], row["locationId"]
    drifted = with_stock(small_world, sku, location, allocated=row["allocated"] + 7, onHand=0)
    async with owner("wms", drifted) as wms:
        detail = await wms.accepted("inventory.cycle_count", {"sku": sku, "locationId": location})
        counted = await wms.stock(sku, location)
        (event,) = await wms.news()
        await wms.rejected(
            "inventory.cycle_count", {"sku": sku, "locationId": "moon"}, "no location"
        )
        await wms.rejected(
            "inventory.cycle_count", {"sku": "SKU-9999", "locationId": location}, "does not stock"
        )
    assert counted["allocated"] == row["allocated"]
    assert counted["onHand"] == row["allocated"] + row["damaged"] + row["qualityHold"]
    assert f"allocated {row['allocated']} (was {row['allocated'] + 7})" in detail
    assert around_now(counted["asOf"], small_world)
    assert (event["type"], event["recordType"], event["recordId"], event["data"]) == (
        "stock.counted",
        "stock",
        f"{sku}@{location}",
        counted,
    )


async def test_wms_resync_resends_orders_and_reports(small_world: DemoWorld) -> None:
    report = small_world.reported_exceptions[0]
    order = small_world.wms_fulfilment_orders[0]
    async with owner("wms", small_world) as wms:
        await wms.accepted("record.resync", {"recordId": order["id"]})
        await wms.accepted("record.resync", {"recordId": report["id"]})
        await wms.rejected("record.resync", {"recordId": "WO-1"}, "no fulfilment order")
        events = await wms.news()
        assert await wms.record(order["id"]) == order
    assert [(e["type"], e["recordId"], e["data"]) for e in events] == [
        ("fulfilment_order.updated", order["id"], order),
        ("exception.reported", report["id"], report),
    ]


@pytest.mark.parametrize(
    ("command_type", "payload", "reason"),
    [
        (
            "fulfilment.ship_partial",
            {"fulfilmentOrderId": "WO-1", "sku": "S", "quantity": 1},
            "no fulfilment order",
        ),
        ("fulfilment.backorder", {"sku": "S", "quantity": 1}, "payload.fulfilmentOrderId"),
        ("fulfilment.cancel_remainder", {"fulfilmentOrderId": 7}, "payload.fulfilmentOrderId"),
        ("pickup.cancel", {"fulfilmentOrderId": "WO-1"}, "no fulfilment order"),
        ("compliance.release", {"fulfilmentOrderId": "WO-1"}, "no fulfilment order"),
        ("inventory.cycle_count", {"sku": "SKU-0001"}, "payload.locationId"),
        ("record.resync", {}, "payload.recordId"),
    ],
)
async def test_wms_refuses_unknown_references(
    small_world: DemoWorld, command_type: str, payload: Record, reason: str
) -> None:
    async with owner("wms", small_world) as wms:
        await wms.rejected(command_type, payload, reason)
        assert await wms.news() == []
        (logged,) = await wms.log()
    assert (logged["status"], logged["deliveries"], logged["applications"]) == ("rejected", 1, 0)


async def test_line_commands_respect_what_the_line_has_left(small_world: DemoWorld) -> None:
    (short,) = small_world.reported_of("SHORT_PICK")
    (damage,) = small_world.reported_of("DAMAGE")
    (missed,) = small_world.reported_of("MISSED_PICKUP")
    delivered = first(small_world.wms_fulfilment_orders, lambda f: f["status"] == "delivered")
    released = first(small_world.wms_fulfilment_orders, lambda f: f["status"] == "released")
    line = fulfilment(small_world, short["fulfilmentOrderId"])["lines"][0]
    async with owner("wms", small_world) as wms:
        await wms.rejected("fulfilment.backorder", line_payload(short, 999), "left, not 999")
        await wms.rejected("fulfilment.cancel_line", line_payload(short, 0), "positive integer")
        await wms.rejected(
            "fulfilment.cancel_line",
            {**line_payload(short), "sku": "SKU-9999"},
            "has no line for SKU-9999",
        )
        await wms.rejected(
            "fulfilment.replace", {**line_payload(short), "sku": line["sku"]}, "has 0 damaged"
        )
        await wms.rejected(
            "fulfilment.substitute", first_line_payload(delivered, 1), "is delivered"
        )
        await wms.rejected(
            "fulfilment.ship_partial", first_line_payload(released, 1), "nothing is picked"
        )
        await wms.rejected(
            "fulfilment.ship_partial",
            {"fulfilmentOrderId": missed["fulfilmentOrderId"], "sku": "SKU-0001", "quantity": 1},
            "has no line",
        )
        await wms.rejected(
            "fulfilment.ship_remainder",
            {"fulfilmentOrderId": missed["fulfilmentOrderId"]},
            "ready for pickup",
        )
        await wms.rejected("fulfilment.ship_partial", line_payload(damage, 5), "left, not 5")
        assert await wms.news() == []


# -- ERP --------------------------------------------------------------------------------------


async def test_credit_memos_refund_partly_then_wholly(small_world: DemoWorld) -> None:
    order = first(
        small_world.erp_sales_orders,
        lambda s: s["terms"] == "prepaid" and s["financialStatus"] == "paid",
    )
    voided = first(small_world.erp_sales_orders, lambda s: s["financialStatus"] == "voided")
    total = Decimal(order["totals"]["total"])
    async with owner("erp", small_world) as erp:
        memo = {"salesOrderId": order["id"], "amount": "1.00", "reason": "goodwill"}
        assert "CM-" in await erp.accepted("credit_memo.issue", memo)
        part = await erp.record(order["id"])
        await erp.rejected("credit_memo.issue", {**memo, "returnRef": 7}, "payload.returnRef")
        rest = {**memo, "amount": f"{total - 1:.2f}", "reason": "return", "returnRef": "RMA-1"}
        await erp.accepted("credit_memo.issue", rest)
        whole = await erp.record(order["id"])
        events = await erp.news()
        await erp.rejected("credit_memo.issue", {**memo, "amount": "0.01"}, "0.00 left to credit")
        await erp.rejected("credit_memo.issue", {**memo, "salesOrderId": voided["id"]}, "nothing")
    assert part["financialStatus"] == "partially_refunded"
    assert whole["financialStatus"] == "refunded"
    assert [m["amount"] for m in whole["creditMemos"]] == ["1.00", f"{total - 1:.2f}"]
    assert [m["returnRef"] for m in whole["creditMemos"]] == [None, "RMA-1"]
    assert [(e["type"], e["data"]) for e in events][-1] == ("credit_memo.issued", whole)


async def test_price_confirm_keeps_and_price_adjust_changes_the_erp_price(
    small_world: DemoWorld,
) -> None:
    (planted,) = small_world.planted_of("price_mismatch")
    erp_order = first(small_world.erp_sales_orders, lambda s: s["id"] == planted.record_ref)
    storefront = first(small_world.storefront_orders, lambda o: o["id"] == planted.order_ref)
    index = int(planted.field.removeprefix("lines[").split("]")[0])
    erp_line, seen = erp_order["lines"][index], storefront["lines"][index]
    confirm = {"salesOrderId": erp_order["id"], "lineNo": erp_line["lineNo"]}
    async with owner("erp", small_world) as erp:
        await erp.rejected(
            "price.confirm", {**confirm, "unitPrice": seen["unitPrice"]}, "price.adjust"
        )
        await erp.accepted("price.confirm", {**confirm, "unitPrice": erp_line["unitPrice"]})
        confirmed = await erp.record(erp_order["id"])
        detail = await erp.accepted("price.adjust", {**confirm, "unitPrice": seen["unitPrice"]})
        adjusted = await erp.record(erp_order["id"])
        events = await erp.news()
        await erp.rejected("price.adjust", {**confirm, "unitPrice": seen["unitPrice"]}, "already")
        await erp.rejected(
            "price.adjust", {**confirm, "lineNo": 99, "unitPrice": "1.00"}, "no line 99"
        )
        await erp.rejected("price.adjust", {**confirm, "unitPrice": 12.5}, "decimal string")
    assert confirmed["lines"][index]["unitPrice"] == erp_line["unitPrice"]
    assert around_now(confirmed["lines"][index]["priceConfirmedAt"], small_world)
    assert adjusted["lines"][index]["unitPrice"] == seen["unitPrice"]
    assert f"from {erp_line['unitPrice']} to {seen['unitPrice']}" in detail
    # The ERP now agrees with what the customer saw, totals included.
    assert adjusted["totals"] == storefront["totals"]
    assert [e["type"] for e in events] == ["sales_order.updated", "sales_order.updated"]
    assert events[-1]["data"] == adjusted


async def test_erp_resync_resends_orders_and_items(small_world: DemoWorld) -> None:
    order, item = small_world.erp_sales_orders[0], small_world.erp_items[0]
    async with owner("erp", small_world) as erp:
        await erp.accepted("record.resync", {"recordId": order["id"]})
        await erp.accepted("record.resync", {"recordId": item["sku"]})
        await erp.rejected("record.resync", {"recordId": "SO-1"}, "no sales order or item")
        events = await erp.news()
    assert [(e["type"], e["data"]) for e in events] == [
        ("sales_order.updated", order),
        ("item.updated", item),
    ]


# -- storefront -------------------------------------------------------------------------------


async def test_reinstate_withdraws_a_late_cancellation(small_world: DemoWorld) -> None:
    order_id = planted_order(small_world, "cancelled_but_shipped")
    async with owner("storefront", small_world) as storefront:
        await storefront.accepted("order.reinstate", {"orderId": order_id})
        order = await storefront.record(order_id)
        (event,) = await storefront.news()
        await storefront.rejected("order.reinstate", {"orderId": order_id}, "not cancelled")
    assert (order["status"], order["cancelledAt"], order["cancelReason"]) == ("open", None, None)
    assert (event["type"], event["data"]) == ("order.updated", order)


async def test_returns_notifications_and_a_late_sync(small_world: DemoWorld) -> None:
    late = planted_order(small_world, "late_sync")
    cancelled = planted_order(small_world, "cancelled_but_shipped")
    async with owner("storefront", small_world) as storefront:
        opened = await storefront.accepted(
            "return.open", {"orderId": cancelled, "reason": "cancelled after shipment"}
        )
        await storefront.rejected(
            "return.open", {"orderId": cancelled, "reason": "again"}, "already has return"
        )
        await storefront.accepted("customer.notify", {"orderId": late, "message": "On its way"})
        await storefront.rejected("order.sync_fulfilment", {"orderId": late}, "cannot see")
        await storefront.accepted(
            "order.sync_fulfilment", {"orderId": late, "fulfilmentStatus": "shipped"}
        )
        await storefront.rejected(
            "order.sync_fulfilment",
            {"orderId": late, "fulfilmentStatus": "fulfilled"},
            "already shows fulfilled",
        )
        await storefront.rejected(
            "order.sync_fulfilment",
            {"orderId": cancelled, "fulfilmentStatus": "shipped"},
            "cancelled",
        )
        returned = await storefront.record(cancelled)
        synced = await storefront.record(late)
        events = await storefront.news()
    (entry,) = returned["returns"]
    assert entry["id"] in opened
    assert (entry["status"], entry["reason"]) == ("open", "cancelled after shipment")
    assert [li["sku"] for li in entry["lines"]] == [li["sku"] for li in returned["lines"]]
    (note,) = synced["notifications"]
    assert (note["message"], note["to"]) == ("On its way", synced["customer"]["email"])
    assert (synced["fulfilmentStatus"], synced["status"]) == ("fulfilled", "open")
    assert [(e["type"], e["recordId"]) for e in events] == [
        ("order.updated", cancelled),
        ("order.updated", late),
        ("order.updated", late),
    ]
    assert events[-1]["data"] == synced


async def test_sync_to_a_finished_pickup_closes_the_order(small_world: DemoWorld) -> None:
    (missed,) = small_world.reported_of("MISSED_PICKUP")
    async with owner("storefront", small_world) as storefront:
        await storefront.accepted(
            "order.sync_fulfilment",
            {"orderId": missed["orderRef"], "fulfilmentStatus": "picked_up"},
        )
        order = await storefront.record(missed["orderRef"])
        (event,) = await storefront.news()
        await storefront.accepted("record.resync", {"recordId": missed["orderRef"]})
        (again,) = await storefront.news()
        await storefront.rejected("record.resync", {"recordId": "SF-1"}, "no storefront order")
    assert (order["fulfilmentStatus"], order["status"]) == ("picked_up", "closed")
    assert (event["type"], again["type"], again["data"]) == ("order.closed", "order.updated", order)


# -- payments ---------------------------------------------------------------------------------


async def test_accepting_a_payout_variance_books_an_adjustment(small_world: DemoWorld) -> None:
    (planted,) = small_world.planted_of("payout_variance")
    payout_id = planted.record_ref
    matching = first(small_world.payouts, lambda p: p["id"] != payout_id and p["status"] == "paid")
    async with owner("payments", small_world) as payments:
        assert "investigation" in await payments.accepted(
            "payout.investigate", {"payoutId": payout_id}
        )
        await payments.rejected("payout.investigate", {"payoutId": payout_id}, "already")
        detail = await payments.accepted("payout.accept_variance", {"payoutId": payout_id})
        payout = await payments.record(payout_id)
        swept = (
            await payments.client.post(
                "/balance-transactions/by-payout", json={"payoutIds": [payout_id]}
            )
        ).json()["data"]
        events = await payments.news()
        await payments.rejected("payout.accept_variance", {"payoutId": payout_id}, "no variance")
        await payments.rejected(
            "payout.accept_variance", {"payoutId": matching["id"]}, "no variance"
        )
        await payments.rejected("payout.accept_variance", {"payoutId": "po_1"}, "no payout")
    adjustment = swept[-1]
    assert adjustment["id"] in detail
    assert (adjustment["type"], adjustment["payout"]) == ("adjustment", payout_id)
    assert sum(t["net"] for t in swept if t["type"] != "payout") == payout["amount"]
    assert payout["metadata"]["variance_accepted"] == str(adjustment["amount"])
    assert payout["metadata"]["investigation"] == "closed"
    assert [e["type"] for e in events] == ["payout.updated", "payout.updated"]
    assert events[-1]["data"] == payout


async def test_refunds_and_payments_resync(small_world: DemoWorld) -> None:
    charge = first(small_world.charges, lambda c: c["amount_refunded"] == 0)
    payout = small_world.payouts[0]
    async with owner("payments", small_world) as payments:
        await payments.accepted("refund.create", {"charge": charge["id"], "amount": 100})
        refunded = await payments.record(charge["id"], "/charges/batch")
        await payments.accepted("record.resync", {"recordId": charge["id"]})
        await payments.accepted("record.resync", {"recordId": payout["id"]})
        await payments.rejected("record.resync", {"recordId": "ch_0"}, "no charge or payout")
        events = await payments.news()
    assert refunded["amount_refunded"] == 100
    assert [(e["type"], e["data"]) for e in events] == [
        ("charge.refunded", refunded),
        ("charge.updated", refunded),
        ("payout.updated", payout),
    ]


# -- exactly once, for every command ----------------------------------------------------------


def every_accepted_command(w: DemoWorld) -> list[tuple[str, str, Record]]:
    (short,) = w.reported_of("SHORT_PICK")
    (damage,) = w.reported_of("DAMAGE")
    (missed,) = w.reported_of("MISSED_PICKUP")
    (mismatch,) = w.planted_of("price_mismatch")
    (variance,) = w.planted_of("payout_variance")
    late = planted_order(w, "late_sync")
    cancelled = planted_order(w, "cancelled_but_shipped")
    sales_order = first(w.erp_sales_orders, lambda s: s["id"] == mismatch.record_ref)
    storefront = first(w.storefront_orders, lambda o: o["id"] == mismatch.order_ref)
    index = int(mismatch.field.removeprefix("lines[").split("]")[0])
    price = {"salesOrderId": sales_order["id"], "lineNo": index + 1}
    stock = w.wms_stock[0]
    paid = first(w.charges, lambda c: c["amount_refunded"] == 0)
    missed_order = {"fulfilmentOrderId": missed["fulfilmentOrderId"]}
    held = first(w.wms_fulfilment_orders, lambda f: f["complianceHold"] is not None)
    return [
        ("wms", "fulfilment.ship_partial", line_payload(short)),
        ("wms", "fulfilment.backorder", line_payload(short)),
        ("wms", "fulfilment.substitute", line_payload(short)),
        ("wms", "fulfilment.cancel_line", line_payload(short)),
        ("wms", "fulfilment.replace", line_payload(damage)),
        ("wms", "fulfilment.ship_remainder", {"fulfilmentOrderId": damage["fulfilmentOrderId"]}),
        ("wms", "fulfilment.cancel_remainder", {"fulfilmentOrderId": short["fulfilmentOrderId"]}),
        ("wms", "pickup.extend_hold", {**missed_order, "days": 2}),
        ("wms", "pickup.cancel", missed_order),
        ("wms", "pickup.convert_to_ship", missed_order),
        ("wms", "compliance.release", {"fulfilmentOrderId": held["id"]}),
        ("wms", "inventory.cycle_count", {"sku": stock["sku"], "locationId": stock["locationId"]}),
        ("wms", "record.resync", {"recordId": short["id"]}),
        (
            "erp",
            "credit_memo.issue",
            {"salesOrderId": sales_order["id"], "amount": "2.00", "reason": "r"},
        ),
        ("erp", "price.confirm", {**price, "unitPrice": sales_order["lines"][index]["unitPrice"]}),
        ("erp", "price.adjust", {**price, "unitPrice": storefront["lines"][index]["unitPrice"]}),
        ("erp", "record.resync", {"recordId": sales_order["id"]}),
        ("storefront", "order.cancel", {"orderId": late, "reason": "customer"}),
        ("storefront", "customer.notify", {"orderId": late, "message": "Hello"}),
        ("storefront", "order.reinstate", {"orderId": cancelled}),
        ("storefront", "return.open", {"orderId": cancelled, "reason": "late"}),
        (
            "storefront",
            "order.sync_fulfilment",
            {"orderId": late, "fulfilmentStatus": "shipped"},
        ),
        ("storefront", "record.resync", {"recordId": late}),
        ("payments", "refund.create", {"charge": paid["id"], "amount": 50}),
        ("payments", "payout.investigate", {"payoutId": variance.record_ref}),
        ("payments", "payout.accept_variance", {"payoutId": variance.record_ref}),
        ("payments", "record.resync", {"recordId": variance.record_ref}),
    ]


def test_every_command_a_system_takes_is_exercised(small_world: DemoWorld) -> None:
    exercised: dict[str, set[str]] = {}
    for kind, command_type, _ in every_accepted_command(small_world):
        exercised.setdefault(kind, set()).add(command_type)
    for kind, factory in APP_FACTORIES.items():
        assert exercised[kind] == set(factory(small_world).state.commands.handlers), kind


async def test_each_command_applies_once_however_often_it_is_delivered(
    small_world: DemoWorld,
) -> None:
    for kind, command_type, payload in every_accepted_command(small_world):
        async with owner(kind, small_world) as system:
            first_answer = await system.send(command_type, payload, key="once")
            assert first_answer["status"] == "accepted", (command_type, first_answer)
            events = await system.news()
            assert events, command_type
            for _ in range(2):
                again = await system.send(command_type, payload, key="once")
                assert again == first_answer
            assert await system.news() == [], command_type
            (logged,) = await system.log()
        assert logged == {
            "idempotencyKey": "once",
            "commandId": first_answer["commandId"],
            "type": command_type,
            "payload": payload,
            "status": "accepted",
            "detail": first_answer["detail"],
            "receivedAt": logged["receivedAt"],
            "deliveries": 3,
            "applications": 1,
        }, command_type
