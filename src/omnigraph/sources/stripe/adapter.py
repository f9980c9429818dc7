"""The payments adapter for a Stripe account: the records and methods of
:class:`~omnigraph.sources.contract.PaymentsSource`, as the contract's adapter answers them, so
resolvers, the payments sync and the reconciler work unchanged.

Upstream calls (Stripe has no batch read):

- ``charges_by_order_ref`` (oldest first, like the contract's): the Search API,
  ``metadata['order_ref']:'A' OR ...`` with at most :data:`SEARCH_CLAUSES` refs a query
  (Stripe's limit on clauses), one call per 10 refs (and per further 100 results). Search is
  eventually consistent: a charge made in the last minute may not be found yet.
- ``charges_by_id``, ``refunds_by_id``, ``disputes_by_id``, ``payouts_by_id``: one ``GET`` per id
  not in the record cache, 8 at a time.
- ``list_payouts``: one call per page.
- ``balance_transactions_by_payout``: one call per 100 transactions of each payout, with
  ``expand[]=data.source``; the charges, refunds and disputes it brings are cached, so the
  reconciler's reads by id right after a sync need no call while the cache TTL lasts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from omnigraph.sources.contract import JsonRecord
from omnigraph.sources.parsing import parse_kept, parse_kept_records, parse_record, parse_records
from omnigraph.sources.record_cache import CacheKey
from omnigraph.sources.records import BalanceTransaction, Charge, Dispute, Payout, Refund
from omnigraph.sources.stripe.client import PAGE_LIMIT, Params, StripeClient
from omnigraph.sources.stripe.mapping import (
    balance_transaction_record,
    charge_record,
    dispute_record,
    payout_record,
    refund_record,
)

__all__ = ["SEARCH_CLAUSES", "StripePaymentsAdapter", "order_ref_query"]

SEARCH_CLAUSES = 10
_CHARGE_EXPAND: Params = (("expand[]", "refunds"),)
_SEARCH_EXPAND: Params = (("expand[]", "data.refunds"),)
# the objects a balance transaction's expanded `source` may be, by the collection they live in
_SOURCE_COLLECTIONS = {"charge": "charges", "refund": "refunds", "dispute": "disputes"}
# the contract's payout filters, as Stripe's list parameters
_PAYOUT_FILTERS = {
    "status": "status",
    "arrivalFrom": "arrival_date[gte]",
    "arrivalTo": "arrival_date[lt]",
}


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def order_ref_query(refs: Sequence[str]) -> str:
    """``metadata['order_ref']:'SF-1' OR metadata['order_ref']:'SF-2'`` (quotes escaped)."""
    return " OR ".join(f"metadata['order_ref']:{_quoted(ref)}" for ref in refs)


class StripePaymentsAdapter:
    def __init__(self, client: StripeClient) -> None:
        self.client = client
        self.name = client.name

    async def charges_by_order_ref(self, order_refs: Sequence[str]) -> dict[str, list[Charge]]:

        async def fetch(keys: list[CacheKey]) -> list[Any]:
            refs = [key[2] for key in keys]
            chunks = [
                refs[start : start + SEARCH_CLAUSES]
                for start in range(0, len(refs), SEARCH_CLAUSES)
            ]
            pages = await asyncio.gather(
                *(
                    self.client.search("/v1/charges/search", order_ref_query(chunk), _SEARCH_EXPAND)
                    for chunk in chunks
                )
            )
            fetched: dict[str, list[JsonRecord]] = {ref: [] for ref in refs}
            for page in pages:
                for raw in page:
                    charge = charge_record(raw)
                    ref = charge["metadata"].get("order_ref")
                    if ref in fetched:
                        fetched[ref].append(charge)
            for charges in fetched.values():
                charges.sort(key=lambda charge: (charge["created"] or 0, charge["id"] or ""))
            return list(fetched.values())

        unique = list(dict.fromkeys(order_refs))
        keys = [("charges", "ref", ref) for ref in unique]
        grouped = zip(unique, await self.client.upstream.read(keys, fetch), strict=True)
        return {ref: parse_kept_records(self.name, Charge, raws) for ref, raws in grouped}

    async def _by_id(
        self,
        collection: str,
        ids: Sequence[str],
        mapping: Callable[[Any], JsonRecord],
        params: Params = (),
    ) -> dict[str, JsonRecord]:
        found = await self.client.retrieve_many(collection, ids, params)
        return {key: mapping(raw) for key, raw in found.items()}

    async def charges_by_id(self, ids: Sequence[str]) -> dict[str, Charge]:
        found = await self._by_id("charges", ids, charge_record, _CHARGE_EXPAND)
        return {key: parse_kept(self.name, Charge, raw) for key, raw in found.items()}

    async def refunds_by_id(self, ids: Sequence[str]) -> dict[str, Refund]:
        found = await self._by_id("refunds", ids, refund_record)
        return {key: parse_record(self.name, Refund, raw) for key, raw in found.items()}

    async def disputes_by_id(self, ids: Sequence[str]) -> dict[str, Dispute]:
        found = await self._by_id("disputes", ids, dispute_record)
        return {key: parse_record(self.name, Dispute, raw) for key, raw in found.items()}

    async def payouts_by_id(self, ids: Sequence[str]) -> dict[str, Payout]:
        found = await self._by_id("payouts", ids, payout_record)
        return {key: parse_record(self.name, Payout, raw) for key, raw in found.items()}

    async def reconciliation_statuses(self, payout_ids: Sequence[str]) -> dict[str, str | None]:
        """Each payout's ``reconciliation_status`` as Stripe says it now (``GET
        /v1/payouts/{id}``, never from the cache): ``completed`` once every balance transaction
        it swept can be listed, ``in_progress`` until then, ``not_applicable`` for manual
        payouts."""
        unique = list(dict.fromkeys(payout_ids))
        found = await asyncio.gather(
            *(self.client.get_object(f"/v1/payouts/{payout_id}") for payout_id in unique)
        )
        statuses: dict[str, str | None] = {}
        for payout_id, payout in zip(unique, found, strict=True):
            status = (payout or {}).get("reconciliation_status")
            statuses[payout_id] = status if isinstance(status, str) else None
        return statuses

    async def list_payouts(
        self, *, limit: int, cursor: str | None, filters: Mapping[str, str | int]
    ) -> tuple[list[Payout], str | None]:
        """Newest first, as Stripe lists them; the cursor is the last payout's id."""
        params: list[tuple[str, str | int]] = [("limit", max(1, min(limit, PAGE_LIMIT)))]
        params += [(_PAYOUT_FILTERS[k], v) for k, v in filters.items() if k in _PAYOUT_FILTERS]
        raws, more = await self.client.list_objects("/v1/payouts", params, starting_after=cursor)
        payouts = parse_records(self.name, Payout, [payout_record(raw) for raw in raws])
        return payouts, (payouts[-1].id if more and payouts else None)

    async def balance_transactions_by_payout(
        self, payout_ids: Sequence[str]
    ) -> dict[str, list[BalanceTransaction]]:
        unique = list(dict.fromkeys(payout_ids))
        pages = await asyncio.gather(
            *(
                self.client.list_all(
                    "/v1/balance_transactions",
                    [("payout", payout_id), ("expand[]", "data.source")],
                )
                for payout_id in unique
            )
        )
        grouped: dict[str, list[BalanceTransaction]] = {}
        expanded: dict[str, list[JsonRecord]] = {}
        for payout_id, raws in zip(unique, pages, strict=True):
            grouped[payout_id] = parse_records(
                self.name,
                BalanceTransaction,
                [balance_transaction_record(raw, payout_id) for raw in raws],
            )
            for raw in raws:
                source = raw.get("source")
                if isinstance(source, dict) and source.get("object") in _SOURCE_COLLECTIONS:
                    expanded.setdefault(_SOURCE_COLLECTIONS[source["object"]], []).append(source)
        for collection, records in expanded.items():
            await self.client.keep(collection, records)
        return grouped
