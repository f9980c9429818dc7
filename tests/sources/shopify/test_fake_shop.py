"""The fake Shopify Admin API (``tests.fakes.shopify``) over the demo world: the
adapter's documents are valid against its schema, and the adapter pointed at it gives the demo
storefront's orders, which is what lets a mixed configuration be compared with the all-demo one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import httpx
import pytest
from tests.fakes.shopify import FakeShopify

from omnigraph.demo import DemoWorld
from omnigraph.sources.contract import OrderListFilter
from omnigraph.sources.shopify.adapter import ShopifyStorefrontAdapter
from omnigraph.sources.shopify.client import ShopifyClient

TOKEN = "shpat_fake_shop_0123"


@pytest.fixture
async def fake(world: DemoWorld) -> FakeShopify:
    return FakeShopify(world, access_token=TOKEN, bucket_size=10**6, restore_rate=10**5)


@pytest.fixture
def adapter(
    fake: FakeShopify, client_over_fake: Callable[..., ShopifyClient]
) -> ShopifyStorefrontAdapter:
    return ShopifyStorefrontAdapter(client_over_fake(fake, token=TOKEN))


# Where Shopify's model cannot say what the demo storefront says (docs/sources/shopify.md).
UNMAPPED = ("customer", "transactions", "financialStatus", "cancelRequestedAt", "notifications")


async def test_the_adapter_over_the_fake_gives_the_demo_storefronts_orders(
    adapter: ShopifyStorefrontAdapter, fake: FakeShopify, world: DemoWorld
) -> None:
    records = await adapter.order_records([o["id"] for o in world.storefront_orders])

    assert len(records) == len(world.storefront_orders)
    for order in world.storefront_orders:
        record = records[order["id"]]
        same = {k: v for k, v in order.items() if k not in UNMAPPED and k != "fulfilmentStatus"}
        assert {k: record[k] for k in same} == same, order["id"]
        # ready for pickup has no Shopify status: IN_PROGRESS reads as unfulfilled
        assert record["fulfilmentStatus"] == (
            "unfulfilled"
            if order["fulfilmentStatus"] == "ready_for_pickup"
            else order["fulfilmentStatus"]
        )
        assert [
            (t["kind"], t["amount"], t["gatewayRef"], t["returnId"]) for t in order["transactions"]
        ] == [
            (t["kind"], t["amount"], t["gatewayRef"], t["returnId"]) for t in record["transactions"]
        ]
    # 6 orders a query within the 1,000-point cap, returns read apart
    assert fake.calls["OmnigraphOrdersByIds"] == -(-len(records) // adapter.batch_size)


async def test_a_list_page_holds_as_many_orders_as_asked_across_shopify_pages(
    adapter: ShopifyStorefrontAdapter, fake: FakeShopify, world: DemoWorld
) -> None:
    newest = sorted(world.storefront_orders, key=lambda o: o["placedAt"], reverse=True)

    page = await adapter.list_orders(limit=20, cursor=None, filter=OrderListFilter())
    rest = await adapter.list_orders(limit=20, cursor=page.next_cursor, filter=OrderListFilter())

    assert [o.id for o in page.orders + rest.orders] == [o["id"] for o in newest[:40]]
    # Shopify answers at most 6 such orders a query: 20 take 4 queries, each within the cap
    assert fake.calls["OmnigraphOrdersPage"] == 8
    assert all(v["first"] <= adapter.batch_size for _, v in fake.documents if "first" in v)


async def test_the_placed_window_is_half_open_as_the_contract_says(
    adapter: ShopifyStorefrontAdapter, world: DemoWorld
) -> None:
    placed = sorted(o["placedAt"] for o in world.storefront_orders)
    window = OrderListFilter(
        placed_from=datetime.fromisoformat(placed[10]), placed_to=datetime.fromisoformat(placed[20])
    )

    page = await adapter.list_orders(limit=50, cursor=None, filter=window)

    assert sorted(o.placed_at.isoformat() for o in page.orders) == placed[10:20]


async def test_commands_are_applied_to_the_fake_shop_once(
    adapter: ShopifyStorefrontAdapter, fake: FakeShopify, world: DemoWorld
) -> None:
    client = adapter.client
    open_order = next(o for o in world.storefront_orders if o["status"] == "open")["id"]
    delivered = next(
        o
        for o in world.storefront_orders
        if o["fulfilmentStatus"] == "fulfilled" and not o["returns"] and o["status"] == "closed"
    )["id"]

    cancelled = await client.command(
        "order.cancel", {"orderId": open_order, "reason": "fraud"}, "k1"
    )
    again = await client.command("order.cancel", {"orderId": open_order, "reason": "fraud"}, "k1")
    opened = await client.command("return.open", {"orderId": delivered, "reason": "too big"}, "k2")
    notified = await client.command(
        "customer.notify", {"orderId": delivered, "message": "Label on its way"}, "k3"
    )

    assert (cancelled.accepted, again.accepted, again.replayed) == (True, True, True)
    assert fake.calls["OmnigraphOrderCancel"] == 1
    assert (await adapter.orders_by_id([open_order]))[open_order].status == "cancelled"
    assert opened.accepted, opened.detail
    returned = (await adapter.orders_by_id([delivered]))[delivered].returns[-1]
    assert (returned.status, returned.reason) == ("open", "too big")
    assert returned.id == f"RMA-{fake.next_return - 1:06d}"  # numbered on from the demo's
    assert notified.accepted
    assert "Label on its way" in (fake.notes[int(delivered.removeprefix("SF-"))] or "")


async def test_every_answer_carries_the_cost_and_a_query_over_the_cap_is_refused(
    fake: FakeShopify,
) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=fake.app), base_url="https://shop.test"
    ) as http:
        url = "/admin/api/2026-10/graphql.json"
        headers = {"X-Shopify-Access-Token": TOKEN}
        ok = (await http.post(url, json={"query": "{ shop { name } }"}, headers=headers)).json()
        big = "{ orders(first: 250) { nodes { lineItems(first: 250) { nodes { id } } } } }"
        refused = (await http.post(url, json={"query": big}, headers=headers)).json()
        invalid = await http.post(url, json={"query": "{ order { nope } }"}, headers=headers)
        unauthorized = await http.post(url, json={"query": "{ shop { name } }"})

    assert ok["data"] == {"shop": {"name": "Omni Retail (fake)"}}
    assert set(ok["extensions"]["cost"]["throttleStatus"]) == {
        "maximumAvailable",
        "currentlyAvailable",
        "restoreRate",
    }
    assert refused["errors"][0]["extensions"]["code"] == "MAX_COST_EXCEEDED"
    assert "extensions" in refused
    assert invalid.json()["errors"]  # validated against the Admin API subset
    assert unauthorized.status_code == 401
