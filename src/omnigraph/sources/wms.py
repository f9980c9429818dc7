"""WMS adapter: physical truth (released, picked, packed, shipped, stock on hand)."""

from __future__ import annotations

from collections.abc import Sequence

from omnigraph.core.errors import SourceContractViolation
from omnigraph.sources.client import JsonRecord, SourceClient
from omnigraph.sources.parsing import parse_record, parse_records
from omnigraph.sources.records import FulfilmentOrder, Location, StockLevel

__all__ = ["WmsAdapter"]


class WmsAdapter:
    def __init__(self, client: SourceClient) -> None:
        self.client = client
        self.name = client.name

    async def fulfilment_orders_by_order_ref(
        self, order_refs: Sequence[str]
    ) -> dict[str, list[FulfilmentOrder]]:
        grouped = await self.client.by_order_ref("fulfilment-orders", order_refs)
        return {
            ref: parse_records(self.name, FulfilmentOrder, raws) for ref, raws in grouped.items()
        }

    async def fulfilment_orders_by_id(self, ids: Sequence[str]) -> dict[str, FulfilmentOrder]:
        found = await self.client.batch_get("fulfilment-orders", ids)
        return {key: parse_record(self.name, FulfilmentOrder, raw) for key, raw in found.items()}

    async def stock(
        self, skus: Sequence[str], location_ids: Sequence[str] | None
    ) -> list[StockLevel]:
        """Stock snapshot rows for ``skus`` (at ``location_ids``, or everywhere)."""
        payload = await self.client.post_json(
            "/stock/query",
            {"skus": list(skus), "locationIds": list(location_ids) if location_ids else None},
        )
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
            raise SourceContractViolation(self.name, "/stock/query answered without a data list")
        return parse_records(self.name, StockLevel, payload["data"])

    async def locations(self) -> list[Location]:
        """Locations change rarely, so they are kept for the source's cache TTL."""

        async def fetch() -> list[JsonRecord]:
            raws, _ = await self.client.list_page("locations", limit=500, cursor=None, filters={})
            return raws

        # The raw records are cached (a shared cache holds JSON), parsed on each read.
        raws: list[JsonRecord] = await self.client.cached(("locations",), fetch)
        return parse_records(self.name, Location, raws)
