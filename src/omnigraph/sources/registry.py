"""Every configured source, built once per process, reachable by name or kind."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import httpx
from redis.asyncio import Redis

from omnigraph.core.sources import SourceKind, SourceType
from omnigraph.settings import Settings, SourceConfig, SourcesConfig
from omnigraph.sources.contract import (
    ContractClient,
    ErpAdapter,
    PaymentsAdapter,
    PaymentsSource,
    SourceClient,
    StorefrontAdapter,
    StorefrontSource,
    WmsAdapter,
)
from omnigraph.sources.observers import UpstreamObserver
from omnigraph.sources.shopify.adapter import ShopifyStorefrontAdapter
from omnigraph.sources.shopify.client import ShopifyClient
from omnigraph.sources.stripe import StripeClient, StripePaymentsAdapter
from omnigraph.sources.upstream import UpstreamOptions

__all__ = ["MONEY_KINDS", "SourceRegistry"]

# Kinds whose records carry money (prices, totals, payments): never answered from a stale copy.
MONEY_KINDS = frozenset({SourceKind.ERP, SourceKind.PAYMENTS})


class SourceRegistry:
    """Adapters for the configured sources; owns their clients (and so their HTTP pools)."""

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
        self.clients: dict[str, SourceClient] = {}
        self.storefronts: list[StorefrontSource] = []
        self.erps: list[ErpAdapter] = []
        self.warehouses: list[WmsAdapter] = []
        self.payments: list[PaymentsSource] = []
        for source in config.sources:
            options = UpstreamOptions(
                timeout_seconds=settings.upstream_timeout_seconds,
                cache_ttl_seconds=settings.cache_ttl_seconds,
                cache_max_entries=settings.cache_max_entries,
                stale_if_error_seconds=_stale_window(source, settings),
                transport=(transports or {}).get(source.name),
                redis=redis,
                redis_key_prefix=settings.redis_key_prefix,
                observers=observers,
            )
            self.clients[source.name] = self._connect(source, options)

    def _connect(self, source: SourceConfig, options: UpstreamOptions) -> SourceClient:
        """The client of ``source``, for the API its type speaks, and its adapter."""
        if source.type is SourceType.SHOPIFY:
            shop = ShopifyClient(source, **options)
            self.storefronts.append(ShopifyStorefrontAdapter(shop))
            return shop
        if source.type is SourceType.STRIPE:
            stripe = StripeClient(source, **options)
            self.payments.append(StripePaymentsAdapter(stripe))
            return stripe
        client = ContractClient(source, **options)
        match source.kind:
            case SourceKind.STOREFRONT:
                self.storefronts.append(StorefrontAdapter(client))
            case SourceKind.ERP:
                self.erps.append(ErpAdapter(client))
            case SourceKind.WMS:
                self.warehouses.append(WmsAdapter(client))
            case SourceKind.PAYMENTS:
                self.payments.append(PaymentsAdapter(client))
        return client

    def kind_of(self, source_name: str) -> SourceKind | None:
        client = self.clients.get(source_name)
        return None if client is None else client.kind

    def storefront(self, name: str) -> StorefrontSource | None:
        return next((s for s in self.storefronts if s.name == name), None)

    async def clear_caches(self) -> None:
        for client in self.clients.values():
            await client.upstream.clear_cache()

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.upstream.aclose()


def _stale_window(source: SourceConfig, settings: Settings) -> float:
    """How long a last good copy may answer for ``source`` when it is down."""
    if source.kind in MONEY_KINDS:
        return 0  # money is never served stale
    if source.stale_if_error_seconds is not None:
        return source.stale_if_error_seconds
    return settings.stale_if_error_seconds
