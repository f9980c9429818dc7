"""Availability resolution: a handful of indexed reads, whatever the ledger's length."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select

from omnigraph.core.errors import InvalidInput
from omnigraph.db.models import ExpectedReceiptRow, InventoryPositionRow, ReservationRow
from omnigraph.graph.context import RequestContext, Services
from omnigraph.inventory.availability import (
    CHANNELS,
    Availability,
    Position,
    Promise,
    availability_for,
)
from omnigraph.inventory.policy_store import policy_in_force
from omnigraph.inventory.reservations import ReservationStatus
from omnigraph.sources.records import Location

__all__ = ["MAX_SKUS", "availability", "availability_from_services"]

MAX_SKUS = 1000
_POSITIONS = InventoryPositionRow.__table__
# what availability reads of a position, in Position's order (not the version or last event id)
_FIGURES = [_POSITIONS.c[name] for name in Position._fields]


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
    location_lists = await asyncio.gather(
        *(wms.locations() for wms in services.registry.warehouses)
    )
    locations: list[Location] = [loc for group in location_lists for loc in group]
    # one session for the policy's version check and the figures (opened after the WMS has
    # answered, so no connection waits on an upstream)
    async with sessions() as session:
        _, policy = await policy_in_force(session)
        serving = [loc.id for loc in locations if policy.serves(channel, loc.id)]
        if location_ids:
            serving = [loc for loc in serving if loc in location_ids]
        # plain tuples of the columns availability reads, only where the channel may sell and a
        # ledger entry was reflected: a read for 1,000 SKUs may touch 50,000 positions
        columns = _POSITIONS.c
        rows = await session.execute(
            select(*_FIGURES)
            .where(
                columns.sku.in_(unique),
                columns.location_id.in_(serving),
                columns.last_event_at.is_not(None),
            )
            .order_by(columns.sku, columns.location_id)
        )
        positions = [Position._make(row) for row in rows]
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
