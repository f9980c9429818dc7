"""Payout listing across payments sources, with provider-side filters."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from omnigraph.graph.context import RequestContext
from omnigraph.graph.pagination import ListingPosition, ScanResult, check_first, scan_listing
from omnigraph.sources.records import Payout, Sourced

__all__ = ["PAYOUT_CURSOR", "PayoutQueryFilter", "list_payouts"]

PAYOUT_CURSOR = "payouts"


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
    check_first(first, ctx.services.settings.max_page_size)
    position = ListingPosition.decode(after, PAYOUT_CURSOR) if after else None
    sources = ctx.services.registry.payments
    params = filter.as_params()

    def fetcher(
        index: int,
    ) -> Callable[[str | None, int], Awaitable[tuple[list[Sourced[Payout]], str | None]]]:
        adapter = sources[index]

        async def fetch(page: str | None, limit: int) -> tuple[list[Sourced[Payout]], str | None]:
            payouts, next_page = await adapter.list_payouts(
                limit=limit, cursor=page, filters=params
            )
            for payout in payouts:
                ctx.loaders.payouts.prime((adapter.name, payout.id), payout)
            return [Sourced(adapter.name, p) for p in payouts], next_page

        return fetch

    return await scan_listing(
        [fetcher(i) for i in range(len(sources))], first=first, after=position
    )
