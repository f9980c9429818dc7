"""The demo world is deterministic, shows every stage, and plants exactly its ground truth:
the disagreements between systems and the exceptions the WMS reports."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from omnigraph.core.clock import DEMO_ANCHOR
from omnigraph.demo import (
    EXCEPTION_KINDS,
    MOVEMENTS,
    PLANTED_KINDS,
    STAGES,
    DemoWorld,
    build_world,
)
from omnigraph.demo import world as world_module
from omnigraph.demo.money import MONEY_KINDS

from .conftest import ANCHOR
from .test_money_ground_truth import observed_money_mismatches

SHIPPED_STATUSES = {"partially_shipped", "shipped", "delivered", "partially_returned", "returned"}
OPEN_STATUSES = {"released", "picking", "picked", "packed", "partially_shipped", "ready_for_pickup"}
# What the storefront should say once it has heard about each warehouse status.
STOREFRONT_FULFILMENT = {
    "released": "unfulfilled",
    "picking": "unfulfilled",
    "picked": "unfulfilled",
    "packed": "unfulfilled",
    "partially_shipped": "partial",
    "shipped": "fulfilled",
    "delivered": "fulfilled",
    "partially_returned": "fulfilled",
    "returned": "fulfilled",
    "ready_for_pickup": "ready_for_pickup",
    "picked_up": "picked_up",
    "cancelled": "unfulfilled",
}


def by_order_ref(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    index: dict[str, dict[str, Any]] = {}
    for record in records:
        ref = record["orderRef"]
        assert ref not in index, f"{ref} has more than one record"
        index[ref] = record
    return index


def observed_stage(order: dict[str, Any], fulfilment: dict[str, Any] | None) -> str:
    if fulfilment is not None:
        return str(fulfilment["status"])
    return "cancelled" if order["status"] == "cancelled" else "placed"


def observed_disagreements(world: DemoWorld) -> set[tuple[str, str]]:
    """What a careful reconciler would flag, as (kind, record_ref), looking only at the records."""
    found: set[tuple[str, str]] = set()
    sales_orders = by_order_ref(world.erp_sales_orders)
    fulfilments = by_order_ref(world.wms_fulfilment_orders)
    for order in world.storefront_orders:
        sales_order = sales_orders.get(order["id"])
        fulfilment = fulfilments.get(order["id"])
        if sales_order is None:
            found.add(("missing_in_erp", order["id"]))
        else:
            if sales_order["totals"]["total"] != order["totals"]["total"]:
                found.add(("total_mismatch", sales_order["id"]))
            pairs = zip(order["lines"], sales_order["lines"], strict=True)
            if any(sf["unitPrice"] != erp["unitPrice"] for sf, erp in pairs):
                found.add(("price_mismatch", sales_order["id"]))
        if fulfilment is not None and fulfilment["status"] in SHIPPED_STATUSES:
            if order["status"] == "cancelled":
                found.add(("cancelled_but_shipped", fulfilment["id"]))
            elif order["fulfilmentStatus"] == "unfulfilled":
                first_shipped = min(s["shippedAt"] for s in fulfilment["shipments"])
                assert order["updatedAt"] < first_shipped
                found.add(("late_sync", order["id"]))
    for payout in world.payouts:
        swept = [t for t in world.balance_transactions if t["payout"] == payout["id"]]
        if sum(t["net"] for t in swept if t["type"] != "payout") != payout["amount"]:
            found.add(("payout_variance", payout["id"]))
    return found | observed_money_mismatches(world)


def test_same_seed_builds_the_same_world() -> None:
    first = build_world(seed=7, orders=60, anchor=ANCHOR)
    again = build_world(seed=7, orders=60, anchor=ANCHOR)
    assert json.dumps(first.as_json(), sort_keys=True) == json.dumps(
        again.as_json(), sort_keys=True
    )


def test_another_seed_builds_another_world() -> None:
    first = build_world(seed=7, orders=60, anchor=ANCHOR)
    other = build_world(seed=8, orders=60, anchor=ANCHOR)
    assert first.storefront_orders != other.storefront_orders
    assert first.erp_items != other.erp_items


def test_anchor_defaults_to_the_fixed_demo_instant() -> None:
    """The same on any day (OMNIGRAPH_DEMO_AS_OF moves it: tests/demo/test_reproducible.py)."""
    world = build_world(orders=60)
    assert world.anchor == DEMO_ANCHOR
    assert json.dumps(world.as_json()) == json.dumps(
        build_world(orders=60, anchor=DEMO_ANCHOR).as_json()
    )


def test_a_world_too_small_for_its_plants_is_refused() -> None:
    with pytest.raises(ValueError, match="at least"):
        build_world(orders=10)


def test_unknown_planted_kind_is_refused(small_world: DemoWorld) -> None:
    with pytest.raises(ValueError, match="unknown planted kind"):
        small_world.planted_of("bogus")


@pytest.mark.parametrize("orders", [60, 300])
def test_every_lifecycle_stage_appears_at_least_twice(orders: int) -> None:
    world = build_world(seed=7, orders=orders, anchor=ANCHOR)
    fulfilments = by_order_ref(world.wms_fulfilment_orders)
    stages = Counter(
        observed_stage(order, fulfilments.get(order["id"])) for order in world.storefront_orders
    )
    assert set(stages) == set(STAGES)
    assert min(stages.values()) >= 2, stages


def test_the_retailer_looks_like_the_brief(world: DemoWorld) -> None:
    assert len(world.storefront_orders) == 300
    assert [item["sku"] for item in world.erp_items] == [f"SKU-{n:04d}" for n in range(1, 201)]
    assert len({item["name"] for item in world.erp_items}) == 200
    assert {o["currency"] for o in world.storefront_orders} == {"GBP"}
    assert {o["channel"] for o in world.storefront_orders} == {
        "web",
        "marketplace",
        "store-pickup",
        "wholesale",
    }
    assert {(loc["id"], loc["type"], loc["cutoff"]) for loc in world.wms_locations} == {
        ("dc-north", "warehouse", "15:00"),
        ("store-london", "store", "17:00"),
        ("store-manchester", "store", "17:00"),
    }
    ids = [order["id"] for order in world.storefront_orders]
    assert ids == [f"SF-{100001 + n}" for n in range(300)]
    placed = [order["placedAt"] for order in world.storefront_orders]
    assert placed == sorted(placed)
    oldest = datetime.fromisoformat(placed[0])
    assert ANCHOR - timedelta(days=46) < oldest < ANCHOR - timedelta(days=30)
    assert world.erp_sales_orders[0]["id"] == "SO-500001"
    assert world.wms_fulfilment_orders[0]["id"] == "WO-700001"
    assert world.charges[0]["id"] == "ch_000001"
    assert world.payouts[0]["id"] == "po_000001"


@pytest.mark.parametrize("orders", [60, 300])
def test_planted_disagreements_are_exactly_the_observed_ones(orders: int) -> None:
    world = build_world(seed=7, orders=orders, anchor=ANCHOR)
    planted = {(p.kind, p.record_ref) for p in world.planted}
    assert observed_disagreements(world) == planted
    counts = Counter(p.kind for p in world.planted)
    assert set(counts) == set(PLANTED_KINDS)
    low, high = (1, 5) if orders == 60 else (2, 5)
    assert all(low <= count <= high for count in counts.values()), counts
    for kind in PLANTED_KINDS:
        assert world.planted_of(kind) == [p for p in world.planted if p.kind == kind]


def test_planted_disagreements_hold_across_seeds() -> None:
    for seed in range(1, 6):
        world = build_world(seed=seed, orders=60, anchor=ANCHOR)
        assert observed_disagreements(world) == {(p.kind, p.record_ref) for p in world.planted}


def test_systems_agree_everywhere_nothing_was_planted(world: DemoWorld) -> None:
    planted_orders = {p.order_ref for p in world.planted}
    sales_orders = by_order_ref(world.erp_sales_orders)
    fulfilments = by_order_ref(world.wms_fulfilment_orders)
    storefront_ids = {order["id"] for order in world.storefront_orders}
    assert set(sales_orders) <= storefront_ids
    assert set(fulfilments) <= storefront_ids
    for order in world.storefront_orders:
        totals = {key: Decimal(value) for key, value in order["totals"].items()}
        assert totals["total"] == totals["subtotal"] - totals["discount"] + totals["shipping"]
        sales_order = sales_orders.get(order["id"])
        fulfilment = fulfilments.get(order["id"])
        lines = [(line["sku"], line["quantity"]) for line in order["lines"]]
        if fulfilment is not None:
            assert [(line["sku"], line["quantity"]) for line in fulfilment["lines"]] == lines
        if sales_order is not None:
            assert [(line["sku"], line["quantity"]) for line in sales_order["lines"]] == lines
            assert sales_order["financialStatus"] == order["financialStatus"]
            assert (sales_order["terms"] == "NET30") == (order["channel"] == "wholesale")
            assert (sales_order["status"] == "cancelled") == (order["status"] == "cancelled")
        if order["id"] in planted_orders:
            continue
        assert sales_order is not None
        assert sales_order["totals"] == order["totals"]
        if fulfilment is None:
            assert order["fulfilmentStatus"] == "unfulfilled"
        else:
            assert order["fulfilmentStatus"] == STOREFRONT_FULFILMENT[fulfilment["status"]]
            assert (order["status"] == "cancelled") == (fulfilment["status"] == "cancelled")


def test_money_moved_matches_the_orders(world: DemoWorld) -> None:
    charges: dict[str, list[dict[str, Any]]] = {}
    for charge in world.charges:
        charges.setdefault(charge["metadata"]["order_ref"], []).append(charge)
    sales_orders = by_order_ref(world.erp_sales_orders)
    # Orders whose money was planted out of line (see test_money_ground_truth.py).
    money_planted = {p.order_ref for p in world.planted if p.kind in MONEY_KINDS}
    for order in world.storefront_orders:
        mine = charges.get(order["id"], [])
        if order["channel"] == "wholesale" or order["financialStatus"] == "voided":
            assert mine == []
            continue
        if order["id"] in money_planted:
            continue
        assert len(mine) == 1
        (charge,) = mine
        assert charge["status"] == "succeeded"
        assert charge["amount"] == int(Decimal(order["totals"]["total"]) * 100)
        assert charge["amount_refunded"] == sum(refund["amount"] for refund in charge["refunds"])
        sales_order = sales_orders.get(order["id"])
        if sales_order is not None:
            memos = sum(Decimal(memo["amount"]) for memo in sales_order["creditMemos"])
            assert charge["amount_refunded"] == int(memos * 100)
        refunded = {0: "paid", charge["amount"]: "refunded"}.get(
            charge["amount_refunded"], "partially_refunded"
        )
        assert order["financialStatus"] == refunded


def test_payouts_sweep_the_previous_days_transactions(world: DemoWorld) -> None:
    anchor = int(ANCHOR.timestamp())
    statuses = Counter(payout["status"] for payout in world.payouts)
    assert statuses["paid"] > 30
    assert statuses["in_transit"] + statuses["pending"] >= 1
    types = Counter(txn["type"] for txn in world.balance_transactions)
    assert set(types) == {
        "charge",
        "refund",
        "dispute",
        "dispute_reversal",
        "stripe_fee",
        "adjustment",
        "payout",
    }
    previous = 0
    for payout in sorted(world.payouts, key=lambda p: p["created"]):
        assert payout["created"] <= anchor
        assert (payout["status"] == "paid") == (payout["arrival_date"] <= anchor)
        swept = [t for t in world.balance_transactions if t["payout"] == payout["id"]]
        (own,) = [t for t in swept if t["type"] == "payout"]
        assert own["amount"] == -payout["amount"]
        # Each payout sweeps what arrived since the previous one (a carried-over day included).
        assert all(previous <= t["created"] < payout["created"] for t in swept if t is not own)
        previous = payout["created"]
    unpaid = [t for t in world.balance_transactions if t["payout"] is None]
    assert all(t["created"] >= previous for t in unpaid)


def test_stock_allocation_matches_open_fulfilment_orders(world: DemoWorld) -> None:
    held: Counter[tuple[str, str]] = Counter()
    for fulfilment in world.wms_fulfilment_orders:
        if fulfilment["status"] in OPEN_STATUSES:
            for line in fulfilment["lines"]:
                held[line["sku"], fulfilment["locationId"]] += line["quantity"] - line["shipped"]
    assert len(world.wms_stock) == 200 * 3
    for stock in world.wms_stock:
        assert stock["allocated"] == held[stock["sku"], stock["locationId"]]
        assert stock["onHand"] >= stock["allocated"] + stock["damaged"] + stock["qualityHold"]
    assert any(stock["damaged"] for stock in world.wms_stock)
    assert any(stock["qualityHold"] for stock in world.wms_stock)
    assert any(stock["incoming"] for stock in world.wms_stock)
    assert sum(held.values()) > 0


def test_pickup_orders_are_fulfilled_from_stores(world: DemoWorld) -> None:
    fulfilments = by_order_ref(world.wms_fulfilment_orders)
    for order in world.storefront_orders:
        fulfilment = fulfilments.get(order["id"])
        if order["channel"] == "store-pickup":
            assert order["pickupLocationId"] in {"store-london", "store-manchester"}
            if fulfilment is not None:
                assert fulfilment["locationId"] == order["pickupLocationId"]
        elif fulfilment is not None:
            assert fulfilment["locationId"] == "dc-north"


def test_change_feeds_end_in_the_records_served(world: DemoWorld) -> None:
    served = {
        "storefront": {r["id"]: r for r in world.storefront_orders},
        "erp": {r["id"]: r for r in world.erp_sales_orders}
        | {r["sku"]: r for r in world.erp_items},
        "wms": {
            r["id"]: r
            for r in world.wms_fulfilment_orders
            + world.reported_exceptions
            + world.inventory_movements
        },
        "payments": {r["id"]: r for r in world.charges + world.payouts},
    }
    anchor = ANCHOR.isoformat()
    for kind, events in world.events.items():
        assert [event["sequence"] for event in events] == list(range(1, len(events) + 1))
        assert [event["id"] for event in events] == [f"evt_{kind}_{e['sequence']}" for e in events]
        moments = [event["occurredAt"] for event in events]
        assert moments == sorted(moments)
        assert moments[-1] <= anchor
        latest = {event["recordId"]: event["data"] for event in events}
        assert latest == served[kind], kind


def test_event_types_per_kind(world: DemoWorld) -> None:
    types = {kind: {event["type"] for event in events} for kind, events in world.events.items()}
    assert types["storefront"] == {
        "order.created",
        "order.updated",
        "order.cancelled",
        "order.closed",
    }
    assert types["erp"] == {
        "item.created",
        "sales_order.created",
        "sales_order.released",
        "sales_order.closed",
        "sales_order.cancelled",
        "sales_order.updated",  # a refund the ERP heard of without a credit memo (planted)
        "credit_memo.issued",
    }
    assert types["wms"] == {f"fulfilment_order.{status}" for status in STOREFRONT_FULFILMENT} | {
        "fulfilment_order.compliance_hold",
        "fulfilment_order.asn_sent",
        "exception.reported",
    } | {f"inventory.{movement}" for movement in MOVEMENTS}
    assert types["payments"] == {
        "charge.succeeded",
        "charge.refunded",
        "charge.dispute.created",
        "charge.dispute.closed",
        "payout.created",
        "payout.paid",
    }


# -- the exceptions the WMS reports -------------------------------------------------------------

PICKUP_HOLD = timedelta(days=3)


def observed_exceptions(world: DemoWorld) -> set[tuple[str, str, str | None, int | None]]:
    """What the fulfilment lines show, as (kind, fulfilment order, sku, units)."""
    found: set[tuple[str, str, str | None, int | None]] = set()
    for fulfilment in world.wms_fulfilment_orders:
        if fulfilment["status"] in OPEN_STATUSES - {"ready_for_pickup"}:
            for line in fulfilment["lines"]:
                if line["short"]:
                    found.add(("SHORT_PICK", fulfilment["id"], line["sku"], line["short"]))
                if line["damaged"]:
                    found.add(("DAMAGE", fulfilment["id"], line["sku"], line["damaged"]))
        hold = fulfilment["pickupHoldUntil"]
        if fulfilment["status"] == "ready_for_pickup" and datetime.fromisoformat(hold) < ANCHOR:
            found.add(("MISSED_PICKUP", fulfilment["id"], None, None))
    return found


def reported(world: DemoWorld) -> set[tuple[str, str, str | None, int | None]]:
    return {
        (r["kind"], r["fulfilmentOrderId"], r["sku"], r["quantity"])
        for r in world.reported_exceptions
    }


@pytest.mark.parametrize(("orders", "each"), [(40, 1), (60, 1), (160, 2), (300, 5)])
def test_reported_exceptions_are_exactly_what_the_lines_show(orders: int, each: int) -> None:
    world = build_world(seed=7, orders=orders, anchor=ANCHOR)
    assert observed_exceptions(world) == reported(world)
    counts = Counter(report["kind"] for report in world.reported_exceptions)
    assert counts == {kind: each for kind in EXCEPTION_KINDS}
    for kind in EXCEPTION_KINDS:
        assert world.reported_of(kind) == [
            r for r in world.reported_exceptions if r["kind"] == kind
        ]
    with pytest.raises(ValueError, match="unknown exception kind"):
        world.reported_of("FIRE")


def test_reported_exceptions_hold_across_seeds() -> None:
    for seed in range(1, 9):
        world = build_world(seed=seed, orders=40, anchor=ANCHOR)
        assert observed_exceptions(world) == reported(world)
        assert {report["kind"] for report in world.reported_exceptions} == set(EXCEPTION_KINDS)


def test_a_report_says_what_the_fulfilment_order_shows(world: DemoWorld) -> None:
    fulfilments = {f["id"]: f for f in world.wms_fulfilment_orders}
    orders = {o["id"]: o for o in world.storefront_orders}
    items = {item["sku"]: item for item in world.erp_items}
    planted = {p.order_ref for p in world.planted}
    ids = [report["id"] for report in world.reported_exceptions]
    assert ids == [f"EXR-{n:06d}" for n in range(1, len(ids) + 1)]
    moments = [report["reportedAt"] for report in world.reported_exceptions]
    assert moments == sorted(moments)
    assert moments[-1] < ANCHOR.isoformat()
    for report in world.reported_exceptions:
        fulfilment = fulfilments[report["fulfilmentOrderId"]]
        assert report["orderRef"] == fulfilment["orderRef"] not in planted
        assert report["locationId"] == fulfilment["locationId"]
        assert report["reportedAt"] > fulfilment["releasedAt"]
        order = orders[report["orderRef"]]
        if report["kind"] == "MISSED_PICKUP":
            assert (report["sku"], report["quantity"]) == (None, None)
            assert order["fulfilmentStatus"] == "ready_for_pickup"
            assert order["status"] == "open"
            assert report["reportedAt"] == fulfilment["pickupHoldUntil"]
            ready = datetime.fromisoformat(fulfilment["updatedAt"])
            assert ANCHOR - ready > PICKUP_HOLD
        else:
            assert fulfilment["locationId"] == "dc-north"
            assert fulfilment["status"] in {"picked", "packed", "partially_shipped"}
            (line,) = [li for li in fulfilment["lines"] if li["sku"] == report["sku"]]
            assert line["shipped"] == 0
            assert line["picked"] == line["quantity"] - report["quantity"]
            assert line["packed"] == (line["picked"] if fulfilment["status"] != "picked" else 0)
            assert items[report["sku"]]["name"] in report["detail"]
        assert report["fulfilmentOrderId"] in report["detail"]


def test_one_report_is_sent_twice(world: DemoWorld) -> None:
    events = [e for e in world.events["wms"] if e["type"] == "exception.reported"]
    assert {e["recordType"] for e in events} == {"exception_report"}
    assert {e["recordId"] for e in events} == {r["id"] for r in world.reported_exceptions}
    assert len(events) == len(world.reported_exceptions) + 1
    sent = Counter(event["recordId"] for event in events)
    ((again, times),) = [(report_id, n) for report_id, n in sent.items() if n > 1]
    assert times == 2
    first, second = [e for e in events if e["recordId"] == again]
    assert first["data"] == second["data"]
    assert first["id"] != second["id"]
    assert first["sequence"] < second["sequence"]
    assert first["occurredAt"] == first["data"]["reportedAt"] < second["occurredAt"]


def test_damaged_units_sit_in_their_locations_damaged_stock(world: DemoWorld) -> None:
    stock = {(row["sku"], row["locationId"]): row for row in world.wms_stock}
    for report in world.reported_of("DAMAGE"):
        row = stock[report["sku"], report["locationId"]]
        assert row["damaged"] >= report["quantity"]
        assert row["onHand"] >= row["allocated"] + row["damaged"] + row["qualityHold"]


def test_every_record_carries_the_fields_commands_change(world: DemoWorld) -> None:
    for fulfilment in world.wms_fulfilment_orders:
        pickup = fulfilment["locationId"] != "dc-north"
        # A collected order brought back to the store keeps the hold it was collected under.
        assert (fulfilment["pickupHoldUntil"] is not None) == (
            pickup and fulfilment["status"] in {"ready_for_pickup", "picked_up", "returned"}
        )
        for line in fulfilment["lines"]:
            assert (line["cancelled"], line["backordered"], line["substituted"]) == (0, 0, 0)
            assert line["substituteFor"] is None
    refunded_unreturned = {p.order_ref for p in world.planted_of("refund_without_return")}
    for order in world.storefront_orders:
        assert order["notifications"] == []
        returned = any(
            f["status"] in {"returned", "partially_returned"}
            for f in world.wms_fulfilment_orders
            if f["orderRef"] == order["id"]
        )
        if order["id"] in refunded_unreturned:
            assert [r["status"] for r in order["returns"]] == ["requested"]
            continue
        assert [r["status"] for r in order["returns"]] == (["received"] if returned else [])
    assert all(
        line["priceConfirmedAt"] is None for s in world.erp_sales_orders for line in s["lines"]
    )
    assert all(payout["metadata"] == {} for payout in world.payouts)


# -- the wholesale branch -----------------------------------------------------------------------

HOLDABLE = {"released", "picking", "picked", "packed"}
PACKED_OR_LATER = {"packed", "partially_shipped", "shipped", "delivered", "returned"}
BRANCH_STATES = {"SCHEDULED", "COMPLIANCE_HOLD", "ASN_SENT"}
BRANCH_EVENTS = {"fulfilment_order.compliance_hold", "fulfilment_order.asn_sent"}


def wholesale_states(world: DemoWorld) -> Counter[str]:
    """The wholesale branch each trade order shows, read off the records alone."""
    sales_orders = by_order_ref(world.erp_sales_orders)
    fulfilments = by_order_ref(world.wms_fulfilment_orders)
    states: Counter[str] = Counter()
    for order in world.storefront_orders:
        if order["channel"] != "wholesale":
            continue
        fulfilment = fulfilments.get(order["id"])
        status = None if fulfilment is None else fulfilment["status"]
        if order["status"] == "cancelled" or status == "cancelled":
            state = "CANCELLED"
        elif fulfilment is not None and fulfilment["complianceHold"] is not None:
            state = "COMPLIANCE_HOLD"
        elif status in {"shipped", "delivered", "partially_returned", "returned"}:
            state = "SHIPPED"
        elif fulfilment is not None and fulfilment["asnSentAt"] is not None:
            state = "ASN_SENT"
        elif fulfilment is not None:
            state = "IN_FULFILMENT"
        else:
            ship_date = date.fromisoformat(sales_orders[order["id"]]["requestedShipDate"])
            state = "SCHEDULED" if ship_date > ANCHOR.date() else "AWAITING_RELEASE"
        states[state] += 1
    return states


def trade_refs(world: DemoWorld) -> set[str]:
    return {order["id"] for order in world.storefront_orders if order["channel"] == "wholesale"}


@pytest.mark.parametrize(
    ("orders", "seed"), [(300, 7), (40, 1), (40, 2), (40, 3), (40, 7), (40, 8)]
)
def test_every_wholesale_branch_state_appears(orders: int, seed: int) -> None:
    world = build_world(seed=seed, orders=orders, anchor=ANCHOR)
    states = wholesale_states(world)
    assert set(states) >= BRANCH_STATES, states
    if orders == 300:
        assert 2 <= states["COMPLIANCE_HOLD"] <= 4, states
        # An order that is packed, its ASN out and nothing shipped, not only part-shipped ones.
        assert any(
            f["status"] == "packed" and f["asnSentAt"] and not f["complianceHold"]
            for f in world.wms_fulfilment_orders
        )


@pytest.mark.parametrize(("orders", "seed"), [(300, 7), (40, 7), (40, 3)])
def test_compliance_holds_sit_only_on_unsettled_wholesale_orders(orders: int, seed: int) -> None:
    world = build_world(seed=seed, orders=orders, anchor=ANCHOR)
    trade = trade_refs(world)
    planted = {p.order_ref for p in world.planted}
    held = [f for f in world.wms_fulfilment_orders if f["complianceHold"] is not None]
    assert held
    for fulfilment in held:
        hold = fulfilment["complianceHold"]
        assert set(hold) == {"reason", "since"}
        assert fulfilment["orderRef"] in trade - planted
        assert fulfilment["status"] in HOLDABLE
        assert fulfilment["shipments"] == []
        assert fulfilment["asnSentAt"] is None  # a held order sends no ASN
        assert "retailer" in hold["reason"]
        since = datetime.fromisoformat(hold["since"])
        assert datetime.fromisoformat(fulfilment["releasedAt"]) < since < ANCHOR
        assert hold["since"] == fulfilment["updatedAt"]


@pytest.mark.parametrize(("orders", "seed"), [(300, 7), (40, 7), (40, 3)])
def test_asns_go_out_for_wholesale_orders_once_packed(orders: int, seed: int) -> None:
    world = build_world(seed=seed, orders=orders, anchor=ANCHOR)
    trade = trade_refs(world)
    for fulfilment in world.wms_fulfilment_orders:
        packed = fulfilment["status"] in PACKED_OR_LATER
        wholesale = fulfilment["orderRef"] in trade
        unheld = fulfilment["complianceHold"] is None
        sent = fulfilment["asnSentAt"]
        assert (sent is not None) == (wholesale and packed and unheld), fulfilment["id"]
        if sent is None:
            continue
        assert fulfilment["releasedAt"] < sent < ANCHOR.isoformat()
        # Before or at shipping: the retailer hears before the truck arrives.
        assert all(sent <= shipment["shippedAt"] for shipment in fulfilment["shipments"])


@pytest.mark.parametrize(("orders", "seed"), [(300, 7), (40, 7)])
def test_wholesale_sales_orders_carry_a_requested_ship_date(orders: int, seed: int) -> None:
    world = build_world(seed=seed, orders=orders, anchor=ANCHOR)
    trade = trade_refs(world)
    fulfilments = by_order_ref(world.wms_fulfilment_orders)
    scheduled = 0
    for sales_order in world.erp_sales_orders:
        requested = sales_order["requestedShipDate"]
        if sales_order["orderRef"] not in trade:
            assert requested is None
            continue
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", requested), requested
        fulfilment = fulfilments.get(sales_order["orderRef"])
        if fulfilment is not None:
            # The ERP released it to the warehouse on the day it was due to ship.
            assert requested == fulfilment["releasedAt"][:10]
        elif date.fromisoformat(requested) > ANCHOR.date():
            assert sales_order["status"] == "open"
            scheduled += 1
    assert scheduled >= 1


def test_branch_events_say_when_the_hold_and_the_asn_came(world: DemoWorld) -> None:
    events = [e for e in world.events["wms"] if e["type"] in BRANCH_EVENTS]
    holds = {
        (e["recordId"], e["occurredAt"])
        for e in events
        if e["type"] == "fulfilment_order.compliance_hold"
    }
    asns = {
        (e["recordId"], e["occurredAt"]) for e in events if e["type"] == "fulfilment_order.asn_sent"
    }
    assert len(holds) + len(asns) == len(events)
    fulfilments = world.wms_fulfilment_orders
    assert holds == {
        (f["id"], f["complianceHold"]["since"]) for f in fulfilments if f["complianceHold"]
    }
    assert asns == {(f["id"], f["asnSentAt"]) for f in fulfilments if f["asnSentAt"]}
    for event in events:
        assert event["data"]["updatedAt"] == event["occurredAt"]


def without_branch(record: dict[str, Any]) -> dict[str, Any]:
    """A fulfilment order as it would read had the branch never touched it."""
    stripped = {
        key: value for key, value in record.items() if key not in {"complianceHold", "asnSentAt"}
    }
    stripped.pop("updatedAt")
    return stripped


def test_the_wholesale_branch_leaves_every_other_record_as_it_was(
    world: DemoWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(world_module, "plan_wholesale", lambda *args: None)
    plain = build_world(seed=7, orders=300, anchor=ANCHOR)
    assert plain.storefront_orders == world.storefront_orders
    assert (plain.charges, plain.payouts) == (world.charges, world.payouts)
    assert plain.balance_transactions == world.balance_transactions
    assert plain.wms_stock == world.wms_stock
    assert (plain.planted, plain.reported_exceptions) == (world.planted, world.reported_exceptions)
    assert [{**s, "requestedShipDate": None} for s in world.erp_sales_orders] == (
        plain.erp_sales_orders
    )
    touched = {e["recordId"] for e in world.events["wms"] if e["type"] in BRANCH_EVENTS}
    for before, after in zip(plain.wms_fulfilment_orders, world.wms_fulfilment_orders, strict=True):
        if after["id"] in touched:
            assert without_branch(before) == without_branch(after)
        else:
            assert before == after
    for kind in ("storefront", "payments"):
        assert plain.events[kind] == world.events[kind]
    wms = [e for e in world.events["wms"] if e["type"] not in BRANCH_EVENTS]
    assert [(e["type"], e["recordId"], e["occurredAt"]) for e in wms] == [
        (e["type"], e["recordId"], e["occurredAt"]) for e in plain.events["wms"]
    ]
