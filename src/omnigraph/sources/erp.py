"""ERP adapter: commercial truth (prices, totals, terms, financial status, credit memos)."""

from __future__ import annotations

from collections.abc import Sequence

from omnigraph.sources.client import SourceClient
from omnigraph.sources.parsing import parse_record, parse_records
from omnigraph.sources.records import SalesOrder

__all__ = ["ErpAdapter"]


class ErpAdapter:
    def __init__(self, client: SourceClient) -> None:
        self.client = client
        self.name = client.name

    async def sales_orders_by_order_ref(
        self, order_refs: Sequence[str]
    ) -> dict[str, list[SalesOrder]]:
        grouped = await self.client.by_order_ref("sales-orders", order_refs)
        return {ref: parse_records(self.name, SalesOrder, raws) for ref, raws in grouped.items()}

    async def sales_orders_by_id(self, ids: Sequence[str]) -> dict[str, SalesOrder]:
        found = await self.client.batch_get("sales-orders", ids)
        return {key: parse_record(self.name, SalesOrder, raw) for key, raw in found.items()}
