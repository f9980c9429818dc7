"""Partial data is not failure: a scope the app was not granted makes Shopify answer the fields
it guards with a field-level ``ACCESS_DENIED`` beside the data. The order is still read, those
fields are null, and each denied path is reported once."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from tests.fakes.shopify import FakeShopify

from omnigraph.core.errors import SourceContractViolation
from omnigraph.demo import DemoWorld
from omnigraph.sources.shopify.adapter import ShopifyStorefrontAdapter
from omnigraph.sources.shopify.client import ShopifyClient

from .conftest import FakeShop

TOKEN = "shpat_partial_0123"


@pytest.fixture
def adapter(
    world: DemoWorld, client_over_fake: Callable[..., ShopifyClient]
) -> ShopifyStorefrontAdapter:
    fake = FakeShopify(
        world,
        access_token=TOKEN,
        bucket_size=10**6,
        restore_rate=10**5,
        denied_scopes=("read_locations", "read_customers"),
    )
    return ShopifyStorefrontAdapter(client_over_fake(fake, token=TOKEN))


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
