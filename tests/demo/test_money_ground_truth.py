"""Every balance transaction of the demo world has its counterparts in the other systems,
except exactly the money mismatches planted on purpose; disputes match their charges; and the
processor's balance transactions page the way the card processors' do."""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal
from typing import Any

import httpx
import pytest

from omnigraph.demo import DemoWorld, build_world, create_payments_app
from omnigraph.demo import world as world_module
from omnigraph.demo.money import MONEY_KINDS, MoneyPlan, dispute_count

from .conftest import ANCHOR

Record = dict[str, Any]
DISPUTE_FEE = 1500
RETURN_KINDS = {"refund_without_return", "return_without_refund", "refund_without_credit_memo"}


def minor(amount: str) -> int:
    return int(Decimal(amount) * 100)


def observed_money_mismatches(world: DemoWorld) -> set[tuple[str, str]]:
    """What a careful reconciler finds, as (kind, record_ref), reading only the records: each
    balance transaction against its counterparts, and each received return against a refund.

    Anything out of line that is none of the planted kinds shows under a kind of its own, so
    comparing with the planted set also proves that nothing else is out of line.
    """
    found: set[tuple[str, str]] = set()
    orders = {order["id"]: order for order in world.storefront_orders}
    sales_orders = {s["orderRef"]: s for s in world.erp_sales_orders}
    fulfilments = {f["orderRef"]: f for f in world.wms_fulfilment_orders}
    charges = {charge["id"]: charge for charge in world.charges}
    refunds = {r["id"]: (r, c) for c in world.charges for r in c["refunds"]}
    disputes = {d["id"]: (d, c) for c in world.charges for d in c["disputes"]}

    def money_of(order: Record, kind: str, gateway_ref: str) -> list[Record]:
        return [
            t for t in order["transactions"] if t["kind"] == kind and t["gatewayRef"] == gateway_ref
        ]

    for txn in world.balance_transactions:
        if txn["currency"] != "gbp" or txn["net"] != txn["amount"] - txn["fee"]:
            found.add(("malformed_transaction", txn["id"]))
        if txn["type"] == "charge":
            charge = charges[txn["source"]]
            order = orders.get(charge["metadata"]["order_ref"])
            if order is None:
                found.add(("charge_without_order", txn["id"]))
                continue
            captures = [t for t in order["transactions"] if t["kind"] == "capture"]
            mine = money_of(order, "capture", charge["id"])
            if not mine:
                found.add(("duplicate_charge" if captures else "uncaptured_charge", txn["id"]))
            elif len(mine) > 1:
                found.add(("captured_twice", txn["id"]))
            elif mine[0]["currency"].lower() != charge["currency"]:
                found.add(("currency_mismatch", txn["id"]))
            elif minor(mine[0]["amount"]) != charge["amount"] or txn["amount"] != charge["amount"]:
                found.add(("capture_amount_mismatch", txn["id"]))
            if (txn["exchange_rate"] is None) != (charge["currency"] == "gbp"):
                found.add(("exchange_rate_out_of_place", txn["id"]))
        elif txn["type"] == "refund":
            refund, charge = refunds[txn["source"]]
            order = orders[charge["metadata"]["order_ref"]]
            recorded = money_of(order, "refund", refund["id"])
            if len(recorded) != 1 or not minor(recorded[0]["amount"]) == refund["amount"] == (
                -txn["amount"]
            ):
                found.add(("refund_not_recorded", txn["id"]))
                continue
            (entry,) = recorded
            memos = sales_orders[order["id"]]["creditMemos"] if order["id"] in sales_orders else []
            if entry["returnId"] is None:
                cancelled = [
                    m for m in memos if m["returnRef"] is None and m["reason"] == "cancellation"
                ]
                if [m["amount"] for m in cancelled] != [entry["amount"]]:
                    found.add(("cancellation_without_credit_memo", txn["id"]))
                continue
            fulfilment = fulfilments.get(order["id"])
            receipts = [
                r
                for r in (fulfilment["returnReceipts"] if fulfilment else [])
                if r["rmaRef"] == entry["returnId"]
            ]
            if not receipts:
                found.add(("refund_without_return", txn["id"]))
            memo = [m for m in memos if m["returnRef"] == entry["returnId"]]
            if not memo:
                found.add(("refund_without_credit_memo", txn["id"]))
            elif [m["amount"] for m in memo] != [entry["amount"]] or memo[0]["reason"] != "return":
                found.add(("credit_memo_out_of_line", txn["id"]))
        elif txn["type"] in {"dispute", "dispute_reversal"}:
            dispute, charge = disputes[txn["source"]]
            sign = -1 if txn["type"] == "dispute" else 1
            won = dispute["status"] == "won"
            if (
                (txn["amount"], txn["fee"]) != (sign * charge["amount"], -sign * DISPUTE_FEE)
                or dispute["amount"] != charge["amount"]
                or (txn["type"] == "dispute_reversal" and not won)
            ):
                found.add(("dispute_out_of_line", txn["id"]))
        elif txn["type"] not in {"stripe_fee", "adjustment", "payout"}:
            found.add(("unknown_transaction", txn["id"]))

    # Goods back with no money back: no balance transaction points at these.
    refunded = {
        t["returnId"] for o in world.storefront_orders for t in o["transactions"] if t["returnId"]
    }
    for fulfilment in world.wms_fulfilment_orders:
        for receipt in fulfilment["returnReceipts"]:
            if receipt["rmaRef"] not in refunded:
                found.add(("return_without_refund", receipt["rmaRef"]))
    # And the other way round: nothing the storefront or the ERP recorded lacks its money.
    for order in world.storefront_orders:
        for entry in order["transactions"]:
            known = charges if entry["kind"] == "capture" else refunds
            if entry["gatewayRef"] not in known or entry["currency"] != order["currency"]:
                found.add(("storefront_money_without_processor", entry["id"]))
    for sales_order in world.erp_sales_orders:
        order = orders[sales_order["orderRef"]]
        for memo in sales_order["creditMemos"]:
            backed = [
                t
                for t in order["transactions"]
                if t["kind"] == "refund"
                and t["returnId"] == memo["returnRef"]
                and t["amount"] == memo["amount"]
            ]
            if len(backed) != 1:
                found.add(("credit_memo_without_refund", memo["id"]))
    return found


