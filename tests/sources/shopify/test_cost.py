"""Batches sized by what Shopify counts: when Shopify's ``requestedQueryCost`` for an order or a
return is more than omnigraph's count, later batches are made smaller, and a batch Shopify
refuses with ``MAX_COST_EXCEEDED`` is split and read, never reported as a failure."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from omnigraph.core.errors import SourceContractViolation
from omnigraph.sources.contract import OrderListFilter
from omnigraph.sources.shopify.adapter import ShopifyStorefrontAdapter
from omnigraph.sources.shopify.client import ShopifyClient
from omnigraph.sources.shopify.queries import order_cost

from .conftest import Call, FakeShop, fixture

SHOPIFY_ORDER_COST = 200  # what this Shopify counts for one order: more than omnigraph counts
SHOPIFY_RETURN_COST = 70
LIMIT = 1000


def refused(cost: int) -> dict[str, Any]:
    """Shopify's answer to a query over the limit, as it sends it."""
    return {
        "errors": [
            {
                "message": f"Query cost is {cost}, which exceeds the single query max cost limit"
                f" ({LIMIT}).",
                "extensions": {
                    "code": "MAX_COST_EXCEEDED",
                    "cost": cost,
                    "maxCost": LIMIT,
                    "documentation": "https://shopify.dev/api/usage/rate-limits",
                },
            }
        ]
    }


def counted(cost: int) -> dict[str, Any]:
    return {
        "cost": {
            "requestedQueryCost": cost,
            "actualQueryCost": cost,
            "throttleStatus": {
                "maximumAvailable": 20000.0,
                "currentlyAvailable": 19000.0,
                "restoreRate": 1000.0,
            },
        }
    }


def costly_orders(call: Call) -> dict[str, Any]:
    template = fixture("orders_by_ids.json")["data"]["nodes"][1]
    ids = call.variables["ids"]
    if len(ids) * SHOPIFY_ORDER_COST > LIMIT:
        return refused(len(ids) * SHOPIFY_ORDER_COST)
    nodes = []
    for gid in ids:
        node = copy.deepcopy(template)
        node["id"], node["legacyResourceId"] = gid, gid.rsplit("/", 1)[-1]
        number = int(gid.rsplit("/", 1)[-1])
        node["returns"] = {
            "nodes": [{"id": f"gid://shopify/Return/{number * 10 + n}"} for n in range(3)]
        }
        nodes.append(node)
    return {"data": {"nodes": nodes}, "extensions": counted(len(ids) * SHOPIFY_ORDER_COST)}


def costly_returns(call: Call) -> dict[str, Any]:
    ids = call.variables["ids"]
    if len(ids) * SHOPIFY_RETURN_COST > LIMIT:
        return refused(len(ids) * SHOPIFY_RETURN_COST)
    recorded = fixture("returns_by_ids.json")["data"]["nodes"][0]
    nodes = [copy.deepcopy(recorded) | {"id": gid, "name": f"#R{gid[-6:]}"} for gid in ids]
    return {"data": {"nodes": nodes}, "extensions": counted(len(ids) * SHOPIFY_RETURN_COST)}


@pytest.fixture
def costly_shop(shop: FakeShop) -> FakeShop:
    shop.routes["OmnigraphOrdersByIds"] = costly_orders
    shop.routes["OmnigraphReturnsByIds"] = costly_returns
    return shop


async def test_a_batch_refused_as_too_costly_is_split_and_later_batches_fit(
    make_client: Callable[..., ShopifyClient], costly_shop: FakeShop
) -> None:
    adapter = ShopifyStorefrontAdapter(make_client(cache_ttl=0))
    assert adapter.batch_size * order_cost(20) <= LIMIT < adapter.batch_size * SHOPIFY_ORDER_COST
    wanted = [f"SF-{7000 + n}" for n in range(25)]

    found = await adapter.orders_by_id(wanted)

    assert sorted(found) == sorted(wanted)  # every order read, none reported as a failure
    assert all(len(found[o].returns) == 3 for o in wanted)  # and its three returns
    orders = [len(c.variables["ids"]) for c in costly_shop.of("OmnigraphOrdersByIds")]
    refusals = [n for n in orders if n * SHOPIFY_ORDER_COST > LIMIT]
    assert refusals == [orders[0]]  # only the first batch is refused
    assert adapter.batch_size == LIMIT // SHOPIFY_ORDER_COST  # sized by Shopify's count since
    returns = [len(c.variables["ids"]) for c in costly_shop.of("OmnigraphReturnsByIds")]
    # the first answer's count (70 a return, not 63) sized every later batch of returns
    assert all(n * SHOPIFY_RETURN_COST <= LIMIT for n in returns)
    assert sum(returns) == 3 * 25


async def test_a_list_page_refused_as_too_costly_is_asked_again_smaller(
    make_client: Callable[..., ShopifyClient], shop: FakeShop
) -> None:
    template = fixture("orders_by_ids.json")["data"]["nodes"][1]

    def page(call: Call) -> dict[str, Any]:
        first = call.variables["first"]
        if 2 + first * SHOPIFY_ORDER_COST > LIMIT:
            return refused(2 + first * SHOPIFY_ORDER_COST)
        nodes = []
        for n in range(first):
            node = copy.deepcopy(template)
            node["id"], node["legacyResourceId"] = f"gid://shopify/Order/{n + 1}", str(n + 1)
            nodes.append(node)
        return {
            "data": {
                "orders": {"nodes": nodes, "pageInfo": {"hasNextPage": True, "endCursor": "c"}}
            },
            "extensions": counted(2 + first * SHOPIFY_ORDER_COST),
        }

    shop.routes["OmnigraphOrdersPage"] = page
    adapter = ShopifyStorefrontAdapter(make_client(cache_ttl=0))

    found = await adapter.list_orders(limit=8, cursor=None, filter=OrderListFilter())

    assert len(found.orders) >= 8
    firsts = [c.variables["first"] for c in shop.of("OmnigraphOrdersPage")]
    assert 2 + firsts[0] * SHOPIFY_ORDER_COST > LIMIT  # the first page was refused ...
    assert all(2 + f * SHOPIFY_ORDER_COST <= LIMIT for f in firsts[1:])  # ... and no other


async def test_a_single_order_over_the_limit_is_still_a_failure(
    make_client: Callable[..., ShopifyClient], shop: FakeShop
) -> None:
    shop.routes["OmnigraphOrdersByIds"] = lambda call: refused(1200 * len(call.variables["ids"]))
    adapter = ShopifyStorefrontAdapter(make_client(cache_ttl=0))
    with pytest.raises(SourceContractViolation, match="MAX_COST_EXCEEDED"):
        await adapter.orders_by_id(["SF-1", "SF-2"])
    assert [len(c.variables["ids"]) for c in shop.of("OmnigraphOrdersByIds")] == [2, 1]
