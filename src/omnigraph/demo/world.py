"""The demo retailer's world: every record the four source systems serve, built from one seed.

`build_world` is pure and deterministic: the same seed, order count and anchor give the same
JSON, byte for byte. The world also carries its ground truth, the disagreements planted on
purpose (between the order records, and between the money the processor moved and its
counterparts: see money.py) and the operational exceptions the WMS reports, so scenario tests
can check both that they are found and that nothing else is. Wholesale orders show the
channel's own branch (see wholesale.py): scheduled ship dates, compliance holds and advance
ship notices. The WMS's feed also carries every stock movement (see stock_history.py), which
replay to its stock snapshot.

    >>> world = build_world(seed=7, orders=60)
    >>> len(world.storefront_orders)
    60
    >>> sorted({p.kind for p in world.planted}) == sorted(PLANTED_KINDS)
    True
    >>> sorted({r["kind"] for r in world.reported_exceptions}) == sorted(EXCEPTION_KINDS)
    True
    >>> replayed = replay_movements(world.inventory_movements)
    >>> all(
    ...     replayed.get((row["sku"], row["locationId"]), dict.fromkeys(STOCK_BUCKETS, 0))
    ...     == {bucket: row[bucket] for bucket in STOCK_BUCKETS}
    ...     for row in world.wms_stock
    ... )
    True
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from omnigraph.core.clock import DEMO_ANCHOR
from omnigraph.demo.catalogue import LOCATIONS, build_catalogue
from omnigraph.demo.drafts import (
    OPEN_FULFILMENT_STATUSES,
    STAGES,
    OrderPlan,
    draft_order,
)
from omnigraph.demo.formats import iso
from omnigraph.demo.incidents import (
    EXCEPTION_KINDS,
    incident_count,
    number_reports,
    plan_incidents,
)
from omnigraph.demo.ledger import Ledger
from omnigraph.demo.lifecycle import OrderBook
from omnigraph.demo.money import MONEY_KINDS, dispute_count, plan_money, plant_money
from omnigraph.demo.movements import (
    DISPOSITIONS,
    MOVEMENTS,
    STOCK_BUCKETS,
    replay_movements,
)
from omnigraph.demo.recorder import FeedRecorder
from omnigraph.demo.stock_history import write_stock_history
from omnigraph.demo.wholesale import compliance_hold_count, plan_wholesale

__all__ = [
    "DISPOSITIONS",
    "EXCEPTION_KINDS",
    "MIN_ORDERS",
    "MOVEMENTS",
    "PLANTED_KINDS",
    "STAGES",
    "STOCK_BUCKETS",
    "DemoWorld",
    "PlantedDisagreement",
    "build_world",
    "replay_movements",
]

PLANTED_KINDS = (
    "late_sync",
    "cancelled_but_shipped",
    "total_mismatch",
    "price_mismatch",
    "missing_in_erp",
    "payout_variance",
    *MONEY_KINDS,
)
_ORDER_PLANTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # planted kind -> (stages it can sit in, channels it can come from)
    "late_sync": (("shipped",), ("web", "marketplace")),
    "cancelled_but_shipped": (("shipped",), ("web", "marketplace")),
    "total_mismatch": (("delivered",), ("web", "marketplace", "wholesale")),
    "price_mismatch": (("delivered", "packed"), ("web", "marketplace")),
    "missing_in_erp": (("released", "picking"), ("web", "marketplace")),
}
# Two orders per stage, spread over channels, so even a small world shows every stage.
_EVERY_STAGE_TWICE = (
    ("placed", "web"),
    ("placed", "wholesale"),
    ("released", "web"),
    ("released", "store-pickup"),
    ("picking", "marketplace"),
    ("picking", "web"),
    ("picked", "web"),
    ("picked", "store-pickup"),
    ("packed", "wholesale"),
    ("packed", "web"),
    ("partially_shipped", "web"),
    ("partially_shipped", "wholesale"),
    ("shipped", "marketplace"),
    ("shipped", "web"),
    ("delivered", "web"),
    ("delivered", "wholesale"),
    ("ready_for_pickup", "store-pickup"),
    ("ready_for_pickup", "store-pickup"),
    ("picked_up", "store-pickup"),
    ("picked_up", "store-pickup"),
    ("cancelled", "web"),
    ("cancelled", "marketplace"),
    ("partially_returned", "web"),
    ("partially_returned", "marketplace"),
    ("returned", "web"),
    ("returned", "marketplace"),
)
_STAGE_WEIGHTS = {
    # Most of a retailer's recent orders are done; only the last day or two are in flight.
    "placed": 1,
    "released": 1,
    "picking": 1,
    "picked": 1,
    "packed": 1,
    "partially_shipped": 1,
    "shipped": 3,
    "delivered": 50,
    "ready_for_pickup": 1,
    "picked_up": 10,
    "cancelled": 6,
    "partially_returned": 4,
    "returned": 4,
}
_CHANNEL_WEIGHTS = {"web": 55, "marketplace": 20, "store-pickup": 15, "wholesale": 10}
_PICKUP_ONLY = frozenset({"ready_for_pickup", "picked_up"})
_SHIPPING_ONLY = frozenset({"partially_shipped", "shipped", "delivered"})
_RETAIL_RETURNS = frozenset({"partially_returned", "returned"})
MIN_ORDERS = 40


@dataclass(frozen=True)
class PlantedDisagreement:
    """One disagreement injected on purpose: the ground truth a detector is scored against.

    `record_ref` names the record whose claim is out of line (the storefront order for a late
    sync or a missing ERP order, the fulfilment order for a cancelled-but-shipped order, the ERP
    sales order for total and price mismatches, the payout for a payout variance, the balance
    transaction for a charge or refund whose counterparts do not match, the storefront return
    for a return nobody refunded); `field` is the JSON path of the claim in that record.
    `order_ref` is the storefront order concerned (for a charge without an order, the ref the
    charge names); None for a payout variance.
    """

    kind: str
    order_ref: str | None
    record_ref: str
    field: str
    detail: str


@dataclass(frozen=True)
class DemoWorld:
    """Every record each demo source serves, as plain JSON-able dicts shaped by the contract,
    with the ground truth: `planted` disagreements, and `reported_exceptions`, the distinct
    exception reports on the WMS feed (`{"id": "EXR-000001", "kind", "fulfilmentOrderId",
    "orderRef", "locationId", "sku", "quantity", "reportedAt", "detail"}`, oldest first; one of
    them is sent twice on the feed). `inventory_movements` are the WMS's stock movements as its
    feed carries them (`{"id": "MOV-0000001", "movement", "sku", "locationId", "quantity",
    "occurredAt", ...}`, in feed order); `replay_movements` of them gives `wms_stock`."""

    seed: int
    anchor: datetime
    storefront_orders: list[dict[str, Any]]
    erp_sales_orders: list[dict[str, Any]]
    erp_items: list[dict[str, Any]]
    wms_fulfilment_orders: list[dict[str, Any]]
    wms_locations: list[dict[str, Any]]
    wms_stock: list[dict[str, Any]]
    charges: list[dict[str, Any]]
    payouts: list[dict[str, Any]]
    balance_transactions: list[dict[str, Any]]
    events: dict[str, list[dict[str, Any]]]
    planted: list[PlantedDisagreement]
    reported_exceptions: list[dict[str, Any]]
    inventory_movements: list[dict[str, Any]]

    def planted_of(self, kind: str) -> list[PlantedDisagreement]:
        """The planted disagreements of one kind, e.g. `world.planted_of("late_sync")`."""
        if kind not in PLANTED_KINDS:
            raise ValueError(f"unknown planted kind {kind!r}; expected one of {PLANTED_KINDS}")
        return [planted for planted in self.planted if planted.kind == kind]

    def reported_of(self, kind: str) -> list[dict[str, Any]]:
        """The WMS's exception reports of one kind, e.g. `world.reported_of("DAMAGE")`."""
        if kind not in EXCEPTION_KINDS:
            raise ValueError(f"unknown exception kind {kind!r}; expected one of {EXCEPTION_KINDS}")
        return [report for report in self.reported_exceptions if report["kind"] == kind]

    def as_json(self) -> dict[str, Any]:
        """The whole world as one JSON-able dict (what determinism is checked against)."""
        data = asdict(self)
        data["anchor"] = iso(self.anchor)
        return data


