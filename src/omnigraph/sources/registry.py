"""Every configured source, built once per process, reachable by name or kind."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import httpx
from redis.asyncio import Redis

from omnigraph.core.sources import SourceKind, SourceType
from omnigraph.settings import Settings, SourcesConfig
from omnigraph.sources.client import SourceClient
from omnigraph.sources.erp import ErpAdapter
from omnigraph.sources.observers import UpstreamObserver
from omnigraph.sources.payments import PaymentsAdapter
from omnigraph.sources.shopify.adapter import ShopifyStorefrontAdapter
from omnigraph.sources.shopify.client import ShopifyClient
from omnigraph.sources.storefront import StorefrontAdapter
from omnigraph.sources.stripe import StripeClient, StripePaymentsAdapter
from omnigraph.sources.wms import WmsAdapter

__all__ = ["MONEY_KINDS", "SourceRegistry"]

# A provider type speaks its own API through its own client (the contract: SourceClient).
CLIENTS: dict[SourceType, type[SourceClient]] = {
    SourceType.CONTRACT: SourceClient,
    SourceType.SHOPIFY: ShopifyClient,
    SourceType.STRIPE: StripeClient,
}

# Kinds whose records carry money (prices, totals, payments): never answered from a stale copy.
MONEY_KINDS = frozenset({SourceKind.ERP, SourceKind.PAYMENTS})


class SourceRegistry:
    """Adapters for the configured sources; owns their pooled HTTP clients."""

    def __init__(
        self,
        config: SourcesConfig,
        settings: Settings,
        *,
        transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
        redis: Redis | None = None,
        observers: Sequence[UpstreamObserver] = (),
    ) -> None:
        """``redis``, when given, holds the record caches, shared with the other replicas;
        ``observers`` (metrics, tracing) watch every client's requests."""
        self.config = config
        self.clients: dict[str, SourceClient] = {
            source.name: CLIENTS[source.type](
                source,
                timeout_seconds=settings.upstream_timeout_seconds,
                cache_ttl_seconds=settings.cache_ttl_seconds,
                cache_max_entries=settings.cache_max_entries,
                stale_if_error_seconds=(
                    0  # money is never served stale
                    if source.kind in MONEY_KINDS
                    else (
                        source.stale_if_error_seconds
                        if source.stale_if_error_seconds is not None
                        else settings.stale_if_error_seconds
                    )
                ),
                transport=(transports or {}).get(source.name),
                redis=redis,
                redis_key_prefix=settings.redis_key_prefix,
                observers=observers,
            )
            for source in config.sources
        }
        by_kind = {
            kind: [c for c in self.clients.values() if c.kind is kind] for kind in SourceKind
        }
        self.storefronts = [
            ShopifyStorefrontAdapter(c) if isinstance(c, ShopifyClient) else StorefrontAdapter(c)
            for c in by_kind[SourceKind.STOREFRONT]
        ]
        self.erps = [ErpAdapter(c) for c in by_kind[SourceKind.ERP]]
        self.warehouses = [WmsAdapter(c) for c in by_kind[SourceKind.WMS]]
        self.payments = [
            StripePaymentsAdapter(c) if isinstance(c, StripeClient) else PaymentsAdapter(c)
            for c in by_kind[SourceKind.PAYMENTS]
        ]

    def kind_of(self, source_name: str) -> SourceKind | None:
        client = self.clients.get(source_name)
        return None if client is None else client.kind

    def storefront(self, name: str) -> StorefrontAdapter | None:
        return next((s for s in self.storefronts if s.name == name), None)

    async def clear_caches(self) -> None:
        for client in self.clients.values():
            await client.clear_cache()

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()
