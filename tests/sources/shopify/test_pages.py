"""Reading across several pages: the order list (newest first) and the change feed."""

from __future__ import annotations

import copy
from typing import Any

from omnigraph.sources.contract import OrderListFilter
from omnigraph.sources.shopify.adapter import ShopifyStorefrontAdapter

from .conftest import Call, FakeShop, fixture

PAGES = {None: ("c1", [1001, 1002]), "c1": ("c2", [1003, 1004]), "c2": (None, [1005])}


def order(legacy: int, *, source: str = "web") -> dict[str, Any]:
    node = copy.deepcopy(fixture("orders_by_ids.json")["data"]["nodes"][1])
    node.update(id=f"gid://shopify/Order/{legacy}", legacyResourceId=str(legacy), sourceName=source)
    node["fulfillmentOrders"]["nodes"][0]["deliveryMethod"]["methodType"] = "SHIPPING"
    return node


def orders_page(call: Call) -> dict[str, Any]:
    end, legacies = PAGES[call.variables["after"]]
    return {
        "data": {
            "orders": {
                "nodes": [order(n, source="amazon-uk" if n == 1005 else "web") for n in legacies],
                "pageInfo": {"hasNextPage": end is not None, "endCursor": end},
            }
        },
        "extensions": fixture("orders_by_ids.json")["extensions"],
    }


async def test_the_order_list_follows_shopify_cursors_to_the_end(
    adapter: ShopifyStorefrontAdapter, shop: FakeShop
) -> None:
    shop.routes["OmnigraphOrdersPage"] = orders_page
    seen, cursor, pages = [], None, 0
    while True:
        page = await adapter.list_orders(limit=2, cursor=cursor, filter=OrderListFilter())
        seen += [o.id for o in page.orders]
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break

    assert seen == ["SF-1001", "SF-1002", "SF-1003", "SF-1004", "SF-1005"]
    assert pages == 3
    calls = shop.of("OmnigraphOrdersPage")
    assert [c.variables["after"] for c in calls] == [None, "c1", "c2"]
    assert all(c.variables["sortKey"] == "PROCESSED_AT" for c in calls)
    assert all(c.variables["reverse"] is True for c in calls)
    assert all(c.variables["first"] == 2 for c in calls)
    # listed orders are cached: reading one by id asks Shopify nothing
    await adapter.orders_by_id(["SF-1003"])
    assert len(shop.calls) == 3


async def test_a_channel_filter_reads_on_until_a_page_has_a_match(
    adapter: ShopifyStorefrontAdapter, shop: FakeShop
) -> None:
    shop.routes["OmnigraphOrdersPage"] = orders_page
    page = await adapter.list_orders(
        limit=2, cursor=None, filter=OrderListFilter(channel="marketplace", sku="SKU-0001")
    )

    assert [o.id for o in page.orders] == ["SF-1005"]  # amazon-uk -> marketplace
    assert page.next_cursor is None
    assert len(shop.of("OmnigraphOrdersPage")) == 3
    assert shop.calls[0].variables["query"] == 'sku:"SKU-0001"'


async def test_the_change_feed_pages_through_updated_orders_then_asks_from_the_last_change(
    adapter: ShopifyStorefrontAdapter, shop: FakeShop
) -> None:
    changed = {
        None: ("k1", [(7, "2026-11-21T10:00:00Z"), (8, "2026-11-21T10:05:00Z")]),
        "k1": (None, [(9, "2026-11-21T11:00:00Z")]),
    }

    def changed_orders(call: Call) -> dict[str, Any]:
        if call.variables["query"] is not None:  # after the last page: nothing new yet
            return {"data": {"orders": {"nodes": [], "pageInfo": {"hasNextPage": False}}}}
        end, nodes = changed[call.variables["after"]]
        return {
            "data": {
                "orders": {
                    "nodes": [{"legacyResourceId": str(n), "updatedAt": at} for n, at in nodes],
                    "pageInfo": {"hasNextPage": end is not None, "endCursor": end},
                }
            }
        }

    shop.routes["OmnigraphChangedOrders"] = changed_orders
    client = adapter.client
    events, cursor, more = await client.changes(None, 2)
    assert [(e["type"], e["recordId"], e["occurredAt"]) for e in events] == [
        ("order.updated", "SF-7", "2026-11-21T10:00:00Z"),
        ("order.updated", "SF-8", "2026-11-21T10:05:00Z"),
    ]
    assert more is True
    events, cursor, more = await client.changes(cursor, 2)
    assert [e["recordId"] for e in events] == ["SF-9"]
    assert more is False
    events, cursor, more = await client.changes(cursor, 2)
    assert (events, more) == ([], False)

    queries = [(c.variables["after"], c.variables["query"]) for c in shop.calls]
    # asked again from 5 minutes before the last change seen (the overlap window)
    assert queries == [
        (None, None),
        ("k1", None),
        (None, 'updated_at:>="2026-11-21T10:55:00+00:00"'),
    ]
