"""The change feed reads with an overlap window and leaves out what it already gave; a SKU is
one quoted search value whatever it holds; a null totalTaxSet or totalDiscountsSet (nullable in
Shopify's schema) is no tax or discount, not a failed read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from tests.fakes.shopify import FakeShopify

from omnigraph.demo import DemoWorld
from omnigraph.sources.contract import OrderListFilter
from omnigraph.sources.shopify.adapter import ShopifyStorefrontAdapter
from omnigraph.sources.shopify.client import ShopifyClient

from .conftest import Call, FakeShop, fixture

TOKEN = "shpat_feed_0123"


def _changed(nodes: list[tuple[int, str]]) -> dict[str, Any]:
    return {
        "data": {
            "orders": {
                "nodes": [{"legacyResourceId": str(n), "updatedAt": at} for n, at in nodes],
                "pageInfo": {"hasNextPage": False, "endCursor": None},
            }
        }
    }


async def test_a_change_indexed_late_in_the_same_second_is_not_missed_nor_repeated(
    adapter: ShopifyStorefrontAdapter, shop: FakeShop
) -> None:
    """Shopify's updated_at search has second resolution and its index lags: order 8 changed in
    the same second as order 7 but was indexed after the first read."""
    index = [(7, "2026-11-21T10:00:00Z")]

    def changed_orders(call: Call) -> dict[str, Any]:
        query = call.variables["query"]
        if query is None:
            return _changed(index)
        since = query.split(">=", 1)[1].strip('"')
        return _changed([(n, at) for n, at in index if at.replace("Z", "+00:00") >= since])

    shop.routes["OmnigraphChangedOrders"] = changed_orders
    client = adapter.client

    events, cursor, _ = await client.changes(None, 50)
    assert [e["recordId"] for e in events] == ["SF-7"]
    index.append((8, "2026-11-21T10:00:00Z"))  # indexed late, same second as order 7

    events, cursor, _ = await client.changes(cursor, 50)
    assert [e["recordId"] for e in events] == ["SF-8"]  # found, and order 7 not given again

    events, cursor, _ = await client.changes(cursor, 50)
    assert events == []  # nothing new: nothing repeated
    index.append((7, "2026-11-21T10:02:00Z"))  # order 7 changed again: a new change
    events, cursor, _ = await client.changes(cursor, 50)
    assert [(e["recordId"], e["occurredAt"]) for e in events] == [("SF-7", "2026-11-21T10:02:00Z")]


def test_a_null_total_tax_or_discount_is_zero_not_a_failed_read() -> None:
    from omnigraph.settings import ShopifyOptions
    from omnigraph.sources.shopify.mapping import order_record

    node = fixture("orders_by_ids.json")["data"]["nodes"][1]
    node["totalTaxSet"] = None
    node["totalDiscountsSet"] = None
    record = order_record(node, {}, ShopifyOptions(order_id_prefix="SF-"))
    assert record["totals"]["tax"] == "0.00"
    assert record["totals"]["discount"] == "0.00"


@pytest.fixture
def fake_adapter(
    world: DemoWorld, client_over_fake: Callable[..., ShopifyClient]
) -> tuple[FakeShopify, ShopifyStorefrontAdapter]:
    fake = FakeShopify(world, access_token=TOKEN, bucket_size=10**6, restore_rate=10**5)
    return fake, ShopifyStorefrontAdapter(client_over_fake(fake, token=TOKEN))


@pytest.mark.parametrize(
    "sku", ["O'NEIL-001", 'BOX "XL" 12', "A\\B-7", "x' OR sku:'SKU-0001", "X AND Y"]
)
async def test_a_sku_with_quotes_or_syntax_is_searched_as_one_value(
    fake_adapter: tuple[FakeShopify, ShopifyStorefrontAdapter], world: DemoWorld, sku: str
) -> None:
    fake, adapter = fake_adapter
    target = world.storefront_orders[3]["id"]
    fake.order(target)["lines"][0]["sku"] = sku

    page = await adapter.list_orders(limit=50, cursor=None, filter=OrderListFilter(sku=sku))

    assert [order.id for order in page.orders] == [target]