def money_planted(world: DemoWorld) -> set[tuple[str, str]]:
    return {(p.kind, p.record_ref) for p in world.planted if p.kind in MONEY_KINDS}


@pytest.fixture(scope="module", params=[7, 11])
def seeded(request: pytest.FixtureRequest) -> DemoWorld:
    return build_world(seed=request.param, orders=300, anchor=ANCHOR)


def test_every_money_plant_and_nothing_else_shows_in_the_records(seeded: DemoWorld) -> None:
    assert observed_money_mismatches(seeded) == money_planted(seeded)
    counts = Counter(p.kind for p in seeded.planted if p.kind in MONEY_KINDS)
    assert counts == dict.fromkeys(MONEY_KINDS, world_module._planted_count(300))


@pytest.mark.parametrize(("seed", "orders"), [(1, 40), (3, 40), (9, 40), (2, 60), (7, 160)])
def test_small_worlds_plant_every_money_kind_too(seed: int, orders: int) -> None:
    world = build_world(seed=seed, orders=orders, anchor=ANCHOR)
    assert observed_money_mismatches(world) == money_planted(world)
    counts = Counter(p.kind for p in world.planted if p.kind in MONEY_KINDS)
    assert counts == dict.fromkeys(MONEY_KINDS, world_module._planted_count(orders))


def test_planted_orders_are_distinct_card_paid_retail_orders(seeded: DemoWorld) -> None:
    orders = {order["id"]: order for order in seeded.storefront_orders}
    refs = [p.order_ref for p in seeded.planted if p.kind in MONEY_KINDS]
    assert len(refs) == len(set(refs))
    others = {p.order_ref for p in seeded.planted if p.kind not in MONEY_KINDS}
    assert not others & set(refs)
    for planted in seeded.planted:
        if planted.kind in MONEY_KINDS and planted.kind != "charge_without_order":
            order = orders[planted.order_ref]
            assert order["channel"] in {"web", "marketplace", "store-pickup"}
            assert order["status"] != "cancelled"
            assert order["transactions"][0]["kind"] == "capture"