def build_world(seed: int = 7, orders: int = 300, anchor: datetime | None = None) -> DemoWorld:
    """Build the demo retailer's world: `orders` orders placed over the 45 days before `anchor`.

    `anchor` (default: `DEMO_ANCHOR`, a fixed instant, so the world is the same on any day) is
    "now" for the world; every timestamp is before it.
    """
    if orders < MIN_ORDERS:
        raise ValueError(f"orders must be at least {MIN_ORDERS} to show every stage and plant")
    if anchor is None:
        anchor = DEMO_ANCHOR
    if anchor.tzinfo is None:
        raise ValueError("anchor must be timezone-aware")
    anchor = anchor.astimezone(UTC).replace(microsecond=0)
    rng = random.Random(seed)
    catalogue = build_catalogue(rng)
    recorder = FeedRecorder()
    items = [item.as_record() for item in catalogue.items]
    catalogue_loaded = anchor - timedelta(days=60)
    for item in items:
        recorder.emit("erp", catalogue_loaded, "item.created", "item", item["sku"], item)

    ledger = Ledger(recorder)
    book = OrderBook(rng=rng, recorder=recorder, ledger=ledger)
    drafts = [draft_order(rng, plan, catalogue, anchor) for plan in _plan_orders(rng, orders)]
    # Incidents draw from a stream of their own, so adding them left every other record as it was.
    incident_rng = random.Random(f"incidents:{seed}")
    plan_incidents(incident_rng, drafts, anchor, incident_count(orders))
    # So does the wholesale branch: ship dates, compliance holds and advance ship notices.
    plan_wholesale(
        random.Random(f"wholesale:{seed}"), drafts, anchor, compliance_hold_count(orders)
    )
    story = sorted(drafts, key=lambda draft: draft.placed_at)
    # So do the money plants and disputes; the ones written after the story take later ids.
    money = plan_money(
        random.Random(f"money:{seed}"), story, anchor, _planted_count(orders), dispute_count(orders)
    )
    for draft in story:
        book.record(draft)
    reported = _send_reports(incident_rng, recorder, book, anchor)

    ledger.add_account_activity(rng, anchor - timedelta(days=46), anchor)
    money_plants = plant_money(money, book, ledger, story)
    ledger.settle(anchor)
    payout_plants = _plant_payout_variances(rng, ledger, _planted_count(orders))
    ledger.emit_payout_events(anchor)
    stock = _book_damage(_build_stock(rng, items, book.wms_fulfilment_orders, anchor), reported)
    # The stock's history draws from a stream of its own too, and only adds WMS events.
    movements = write_stock_history(
        random.Random(f"movements:{seed}"), book.floor, stock, anchor, recorder
    )
    book.grade_returns()

    planted = [
        PlantedDisagreement(p.kind, p.order_ref, p.record_ref, p.field, p.detail)
        for p in book.planted + money_plants
    ] + payout_plants
    planted.sort(key=lambda p: (PLANTED_KINDS.index(p.kind), p.record_ref))
    return DemoWorld(
        seed=seed,
        anchor=anchor,
        storefront_orders=book.storefront_orders,
        erp_sales_orders=book.erp_sales_orders,
        erp_items=items,
        wms_fulfilment_orders=book.wms_fulfilment_orders,
        wms_locations=[dict(location) for location in LOCATIONS],
        wms_stock=stock,
        charges=ledger.charges,
        payouts=ledger.payouts,
        balance_transactions=ledger.transactions,
        events=recorder.finish(),
        planted=planted,
        reported_exceptions=reported,
        inventory_movements=movements,
    )


