"""The ``options`` table of a ``type = "shopify"`` source, validated when the sources file loads.

Example (docs/sources/shopify.md has every key)::

    [sources.options]
    order_id_prefix = "SF-"
    default_channel = "web"
    channel_map = { "web" = "web", "pos" = "store-pickup", "amazon" = "marketplace" }
    location_map = { "71234567" = "store-london" }
"""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DEFAULT_API_VERSION", "MAX_QUERY_COST", "NODES_LIMIT", "ShopifyOptions"]

# Shopify supports each stable version for twelve months; pin a source's own with api_version.
DEFAULT_API_VERSION: Final = "2026-10"
# Shopify refuses a single query whose requested cost exceeds 1,000 points, on every plan.
MAX_QUERY_COST: Final = 1000
# ...and a nodes(ids:) or connection page of more than 250.
NODES_LIMIT: Final = 250


class ShopifyOptions(BaseModel):
    """How Shopify's orders become the storefront contract's (docs/sources/shopify.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    order_id_prefix: str = Field(
        default="",
        max_length=32,
        pattern=r"^[A-Za-z0-9_-]*$",
        description="Put before Shopify's numeric order id to make the canonical order id "
        '("SF-" makes order 1001 "SF-1001"), so ERP and WMS references match.',
    )
    default_channel: str = Field(default="web", min_length=1)
    channel_map: dict[str, str] = Field(
        default_factory=lambda: {"web": "web"},
        description="Shopify channel handle or sourceName -> omnigraph channel.",
    )
    pickup_channel: str = Field(
        default="store-pickup",
        min_length=1,
        description="The channel of a local-pickup order that channel_map does not name.",
    )
    location_map: dict[str, str] = Field(
        default_factory=dict,
        description="Shopify location id (numeric) -> omnigraph location id, for pickups.",
    )
    max_line_items: int = Field(
        default=20,
        ge=1,
        le=NODES_LIMIT,
        description="Line items read with each order in a batch (more are read after it).",
    )
    shop_domain: str | None = Field(
        default=None,
        description="The shop's myshopify.com domain, matched against X-Shopify-Shop-Domain "
        "on webhooks; default: the host of base_url.",
    )
    max_query_cost: int = Field(default=MAX_QUERY_COST, ge=50, le=MAX_QUERY_COST)
