"""Batching within Shopify's query cost, and its rate limit: a low bucket waits, THROTTLED and
HTTP 429 are retried after the wait Shopify asks for, without the test ever waiting."""

from __future__ import annotations

import copy
from collections.abc import Callable

import httpx
import pytest
from graphql import OperationDefinitionNode, parse
from tests.fakes.shopify import _requested_cost

from omnigraph.core.errors import SourceContractViolation, UpstreamUnavailable
from omnigraph.sources.shopify.adapter import ShopifyStorefrontAdapter
from omnigraph.sources.shopify.client import ShopifyClient
from omnigraph.sources.shopify.queries import (
    ORDERS_BY_IDS,
    RETURNS_BY_IDS,
    order_cost,
    order_document,
    return_cost,
)

from .conftest import FakeShop, FakeTime, fixture, synthetic_orders

RICH = "SF-5012345678901"


def ids(count: int) -> list[str]:
    return [f"SF-{4000 + n}" for n in range(count)]


@pytest.mark.parametrize("line_items", [1, 20, 100, 250])
def test_the_costs_the_client_counts_are_the_costs_graphql_core_counts(line_items: int) -> None:
    """The client reads its documents without graphql-core (no adapter imports a GraphQL
    library); the fake shop parses them with it: one order, and one return, cost the same."""

    def cost(document: str, count: int) -> int:
        parsed = parse(document)
        operation = parsed.definitions[0]
        assert isinstance(operation, OperationDefinitionNode)
        return _requested_cost(parsed, operation, {"ids": ["gid"] * count})

    orders = order_document(ORDERS_BY_IDS, line_items)
    assert cost(orders, 3) - cost(orders, 2) == order_cost(line_items)
    # a return is an object too: 16 of them at 62 points would ask 1,008, over Shopify's limit
    assert cost(RETURNS_BY_IDS, 3) - cost(RETURNS_BY_IDS, 2) == return_cost()


