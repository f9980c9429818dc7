"""The demo WMS's inventory history: a believable movement ledger that ends at its snapshot.

`FloorLog` takes down what the floor did to stock while `lifecycle.OrderBook` plays the orders:
allocations at release, picks, shipments and collections, cancellations, damage found at
picking or packing, returns received. `write_stock_history` then writes around it, from a
random stream of its own, what a warehouse also lives through over the same weeks: opening
receipts, purchase orders announced and received (some still open), transfers from the DC to
the stores (settled and in transit), quality holds and releases, damage written off,
adjustments and cycle counts. Every row ends exactly at the snapshot, and free stock (onHand
less allocated, damaged and held units) never dips below zero on the way.

The history is planned backwards from the snapshot: walking a row's movements from the anchor
back to its opening receipt, the free stock before each movement follows from the free stock
after it. Where the walk finds more free stock than the row would carry, a delivery landed in
between (a purchase order at the DC, a transfer at a store); where it finds less than nothing,
a cycle count found units missing. What is left at the start is the opening receipt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from omnigraph.demo.catalogue import LOCATIONS
from omnigraph.demo.formats import iso
from omnigraph.demo.movements import (
    MOVEMENT_DETAILS,
    MOVEMENT_RECORD_TYPE,
    STOCK_BUCKETS,
    apply_movement,
    free_stock_change,
    movement_event_type,
    movement_id,
)

if TYPE_CHECKING:
    import random

    from omnigraph.demo.recorder import FeedRecorder

__all__ = ["HISTORY_DAYS", "FloorLog", "write_stock_history"]

HISTORY_DAYS = 46  # the opening receipts land the day before the first order could be placed
_WAREHOUSE = str(next(loc["id"] for loc in LOCATIONS if loc["type"] == "warehouse"))
_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)
_CASE = 12  # suppliers deliver whole cases
_HELD_RETURNS = 4 * _DAY  # a return this recent may still sit in inspection or among the damaged
_DISPOSITION_WEIGHTS = {"restock": 55, "restock_b": 15, "inspect": 20, "damaged": 10}
_COUNT_DIFFERENCES = ((-3, -2, -1, 0, 1, 2, 3), (1, 3, 6, 12, 5, 2, 1))
_GAINS = ("found in another bin", "supplier sent more than invoiced")
_LOSSES = ("shrinkage", "sample taken for photography", "missing at putaway")
_HOLDS = (
    "awaiting QA sign-off on a new supplier batch",
    "colour variance reported: batch under review",
    "mislabelled size tickets",
    "care labels missing",
)
_RELEASES = ("QA passed", "relabelled and released", "batch checked: no fault found")
_INSPECTED = "return inspected: fit to sell"


@dataclass(eq=False)
class _Document:
    """A purchase order or a transfer; numbered once the history is complete, oldest first."""

    prefix: str
    opened: datetime
    id: str = ""


@dataclass(eq=False)
class _Move:
    """A movement being planned; `document` fills its purchase order or transfer ids."""

    moment: datetime
    movement: str
    sku: str
    location: str
    quantity: int
    details: dict[str, Any] = field(default_factory=dict)
    document: _Document | None = None
    # A choice of the plan, dropped (with its partner) if free stock cannot carry it.
    optional: bool = False
    partner: _Move | None = None

    @property
    def free(self) -> int:
        """How this movement changes free stock."""
        return free_stock_change(
            {"movement": self.movement, "quantity": self.quantity, **self.details}
        )

    def data(self, number: int) -> dict[str, Any]:
        """The movement as the WMS publishes it."""
        record: dict[str, Any] = {
            "id": movement_id(number),
            "movement": self.movement,
            "sku": self.sku,
            "locationId": self.location,
            "quantity": self.quantity,
            "occurredAt": iso(self.moment),
        }
        document = self.document.id if self.document else None
        for name in MOVEMENT_DETAILS[self.movement]:
            if name in {"expectedReceiptId", "transferId"}:
                record[name] = document
            else:
                record[name] = self.details.get(name)
        return record


@dataclass
class FloorLog:
    """What the warehouse floor did to stock while the orders were played, in story order."""

    moves: list[_Move] = field(default_factory=list)

    def allocate(self, fulfilment: dict[str, Any], moment: datetime) -> None:
        """A released order's lines are committed at its location."""
        for line in fulfilment["lines"]:
            self._add(moment, "allocate", fulfilment, line["sku"], line["quantity"])

    def pick(self, fulfilment: dict[str, Any], moment: datetime) -> None:
        """The good units picked so far for each line."""
        for line in fulfilment["lines"]:
            if line["picked"]:
                self._add(moment, "pick", fulfilment, line["sku"], line["picked"])

    def ship(self, fulfilment: dict[str, Any], shipment: dict[str, Any], moment: datetime) -> None:
        """A shipment (or a store collection) leaves the building."""
        for entry in shipment["lines"]:
            self._add(
                moment,
                "ship",
                fulfilment,
                entry["sku"],
                entry["quantity"],
                shipmentId=shipment["id"],
            )

    def deallocate(self, fulfilment: dict[str, Any], moment: datetime) -> None:
        """A cancelled order releases every unit it held."""
        for line in fulfilment["lines"]:
            self._add(moment, "deallocate", fulfilment, line["sku"], line["quantity"])

    def damage(self, fulfilment: dict[str, Any], sku: str, units: int, moment: datetime) -> None:
        """Units of an order found broken on the floor (they stay allocated to it)."""
        self._add(moment, "damage", fulfilment, sku, units)

    def receive_return(
        self, fulfilment: dict[str, Any], line: dict[str, Any], moment: datetime
    ) -> dict[str, Any]:
        """A customer's returned line arrives; how it is graded is decided with the history.

        Returns the movement's details, whose `disposition` holds the grade once decided.
        """
        return self._add(
            moment,
            "return_receipt",
            fulfilment,
            line["sku"],
            line["returned"],
            orderRef=fulfilment["orderRef"],
            disposition="restock",
        )

    def _add(
        self,
        moment: datetime,
        movement: str,
        fulfilment: dict[str, Any],
        sku: str,
        quantity: int,
        **details: Any,
    ) -> dict[str, Any]:
        details = {"fulfilmentOrderId": fulfilment["id"], **details}
        if movement in {"allocate", "deallocate"}:
            details["orderRef"] = fulfilment["orderRef"]
        self.moves.append(_Move(moment, movement, sku, fulfilment["locationId"], quantity, details))
        return details


