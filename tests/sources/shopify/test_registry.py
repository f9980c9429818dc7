"""A sources file with ``type = "shopify"`` gets the Shopify adapter, pointed where it says."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from omnigraph.core.errors import ConfigurationError
from omnigraph.settings import Settings
from omnigraph.sources.contract import StorefrontAdapter
from omnigraph.sources.registry import SourceRegistry
from omnigraph.sources.shopify.adapter import ShopifyStorefrontAdapter
from omnigraph.sources.shopify.client import ShopifyClient

from .conftest import FakeShop

SOURCES = """
[[sources]]
name = "shop"
kind = "storefront"
type = "shopify"
base_url = "http://127.0.0.1:9/fake-shop"
token_env = "SHOPIFY_TEST_TOKEN"
webhook_secret_env = "SHOPIFY_TEST_SECRET"
api_version = "2026-07"
options = { order_id_prefix = "SF-", max_line_items = 10 }

[[sources]]
name = "web-store"
kind = "storefront"
base_url = "http://127.0.0.1:9/storefront"

[[sources]]
name = "erp"
kind = "erp"
base_url = "http://127.0.0.1:9/erp"

[[sources]]
name = "wms"
kind = "wms"
base_url = "http://127.0.0.1:9/wms"

[[sources]]
name = "psp"
kind = "payments"
base_url = "http://127.0.0.1:9/psp"
"""


async def test_the_registry_picks_the_shopify_adapter_by_type(
    tmp_path: Path, shop: FakeShop, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPIFY_TEST_TOKEN", "shpat_x")
    path = tmp_path / "sources.toml"
    path.write_text(SOURCES)
    settings = Settings(config=path)
    assert settings.sources_config is not None
    registry = SourceRegistry(
        settings.sources_config,
        settings,
        transports={"shop": httpx.MockTransport(shop.handler)},
    )
    try:
        shopify, contract = registry.storefronts
        assert isinstance(shopify, ShopifyStorefrontAdapter)
        assert type(contract) is StorefrontAdapter
        assert isinstance(registry.clients["shop"], ShopifyClient)
        found = await shopify.orders_by_id(["SF-5012345678902"])
        assert list(found) == ["SF-5012345678902"]
        # the base URL from the file (a fake shop here), the version pinned there
        assert str(shop.calls[0].request.url) == (
            "http://127.0.0.1:9/fake-shop/admin/api/2026-07/graphql.json"
        )
        assert shop.calls[0].request.headers["X-Shopify-Access-Token"] == "shpat_x"
    finally:
        await registry.aclose()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ('kind = "storefront"\ntype = "shopify"', 'kind = "erp"\ntype = "shopify"'),
            "type shopify is a storefront source",
        ),
        (('token_env = "SHOPIFY_TEST_TOKEN"\n', ""), "type shopify needs token_env"),
        (("max_line_items = 10", "max_line_items = 500"), "options.max_line_items"),
        (("max_line_items = 10", "channels = 1"), "options.channels"),
    ],
)
def test_a_wrong_shopify_entry_stops_loading_with_its_name(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    path = tmp_path / "sources.toml"
    path.write_text(SOURCES.replace(*change, 1))
    with pytest.raises(ConfigurationError) as raised:
        Settings(config=path)
    assert message in str(raised.value)
