"""Availability resolution: a handful of indexed reads, whatever the ledger's length."""

from __future__ import annotations

from omnigraph.core.errors import InvalidId
from omnigraph.core.ids import decode_global_id
from omnigraph.graph.context import RequestContext
from omnigraph.inventory.availability import (
    Availability,
    Promise,
    read_availability,
)

__all__ = ["availability_by_id", "availability_key"]


def availability_key(global_id: str) -> tuple[str, str, str, Promise]:
    """``(sku, location, channel, promise)`` from an ``InventoryAvailability`` global id."""
    _, parts = decode_global_id(global_id, expected_type="InventoryAvailability")
    if len(parts) != 4:
        raise InvalidId(f"{global_id!r} is not an availability id", id=global_id)
    sku, location_id, channel, promise = parts
    try:
        return sku, location_id, channel, Promise(promise)
    except ValueError:
        raise InvalidId(f"{global_id!r} is not an availability id", id=global_id) from None


async def availability_by_id(ctx: RequestContext, global_id: str) -> Availability | None:
    sku, location_id, channel, promise = availability_key(global_id)
    answers = await read_availability(
        ctx.services,
        skus=[sku],
        channel=channel,
        promise=promise,
        at=None,
        location_ids=[location_id],
    )
    return answers[0] if answers else None
