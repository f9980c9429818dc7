"""The demo WMS's floor: fulfilment orders and stock as they change under commands.

Every command checks everything first (raising CommandRejectedError with the reason) and only
then changes the records, keeping stock in step with them: `allocated` is what open fulfilment
orders still hold, `onHand` every unit in the building, `damaged` the broken ones among it.
Stock only ever changes by a movement (see movements.py), which goes on the change feed as it
happens, so replaying the feed's movements always gives the stock served.

A fulfilment line counts units: `quantity` still to fulfil (cancelled and substituted units
leave it), `picked` good units picked (shipped ones included), `shipped`, and the unresolved
problems: `short` (not found at picking), `damaged` (broken, out of the tote) and `backordered`
(waiting for a receipt). Units neither picked nor a problem are still on the shelf.

Trade (wholesale) orders also carry the retailer's paperwork: a compliance hold while the
retailer's routing or labelling requirements are not met, lifted by `compliance.release` or
lapsing once nothing is left to ship, and the advance ship notice (ASN), sent at shipping if
it had not gone out at packing.
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from omnigraph.demo.contract import (
    CommandRejectedError,
    ContractError,
    parse_timestamp,
    require_positive_int,
    require_record,
    require_str,
    resync_command,
)
from omnigraph.demo.drafts import OPEN_FULFILMENT_STATUSES, fulfilment_line
from omnigraph.demo.formats import iso
from omnigraph.demo.movements import (
    DISPOSITIONS,
    MOVEMENT_DETAILS,
    MOVEMENT_RECORD_TYPE,
    MOVEMENTS,
    SIGNED_MOVEMENTS,
    STOCK_BUCKETS,
    apply_movement,
    movement_event_type,
    movement_id,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from omnigraph.demo.contract import ChangeFeed, CommandHandler, JsonRecord
    from omnigraph.demo.world import DemoWorld

__all__ = ["MAX_HOLD_DAYS", "MAX_MOVEMENTS", "Warehouse"]

# Once goods have left (or the order is void) the floor can no longer change the order.
_SETTLED = frozenset(
    {"shipped", "delivered", "picked_up", "partially_returned", "returned", "cancelled"}
)
# Statuses in which something may already be in the tote.
_PICKING_STARTED = frozenset({"picking", "picked", "packed", "partially_shipped"})
_PACKED = frozenset({"packed", "partially_shipped"})
_PROBLEMS = ("short", "damaged", "backordered")
MAX_HOLD_DAYS = 14
MAX_MOVEMENTS = 500  # per `/_control/movements` request
_SHORT_WRITE_OFF = "short pick written off: the units were never on the shelf"
_FOUND_AT_SHIPPING = "units shipped that the WMS did not know it held"


def _open(line: JsonRecord) -> int:
    """Units the line still has to fulfil."""
    return int(line["quantity"] - line["shipped"])


def _in_hand(line: JsonRecord) -> int:
    """Good units picked and not yet shipped."""
    return int(line["picked"] - line["shipped"])


def _missing(line: JsonRecord) -> int:
    """Units not in hand: short, damaged, backordered or not yet picked."""
    return int(line["quantity"] - line["picked"])


def _on_shelf(line: JsonRecord) -> int:
    """Units not yet picked and not known to be a problem."""
    return _missing(line) - sum(int(line[problem]) for problem in _PROBLEMS)


def _require_at_most(order: JsonRecord, line: JsonRecord, left: int, units: int) -> None:
    if units > left:
        raise CommandRejectedError(f"{order['id']} has {left} of {line['sku']} left, not {units}")


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_timestamp(value: Any) -> bool:
    try:
        parse_timestamp(value) if isinstance(value, str) else None
    except ValueError:
        return False
    return isinstance(value, str)


def _style(item: JsonRecord) -> str:
    """`Merino Cardigan - Navy` -> `Merino Cardigan`: the colours of one style share it."""
    return str(item["name"]).rsplit(" - ", 1)[0]


class Warehouse:
    """The fulfilment orders, stock and exception reports one demo WMS serves, and its commands."""

    def __init__(self, world: DemoWorld, feed: ChangeFeed, now: Callable[[], datetime]) -> None:
        self.fulfilments = {o["id"]: o for o in copy.deepcopy(world.wms_fulfilment_orders)}
        self.stock = copy.deepcopy(world.wms_stock)
        self.movements = list(world.inventory_movements)  # recorded movements never change
        self._movement_count = len(self.movements)
        self.reports = {r["id"]: r for r in copy.deepcopy(world.reported_exceptions)}
        self._rows = {(row["sku"], row["locationId"]): row for row in self.stock}
        self._items = {item["sku"]: item for item in world.erp_items}
        self._locations = {location["id"]: location for location in world.wms_locations}
        # The WMS knows which ship-tos are trading partners, who expect an ASN.
        self._trade_orders = frozenset(
            order["id"] for order in world.storefront_orders if order["channel"] == "wholesale"
        )
        self._feed = feed
        self._now = now
        numbers = [
            int(shipment["id"].removeprefix("SH-"))
            for order in self.fulfilments.values()
            for shipment in order["shipments"]
        ]
        self._next_shipment = max(numbers, default=800000) + 1

    def commands(self) -> dict[str, CommandHandler]:
        """Every command the WMS carries out, by type."""
        return {
            "fulfilment.ship_partial": self.ship_partial,
            "fulfilment.backorder": self.backorder,
            "fulfilment.substitute": self.substitute,
            "fulfilment.cancel_line": self.cancel_line,
            "fulfilment.replace": self.replace,
            "fulfilment.ship_remainder": self.ship_remainder,
            "fulfilment.cancel_remainder": self.cancel_remainder,
            "pickup.extend_hold": self.extend_hold,
            "pickup.cancel": self.cancel_pickup,
            "pickup.convert_to_ship": self.convert_to_ship,
            "compliance.release": self.release_compliance_hold,
            "inventory.cycle_count": self.cycle_count,
            "record.resync": resync_command(
                self._feed,
                "fulfilment order or exception report",
                ("fulfilment_order.updated", "fulfilment_order", self.fulfilments),
                ("exception.reported", "exception_report", self.reports),
            ),
        }

    # -- line commands ----------------------------------------------------------------------------

    def ship_partial(self, payload: dict[str, Any]) -> str:
        """Ship what was picked; `quantity` units of the line are cancelled, its missing
        (short, damaged, backordered, unpicked) units first."""
        order, line, units = self._line_command(payload)
        self._require_ships(order)
        if order["status"] not in _PICKING_STARTED:
            raise CommandRejectedError(f"{order['id']} is {order['status']}; nothing is picked")
        _require_at_most(order, line, _open(line), units)
        # Cancelling more units than are missing puts picked ones back on the shelf.
        put_back = max(0, units - _missing(line))
        if sum(_in_hand(other) for other in order["lines"]) <= put_back:
            raise CommandRejectedError(
                f"nothing picked for {order['id']} would be left to ship; "
                "fulfilment.cancel_line cancels units without shipping"
            )
        before = order["status"]
        self._take_off(order, line, units, "cancelled")
        shipment = self._ship(
            order, {index: _in_hand(li) for index, li in enumerate(order["lines"])}
        )
        self._changed(order, before)
        shipped = sum(entry["quantity"] for entry in shipment["lines"])
        return (
            f"{shipment['id']} shipped the {shipped} units picked for {order['id']}; "
            f"{units} x {line['sku']} cancelled"
        )

    def backorder(self, payload: dict[str, Any]) -> str:
        """Open units wait for the next receipt, short ones first; the line stays open."""
        order, line, units = self._line_command(payload)
        _require_at_most(order, line, _open(line) - line["backordered"], units)
        self._release(order, line, units, ("short", "damaged"))
        line["backordered"] += units
        self._changed(order, order["status"])
        return f"{units} x {line['sku']} on {order['id']} backordered until the next receipt"

    def substitute(self, payload: dict[str, Any]) -> str:
        """Pick a SKU of the same style (else category) with free stock instead of open
        units of the line, its missing ones first."""
        order, line, units = self._line_command(payload)
        _require_at_most(order, line, _open(line), units)
        item = self._substitute_for(order, line["sku"], units)
        if item is None:
            raise CommandRejectedError(
                f"no SKU like {line['sku']} has {units} free at {order['locationId']}"
            )
        status = order["status"]
        self._take_off(order, line, units, "substituted")
        picked = 0 if status == "released" else units
        order["lines"].append(
            fulfilment_line(
                item["sku"],
                units,
                substitute_for=line["sku"],
                picked=picked,
                packed=picked if status in _PACKED else 0,
            )
        )
        added = order["lines"][-1]
        self._move("allocate", added["sku"], order["locationId"], units, **self._for(order))
        if picked:
            self._move(
                "pick", added["sku"], order["locationId"], picked, fulfilmentOrderId=order["id"]
            )
        self._changed(order, status)
        return (
            f"{units} x {item['sku']} ({item['name']}) picked for {order['id']} in place of "
            f"{line['sku']}"
        )

    def cancel_line(self, payload: dict[str, Any]) -> str:
        """Cancel units of a line, its problem units first."""
        order, line, units = self._line_command(payload)
        _require_at_most(order, line, _open(line), units)
        before = order["status"]
        self._take_off(order, line, units, "cancelled")
        self._changed(order, before)
        return f"{units} x {line['sku']} cancelled on {order['id']}"

    def replace(self, payload: dict[str, Any]) -> str:
        """Replace damaged units with good ones from the location's stock."""
        order, line, units = self._line_command(payload)
        if units > line["damaged"]:
            raise CommandRejectedError(
                f"{order['id']} has {line['damaged']} damaged x {line['sku']}, not {units}"
            )
        location = order["locationId"]
        row = self._rows[line["sku"], location]
        # Free stock already set aside the good units damaged lines will need: add them back.
        claims = sum(
            other["damaged"]
            for fulfilment in self._open_orders_at(location)
            for other in fulfilment["lines"]
            if other["sku"] == line["sku"]
        )
        free = row["onHand"] - row["allocated"] - row["damaged"] - row["qualityHold"] + claims
        if units > free:
            raise CommandRejectedError(
                f"only {max(free, 0)} x {line['sku']} free at {location}, not {units}"
            )
        line["damaged"] -= units
        line["picked"] += units
        if order["status"] in _PACKED:
            line["packed"] += units
        self._move("damage_disposal", line["sku"], location, units)  # the broken units
        self._move("pick", line["sku"], location, units, fulfilmentOrderId=order["id"])
        self._changed(order, order["status"])
        return (
            f"{units} x {line['sku']} replaced from stock at {location} on {order['id']}; "
            "the damaged units were written off"
        )

    # -- order commands ---------------------------------------------------------------------------

    def ship_remainder(self, payload: dict[str, Any]) -> str:
        """Pick what is still on the shelf and ship everything that is not a problem."""
        order = self._order(payload)
        self._require_on_floor(order)
        self._require_ships(order)
        shippable = {i: _in_hand(li) + _on_shelf(li) for i, li in enumerate(order["lines"])}
        if not any(shippable.values()):
            raise CommandRejectedError(
                f"nothing on {order['id']} can ship: its open units are short, damaged or "
                "backordered"
            )
        before = order["status"]
        for line in order["lines"]:
            picked = _on_shelf(line)
            if picked:
                line["picked"] += picked
                self._move(
                    "pick", line["sku"], order["locationId"], picked, fulfilmentOrderId=order["id"]
                )
        shipment = self._ship(order, shippable)
        self._changed(order, before)
        shipped = sum(entry["quantity"] for entry in shipment["lines"])
        return f"{shipment['id']} shipped the remaining {shipped} units of {order['id']}"

    def cancel_remainder(self, payload: dict[str, Any]) -> str:
        """Cancel every unit not yet shipped; the order closes with what it shipped."""
        order = self._order(payload)
        self._require_on_floor(order)
        units = sum(_open(line) for line in order["lines"])
        before = order["status"]
        for line in order["lines"]:
            self._take_off(order, line, _open(line), "cancelled")
        self._changed(order, before)
        return f"{units} units left on {order['id']} cancelled; it is now {order['status']}"

    # -- pickups ----------------------------------------------------------------------------------

    def extend_hold(self, payload: dict[str, Any]) -> str:
        """Keep a click-and-collect order at the store for `days` more days."""
        order = self._waiting_for_collection(payload)
        days = require_positive_int(payload, "days")
        if days > MAX_HOLD_DAYS:
            raise CommandRejectedError(f"a hold is extended by at most {MAX_HOLD_DAYS} days")
        now = self._now()
        held = order["pickupHoldUntil"]
        start = max(datetime.fromisoformat(held), now) if held else now
        order["pickupHoldUntil"] = iso(start + timedelta(days=days))
        self._changed(order, order["status"])
        return f"pickup hold on {order['id']} extended to {order['pickupHoldUntil']}"

    def cancel_pickup(self, payload: dict[str, Any]) -> str:
        """Cancel a click-and-collect order; its units go back on the store's shelf."""
        order = self._order(payload)
        if self._ships(order):
            raise CommandRejectedError(
                f"{order['id']} ships from {order['locationId']}; it is no pickup order"
            )
        self._require_unsettled(order)
        units = sum(_open(line) for line in order["lines"])
        before = order["status"]
        for line in order["lines"]:
            self._take_off(order, line, _open(line), "cancelled")
        order["status"] = "cancelled"
        order["pickupHoldUntil"] = None
        self._changed(order, before)
        return f"{order['id']} cancelled; {units} units restocked at {order['locationId']}"

    def convert_to_ship(self, payload: dict[str, Any]) -> str:
        """Send a click-and-collect order to the customer from the store instead."""
        order = self._waiting_for_collection(payload)
        before = order["status"]
        order["pickupHoldUntil"] = None
        shipment = self._ship(order, {i: _in_hand(li) for i, li in enumerate(order["lines"])})
        self._changed(order, before)
        return (
            f"{order['id']} converted to delivery: {shipment['id']} shipped from "
            f"{order['locationId']}"
        )

    # -- trade orders -----------------------------------------------------------------------------

    def release_compliance_hold(self, payload: dict[str, Any]) -> str:
        """The retailer's requirements are met: the held order may go on."""
        order = self._order(payload)
        hold = order["complianceHold"]
        if hold is None:
            raise CommandRejectedError(f"{order['id']} has no compliance hold")
        order["complianceHold"] = None
        self._changed(order, order["status"], "fulfilment_order.compliance_released")
        return f"compliance hold on {order['id']} released ({hold['reason']})"

    # -- stock and records ------------------------------------------------------------------------

    def cycle_count(self, payload: dict[str, Any]) -> str:
        """Count one SKU at one location: allocation is rebuilt from the open orders, and a
        count that finds fewer units than are held, damaged or on hold is corrected up."""
        sku, location = require_str(payload, "sku"), require_str(payload, "locationId")
        if location not in self._locations:
            raise CommandRejectedError(f"no location {location}")
        row = self._rows.get((sku, location))
        if row is None:
            raise CommandRejectedError(f"{location} does not stock {sku}")
        was = (row["onHand"], row["allocated"])
        allocated = sum(
            _open(line)
            for fulfilment in self._open_orders_at(location)
            for line in fulfilment["lines"]
            if line["sku"] == sku
        )
        if allocated != row["allocated"]:
            # Allocation drifted from the open orders: a correction no single order made.
            movement = "allocate" if allocated > row["allocated"] else "deallocate"
            drift = abs(allocated - row["allocated"])
            self._move(movement, sku, location, drift, fulfilmentOrderId=None, orderRef=None)
        counted = max(row["onHand"], row["allocated"] + row["damaged"] + row["qualityHold"])
        self._move("cycle_count", sku, location, counted - row["onHand"], countedQuantity=counted)
        row["asOf"] = iso(self._now())
        self._feed.append("stock.counted", "stock", f"{sku}@{location}", row)
        return (
            f"counted {sku} at {location}: onHand {row['onHand']} (was {was[0]}), "
            f"allocated {row['allocated']} (was {was[1]})"
        )

    # -- test switches (under /_control, not the contract) -----------------------------------------

    def append_movements(self, entries: Any) -> list[JsonRecord]:
        """Move stock as `entries` say (movement dicts without `id`; `occurredAt` defaults to
        now), in order, numbering them and putting each on the feed. All or nothing: a
        ContractError names the first entry that is malformed or would leave a bucket
        negative, and nothing is applied."""
        if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_MOVEMENTS:
            raise ContractError(
                400, "BAD_REQUEST", f"`movements` must be a list of 1 to {MAX_MOVEMENTS} movements"
            )
        scratch: dict[tuple[str, str], dict[str, int]] = {}
        checked = [self._checked(index, entry, scratch) for index, entry in enumerate(entries)]
        return [
            self._move(movement, sku, location, quantity, **details)
            for movement, sku, location, quantity, details in checked
        ]

    def append_malformed(self) -> JsonRecord:
        """Put a receipt on the feed that no ledger can apply: no `sku`, a string quantity."""
        self._movement_count += 1
        record: JsonRecord = {
            "id": movement_id(self._movement_count),
            "movement": "receipt",
            "locationId": next(iter(self._locations)),
            "quantity": "12",
            "occurredAt": self._feed.moment(),
            "expectedReceiptId": None,
        }
        return self._feed.append(
            movement_event_type("receipt"), MOVEMENT_RECORD_TYPE, record["id"], record
        )

    def _checked(
        self, index: int, entry: Any, scratch: dict[tuple[str, str], dict[str, int]]
    ) -> tuple[str, str, str, int, dict[str, Any]]:
        """One `/_control/movements` entry, checked and applied to `scratch` (the rows as the
        entries before it leave them)."""
        where = f"movements[{index}]"

        def refuse(message: str) -> ContractError:
            return ContractError(400, "BAD_MOVEMENT", f"{where}: {message}")

        if not isinstance(entry, dict):
            raise refuse("must be an object")
        movement = entry.get("movement")
        if movement not in MOVEMENTS:
            raise refuse(f"`movement` must be one of {', '.join(MOVEMENTS)}")
        carried = {"movement", "sku", "locationId", "quantity", "occurredAt"}
        unknown = sorted(set(entry) - carried - set(MOVEMENT_DETAILS[movement]))
        if unknown:
            raise refuse(f"a {movement} does not carry {', '.join(unknown)}")
        sku, location = entry.get("sku"), entry.get("locationId")
        if not isinstance(sku, str) or not isinstance(location, str):
            raise refuse("`sku` and `locationId` must be strings")
        key = (sku, location)
        if key not in self._rows:
            raise refuse(f"the WMS stocks no {sku} at {location}")
        row = scratch.setdefault(key, {bucket: self._rows[key][bucket] for bucket in STOCK_BUCKETS})
        details = {name: entry.get(name) for name in MOVEMENT_DETAILS[movement]}
        quantity = entry.get("quantity")
        if movement == "cycle_count":
            counted = details["countedQuantity"]
            if counted is not None:
                if not _is_count(counted):
                    raise refuse("`countedQuantity` must be a non-negative integer")
                if quantity is not None and quantity != counted - row["onHand"]:
                    raise refuse(
                        f"`quantity` must be countedQuantity less the {row['onHand']} on hand"
                    )
                quantity = counted - row["onHand"]
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            raise refuse("`quantity` must be an integer")
        if movement not in SIGNED_MOVEMENTS and quantity < 1:
            raise refuse(f"a {movement} moves a positive `quantity`")
        if movement == "adjustment" and quantity == 0:
            raise refuse("an adjustment changes onHand: `quantity` must not be 0")
        if movement == "cycle_count":
            details["countedQuantity"] = row["onHand"] + quantity
        if movement == "return_receipt" and details["disposition"] not in DISPOSITIONS:
            raise refuse(f"`disposition` must be one of {', '.join(DISPOSITIONS)}")
        for name in ("expectedAt", "occurredAt"):
            value = entry.get(name)
            if value is not None and not _is_timestamp(value):
                raise refuse(f"`{name}` must be an ISO 8601 date-time with an offset")
        if entry.get("occurredAt") is not None:
            details["occurredAt"] = entry["occurredAt"]
        apply_movement(row, {"movement": movement, "quantity": quantity, **details})
        negative = [bucket for bucket in STOCK_BUCKETS if row[bucket] < 0]
        if negative:
            raise refuse(f"would leave {negative[0]} at {row[negative[0]]} for {sku} at {location}")
        return str(movement), sku, location, quantity, details

    # -- checks -----------------------------------------------------------------------------------

    def _order(self, payload: dict[str, Any]) -> JsonRecord:
        return require_record(payload, "fulfilmentOrderId", self.fulfilments, "fulfilment order")

    def _line_command(self, payload: dict[str, Any]) -> tuple[JsonRecord, JsonRecord, int]:
        """The order, its line for `payload.sku` and `payload.quantity`, for a command on one
        line of an order still on the floor."""
        order = self._order(payload)
        sku = require_str(payload, "sku")
        units = require_positive_int(payload, "quantity")
        line = next((line for line in order["lines"] if line["sku"] == sku), None)
        if line is None:
            raise CommandRejectedError(f"{order['id']} has no line for {sku}")
        self._require_on_floor(order)
        return order, line, units

    def _require_unsettled(self, order: JsonRecord) -> None:
        if order["status"] in _SETTLED:
            raise CommandRejectedError(f"{order['id']} is {order['status']}")

    def _require_on_floor(self, order: JsonRecord) -> None:
        self._require_unsettled(order)
        if order["status"] == "ready_for_pickup":
            raise CommandRejectedError(
                f"{order['id']} is ready for pickup at {order['locationId']}; use a pickup command"
            )

    def _ships(self, order: JsonRecord) -> bool:
        return bool(self._locations[order["locationId"]]["type"] == "warehouse")

    def _require_ships(self, order: JsonRecord) -> None:
        if not self._ships(order):
            raise CommandRejectedError(
                f"{order['id']} is collected from {order['locationId']}; it does not ship"
            )

    def _waiting_for_collection(self, payload: dict[str, Any]) -> JsonRecord:
        order = self._order(payload)
        if order["status"] != "ready_for_pickup":
            raise CommandRejectedError(
                f"{order['id']} is {order['status']}, not waiting for collection"
            )
        return order

    def _substitute_for(self, order: JsonRecord, sku: str, units: int) -> JsonRecord | None:
        """The SKU the floor would pick instead: same style first, then same category, the
        one with most free stock at the order's location (ties by SKU)."""
        original = self._items.get(sku)
        if original is None:
            return None
        taken = {line["sku"] for line in order["lines"]}
        candidates = []
        for item in self._items.values():
            row = self._rows.get((item["sku"], order["locationId"]))
            if item["sku"] in taken or row is None or item["category"] != original["category"]:
                continue
            free = row["onHand"] - row["allocated"] - row["damaged"] - row["qualityHold"]
            if free >= units:
                candidates.append((_style(item) != _style(original), -free, item["sku"], item))
        return min(candidates, key=lambda c: c[:3])[3] if candidates else None

    # -- effects ----------------------------------------------------------------------------------

    def _open_orders_at(self, location: str) -> list[JsonRecord]:
        return [
            order
            for order in self.fulfilments.values()
            if order["locationId"] == location and order["status"] in OPEN_FULFILMENT_STATUSES
        ]

    def _write_off(self, sku: str, location: str, units: int) -> None:
        units = min(units, self._rows[sku, location]["onHand"])
        if units > 0:
            self._move("adjustment", sku, location, -units, reason=_SHORT_WRITE_OFF)

    def _release(
        self,
        order: JsonRecord,
        line: JsonRecord,
        units: int,
        problems: tuple[str, ...] = _PROBLEMS,
    ) -> None:
        """Free `units` open units of a line from the state they are in: `problems` first
        (short units are written off, as they were never on the shelf), then units still on
        the shelf, then picked units, which go back to it."""
        left = units
        on_shelf = _on_shelf(line)
        for problem in problems:
            taken = min(left, line[problem])
            line[problem] -= taken
            left -= taken
            if problem == "short" and taken:
                self._write_off(line["sku"], order["locationId"], taken)
        left -= min(left, on_shelf)
        line["picked"] -= left
        line["packed"] = min(line["packed"], line["picked"])

    def _take_off(self, order: JsonRecord, line: JsonRecord, units: int, into: str) -> None:
        """Take `units` open units off a line for good; `into` says why (cancelled or
        substituted). The location stops holding them."""
        self._release(order, line, units)
        line["quantity"] -= units
        line[into] += units
        released = min(units, self._rows[line["sku"], order["locationId"]]["allocated"])
        if released > 0:
            self._move("deallocate", line["sku"], order["locationId"], released, **self._for(order))
        self._settle(order)

    def _ship(self, order: JsonRecord, units: dict[int, int]) -> JsonRecord:
        """A shipment of `units` per line index; stock leaves the building."""
        number = self._next_shipment
        self._next_shipment += 1
        carrier = order["shipments"][-1]["carrier"] if order["shipments"] else "DPD"
        if carrier == "store-collection":
            carrier = "DPD"
        shipment: JsonRecord = {
            "id": f"SH-{number}",
            "carrier": carrier,
            "trackingNumber": f"{number:014d}",
            "shippedAt": iso(self._now()),
            "deliveredAt": None,
            "lines": [],
        }
        for index, count in units.items():
            if count < 1:
                continue
            line = order["lines"][index]
            line["shipped"] += count
            line["picked"] = max(line["picked"], line["shipped"])
            line["packed"] = max(line["packed"], line["shipped"])
            self._ship_units(order, line["sku"], count, shipment["id"])
            shipment["lines"].append({"sku": line["sku"], "quantity": count})
        order["shipments"].append(shipment)
        if order["orderRef"] in self._trade_orders and order["asnSentAt"] is None:
            order["asnSentAt"] = shipment["shippedAt"]  # the retailer hears before the truck
        self._settle(order)
        return shipment

    def _ship_units(self, order: JsonRecord, sku: str, units: int, shipment_id: str) -> None:
        """Units of an order leave the building. Where the row has lost track of them (it
        holds fewer on hand or allocated than leave), they are booked in first."""
        location = order["locationId"]
        row = self._rows[sku, location]
        if row["allocated"] < units:
            self._move("allocate", sku, location, units - row["allocated"], **self._for(order))
        if row["onHand"] < units:
            missing = units - row["onHand"]
            self._move("adjustment", sku, location, missing, reason=_FOUND_AT_SHIPPING)
        self._move(
            "ship", sku, location, units, fulfilmentOrderId=order["id"], shipmentId=shipment_id
        )

    @staticmethod
    def _for(order: JsonRecord) -> dict[str, Any]:
        """The details naming the order an allocation serves."""
        return {"fulfilmentOrderId": order["id"], "orderRef": order["orderRef"]}

    def _move(
        self, movement: str, sku: str, location: str, quantity: int, **details: Any
    ) -> JsonRecord:
        """Move stock: change the row and put the movement on the change feed."""
        self._movement_count += 1
        record: JsonRecord = {
            "id": movement_id(self._movement_count),
            "movement": movement,
            "sku": sku,
            "locationId": location,
            "quantity": quantity,
            "occurredAt": details.pop("occurredAt", None) or self._feed.moment(),
        }
        record.update((name, details.get(name)) for name in MOVEMENT_DETAILS[movement])
        apply_movement(self._rows[sku, location], record)
        self.movements.append(record)
        self._feed.append(movement_event_type(movement), MOVEMENT_RECORD_TYPE, record["id"], record)
        return record

    def _settle(self, order: JsonRecord) -> None:
        """The status the lines now imply: closed once nothing is open, else part-shipped.
        A compliance hold concerns goods still in the building: it lapses with the last."""
        lines = order["lines"]
        shipped = any(line["shipped"] for line in lines)
        if not any(_open(line) for line in lines):
            order["status"] = "shipped" if shipped else "cancelled"
            order["complianceHold"] = None
        elif shipped:
            order["status"] = "partially_shipped"

    def _changed(self, order: JsonRecord, before: str, event_type: str | None = None) -> None:
        """Put the order's new shape on the feed: `fulfilment_order.<status>` when its status
        changed, else `event_type` or `fulfilment_order.updated`."""
        order["updatedAt"] = iso(self._now())
        if order["status"] != before:
            event_type = f"fulfilment_order.{order['status']}"
        self._feed.append(
            event_type or "fulfilment_order.updated", "fulfilment_order", order["id"], order
        )