def test_every_clean_charge_has_exactly_one_capture_of_its_amount(seeded: DemoWorld) -> None:
    planted = {p.record_ref for p in seeded.planted}
    orders = {order["id"]: order for order in seeded.storefront_orders}
    charges = {charge["id"]: charge for charge in seeded.charges}
    clean = [
        t for t in seeded.balance_transactions if t["type"] == "charge" and t["id"] not in planted
    ]
    assert len(clean) > 200
    for txn in clean:
        charge = charges[txn["source"]]
        order = orders[charge["metadata"]["order_ref"]]
        (capture,) = [t for t in order["transactions"] if t["kind"] == "capture"]
        assert capture["gatewayRef"] == charge["id"]
        assert minor(capture["amount"]) == charge["amount"] == txn["amount"]
        assert capture["currency"].lower() == charge["currency"] == txn["currency"] == "gbp"
        assert txn["exchange_rate"] is None
        assert capture["processedAt"] <= order["updatedAt"]


def test_storefront_money_is_shaped_and_numbered(seeded: DemoWorld) -> None:
    entries = [t for order in seeded.storefront_orders for t in order["transactions"]]
    numbers = sorted(int(t["id"].removeprefix("TX-")) for t in entries)
    assert numbers == list(range(1, len(entries) + 1))
    for order in seeded.storefront_orders:
        money = order["transactions"]
        assert [t["processedAt"] for t in money] == sorted(t["processedAt"] for t in money)
        if order["channel"] == "wholesale" or order["financialStatus"] == "voided":
            assert money == []
        for entry in money:
            assert set(entry) == {
                "id",
                "kind",
                "amount",
                "currency",
                "gatewayRef",
                "processedAt",
                "returnId",
            }
            assert entry["gatewayRef"].startswith("ch_" if entry["kind"] == "capture" else "re_")
            returns = {r["id"] for r in order["returns"]}
            assert entry["returnId"] is None or entry["returnId"] in returns


def test_each_planted_record_is_where_it_is_said_to_be(seeded: DemoWorld) -> None:
    txns = {txn["id"]: txn for txn in seeded.balance_transactions}
    charges = {charge["id"]: charge for charge in seeded.charges}
    refunds = {r["id"]: c for c in seeded.charges for r in c["refunds"]}
    orders = {order["id"]: order for order in seeded.storefront_orders}
    sales_orders = {s["orderRef"]: s for s in seeded.erp_sales_orders}
    fulfilments = {f["orderRef"]: f for f in seeded.wms_fulfilment_orders}
    swept = {p["id"] for p in seeded.payouts}
    for planted in seeded.planted:
        if planted.kind not in MONEY_KINDS:
            continue
        if planted.kind == "return_without_refund":
            order = orders[planted.order_ref]
            (rma,) = order["returns"]
            assert (rma["id"], rma["status"]) == (planted.record_ref, "received")
            (receipt,) = fulfilments[order["id"]]["returnReceipts"]
            assert receipt["rmaRef"] == rma["id"]
            assert order["financialStatus"] == sales_orders[order["id"]]["financialStatus"]
            assert order["financialStatus"] == "paid"
            assert sales_orders[order["id"]]["creditMemos"] == []
            continue
        txn = txns[planted.record_ref]
        assert txn["payout"] in swept, planted
        if planted.kind in {"refund_without_return", "refund_without_credit_memo"}:
            assert txn["type"] == "refund"
            order = orders[planted.order_ref]
            assert refunds[txn["source"]]["metadata"]["order_ref"] == order["id"]
            (rma,) = order["returns"]
            status = "requested" if planted.kind == "refund_without_return" else "received"
            assert rma["status"] == status
            sales_order = sales_orders[order["id"]]
            assert order["financialStatus"] == sales_order["financialStatus"] == "refunded"
            receipts = fulfilments[order["id"]]["returnReceipts"]
            memos = sales_order["creditMemos"]
            if planted.kind == "refund_without_return":
                assert receipts == []
                assert [m["returnRef"] for m in memos] == [rma["id"]]
            else:
                assert [r["rmaRef"] for r in receipts] == [rma["id"]]
                assert memos == []
            continue
        assert txn["type"] == "charge"
        charge = charges[txn["source"]]
        assert charge["metadata"]["order_ref"] == planted.order_ref
        if planted.kind == "charge_without_order":
            assert planted.order_ref not in orders
        elif planted.kind == "currency_mismatch":
            assert (charge["currency"], txn["currency"]) == ("eur", "gbp")
            assert isinstance(txn["exchange_rate"], float)
            assert txn["amount"] == round(charge["amount"] * txn["exchange_rate"])
        elif planted.kind == "capture_amount_mismatch":
            (capture,) = orders[planted.order_ref]["transactions"]
            assert 0 < abs(charge["amount"] - minor(capture["amount"])) <= 300
            assert txn["amount"] == charge["amount"]
        else:
            (first,) = [
                c
                for c in seeded.charges
                if c["metadata"]["order_ref"] == planted.order_ref and c is not charge
            ]
            assert first["amount"] == charge["amount"]
            assert first["created"] < charge["created"]
            assert first["balance_transaction"] < txn["id"]
    exchanged = [t for t in seeded.balance_transactions if t["exchange_rate"] is not None]
    assert {t["id"] for t in exchanged} == {
        p.record_ref for p in seeded.planted if p.kind == "currency_mismatch"
    }


