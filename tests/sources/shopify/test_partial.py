"""Partial data is not failure: a scope the app was not granted makes Shopify answer the fields
it guards with a field-level ``ACCESS_DENIED`` beside the data. The order is still read, those
fields are null, and each denied path is reported once."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from tests.fakes.shopify import FakeShopify, shopify_options

from omnigraph.core.errors import SourceContractViolation
from omnigraph.demo import DemoWorld
from omnigraph.settings import SourceConfig
from omnigraph.sources.shopify.adapter import ShopifyStorefrontAdapter
from omnigraph.sources.shopify.client import ShopifyClient

from .conftest import FakeShop

TOKEN = "shpat_partial_0123"


async def _adapter(
    fake: FakeShopify, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[ShopifyStorefrontAdapter]:
    monkeypatch.setenv("OMNIGRAPH_TEST_PARTIAL_TOKEN", TOKEN)
    config = SourceConfig.model_validate(
        {
            "name": "shop",
            "kind": "storefront",
            "type": "shopify",
            "base_url": "https://omni-retail.myshopify.com",
            "token_env": "OMNIGRAPH_TEST_PARTIAL_TOKEN",
            "options": shopify_options(),
        }
    )
    client = ShopifyClient(
        config,
        timeout_seconds=5,
        cache_ttl_seconds=0,
        cache_max_entries=0,
        redis_key_prefix="omnigraph-test",
        transport=httpx.ASGITransport(app=fake.app),
    )
    yield ShopifyStorefrontAdapter(client)
    await client.upstream.aclose()


@pytest.fixture
async def adapter(
    world: DemoWorld, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[ShopifyStorefrontAdapter]:
    fake = FakeShopify(
        world,
        access_token=TOKEN,
        bucket_size=10**6,
        restore_rate=10**5,
        denied_scopes=("read_locations", "read_customers"),
    )
    async for made in _adapter(fake, monkeypatch):
        yield made


def _pickups(world: DemoWorld) -> list[str]:
    return [o["id"] for o in world.storefront_orders if o["fulfilmentMethod"] == "pickup"][:3]


async def test_orders_are_read_without_read_locations_and_read_customers(
    adapter: ShopifyStorefrontAdapter, world: DemoWorld
) -> None:
    wanted = [*_pickups(world), world.storefront_orders[0]["id"]]
    found = await adapter.orders_by_id(wanted)

    assert sorted(found) == sorted(set(wanted))  # every order is read
    for order_id in wanted:
        order = found[order_id]
        assert order.customer is None  # denied: null, as the schema allows
        assert order.lines  # the rest of the order is there
    assert {found[i].fulfilment_method for i in _pickups(world)} == {"pickup"}
    # each denied path is reported once, however many orders met it
    assert sorted(adapter.client.denied) == [
        "nodes.[].customer",
        "nodes.[].fulfillmentOrders.nodes.[].assignedLocation.location",
    ]
    assert (
        "read_locations"
        in adapter.client.denied["nodes.[].fulfillmentOrders.nodes.[].assignedLocation.location"]
    )


async def test_a_denial_that_takes_the_whole_record_is_still_a_failure(
    make_client: object, shop: FakeShop
) -> None:
    """Without read_orders the order itself is denied: that is no partial answer."""
    shop.routes["OmnigraphOrdersByIds"] = lambda call: {
        "data": {"nodes": [None]},
        "errors": [
            {
                "message": "Access denied for nodes field.",
                "path": ["nodes", 0],
                "extensions": {"code": "ACCESS_DENIED"},
            }
        ],
    }
    adapter = ShopifyStorefrontAdapter(make_client())  # type: ignore[operator]
    with pytest.raises(SourceContractViolation, match="ACCESS_DENIED"):
        await adapter.orders_by_id(["SF-1001"])