async def test_a_batch_is_one_nodes_query_per_what_the_cost_allows(
    make_client: Callable[..., ShopifyClient], shop: FakeShop
) -> None:
    shop.routes["OmnigraphOrdersByIds"] = synthetic_orders
    adapter = ShopifyStorefrontAdapter(make_client())
    per_batch = 1000 // order_cost(20)  # 20 line items an order by default
    assert adapter.batch_size == per_batch

    found = await adapter.orders_by_id([*ids(20), *ids(20)])  # repeats are asked once

    assert sorted(found) == sorted(ids(20))
    calls = shop.of("OmnigraphOrdersByIds")
    assert len(calls) == -(-20 // per_batch)  # ceil: 4 queries for 20 orders
    asked = [gid for c in calls for gid in c.variables["ids"]]
    assert sorted(asked) == sorted(f"gid://shopify/Order/{4000 + n}" for n in range(20))
    assert all(len(c.variables["ids"]) <= per_batch for c in calls)
    # every query stays within the 1,000 points Shopify allows one query
    assert all(len(c.variables["ids"]) * order_cost(20) <= 1000 for c in calls)
    assert not shop.of("OmnigraphReturnsByIds")  # none of them has a return

    again = await adapter.orders_by_id(ids(20))  # the record cache answers
    assert sorted(again) == sorted(ids(20))
    assert len(shop.calls) == len(calls)


async def test_fewer_line_items_per_order_make_bigger_batches(
    make_client: Callable[..., ShopifyClient], shop: FakeShop
) -> None:
    shop.routes["OmnigraphOrdersByIds"] = synthetic_orders
    lean = {"order_id_prefix": "SF-", "max_line_items": 1}
    adapter = ShopifyStorefrontAdapter(make_client(options=lean))
    assert adapter.batch_size == 1000 // order_cost(1) > 1000 // order_cost(20)

    await adapter.orders_by_id(ids(30))

    sizes = [len(c.variables["ids"]) for c in shop.of("OmnigraphOrdersByIds")]
    assert sizes == [adapter.batch_size] * (30 // adapter.batch_size) + (
        [30 % adapter.batch_size] if 30 % adapter.batch_size else []
    )


async def test_more_line_items_than_a_batch_reads_are_read_after_it(
    make_client: Callable[..., ShopifyClient], shop: FakeShop
) -> None:
    def first_page(call: object) -> dict[str, object]:
        answer = fixture("orders_by_ids.json")
        answer["data"]["nodes"] = [answer["data"]["nodes"][1]]
        lines = answer["data"]["nodes"][0]["lineItems"]
        lines["pageInfo"] = {"hasNextPage": True, "endCursor": "c1"}
        return answer

    extra = copy.deepcopy(fixture("orders_by_ids.json")["data"]["nodes"][0]["lineItems"])
    shop.routes["OmnigraphOrdersByIds"] = first_page  # type: ignore[assignment]
    shop.routes["OmnigraphOrderLineItems"] = lambda call: {"data": {"node": {"lineItems": extra}}}
    adapter = ShopifyStorefrontAdapter(make_client())

    order = (await adapter.orders_by_id(["SF-5012345678902"]))["SF-5012345678902"]

    assert [x.sku for x in order.lines] == ["shopify-line-13000000003", "SKU-0001", "SKU-0007"]
    (rest,) = shop.of("OmnigraphOrderLineItems")
    assert rest.variables == {"id": "gid://shopify/Order/5012345678902", "after": "c1"}


async def test_a_throttled_query_waits_for_the_bucket_and_is_sent_again(
    adapter: ShopifyStorefrontAdapter, shop: FakeShop, fake_time: FakeTime
) -> None:
    shop.script.append(fixture("throttled.json"))  # 98 of 2,000 points left, 100 a second

    order = (await adapter.orders_by_id([RICH]))[RICH]

    assert order.name == "#1042"
    assert shop.log[:3] == [
        "call OmnigraphOrdersByIds",
        "sleep 4.0",  # until the bucket holds the 498 points Shopify said the query needs
        "call OmnigraphOrdersByIds",
    ]
    assert adapter.client.throttled == 1


async def test_a_low_bucket_is_waited_for_before_sending(
    adapter: ShopifyStorefrontAdapter, shop: FakeShop, fake_time: FakeTime
) -> None:
    low = fixture("orders_by_ids.json")
    low["extensions"]["cost"]["throttleStatus"] = {
        "maximumAvailable": 1000.0,
        "currentlyAvailable": 40.0,
        "restoreRate": 50.0,
    }
    low["data"]["nodes"] = [low["data"]["nodes"][1]]  # the pickup order, without returns
    low["extensions"]["cost"]["requestedQueryCost"] = order_cost(20)  # one order asked
    shop.script.append(low)
    await adapter.orders_by_id(["SF-5012345678902"])  # leaves 40 points
    shop.log.clear()
    fake_time.now += 1.0  # a second later the bucket holds 90

    await adapter.orders_by_id(["SF-5012345678901"])

    assert shop.log[:2] == [
        f"sleep {round((order_cost(20) - 90) / 50, 3)}",
        "call OmnigraphOrdersByIds",
    ]
    assert adapter.client.throttled == 0  # never refused: it waited first


async def test_http_429_is_retried_after_retry_after(
    adapter: ShopifyStorefrontAdapter, shop: FakeShop, fake_time: FakeTime
) -> None:
    shop.script.append(httpx.Response(429, headers={"Retry-After": "2.5"}, json={}))

    found = await adapter.orders_by_id([RICH])

    assert RICH in found
    assert fake_time.sleeps == [2.5]
    assert [c.operation for c in shop.calls][:2] == ["OmnigraphOrdersByIds"] * 2


async def test_a_shop_that_stays_throttled_is_unavailable(
    adapter: ShopifyStorefrontAdapter, shop: FakeShop, fake_time: FakeTime
) -> None:
    shop.script.extend(httpx.Response(429, headers={"Retry-After": "1"}, json={}) for _ in range(5))

    with pytest.raises(UpstreamUnavailable) as raised:
        await adapter.orders_by_id([RICH])

    assert "HTTP 429 after 5 attempts" in raised.value.message
    assert len(shop.calls) == 5
    assert fake_time.sleeps == [1.0] * 4


async def test_a_graphql_error_is_a_contract_violation_not_retried(
    adapter: ShopifyStorefrontAdapter, shop: FakeShop
) -> None:
    shop.script.append(
        {
            "errors": [
                {
                    "message": "Access denied for returns field. Required access: `read_returns`.",
                    "extensions": {"code": "ACCESS_DENIED"},
                }
            ]
        }
    )

    with pytest.raises(SourceContractViolation) as raised:
        await adapter.orders_by_id([RICH])

    assert "ACCESS_DENIED" in raised.value.message
    assert "read_returns" in raised.value.message
    assert len(shop.calls) == 1


async def test_health_asks_the_shop_for_its_name(
    adapter: ShopifyStorefrontAdapter, shop: FakeShop
) -> None:
    shop.routes["OmnigraphShop"] = lambda call: {"data": {"shop": {"name": "Omni"}}}
    assert await adapter.client.health() == {"status": "ok"}
    shop.routes["OmnigraphShop"] = lambda call: httpx.Response(503, text="down")
    health = await adapter.client.health()
    assert health["status"] == "unavailable"
