"""Availability resolution: a handful of indexed reads, whatever the ledger's length."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select

from omnigraph.context import RequestContext, Services
from omnigraph.db.models import ExpectedReceiptRow, InventoryPositionRow, ReservationRow
from omnigraph.errors import InvalidInput
from omnigraph.inventory.availability import CHANNELS, Availability, Promise, availability_for
from omnigraph.inventory.policy_store import current_policy
from omnigraph.inventory.reservations import ReservationStatus
from omnigraph.sources.records import Location

__all__ = ["MAX_SKUS", "availability", "availability_from_services"]

MAX_SKUS = 1000


async def availability(
    ctx: RequestContext,
    *,
    skus: Sequence[str],
    channel: str,
    promise: Promise,
    at: datetime | None,
    location_ids: Sequence[str] | None,
) -> list[Availability]:
    return await availability_from_services(
        ctx.services, skus=skus, channel=channel, promise=promise, at=at, location_ids=location_ids
    )


async def availability_from_services(
    services: Services,
    *,
    skus: Sequence[str],
    channel: str,
    promise: Promise,
    at: datetime | None,
    location_ids: Sequence[str] | None,
) -> list[Availability]:
    """The same answers outside a request (monitors use it)."""
    if channel not in CHANNELS:
        raise InvalidInput(
            f"unknown channel {channel!r}; known: {', '.join(sorted(CHANNELS))}",
            argument="channel",
        )
    if len(skus) > MAX_SKUS:
        raise InvalidInput(f"at most {MAX_SKUS} skus per call, got {len(skus)}", argument="skus")
    unique = list(dict.fromkeys(skus))
    now = services.now()
    sessions = services.sessions
    async with sessions() as session:
        # plain rows, not ORM objects: a read for 1,000 SKUs may touch 50,000 positions
        table = InventoryPositionRow.__table__
        positions = list(
            await session.execute(
                select(*table.c)
                .where(table.c.sku.in_(unique))
                .order_by(table.c.sku, table.c.location_id)
            )
        )
        reserved_rows = await session.execute(
            select(
                ReservationRow.sku, ReservationRow.location_id, func.sum(ReservationRow.quantity)
            )
            .where(
                ReservationRow.sku.in_(unique),
                ReservationRow.status.in_([ReservationStatus.ACTIVE, ReservationStatus.COMMITTED]),
                ReservationRow.expires_at > now,
            )
            .group_by(ReservationRow.sku, ReservationRow.location_id)
        )
        reserved = {(sku, loc): int(total) for sku, loc, total in reserved_rows}
        expected: list[ExpectedReceiptRow] = []
        if promise is Promise.SCHEDULED_WHOLESALE:
            expected = list(
                await session.scalars(
                    select(ExpectedReceiptRow).where(
                        ExpectedReceiptRow.sku.in_(unique), ExpectedReceiptRow.quantity_open > 0
                    )
                )
            )
    (_, policy), location_lists = await asyncio.gather(
        current_policy(sessions),
        asyncio.gather(*(wms.locations() for wms in services.registry.warehouses)),
    )
    locations: list[Location] = [loc for group in location_lists for loc in group]
    return availability_for(
        positions,
        reserved,
        expected,
        locations,
        policy,
        channel=channel,
        promise=promise,
        at=at or now,
        location_ids=location_ids,
    )