def test_disputes_match_their_charges(seeded: DemoWorld) -> None:
    disputed = [charge for charge in seeded.charges if charge["disputed"]]
    assert len(disputed) == dispute_count(300)
    assert all(c["disputes"] == [] for c in seeded.charges if not c["disputed"])
    planted = {p.order_ref for p in seeded.planted}
    anchor = int(ANCHOR.timestamp())
    statuses = Counter()
    for charge in disputed:
        assert charge["metadata"]["order_ref"] not in planted
        (dispute,) = charge["disputes"]
        assert set(dispute) == {"id", "amount", "status", "created"}
        assert dispute["amount"] == charge["amount"]
        assert charge["created"] < dispute["created"] < anchor
        statuses[dispute["status"]] += 1
        txns = [t for t in seeded.balance_transactions if t["source"] == dispute["id"]]
        expected = [("dispute", "dispute", -charge["amount"], DISPUTE_FEE)]
        if dispute["status"] == "won":
            expected.append(
                ("dispute_reversal", "dispute_reversal", charge["amount"], -DISPUTE_FEE)
            )
        assert [(t["type"], t["reporting_category"], t["amount"], t["fee"]) for t in txns] == (
            expected
        )
        assert all(t["payout"] is not None for t in txns)
        assert txns[0]["created"] == dispute["created"]
    assert set(statuses) == {"won", "lost"}
    assert statuses["won"] == len(disputed) // 2


def test_reporting_categories_follow_the_types(seeded: DemoWorld) -> None:
    categories = {(t["type"], t["reporting_category"]) for t in seeded.balance_transactions}
    documented = {
        ("charge", "charge"),
        ("refund", "refund"),
        ("dispute", "dispute"),
        ("dispute_reversal", "dispute_reversal"),
        ("stripe_fee", "fee"),
        ("adjustment", "adjustment"),
        ("payout", "payout"),
    }
    # Manual adjustments are rare: a world may have none.
    assert documented - {("adjustment", "adjustment")} <= categories <= documented


