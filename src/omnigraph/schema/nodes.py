"""Global id resolution for ``node(id:)`` and federation ``_entities``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from omnigraph.context import RequestContext
from omnigraph.errors import InvalidId
from omnigraph.ids import decode_global_id
from omnigraph.inventory.availability import Promise
from omnigraph.resolvers.inventory import availability

if TYPE_CHECKING:
    from omnigraph.schema.common import Node
    from omnigraph.schema.exceptions import ExceptionRecord
    from omnigraph.schema.inventory import InventoryAvailability
    from omnigraph.schema.orders import Order
    from omnigraph.schema.payouts import Payout

__all__ = [
    "resolve_availability_id",
    "resolve_exception_id",
    "resolve_node",
    "resolve_order_id",
    "resolve_payout_id",
]


async def resolve_order_id(ctx: RequestContext, global_id: str) -> Order | None:
    from omnigraph.schema.orders import Order

    _, parts = decode_global_id(global_id, expected_type="Order")
    source, ref = parts[0], ":".join(parts[1:])
    if not ref:
        raise InvalidId(f"{global_id!r} is not an order id", id=global_id)
    found = await ctx.loaders.storefront_orders.load((source, ref))
    return None if found is None else Order.from_sourced(found)


async def resolve_payout_id(ctx: RequestContext, global_id: str) -> Payout | None:
    from omnigraph.schema.payouts import Payout

    _, parts = decode_global_id(global_id, expected_type="Payout")
    if len(parts) != 2:
        raise InvalidId(f"{global_id!r} is not a payout id", id=global_id)
    source, ref = parts
    found = await ctx.loaders.payouts.load((source, ref))
    return None if found is None else Payout.from_record(source, found)


async def resolve_exception_id(ctx: RequestContext, global_id: str) -> ExceptionRecord | None:
    from omnigraph.schema.exceptions import ExceptionRecord

    _, parts = decode_global_id(global_id, expected_type="Exception")
    row = await ctx.loaders.exceptions.load(parts[0])
    return None if row is None else ExceptionRecord.from_row(row)


async def resolve_availability_id(
    ctx: RequestContext, global_id: str
) -> InventoryAvailability | None:
    from omnigraph.schema.inventory import InventoryAvailability

    _, parts = decode_global_id(global_id, expected_type="InventoryAvailability")
    if len(parts) != 4:
        raise InvalidId(f"{global_id!r} is not an availability id", id=global_id)
    sku, location_id, channel, promise = parts
    try:
        promise_value = Promise(promise)
    except ValueError:
        raise InvalidId(f"{global_id!r} is not an availability id", id=global_id) from None
    answers = await availability(
        ctx, skus=[sku], channel=channel, promise=promise_value, at=None, location_ids=[location_id]
    )
    return InventoryAvailability.of(answers[0]) if answers else None


_RESOLVERS = {
    "Order": resolve_order_id,
    "Payout": resolve_payout_id,
    "Exception": resolve_exception_id,
    "InventoryAvailability": resolve_availability_id,
}


async def resolve_node(ctx: RequestContext, global_id: str) -> Node | None:
    type_name, _ = decode_global_id(global_id)
    resolver = _RESOLVERS.get(type_name)
    if resolver is None:
        raise InvalidId(f"{global_id!r} names unknown type {type_name!r}", id=global_id)
    node: Node | None = await resolver(ctx, global_id)
    return node