def _planted_count(orders: int) -> int:
    """Planted disagreements per kind: one in a small world, up to four at the default 300."""
    return max(1, min(4, orders // 75))


def _plan_orders(rng: random.Random, count: int) -> list[OrderPlan]:
    plans = [OrderPlan(stage, channel) for stage, channel in _EVERY_STAGE_TWICE]
    for kind, (stages, channels) in _ORDER_PLANTS.items():
        for _ in range(_planted_count(count)):
            plans.append(OrderPlan(rng.choice(stages), rng.choice(channels), planted=kind))
    stage_names, weights = list(_STAGE_WEIGHTS), list(_STAGE_WEIGHTS.values())
    while len(plans) < count:
        stage = rng.choices(stage_names, weights)[0]
        fitting = [channel for channel in _CHANNEL_WEIGHTS if _channel_fits(stage, channel)]
        channel = rng.choices(fitting, [_CHANNEL_WEIGHTS[c] for c in fitting])[0]
        plans.append(OrderPlan(stage, channel))
    return plans


def _channel_fits(stage: str, channel: str) -> bool:
    if stage in _PICKUP_ONLY:
        return channel == "store-pickup"
    if stage in _SHIPPING_ONLY:
        return channel != "store-pickup"
    if stage in _RETAIL_RETURNS:
        return channel in {"web", "marketplace"}
    return True


def _send_reports(
    rng: random.Random, recorder: FeedRecorder, book: OrderBook, anchor: datetime
) -> list[dict[str, Any]]:
    """Put each exception report on the WMS feed, and one of them twice, as a real WMS
    re-sends (same report id, a later event): the intake downstream must deduplicate."""
    numbered = number_reports(book.reports)
    for moment, report in numbered:
        recorder.emit("wms", moment, "exception.reported", "exception_report", report["id"], report)
    if numbered:
        moment, report = rng.choice(numbered)
        again = moment + timedelta(seconds=int((anchor - moment).total_seconds() // 2))
        recorder.emit("wms", again, "exception.reported", "exception_report", report["id"], report)
    return [report for _, report in numbered]


def _book_damage(
    stock: list[dict[str, Any]], reports: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Units found damaged sit in their location's damaged bucket.

    The order still holds them (they are allocated) until they are replaced or cancelled, so
    the bucket grows and free stock shrinks by the same units; a location without enough free
    stock to cover them turns out to hold a few more units than it thought.
    """
    rows = {(row["sku"], row["locationId"]): row for row in stock}
    for report in reports:
        if report["kind"] != "DAMAGE":
            continue
        row = rows[report["sku"], report["locationId"]]
        row["damaged"] += report["quantity"]
        free = row["onHand"] - row["allocated"] - row["damaged"] - row["qualityHold"]
        row["onHand"] += max(0, -free)
    return stock


def _plant_payout_variances(
    rng: random.Random, ledger: Ledger, count: int
) -> list[PlantedDisagreement]:
    """Make a few paid payouts disagree with the transactions they claim to settle."""
    paid = [payout for payout in ledger.payouts if payout["status"] == "paid"]
    planted = []
    for payout in sorted(rng.sample(paid, min(count, len(paid))), key=lambda p: p["id"]):
        swept = ledger.transactions_of(payout["id"])
        expected = sum(txn["net"] for txn in swept if txn["type"] != "payout")
        difference = rng.choice((-1500, -250, -1, 1, 999))
        payout["amount"] = expected + difference
        for txn in swept:
            if txn["type"] == "payout":
                txn["amount"] = txn["net"] = -payout["amount"]
        planted.append(
            PlantedDisagreement(
                kind="payout_variance",
                order_ref=None,
                record_ref=payout["id"],
                field="amount",
                detail=(
                    f"payout {payout['id']} paid {payout['amount']} but its transactions net "
                    f"to {expected} (difference {difference})"
                ),
            )
        )
    return planted


def _build_stock(
    rng: random.Random,
    items: list[dict[str, Any]],
    fulfilment_orders: list[dict[str, Any]],
    anchor: datetime,
) -> list[dict[str, Any]]:
    """Stock per SKU and location; `allocated` is exactly what open fulfilment orders hold."""
    allocated: dict[tuple[str, str], int] = {}
    for fulfilment in fulfilment_orders:
        if fulfilment["status"] not in OPEN_FULFILMENT_STATUSES:
            continue
        for line in fulfilment["lines"]:
            key = (line["sku"], fulfilment["locationId"])
            allocated[key] = allocated.get(key, 0) + line["quantity"] - line["shipped"]
    stock = []
    for item in items:
        for location in LOCATIONS:
            warehouse = location["type"] == "warehouse"
            held = allocated.get((item["sku"], location["id"]), 0)
            sellable = 0 if rng.random() < 0.08 else rng.randint(1, 300 if warehouse else 25)
            damaged = rng.randint(1, 4) if rng.random() < 0.1 else 0
            quality_hold = rng.randint(1, 10) if warehouse and rng.random() < 0.06 else 0
            if warehouse:
                incoming = rng.randint(2, 20) * 12 if rng.random() < 0.2 else 0
            else:
                incoming = rng.randint(1, 6) if rng.random() < 0.1 else 0
            stock.append(
                {
                    "sku": item["sku"],
                    "locationId": location["id"],
                    "onHand": held + sellable + damaged + quality_hold,
                    "allocated": held,
                    "damaged": damaged,
                    "qualityHold": quality_hold,
                    "incoming": incoming,
                    "asOf": iso(anchor),
                }
            )
    return stock
