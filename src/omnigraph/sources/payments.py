"""Payments adapter: money moved (charges, refunds, payouts and their balance transactions)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from omnigraph.core.errors import SourceContractViolation
from omnigraph.sources.client import SourceClient
from omnigraph.sources.parsing import parse_record, parse_records
from omnigraph.sources.records import BalanceTransaction, Charge, Dispute, Payout, Refund

__all__ = ["PaymentsAdapter"]


def _charge_order_ref(record: dict[str, Any]) -> str | None:
    metadata = record.get("metadata")
    return metadata.get("order_ref") if isinstance(metadata, dict) else None


class PaymentsAdapter:
    def __init__(self, client: SourceClient) -> None:
        self.client = client
        self.name = client.name

    async def charges_by_order_ref(self, order_refs: Sequence[str]) -> dict[str, list[Charge]]:
        grouped = await self.client.by_order_ref("charges", order_refs, ref_of=_charge_order_ref)
        return {ref: parse_records(self.name, Charge, raws) for ref, raws in grouped.items()}

    async def charges_by_id(self, ids: Sequence[str]) -> dict[str, Charge]:
        found = await self.client.batch_get("charges", ids)
        return {key: parse_record(self.name, Charge, raw) for key, raw in found.items()}

    async def refunds_by_id(self, ids: Sequence[str]) -> dict[str, Refund]:
        found = await self.client.batch_get("refunds", ids)
        return {key: parse_record(self.name, Refund, raw) for key, raw in found.items()}

    async def disputes_by_id(self, ids: Sequence[str]) -> dict[str, Dispute]:
        found = await self.client.batch_get("disputes", ids)
        return {key: parse_record(self.name, Dispute, raw) for key, raw in found.items()}

    async def payouts_by_id(self, ids: Sequence[str]) -> dict[str, Payout]:
        found = await self.client.batch_get("payouts", ids)
        return {key: parse_record(self.name, Payout, raw) for key, raw in found.items()}

    async def list_payouts(
        self, *, limit: int, cursor: str | None, filters: Mapping[str, str | int]
    ) -> tuple[list[Payout], str | None]:
        raws, next_cursor = await self.client.list_page(
            "payouts", limit=limit, cursor=cursor, filters=filters
        )
        return parse_records(self.name, Payout, raws), next_cursor

    async def balance_transactions_by_payout(
        self, payout_ids: Sequence[str]
    ) -> dict[str, list[BalanceTransaction]]:
        path = "/balance-transactions/by-payout"
        payload = await self.client.post_json(path, {"payoutIds": list(payout_ids)})
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
            raise SourceContractViolation(self.name, f"{path} answered without a data list")
        grouped: dict[str, list[BalanceTransaction]] = {pid: [] for pid in payout_ids}
        for txn in parse_records(self.name, BalanceTransaction, payload["data"]):
            if txn.payout in grouped:
                grouped[txn.payout].append(txn)
        return grouped
