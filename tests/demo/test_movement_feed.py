"""The demo WMS keeps its movement ledger true as it runs: every command that moves stock puts
its movements on the feed, so replaying the feed always gives `/stock/query`. Its test
switches move stock on demand and make the feed misbehave as real ones do."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from omnigraph.demo import STOCK_BUCKETS, DemoWorld, create_wms_app, replay_movements

from .test_commands import every_accepted_command, line_payload

Record = dict[str, Any]


class Floor:
    """A demo WMS under test, read the way a ledger reader reads it."""

    def __init__(self, client: httpx.AsyncClient, world: DemoWorld) -> None:
        self.client = client
        self.world = world
        self._keys = itertools.count(1)

    async def command(self, command_type: str, payload: Record) -> Record:
        response = await self.client.post(
            "/commands",
            json={"type": command_type, "payload": payload},
            headers={"Idempotency-Key": f"{command_type}-{next(self._keys)}"},
        )
        assert response.status_code == 202, response.text
        answer: Record = response.json()
        return answer

    async def feed(self, after: int = 0, limit: int = 500) -> list[Record]:
        events: list[Record] = []
        cursor = str(after)
        while True:
            page = await self.client.get("/changes", params={"after": cursor, "limit": limit})
            body = page.raise_for_status().json()
            events += body["events"]
            cursor = body["nextCursor"]
            if not body["hasMore"]:
                return events

    async def movements(self, after: int = 0) -> list[Record]:
        events = await self.feed(after)
        return [e["data"] for e in events if e["recordType"] == "inventory_movement"]

    async def stock(self) -> list[Record]:
        skus = [item["sku"] for item in self.world.erp_items]
        answer = await self.client.post("/stock/query", json={"skus": skus})
        rows: list[Record] = answer.json()["data"]
        return rows

    async def row(self, sku: str, location: str) -> Record:
        body = {"skus": [sku], "locationIds": [location]}
        (row,) = (await self.client.post("/stock/query", json=body)).json()["data"]
        return dict(row)

    async def assert_ledger_is_true(self) -> None:
        """Replaying the whole feed's movements gives every stock row served."""
        replayed = replay_movements(await self.movements())
        for row in await self.stock():
            key = (row["sku"], row["locationId"])
            assert replayed[key] == {bucket: row[bucket] for bucket in STOCK_BUCKETS}, key

    async def move(self, *movements: Record) -> httpx.Response:
        return await self.client.post("/_control/movements", json={"movements": list(movements)})

    async def fault(self, fault: str) -> httpx.Response:
        return await self.client.post("/_control/feed-fault", json={"fault": fault})


@asynccontextmanager
async def floor(world: DemoWorld) -> AsyncIterator[Floor]:
    transport = httpx.ASGITransport(app=create_wms_app(world))
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
        yield Floor(client, world)


def buckets(row: Record) -> dict[str, int]:
    return {bucket: row[bucket] for bucket in STOCK_BUCKETS}


# -- commands -------------------------------------------------------------------------------------

# The movements each command that moves stock puts on the feed, in the small world.
MOVED_BY = {
    "fulfilment.ship_partial": {"adjustment", "deallocate", "ship"},
    "fulfilment.backorder": {"adjustment"},
    "fulfilment.substitute": {"adjustment", "deallocate", "allocate", "pick"},
    "fulfilment.cancel_line": {"adjustment", "deallocate"},
    "fulfilment.replace": {"damage_disposal", "pick"},
    "fulfilment.ship_remainder": {"ship"},  # everything open was in the tote already
    "fulfilment.cancel_remainder": {"adjustment", "deallocate"},
    "pickup.cancel": {"deallocate"},
    "pickup.convert_to_ship": {"ship"},
    "inventory.cycle_count": {"cycle_count"},
}


async def test_every_command_that_moves_stock_puts_its_movements_on_the_feed(
    small_world: DemoWorld,
) -> None:
    start = len(small_world.events["wms"])
    commands = [(t, p) for kind, t, p in every_accepted_command(small_world) if kind == "wms"]
    for command_type, payload in commands:
        async with floor(small_world) as wms:
            before = {(r["sku"], r["locationId"]): buckets(r) for r in await wms.stock()}
            answer = await wms.command(command_type, payload)
            assert answer["status"] == "accepted", answer
            moved = await wms.movements(after=start)
            assert {m["movement"] for m in moved} == MOVED_BY.get(command_type, set()), command_type
            # The movements account for exactly what changed.
            changed = {
                (r["sku"], r["locationId"]): buckets(r)
                for r in await wms.stock()
                if buckets(r) != before[r["sku"], r["locationId"]]
            }
            for key, change in replay_movements(moved).items():
                after = {b: before[key][b] + change[b] for b in STOCK_BUCKETS}
                assert changed.pop(key, before[key]) == after, (command_type, key)
            assert changed == {}, command_type
            await wms.assert_ledger_is_true()
            numbers = [int(m["id"].removeprefix("MOV-")) for m in moved]
            first = len(small_world.inventory_movements) + 1
            assert numbers == list(range(first, first + len(moved)))