def test_every_return_has_its_receipt_refund_and_credit_memo(seeded: DemoWorld) -> None:
    planted = {p.order_ref for p in seeded.planted if p.kind in RETURN_KINDS}
    sales_orders = {s["orderRef"]: s for s in seeded.erp_sales_orders}
    fulfilments = {f["orderRef"]: f for f in seeded.wms_fulfilment_orders}
    movements = {
        (m["fulfilmentOrderId"], m["sku"], m["occurredAt"]): m["disposition"]
        for m in seeded.inventory_movements
        if m["movement"] == "return_receipt"
    }
    returned = 0
    for order in seeded.storefront_orders:
        if not order["returns"] or order["id"] in planted:
            continue
        returned += 1
        (rma,) = order["returns"]
        fulfilment = fulfilments[order["id"]]
        (receipt,) = fulfilment["returnReceipts"]
        assert receipt["rmaRef"] == rma["id"]
        assert [(li["sku"], li["quantity"]) for li in receipt["lines"]] == [
            (li["sku"], li["quantity"]) for li in rma["lines"]
        ]
        for line in receipt["lines"]:
            key = (fulfilment["id"], line["sku"], receipt["receivedAt"])
            assert line["disposition"] == movements[key]
        (refund,) = [t for t in order["transactions"] if t["kind"] == "refund"]
        assert refund["returnId"] == rma["id"]
        (memo,) = sales_orders[order["id"]]["creditMemos"]
        assert (memo["returnRef"], memo["amount"]) == (rma["id"], refund["amount"])
    assert returned >= 10
    receipts = [r for f in seeded.wms_fulfilment_orders for r in f["returnReceipts"]]
    assert [r["id"] for r in sorted(receipts, key=lambda r: r["id"])] == [
        f"RR-{n:06d}" for n in range(1, len(receipts) + 1)
    ]


