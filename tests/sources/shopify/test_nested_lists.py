"""Nothing cut off: an order with more transactions, refunds, returns or fulfillment orders than
a batch reads with it has the rest read after it (connections page by page, plain lists read
again whole), so reconciliation and pickups see all of them."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from tests.fakes.shopify import FakeShopify

from omnigraph.demo import DemoWorld
from omnigraph.sources.shopify.adapter import ShopifyStorefrontAdapter
from omnigraph.sources.shopify.client import ShopifyClient

TOKEN = "shpat_nested_0123"
TRANSACTIONS_FIRST = 10  # what a batch reads of an order's transactions (5 refunds, 5 returns)
CAPTURES = TRANSACTIONS_FIRST + 4
RETURNS = 5 + 3


@pytest.fixture
def fake(world: DemoWorld) -> FakeShopify:
    return FakeShopify(
        world,
        access_token=TOKEN,
        bucket_size=10**6,
        restore_rate=10**5,
        extra_fulfillment_orders=4,  # the pickup's own fulfillment order comes fifth
    )


@pytest.fixture
def adapter(
    fake: FakeShopify, client_over_fake: Callable[..., ShopifyClient]
) -> ShopifyStorefrontAdapter:
    return ShopifyStorefrontAdapter(client_over_fake(fake, token=TOKEN))


def _busy_order(fake: FakeShopify, world: DemoWorld) -> dict[str, Any]:
    """A pickup order with a return, given many more captures, returns and refunds."""
    source = next(
        o for o in world.storefront_orders if o["returns"] and o["fulfilmentMethod"] == "pickup"
    )
    order = fake.order(source["id"])
    capture = next(t for t in order["transactions"] if t["kind"] == "capture")
    refund = next(t for t in order["transactions"] if t["kind"] == "refund")
    entry = order["returns"][0]
    for n in range(CAPTURES - 1):  # split payments: many captures
        order["transactions"].append(
            copy.deepcopy(capture) | {"id": f"TX-9{n:05d}", "gatewayRef": f"ch_busy{n}"}
        )
    for n in range(RETURNS - 1):
        name = f"RMA-9{n:05d}"
        order["returns"].append(copy.deepcopy(entry) | {"id": name})
        order["transactions"].append(
            copy.deepcopy(refund)
            | {"id": f"TX-8{n:05d}", "gatewayRef": f"re_busy{n}", "returnId": name}
        )
    return order


async def test_every_transaction_refund_return_and_fulfillment_order_is_read(
    adapter: ShopifyStorefrontAdapter, fake: FakeShopify, world: DemoWorld
) -> None:
    order = _busy_order(fake, world)

    found = (await adapter.orders_by_id([order["id"]]))[order["id"]]

    captures = [t for t in found.transactions if t.kind == "capture"]
    refunds = [t for t in found.transactions if t.kind == "refund"]
    assert len(captures) == CAPTURES > TRANSACTIONS_FIRST
    assert len(refunds) == RETURNS
    assert {t.gateway_ref for t in captures} >= {f"ch_busy{n}" for n in range(CAPTURES - 1)}
    assert sorted(r.id for r in found.returns) == sorted(e["id"] for e in order["returns"])
    # every refund names the return it paid for, the ones past the first page too
    assert {t.return_id for t in refunds} == {e["id"] for e in order["returns"]}
    # the pickup is found on the fulfillment orders' second page
    assert found.fulfilment_method == "pickup"
    assert found.pickup_location_id == order["pickupLocationId"]
    assert fake.calls["OmnigraphOrderTransactions"] == 1
    assert fake.calls["OmnigraphOrderReturns"] == 1
    assert fake.calls["OmnigraphOrderFulfillmentOrders"] == 1