@dataclass(eq=False)
class _Row:
    """One stock row being planned: where it must end, and the movements it has so far."""

    index: int
    final: dict[str, Any]
    opened: datetime
    cap: int  # most free stock the row carries after a delivery
    low: int  # free stock a delivery is ordered down to
    moves: list[_Move] = field(default_factory=list)
    open_order: _Move | None = None  # the expected receipt of a purchase order still open
    planned: list[_Move] = field(default_factory=list)  # in order, once walked

    @property
    def sku(self) -> str:
        return str(self.final["sku"])

    @property
    def location(self) -> str:
        return str(self.final["locationId"])

    @property
    def store(self) -> bool:
        return self.location != _WAREHOUSE

    @property
    def final_free(self) -> int:
        row = self.final
        return int(row["onHand"] - row["allocated"] - row["damaged"] - row["qualityHold"])


class _History:
    """Plans every row's movements; see the module docstring for how."""

    def __init__(
        self, rng: random.Random, floor: FloorLog, stock: list[dict[str, Any]], anchor: datetime
    ) -> None:
        self.rng = rng
        self.anchor = anchor
        self.start = anchor - timedelta(days=HISTORY_DAYS)
        self.documents: list[_Document] = []
        self.rows: dict[tuple[str, str], _Row] = {}
        opening = self.start + 6 * _HOUR  # stock-take booked in from six in the morning
        for index, final in enumerate(stock):
            store = final["locationId"] != _WAREHOUSE
            self.rows[final["sku"], final["locationId"]] = _Row(
                index=index,
                final=final,
                opened=opening + timedelta(seconds=15 * index),
                cap=rng.randint(15, 40) if store else rng.randint(60, 240),
                low=rng.randint(0, 2) if store else rng.randint(0, 12),
            )
        for move in floor.moves:
            self.rows[move.sku, move.location].moves.append(move)

    # -- planning ---------------------------------------------------------------------------------

    def plan(self) -> None:
        returns = [
            move
            for row in self.rows.values()
            for move in row.moves
            if move.movement == "return_receipt"
        ]
        names, weights = list(_DISPOSITION_WEIGHTS), list(_DISPOSITION_WEIGHTS.values())
        for move in returns:
            move.details["disposition"] = self.rng.choices(names, weights)[0]
        for row in self.rows.values():
            self._close_out(row)
            self._add_routine(row)
        stores = [row for row in self.rows.values() if row.store]
        warehouse = [row for row in self.rows.values() if not row.store]
        for row in stores:
            self._walk(row)
        for row in warehouse:
            self._walk(row)

    def _close_out(self, row: _Row) -> None:
        """What the snapshot shows beyond the orders: returns still in inspection or among the
        damaged, other damaged and held units, and what is still on its way."""
        held = row.final["qualityHold"]
        damaged = row.final["damaged"] - sum(
            move.quantity for move in row.moves if move.movement == "damage"
        )
        returns = [move for move in row.moves if move.movement == "return_receipt"]
        for move in sorted(returns, key=lambda move: move.moment, reverse=True):
            disposition = move.details["disposition"]
            recent = self.anchor - move.moment <= _HELD_RETURNS
            if disposition == "inspect":
                if recent and move.quantity <= held:
                    held -= move.quantity
                else:
                    release = self._after(move.moment, 3 * _DAY)
                    row.moves.append(
                        self._move(
                            row,
                            release,
                            "quality_release",
                            move.quantity,
                            _INSPECTED,
                            returnInspection=True,
                        )
                    )
            elif disposition == "damaged":
                if recent and move.quantity <= damaged:
                    damaged -= move.quantity
                else:
                    disposal = self._after(move.moment, 4 * _DAY)
                    row.moves.append(self._move(row, disposal, "damage_disposal", move.quantity))
        for units in self._split(held):
            moment = self._before_anchor(3 * _HOUR, 20 * _DAY)
            row.moves.append(
                self._move(row, moment, "quality_hold", units, self.rng.choice(_HOLDS))
            )
        for units in self._split(damaged):
            moment = self._before_anchor(3 * _HOUR, 25 * _DAY)
            row.moves.append(self._move(row, moment, "damage", units, fulfilmentOrderId=None))
        incoming = row.final["incoming"]
        if incoming and row.store:
            # A transfer from the DC is on the road.
            dispatched = self._before_anchor(2 * _HOUR, 40 * _HOUR)
            self._transfer(row, incoming, dispatched=dispatched)
        elif incoming:
            announced = self._before_anchor(_DAY, 14 * _DAY)
            order = self._document("PO", announced)
            expected = self._hour(announced + timedelta(hours=self.rng.randint(72, 288)))
            row.open_order = self._move(
                row, announced, "expected_receipt", incoming, expectedAt=iso(expected)
            )
            row.open_order.document = order
            row.moves.append(row.open_order)

    def _add_routine(self, row: _Row) -> None:
        """Counts, corrections, breakages and quality checks any row may see; gains are
        optional, kept only where the free stock allows."""
        counts = self.rng.choices((0, 1, 2), (75, 20, 5))[0]
        for _ in range(counts):
            difference = self.rng.choices(*_COUNT_DIFFERENCES)[0]
            count = self._move(row, self._any_time(), "cycle_count", difference)
            count.optional = difference > 0
            row.moves.append(count)
        if self.rng.random() < 0.04:
            change = self.rng.choice((-4, -3, -2, -1, 1, 2, 3))
            reason = self.rng.choice(_GAINS if change > 0 else _LOSSES)
            adjustment = self._move(row, self._any_time(), "adjustment", change, reason)
            adjustment.optional = change > 0
            row.moves.append(adjustment)
        if self.rng.random() < 0.05:
            found = self._any_time()
            written_off = found + timedelta(hours=self.rng.randint(24, 192))
            if written_off < self.anchor - _HOUR:
                units = self.rng.randint(1, 3)
                row.moves.append(self._move(row, found, "damage", units, fulfilmentOrderId=None))
                row.moves.append(self._move(row, written_off, "damage_disposal", units))
        if not row.store and self.rng.random() < 0.06:
            held = self._any_time()
            released = held + timedelta(hours=self.rng.randint(12, 144))
            if released < self.anchor - _HOUR:
                units = self.rng.randint(2, 12)
                hold = self._move(row, held, "quality_hold", units, self.rng.choice(_HOLDS))
                release = self._move(
                    row, released, "quality_release", units, self.rng.choice(_RELEASES)
                )
                release.optional, release.partner = True, hold
                row.moves += [hold, release]
        if row.store and self.rng.random() < 0.04:
            arrived = self._moment_between(self.start + 4 * _DAY, self.anchor - 2 * _HOUR)
            row.moves.append(
                self._transfer(row, self.rng.randint(2, 8), arrived=arrived, optional=True)
            )

    # -- the backward walk ------------------------------------------------------------------------

    def _walk(self, row: _Row) -> None:
        """Lay the row's movements out so that it ends at the snapshot; see the module
        docstring. Movements that leave free stock alone are merged in by time afterwards."""
        moves = sorted(row.moves, key=lambda move: move.moment)
        walked = [move for move in moves if move.free or move.optional]
        neutral = [move for move in moves if not (move.free or move.optional)]
        added = len(row.moves)  # what the walk adds to row.moves leaves free stock alone
        # The least free stock each gap after a movement needs for the walk to reach the
        # opening without going below zero (optional movements are only kept with room).
        needs, need = [], 0
        for move in walked:
            need = max(0, need + (0 if move.optional else move.free))
            needs.append(need)
        backward: list[_Move] = []
        dropped: set[int] = set()
        level, later = row.final_free, self.anchor
        if row.open_order is not None:
            last = walked[-1] if walked else None
            level = self._part_receipt(row, last, level, needs[-1] if walked else 0, backward)
        for index in range(len(walked) - 1, -1, -1):
            move = walked[index]
            if id(move) in dropped:
                continue
            change = move.free
            level = self._deliver(row, move.moment, later, level, needs[index], backward)
            before = needs[index - 1] if index else 0
            if move.optional and level - change < before:
                if move.partner is not None:
                    dropped.add(id(move.partner))
                continue
            if change > level:
                if move.movement == "return_receipt":
                    # Nowhere to put it on the shelf: it came back broken, and was binned.
                    move.details["disposition"] = "damaged"
                    disposal = self._after(move.moment, 4 * _DAY)
                    row.moves.append(self._move(row, disposal, "damage_disposal", move.quantity))
                    change = 0
                else:
                    found = self._moment_between(move.moment, later)
                    backward.append(self._move(row, found, "cycle_count", level - change))
                    level = change
            backward.append(move)
            level -= change
            later = move.moment
            if move.movement == "transfer_in" and move.optional:
                self._dispatch(row, move)
        level = self._deliver(row, row.opened + _HOUR, later, level, 0, backward)
        if level:
            backward.append(self._move(row, row.opened, "receipt", level))
        neutral += row.moves[added:]
        if not backward and not neutral:
            # Never stocked, never sold: its empty bin was still counted, so it is known.
            neutral.append(self._move(row, self._any_time(), "cycle_count", 0))
        row.planned = sorted(backward[::-1] + neutral, key=lambda move: move.moment)

    def _deliver(
        self,
        row: _Row,
        after: datetime,
        before: datetime,
        level: int,
        keep: int,
        backward: list[_Move],
    ) -> int:
        """Free stock above the row's cap between two movements came in between: a purchase
        order at the DC, a transfer from it at a store, leaving at least `keep` (what the
        earlier movements need) before it. Returns the free stock before it."""
        if level <= row.cap or before - after < 2 * _HOUR:
            return level
        quantity = level - max(row.low, keep)
        if not row.store:
            quantity -= quantity % _CASE
        if quantity < (2 if row.store else _CASE):
            return level
        landed = self._moment_between(after + _HOUR, before - _HOUR)
        if row.store:
            arrival = self._transfer(row, quantity, arrived=landed)
            self._dispatch(row, arrival)
            backward.append(arrival)
        else:
            backward.append(self._purchase(row, landed, quantity))
        return level - quantity

    def _part_receipt(
        self, row: _Row, last: _Move | None, level: int, keep: int, backward: list[_Move]
    ) -> int:
        """Part of a purchase order still open may have landed already."""
        order = row.open_order
        assert order is not None
        after = order.moment if last is None else max(order.moment, last.moment)
        room = level - keep
        if self.rng.random() < 0.6 or room < _CASE or self.anchor - after < 3 * _HOUR:
            return level
        quantity = _CASE * self.rng.randint(1, min(room // _CASE, 8))
        landed = self._moment_between(after + _HOUR, self.anchor - _HOUR)
        receipt = self._move(row, landed, "receipt", quantity)
        receipt.document = order.document
        order.quantity += quantity
        backward.append(receipt)
        return level - quantity

    def _purchase(self, row: _Row, landed: datetime, quantity: int) -> _Move:
        """A supplier delivery at the DC, and the purchase order announced days before."""
        announced = self._sent_before(row, landed, 48, 240)
        order = self._document("PO", announced)
        promised = max(self._hour(landed - timedelta(hours=self.rng.randint(-12, 36))), announced)
        expected = self._move(
            row, announced, "expected_receipt", quantity, expectedAt=iso(promised)
        )
        expected.document = order
        row.moves.append(expected)
        receipt = self._move(row, landed, "receipt", quantity)
        receipt.document = order
        return receipt

    def _transfer(
        self,
        row: _Row,
        quantity: int,
        *,
        dispatched: datetime | None = None,
        arrived: datetime | None = None,
        optional: bool = False,
    ) -> _Move:
        """A transfer from the DC to a store, announced there as an expected receipt when it
        leaves the DC. Given `dispatched`, it is still on the road: the DC sends it now.
        Given `arrived`, its transfer-in is returned, and `_dispatch` sends it once the
        store's walk keeps it."""
        if dispatched is None:
            assert arrived is not None
            dispatched = self._sent_before(row, arrived, 8, 30)
        transfer = _Document("TR", dispatched)
        expected = self._move(
            row,
            dispatched,
            "expected_receipt",
            quantity,
            expectedAt=iso(self._hour(dispatched + _DAY)),
        )
        expected.document = transfer
        if arrived is None:
            row.moves.append(expected)
            self._send(row, expected)
            return expected
        arrival = self._move(row, arrived, "transfer_in", quantity, fromLocationId=_WAREHOUSE)
        arrival.document, arrival.optional, arrival.partner = transfer, optional, expected
        return arrival

    def _dispatch(self, row: _Row, arrival: _Move) -> None:
        """The store's walk kept a transfer-in: it was announced there and sent from the DC."""
        expected = arrival.partner
        assert expected is not None
        row.moves.append(expected)
        self._send(row, expected)

    def _send(self, row: _Row, expected: _Move) -> None:
        """The DC's transfer-out for a store's expected transfer."""
        assert expected.document is not None
        self.documents.append(expected.document)
        source = self.rows[row.sku, _WAREHOUSE]
        out = self._move(
            source, expected.moment, "transfer_out", expected.quantity, toLocationId=row.location
        )
        out.document = expected.document
        source.moves.append(out)

    def _sent_before(self, row: _Row, landed: datetime, least: int, most: int) -> datetime:
        """When an order or transfer that landed at `landed` was sent: `least` to `most`
        hours before, but after the row's opening receipt."""
        earliest = row.opened + _HOUR
        sent = max(landed - timedelta(hours=self.rng.randint(least, most)), earliest)
        if sent >= landed:
            sent = earliest + (landed - earliest) / 2
        return sent.replace(microsecond=0)

    # -- small helpers ----------------------------------------------------------------------------

    def _move(
        self,
        row: _Row,
        moment: datetime,
        movement: str,
        quantity: int,
        reason: str | None = None,
        **details: Any,
    ) -> _Move:
        if reason is not None:
            details["reason"] = reason
        return _Move(moment, movement, row.sku, row.location, quantity, details)

    def _document(self, prefix: str, opened: datetime) -> _Document:
        document = _Document(prefix, opened)
        self.documents.append(document)
        return document

    def _split(self, units: int) -> list[int]:
        """Units found in one go, or in two."""
        if units >= 4 and self.rng.random() < 0.3:
            first = self.rng.randint(1, units - 1)
            return [first, units - first]
        return [units] if units else []

    def _moment_between(self, start: datetime, end: datetime) -> datetime:
        """A whole second in [start, end] (start itself when there is no room)."""
        start = start.replace(microsecond=0)
        seconds = int((end - start).total_seconds())
        return start + timedelta(seconds=self.rng.randint(0, seconds)) if seconds > 0 else start

    def _any_time(self) -> datetime:
        return self._moment_between(self.start + _DAY, self.anchor - _HOUR)

    def _before_anchor(self, least: timedelta, most: timedelta) -> datetime:
        return self._moment_between(self.anchor - most, self.anchor - least)

    def _after(self, moment: datetime, most: timedelta) -> datetime:
        """Some time after `moment`, within `most` and well before the anchor."""
        room = min(most, (self.anchor - moment) * 0.8)
        return self._moment_between(moment + room / 4, moment + room)

    @staticmethod
    def _hour(moment: datetime) -> datetime:
        return moment.replace(minute=0, second=0, microsecond=0)

    # -- the ledger -------------------------------------------------------------------------------

    def ledger(self) -> list[tuple[datetime, dict[str, Any]]]:
        """Every movement in the order the WMS recorded them, numbered, with its moment."""
        for prefix in ("PO", "TR"):
            ordered = [d for d in self.documents if d.prefix == prefix]
            for number, document in enumerate(sorted(ordered, key=lambda d: d.opened), start=1):
                document.id = f"{prefix}-{number:06d}"
        keyed = [
            (move.moment, position, row.index, move)
            for row in self.rows.values()
            for position, move in enumerate(row.planned)
        ]
        keyed.sort(key=lambda entry: entry[:3])
        buckets = {key: dict.fromkeys(STOCK_BUCKETS, 0) for key in self.rows}
        ledger = []
        for number, (moment, _, _, move) in enumerate(keyed, start=1):
            data = move.data(number)
            row = buckets[move.sku, move.location]
            if move.movement == "cycle_count":
                data["countedQuantity"] = row["onHand"] + move.quantity
            apply_movement(row, data)
            ledger.append((moment, data))
        return ledger


def write_stock_history(
    rng: random.Random,
    floor: FloorLog,
    stock: list[dict[str, Any]],
    anchor: datetime,
    recorder: FeedRecorder,
) -> list[dict[str, Any]]:
    """Plan every stock row's history around what the floor did (see the module docstring),
    put each movement on the WMS feed (`inventory.<movement>`), and return the movements in
    feed order. `stock` is the snapshot the history must end at; it is only read."""
    history = _History(rng, floor, stock, anchor)
    history.plan()
    movements = []
    for moment, data in history.ledger():
        recorder.emit(
            "wms",
            moment,
            movement_event_type(data["movement"]),
            MOVEMENT_RECORD_TYPE,
            data["id"],
            data,
        )
        movements.append(data)
    return movements