def test_money_plants_leave_every_other_record_as_it_was(
    seeded: DemoWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_plants(rng: Any, story: Any, anchor: Any, count: int, disputes: int) -> MoneyPlan:
        empty: dict[str, list[int]] = {kind: [] for kind in MONEY_KINDS}
        return MoneyPlan(rng=rng, anchor=anchor, count=0, targets=empty, disputed=[])

    monkeypatch.setattr(world_module, "plan_money", no_plants)
    plain = build_world(seed=seeded.seed, orders=300, anchor=ANCHOR)
    touched = {p.order_ref for p in seeded.planted if p.kind in MONEY_KINDS}
    returned = {p.order_ref for p in seeded.planted if p.kind in RETURN_KINDS}
    disputed = {c["id"] for c in seeded.charges if c["disputed"]}

    def without_grades(fulfilment: Record) -> Record:
        # How returns were graded is chosen with the stock history, which every received
        # return (planted ones too) takes part in.
        receipts = [
            {**r, "lines": [{**li, "disposition": None} for li in r["lines"]]}
            for r in fulfilment["returnReceipts"]
        ]
        return {**fulfilment, "returnReceipts": receipts}

    def kept(records: list[Record], ref: str = "orderRef") -> list[Record]:
        return [r for r in records if r[ref] not in returned]

    assert kept(plain.storefront_orders, "id") == kept(seeded.storefront_orders, "id")
    assert kept(plain.erp_sales_orders) == kept(seeded.erp_sales_orders)
    assert [without_grades(f) for f in kept(plain.wms_fulfilment_orders)] == [
        without_grades(f) for f in kept(seeded.wms_fulfilment_orders)
    ]
    assert plain.wms_stock == seeded.wms_stock
    assert plain.reported_exceptions == seeded.reported_exceptions
    others = [p for p in seeded.planted if p.kind not in {*MONEY_KINDS, "payout_variance"}]
    assert [p for p in plain.planted if p.kind != "payout_variance"] == others
    charges = {c["id"]: c for c in seeded.charges}
    for charge in plain.charges:
        if charge["metadata"]["order_ref"] not in touched and charge["id"] not in disputed:
            assert charges[charge["id"]] == charge
    txns = {t["id"]: t for t in seeded.balance_transactions}
    for txn in plain.balance_transactions:
        source = charges.get(txn["source"] or "")
        planted = source is not None and (
            source["id"] in disputed or source["metadata"]["order_ref"] in touched
        )
        if txn["type"] != "payout" and not planted:
            assert {**txns[txn["id"]], "payout": None} == {**txn, "payout": None}


def test_the_same_seed_plants_the_same_money() -> None:
    first = build_world(seed=11, orders=300, anchor=ANCHOR)
    again = build_world(seed=11, orders=300, anchor=ANCHOR)
    assert json.dumps(first.as_json(), sort_keys=True) == json.dumps(
        again.as_json(), sort_keys=True
    )


# -- the processor's list of balance transactions ----------------------------------------------


@pytest.fixture
async def payments(small_world: DemoWorld) -> Any:
    transport = httpx.ASGITransport(app=create_payments_app(small_world))
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
        yield client


def by_id(txn: Record) -> tuple[int, str]:
    return len(txn["id"]), txn["id"]


async def test_balance_transactions_page_by_id(
    payments: httpx.AsyncClient, small_world: DemoWorld
) -> None:
    seen: list[Record] = []
    params: dict[str, Any] = {"limit": 40}
    pages = 0
    while True:
        body = (await payments.get("/balance-transactions", params=params)).json()
        assert (body["object"], body["url"]) == ("list", "/balance-transactions")
        seen += body["data"]
        pages += 1
        if not body["has_more"]:
            break
        assert len(body["data"]) == 40
        params["starting_after"] = body["data"][-1]["id"]
    assert seen == sorted(small_world.balance_transactions, key=by_id)
    assert pages == -(-len(seen) // 40)
    everything = (await payments.get("/balance-transactions", params={"limit": 1000})).json()
    assert (everything["data"], everything["has_more"]) == (seen, False)
    default = (await payments.get("/balance-transactions")).json()
    assert default["data"] == seen[:100]
    assert default["has_more"] == (len(seen) > 100)


async def test_balance_transactions_of_one_payout(
    payments: httpx.AsyncClient, small_world: DemoWorld
) -> None:
    payout = max(
        small_world.payouts,
        key=lambda p: sum(t["payout"] == p["id"] for t in small_world.balance_transactions),
    )
    swept = (
        await payments.post("/balance-transactions/by-payout", json={"payoutIds": [payout["id"]]})
    ).json()["data"]
    assert len(swept) > 2
    first = (
        await payments.get("/balance-transactions", params={"payout": payout["id"], "limit": 2})
    ).json()
    assert first["has_more"]
    rest = (
        await payments.get(
            "/balance-transactions",
            params={"payout": payout["id"], "starting_after": first["data"][-1]["id"]},
        )
    ).json()
    assert not rest["has_more"]
    assert first["data"] + rest["data"] == sorted(swept, key=by_id)
    assert all(t["payout"] == payout["id"] for t in first["data"] + rest["data"])
    nothing = (await payments.get("/balance-transactions", params={"payout": "po_nope"})).json()
    assert (nothing["data"], nothing["has_more"]) == ([], False)


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("limit=0", "BAD_LIMIT"),
        ("limit=1001", "BAD_LIMIT"),
        ("limit=-1", "BAD_LIMIT"),
        ("limit=ten", "BAD_LIMIT"),
        ("limit=", "BAD_LIMIT"),
        ("limit=5&limit=6", "BAD_QUERY"),
        ("payout=po_000001&payout=po_000002", "BAD_QUERY"),
        ("starting_after=txn_999999", "BAD_CURSOR"),
    ],
)
async def test_bad_balance_transaction_queries_are_coded_400s(
    payments: httpx.AsyncClient, query: str, code: str
) -> None:
    response = await payments.get(f"/balance-transactions?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


async def test_refunds_and_disputes_fetched_on_their_own_name_their_charge(
    payments: httpx.AsyncClient, small_world: DemoWorld
) -> None:
    refunded = next(c for c in small_world.charges if c["refunds"])
    disputed = next(c for c in small_world.charges if c["disputes"])
    refund, dispute = refunded["refunds"][0], disputed["disputes"][0]
    body = (await payments.post("/refunds/batch", json={"ids": [refund["id"], "re_x"]})).json()
    assert body == {"data": [{**refund, "charge": refunded["id"]}], "missing": ["re_x"]}
    body = (await payments.post("/disputes/batch", json={"ids": [dispute["id"], "dp_x"]})).json()
    assert body == {
        "data": [{"object": "dispute", **dispute, "charge": disputed["id"]}],
        "missing": ["dp_x"],
    }
