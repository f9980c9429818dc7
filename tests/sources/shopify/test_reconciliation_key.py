"""The reconciliation key without ``authorizationCode`` (deprecated since 2026-01): the
processor's charge id read from the transaction's receipt still matches the Stripe charge."""

from __future__ import annotations

from omnigraph.payouts.matching import Counterparts, MatchStatus, match_transactions
from omnigraph.sources.records import BalanceTransaction, Charge
from omnigraph.sources.shopify.adapter import ShopifyStorefrontAdapter

from .conftest import fixture

RICH = "SF-5012345678901"


def test_the_recorded_answer_has_no_authorization_code() -> None:
    answer = fixture("orders_by_ids.json")
    assert all(
        "authorizationCode" not in txn
        for node in answer["data"]["nodes"]
        if node
        for txn in node["transactions"]
    )


async def test_reconciliation_matches_a_stripe_charge_without_authorization_code(
    adapter: ShopifyStorefrontAdapter,
) -> None:
    """The Stripe charge an order's capture names (by its receipt) is MATCHED, with no
    authorizationCode anywhere in what Shopify answered."""
    order = (await adapter.orders_by_id([RICH]))[RICH]
    capture = next(t for t in order.transactions if t.kind == "capture")
    charge = Charge(
        id="ch_3QaZbX2eZvKYlo2C1",
        amount=9000,
        amount_captured=9000,
        currency="gbp",
        captured=True,
        status="succeeded",
        created=1_763_457_300,
        metadata={"order_ref": RICH},
    )
    settled = BalanceTransaction(
        id="txn_1",
        amount=9000,
        fee=150,
        net=8850,
        currency="gbp",
        type="charge",
        reporting_category="charge",
        source=charge.id,
        payout="po_1",
        created=1_763_457_300,
    )
    found = Counterparts(
        charges={charge.id: charge},
        refund_charges={},
        dispute_charges={},
        orders={RICH: order},
        sales_orders={},
        fulfilments={},
    )

    (line,) = match_transactions([settled], found)

    assert line.status is MatchStatus.MATCHED, line.reason
    assert line.counterpart == capture.id


async def test_the_money_an_order_recorded_is_read_as_the_whole_order_states_it(
    adapter: ShopifyStorefrontAdapter,
) -> None:
    """What reconciliation reads of a Shopify order (its money, parsed alone) is what the whole
    order carries; an id the shop does not have is left out, as for whole orders."""
    wanted = [RICH, "SF-5012345678999"]
    whole = await adapter.orders_by_id(wanted)
    money = await adapter.order_payments_by_id(wanted)
    assert set(money) == set(whole) == {RICH}
    assert money[RICH].id == whole[RICH].id
    assert money[RICH].transactions == whole[RICH].transactions
    assert any(t.kind == "capture" for t in money[RICH].transactions)
