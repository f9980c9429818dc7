"""Storefront adapter: order capture (what was asked for, by whom, through which channel)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from omnigraph.sources.client import SourceClient
from omnigraph.sources.parsing import parse_record, parse_records
from omnigraph.sources.records import StorefrontOrder

__all__ = ["OrderListFilter", "StorefrontAdapter", "StorefrontPage"]


@dataclass(frozen=True, slots=True)
class OrderListFilter:
    """The filters the storefront itself can apply while listing."""

    channel: str | None = None
    placed_from: datetime | None = None
    placed_to: datetime | None = None
    sku: str | None = None

    def as_params(self) -> dict[str, str | int]:
        params: dict[str, str | int] = {}
        if self.channel:
            params["channel"] = self.channel
        if self.placed_from:
            params["placedFrom"] = self.placed_from.isoformat()
        if self.placed_to:
            params["placedTo"] = self.placed_to.isoformat()
        if self.sku:
            params["sku"] = self.sku
        return params


@dataclass(frozen=True, slots=True)
class StorefrontPage:
    orders: list[StorefrontOrder]
    next_cursor: str | None


class StorefrontAdapter:
    def __init__(self, client: SourceClient) -> None:
        self.client = client
        self.name = client.name

    async def orders_by_id(self, ids: Sequence[str]) -> dict[str, StorefrontOrder]:
        found = await self.client.batch_get("orders", ids)
        return {key: parse_record(self.name, StorefrontOrder, raw) for key, raw in found.items()}

    async def list_orders(
        self, *, limit: int, cursor: str | None, filter: OrderListFilter
    ) -> StorefrontPage:
        raws, next_cursor = await self.client.list_page(
            "orders", limit=limit, cursor=cursor, filters=filter.as_params()
        )
        return StorefrontPage(parse_records(self.name, StorefrontOrder, raws), next_cursor)
