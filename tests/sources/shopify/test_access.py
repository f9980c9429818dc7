"""Expiring Admin API tokens: the client-credentials grant and the refresh-token grant, renewed
before they expire (by the injected clock) and once when Shopify answers 401, against the fake
shop's ``/admin/oauth/access_token`` (shaped as Shopify documents it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError
from tests.clocks import SecondsClock
from tests.fakes.shopify import FakeShopify

from omnigraph.core.errors import UpstreamUnavailable
from omnigraph.demo import DemoWorld
from omnigraph.settings import SourceConfig
from omnigraph.sources.shopify.adapter import ShopifyStorefrontAdapter
from omnigraph.sources.shopify.client import ShopifyClient

CLIENT_ID = "3f1a-client-id"
SECRET = "shpss_client_secret_for_tests"
DAY = 86_399


@pytest.fixture
def clock() -> SecondsClock:
    return SecondsClock(10_000.0)


@pytest.fixture
def fake(world: DemoWorld, clock: SecondsClock) -> FakeShopify:
    return FakeShopify(
        world,
        client_id=CLIENT_ID,
        client_secret=SECRET,
        token_ttl=DAY,
        refresh_token="shprt_first",
        clock=clock,
        bucket_size=10**6,
        restore_rate=10**5,
    )


@pytest.fixture
def make(
    fake: FakeShopify,
    clock: SecondsClock,
    client_over_fake: Callable[..., ShopifyClient],
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[..., ShopifyClient]:
    monkeypatch.setenv("OMNIGRAPH_TEST_SHOP_SECRET", SECRET)
    monkeypatch.setenv("OMNIGRAPH_TEST_SHOP_REFRESH", "shprt_first")

    def build(**extra: Any) -> ShopifyClient:
        return client_over_fake(
            fake,
            clock=clock,
            client_id=CLIENT_ID,
            client_secret_env="OMNIGRAPH_TEST_SHOP_SECRET",
            **extra,
        )

    return build


ORDER = "SF-100001"


async def test_client_credentials_token_is_obtained_once_and_renewed_before_it_expires(
    make: Callable[..., ShopifyClient], fake: FakeShopify, clock: SecondsClock
) -> None:
    adapter = ShopifyStorefrontAdapter(make())

    assert ORDER in await adapter.orders_by_id([ORDER])
    assert ORDER in await adapter.orders_by_id([ORDER])
    assert fake.grants == ["client_credentials"]  # one token for both reads

    clock.now += DAY - 200  # inside the renewal margin, still valid at Shopify
    assert ORDER in await adapter.orders_by_id([ORDER])
    assert fake.grants == ["client_credentials"] * 2
    clock.now += 300  # the first token has expired by now: only the renewed one is sent
    assert ORDER in await adapter.orders_by_id([ORDER])
    assert fake.refused == 0  # never sent an expired token
    assert fake.grants == ["client_credentials"] * 2


async def test_a_refused_token_is_renewed_once_and_the_query_sent_again(
    make: Callable[..., ShopifyClient], fake: FakeShopify
) -> None:
    client = make()
    adapter = ShopifyStorefrontAdapter(client)
    assert ORDER in await adapter.orders_by_id([ORDER])

    fake.revoke_tokens()  # a rotated secret, a reinstall: Shopify answers 401
    assert ORDER in await adapter.orders_by_id([ORDER])
    assert fake.refused == 1
    assert fake.grants == ["client_credentials"] * 2


async def test_a_token_refused_again_after_renewal_is_unavailable_not_a_loop(
    make: Callable[..., ShopifyClient], fake: FakeShopify, clock: SecondsClock
) -> None:
    adapter = ShopifyStorefrontAdapter(make())
    fake.token_ttl = 0  # every token it issues is already expired: 401 each time

    with pytest.raises(UpstreamUnavailable, match="refused the access token"):
        await adapter.orders_by_id([ORDER])
    assert fake.refused == 2
    assert fake.grants == ["client_credentials"] * 2


async def test_a_wrong_client_secret_says_what_to_check(
    make: Callable[..., ShopifyClient], fake: FakeShopify
) -> None:
    fake.client_secret = "another"
    adapter = ShopifyStorefrontAdapter(make())
    with pytest.raises(UpstreamUnavailable, match=r"client_credentials grant .*HTTP 401"):
        await adapter.orders_by_id([ORDER])


async def test_refresh_token_grant_rotates_the_refresh_token(
    make: Callable[..., ShopifyClient], fake: FakeShopify, clock: SecondsClock
) -> None:
    fake.token_ttl = 3600  # expiring offline tokens last an hour
    adapter = ShopifyStorefrontAdapter(make(refresh_token_env="OMNIGRAPH_TEST_SHOP_REFRESH"))
    assert ORDER in await adapter.orders_by_id([ORDER])
    first_rotation = fake.refresh_token
    assert first_rotation != "shprt_first"

    clock.now += 3600 - 60
    assert ORDER in await adapter.orders_by_id([ORDER])
    # the second refresh used the rotated refresh token (the fake refuses the old one)
    assert fake.grants == ["refresh_token", "refresh_token"]
    assert fake.refresh_token != first_rotation
    assert fake.refused == 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"token_env": None, "client_id": None}, r"needs token_env .* or client_id"),
        ({"token_env": "X", "client_id": "abc", "client_secret_env": "Y"}, "not both"),
        ({"token_env": None, "client_id": "abc"}, "client_id needs client_secret_env"),
        ({"token_env": "X", "refresh_token_env": "R"}, "refresh_token_env needs client_id"),
    ],
)
def test_the_sources_file_says_what_a_shopify_grant_lacks(
    extra: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        SourceConfig.model_validate(
            {
                "name": "shop",
                "kind": "storefront",
                "type": "shopify",
                "base_url": "https://omni-retail.myshopify.com",
                "token_env": "X",
                **extra,
            }
        )


def test_client_credentials_are_for_shopify_sources_only() -> None:
    with pytest.raises(ValidationError, match="are for type shopify"):
        SourceConfig.model_validate(
            {
                "name": "erp",
                "kind": "erp",
                "base_url": "https://erp.example.com",
                "client_id": "abc",
            }
        )
