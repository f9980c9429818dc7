"""Payout listing across payments sources, with provider-side filters."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, tuple_

from omnigraph.core.errors import InvalidId
from omnigraph.core.ids import decode_global_id
from omnigraph.db.models import (
    PayoutReconciliationRow,
    ReconciliationLineRow,
)
from omnigraph.graph.context import RequestContext
from omnigraph.graph.loaders import BySourceLoader, RowLoader, RowsLoader, SourceKey
from omnigraph.graph.pagination import ListingPosition, ScanResult, check_first, scan_listing
from omnigraph.runtime.services import Services
from omnigraph.sources.contract import PaymentsSource
from omnigraph.sources.records import (
    BalanceTransaction,
    Payout,
    Sourced,
)

__all__ = [
    "PAYOUT_CURSOR",
    "PayoutLoaders",
    "PayoutQueryFilter",
    "list_payouts",
    "payout_by_id",
    "payout_key",
]

PAYOUT_CURSOR = "payouts"


class PayoutLoaders:
    """One request's loaders of payouts, their transactions and the reconciler's verdicts."""

    def __init__(self, services: Services) -> None:
        sessions = services.sessions
        adapters = {p.name: p for p in services.registry.payments}

        async def payouts(source: str, ids: list[str]) -> dict[str, Payout]:
            adapter = adapters.get(source)
            return {} if adapter is None else await adapter.payouts_by_id(ids)

        async def transactions(source: str, ids: list[str]) -> dict[str, list[BalanceTransaction]]:
            adapter = adapters.get(source)
            return {} if adapter is None else await adapter.balance_transactions_by_payout(ids)

        # ``(payments source, payout id)`` -> the payout, and the balance transactions it settled
        self.payouts = BySourceLoader(payouts)
        self.balance_transactions = BySourceLoader(transactions)
        # ``(payments source, payout id)`` -> the reconciler's last verdict on that payout
        self.verdicts = RowLoader(
            sessions,
            lambda keys: select(PayoutReconciliationRow).where(
                tuple_(PayoutReconciliationRow.source, PayoutReconciliationRow.payout_id).in_(
                    list(keys)
                )
            ),
            lambda row: (row.source, row.payout_id),
        )
        # ``(payments source, payout id)`` -> the lines behind it that did not match
        self.unmatched_lines = RowsLoader(
            sessions,
            lambda keys: (
                select(ReconciliationLineRow)
                .where(
                    tuple_(ReconciliationLineRow.source, ReconciliationLineRow.payout_id).in_(
                        list(keys)
                    ),
                    ReconciliationLineRow.status != "MATCHED",
                )
                .order_by(ReconciliationLineRow.key)
            ),
            lambda row: (row.source, row.payout_id or ""),
        )


@dataclass(frozen=True, slots=True)
class PayoutQueryFilter:
    status: str | None = None
    arrival_from: datetime | None = None
    arrival_to: datetime | None = None

    def as_params(self) -> dict[str, str | int]:
        params: dict[str, str | int] = {}
        if self.status:
            params["status"] = self.status.lower()
        if self.arrival_from:
            params["arrivalFrom"] = int(self.arrival_from.timestamp())
        if self.arrival_to:
            params["arrivalTo"] = int(self.arrival_to.timestamp())
        return params


async def list_payouts(
    ctx: RequestContext, *, first: int, after: str | None, filter: PayoutQueryFilter
) -> ScanResult[Sourced[Payout]]:
    check_first(first, ctx.services.settings.limits.max_page_size)
    position = ListingPosition.decode(after, PAYOUT_CURSOR) if after else None
    params = filter.as_params()

    async def fetch(
        adapter: PaymentsSource, page: str | None, limit: int
    ) -> tuple[list[Sourced[Payout]], str | None]:
        payouts, next_page = await adapter.list_payouts(limit=limit, cursor=page, filters=params)
        for payout in payouts:
            ctx.loaders(PayoutLoaders).payouts.prime((adapter.name, payout.id), payout)
        return [Sourced(adapter.name, p) for p in payouts], next_page

    return await scan_listing(
        [functools.partial(fetch, a) for a in ctx.services.registry.payments],
        first=first,
        after=position,
        max_pages=ctx.services.settings.limits.max_filter_scan_pages,
    )


def payout_key(global_id: str) -> SourceKey:
    """``(payments source, payout id)`` from a ``Payout`` global id."""
    _, parts = decode_global_id(global_id, expected_type="Payout")
    if len(parts) != 2:
        raise InvalidId(f"{global_id!r} is not a payout id", id=global_id)
    return parts[0], parts[1]


async def payout_by_id(ctx: RequestContext, global_id: str) -> Sourced[Payout] | None:
    source, ref = payout_key(global_id)
    found = await ctx.loaders(PayoutLoaders).payouts.load((source, ref))
    return None if found is None else Sourced(source, found)