async def test_shipping_and_cancelling_name_the_order_and_the_shipment(
    small_world: DemoWorld,
) -> None:
    (short,) = small_world.reported_of("SHORT_PICK")
    order = next(
        o for o in small_world.wms_fulfilment_orders if o["id"] == short["fulfilmentOrderId"]
    )
    start = len(small_world.events["wms"])
    async with floor(small_world) as wms:
        await wms.command("fulfilment.ship_partial", line_payload(short))
        moved = await wms.movements(after=start)
        (shipment,) = (
            await wms.client.post("/fulfilment-orders/batch", json={"ids": [order["id"]]})
        ).json()["data"][0]["shipments"][len(order["shipments"]) :]
    by_kind = {m["movement"]: m for m in moved}
    assert by_kind["adjustment"]["quantity"] == -short["quantity"]  # never on the shelf
    assert by_kind["deallocate"]["quantity"] == short["quantity"]
    assert (by_kind["deallocate"]["fulfilmentOrderId"], by_kind["deallocate"]["orderRef"]) == (
        order["id"],
        order["orderRef"],
    )
    ships = [m for m in moved if m["movement"] == "ship"]
    assert sorted((m["sku"], m["quantity"]) for m in ships) == sorted(
        (line["sku"], line["quantity"]) for line in shipment["lines"]
    )
    assert {(m["shipmentId"], m["fulfilmentOrderId"]) for m in ships} == {
        (shipment["id"], order["id"])
    }


async def test_a_busy_day_on_the_floor_keeps_the_ledger_true(world: DemoWorld) -> None:
    """Many commands on one WMS, accepted or not, each on what the others left."""
    start = len(world.events["wms"])
    async with floor(world) as wms:
        resolutions = itertools.cycle(
            ["fulfilment.backorder", "fulfilment.substitute", "fulfilment.cancel_line"]
        )
        for report in world.reported_of("SHORT_PICK"):
            await wms.command(next(resolutions), line_payload(report))
            await wms.command("fulfilment.ship_partial", line_payload(report, 1))
        for report in world.reported_of("DAMAGE"):
            await wms.command("fulfilment.replace", line_payload(report))
            await wms.command(
                "fulfilment.ship_remainder", {"fulfilmentOrderId": report["fulfilmentOrderId"]}
            )
        for index, report in enumerate(world.reported_of("MISSED_PICKUP")):
            pickup = "pickup.cancel" if index % 2 else "pickup.convert_to_ship"
            await wms.command(pickup, {"fulfilmentOrderId": report["fulfilmentOrderId"]})
        await wms.assert_ledger_is_true()
        for status, remainder in [
            ("picking", "fulfilment.ship_remainder"),  # picks what is still on the shelf
            ("packed", "fulfilment.ship_remainder"),
            ("released", "fulfilment.cancel_remainder"),
            ("picked", "fulfilment.cancel_remainder"),
        ]:
            orders = [o for o in world.wms_fulfilment_orders if o["status"] == status]
            for order in orders[:2]:
                await wms.command(remainder, {"fulfilmentOrderId": order["id"]})
        for row in [r for r in world.wms_stock if r["allocated"]][:5]:
            await wms.command(
                "inventory.cycle_count", {"sku": row["sku"], "locationId": row["locationId"]}
            )
        await wms.assert_ledger_is_true()
        moved = {m["movement"] for m in await wms.movements(after=start)}
    assert moved >= {"pick", "ship", "deallocate", "allocate", "adjustment", "cycle_count"}


