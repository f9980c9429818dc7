"""Availability resolution: one stock call and one (cached) locations call per request."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from omnigraph.context import RequestContext
from omnigraph.errors import InvalidInput
from omnigraph.inventory.availability import CHANNELS, Availability, Promise, availability_for
from omnigraph.sources.records import Location

__all__ = ["MAX_SKUS", "availability"]

MAX_SKUS = 100


async def availability(
    ctx: RequestContext,
    *,
    skus: Sequence[str],
    channel: str,
    promise: Promise,
    at: datetime | None,
    location_ids: Sequence[str] | None,
) -> list[Availability]:
    if channel not in CHANNELS:
        raise InvalidInput(
            f"unknown channel {channel!r}; known: {', '.join(sorted(CHANNELS))}",
            argument="channel",
        )
    if len(skus) > MAX_SKUS:
        raise InvalidInput(f"at most {MAX_SKUS} skus per call, got {len(skus)}", argument="skus")
    unique = list(dict.fromkeys(skus))
    stock_lists, location_lists = await asyncio.gather(
        asyncio.gather(*(ctx.loaders.stock.load(sku) for sku in unique)),
        asyncio.gather(*(wms.locations() for wms in ctx.services.registry.warehouses)),
    )
    locations: list[Location] = [loc for group in location_lists for loc in group]
    stock = [row for rows in stock_lists for row in rows]
    return availability_for(
        stock,
        locations,
        channel=channel,
        promise=promise,
        at=at or ctx.services.now(),
        location_ids=location_ids,
    )