async def test_a_cycle_count_books_what_it_corrects(small_world: DemoWorld) -> None:
    row = next(r for r in small_world.wms_stock if r["allocated"] > 0)
    sku, location = row["sku"], row["locationId"]
    start = len(small_world.events["wms"])
    async with floor(small_world) as wms:
        # A test moves stock the WMS cannot account for: 5 more allocated, 3 fewer on hand.
        moved = await wms.move(
            {"movement": "allocate", "sku": sku, "locationId": location, "quantity": 5},
            {
                "movement": "adjustment",
                "sku": sku,
                "locationId": location,
                "quantity": -min(3, row["onHand"]),
                "reason": "test",
            },
        )
        assert moved.status_code == 200, moved.text
        await wms.command("inventory.cycle_count", {"sku": sku, "locationId": location})
        counted = await wms.row(sku, location)
        *_, release, count = await wms.movements(after=start)
        await wms.assert_ledger_is_true()
    assert (release["movement"], release["quantity"]) == ("deallocate", 5)
    assert (release["fulfilmentOrderId"], release["orderRef"]) == (None, None)
    assert counted["allocated"] == row["allocated"]
    assert count["movement"] == "cycle_count"
    assert count["countedQuantity"] == counted["onHand"]
    assert count["quantity"] == counted["onHand"] - (row["onHand"] - min(3, row["onHand"]))


def open_expected_receipt(world: DemoWorld, sku: str, location: str) -> str:
    """An expected receipt for the row not yet received in full."""
    left: dict[str, int] = {}
    for m in world.inventory_movements:
        if (m["sku"], m["locationId"]) != (sku, location) or not m.get("expectedReceiptId"):
            continue
        sign = 1 if m["movement"] == "expected_receipt" else -1
        left[m["expectedReceiptId"]] = left.get(m["expectedReceiptId"], 0) + sign * m["quantity"]
    return next(document for document, units in left.items() if units > 0)


# -- moving stock on demand ---------------------------------------------------------------------


async def test_control_movements_move_stock_and_go_on_the_feed(small_world: DemoWorld) -> None:
    row = next(r for r in small_world.wms_stock if r["locationId"] == "dc-north" and r["incoming"])
    sku, location = row["sku"], row["locationId"]
    order = open_expected_receipt(small_world, sku, location)
    here = {"sku": sku, "locationId": location}
    start = len(small_world.events["wms"])
    async with floor(small_world) as wms:
        answer = await wms.move(
            {**here, "movement": "receipt", "quantity": 1, "expectedReceiptId": order},
            {
                **here,
                "movement": "return_receipt",
                "quantity": 2,
                "orderRef": "SF-1",
                "fulfilmentOrderId": None,
                "disposition": "inspect",
            },
            {**here, "movement": "quality_release", "quantity": 2, "reason": "passed"},
            {**here, "movement": "cycle_count", "countedQuantity": row["onHand"] + 10},
            {
                **here,
                "movement": "transfer_out",
                "quantity": 4,
                "transferId": "TR-T",
                "toLocationId": "store-london",
                "occurredAt": "2026-11-19T08:00:00+00:00",
            },
        )
        assert answer.status_code == 200, answer.text
        applied = answer.json()["data"]
        events = await wms.feed(after=start)
        after = await wms.row(sku, location)
        await wms.assert_ledger_is_true()
    first = len(small_world.inventory_movements) + 1
    assert [m["id"] for m in applied] == [f"MOV-{n:07d}" for n in range(first, first + 5)]
    assert [e["data"] for e in events] == applied
    assert [e["type"] for e in events] == [f"inventory.{m['movement']}" for m in applied]
    assert {e["recordType"] for e in events} == {"inventory_movement"}
    count = applied[3]
    assert (count["quantity"], count["countedQuantity"]) == (7, row["onHand"] + 10)
    assert applied[4]["occurredAt"] == "2026-11-19T08:00:00+00:00"
    assert buckets(after) == {
        **buckets(row),
        "onHand": row["onHand"] + 10 - 4,
        "incoming": row["incoming"] - 1,
    }


@pytest.mark.parametrize(
    ("movement", "code_says"),
    [
        ({"movement": "teleport", "quantity": 1}, "`movement` must be one of"),
        ({"movement": "receipt", "quantity": 0}, "positive `quantity`"),
        ({"movement": "receipt", "quantity": "1"}, "must be an integer"),
        ({"movement": "adjustment", "quantity": 0, "reason": "x"}, "must not be 0"),
        ({"movement": "ship", "quantity": 1, "colour": "red"}, "does not carry colour"),
        ({"movement": "return_receipt", "quantity": 1, "disposition": "lost"}, "`disposition`"),
        ({"movement": "receipt", "quantity": 1, "occurredAt": "yesterday"}, "`occurredAt`"),
        ({"movement": "damage_disposal", "quantity": 10_000}, "would leave onHand at"),
        ({"movement": "receipt", "quantity": 1, "sku": "SKU-9999"}, "stocks no SKU-9999"),
    ],
)
async def test_control_movements_refuse_what_cannot_apply_and_apply_nothing(
    small_world: DemoWorld, movement: Record, code_says: str
) -> None:
    good = {"movement": "receipt", "sku": "SKU-0001", "locationId": "dc-north", "quantity": 5}
    bad = {"sku": "SKU-0001", "locationId": "dc-north", **movement}
    async with floor(small_world) as wms:
        before = await wms.row("SKU-0001", "dc-north")
        answer = await wms.move(good, bad)
        assert await wms.row("SKU-0001", "dc-north") == before
        assert await wms.feed(after=len(small_world.events["wms"])) == []
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "BAD_MOVEMENT"
    assert answer.json()["error"]["message"].startswith("movements[1]: ")
    assert code_says in answer.json()["error"]["message"]


async def test_control_movements_take_a_list_of_movements(small_world: DemoWorld) -> None:
    async with floor(small_world) as wms:
        for body in ({}, {"movements": []}, {"movements": {}}, {"movements": [{}] * 501}):
            answer = await wms.client.post("/_control/movements", json=body)
            assert answer.status_code == 400, body
            assert answer.json()["error"]["code"] in {"BAD_REQUEST", "BAD_MOVEMENT"}


# -- feed faults ----------------------------------------------------------------------------------


async def test_a_gap_skips_one_sequence_number_and_loses_nothing(small_world: DemoWorld) -> None:
    last = small_world.events["wms"][-1]["sequence"]
    receipt = {"movement": "receipt", "sku": "SKU-0001", "locationId": "dc-north", "quantity": 1}
    async with floor(small_world) as wms:
        assert (await wms.fault("gap")).json() == {"fault": "gap"}
        await wms.move(receipt, receipt)
        events = await wms.feed(limit=97)
        tail = await wms.feed(after=last + 1)
        await wms.assert_ledger_is_true()
    assert [e["sequence"] for e in events[-2:]] == [last + 2, last + 3]
    assert [e["id"] for e in events[-2:]] == [f"evt_wms_{last + 2}", f"evt_wms_{last + 3}"]
    assert events[:-2] == small_world.events["wms"]
    assert tail == events[-2:]  # a cursor inside the gap reads on from it


async def test_a_malformed_movement_is_published_but_moves_nothing(small_world: DemoWorld) -> None:
    start = len(small_world.events["wms"])
    receipt = {"movement": "receipt", "sku": "SKU-0001", "locationId": "dc-north", "quantity": 1}
    async with floor(small_world) as wms:
        before = await wms.stock()
        assert (await wms.fault("malformed")).status_code == 200
        assert await wms.stock() == before
        await wms.move(receipt)
        (malformed, good) = await wms.feed(after=start)
    assert (malformed["type"], malformed["recordType"]) == (
        "inventory.receipt",
        "inventory_movement",
    )
    assert "sku" not in malformed["data"]
    assert not isinstance(malformed["data"]["quantity"], int)
    number = int(malformed["recordId"].removeprefix("MOV-"))
    assert number == len(small_world.inventory_movements) + 1
    assert good["recordId"] == f"MOV-{number + 1:07d}"


async def test_redelivery_sends_the_last_events_again_once(small_world: DemoWorld) -> None:
    feed = small_world.events["wms"]
    async with floor(small_world) as wms:
        first = (await wms.client.get("/changes", params={"limit": 10})).json()
        cursor = first["nextCursor"]
        assert (await wms.fault("redeliver")).json() == {"fault": "redeliver"}
        again = (await wms.client.get("/changes", params={"after": cursor, "limit": 10})).json()
        then = (
            await wms.client.get("/changes", params={"after": again["nextCursor"], "limit": 10})
        ).json()
    assert first["events"] == feed[:10]
    assert again["events"] == feed[7:10] + feed[10:20]  # the last three seen, then the page
    assert (again["nextCursor"], again["hasMore"]) == ("20", True)
    assert then["events"] == feed[20:30]


async def test_an_unknown_fault_is_refused(small_world: DemoWorld) -> None:
    async with floor(small_world) as wms:
        answer = await wms.fault("flood")
    assert answer.status_code == 400
    assert "gap, malformed, redeliver" in answer.json()["error"]["message"]
