"""Global id resolution for ``node(id:)`` and federation ``_entities``.

The single-process graph resolves every type fully. A subgraph resolves its own types and, for a
type another subgraph owns, answers a reference (the id alone) that the gateway completes there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, TypeVar

from omnigraph.core.errors import InvalidId
from omnigraph.core.ids import decode_global_id
from omnigraph.graph.context import RequestContext
from omnigraph.inventory.availability import Promise
from omnigraph.inventory.resolvers import availability

if TYPE_CHECKING:
    from omnigraph.exceptions.schema import ExceptionRecord
    from omnigraph.graph.types import Node
    from omnigraph.inventory.schema import InventoryAvailability
    from omnigraph.orders.schema import OrderCore
    from omnigraph.payouts.schema import Payout

__all__ = [
    "NodeResolver",
    "full_node_resolvers",
    "resolve_availability_id",
    "resolve_exception_id",
    "resolve_node",
    "resolve_order_id",
    "resolve_payout_id",
]

OrderT = TypeVar("OrderT", bound="OrderCore")
NodeResolver = Callable[[RequestContext, str], Awaitable["Node | None"]]


async def resolve_order_id(ctx: RequestContext, global_id: str, cls: type[OrderT]) -> OrderT | None:
    _, parts = decode_global_id(global_id, expected_type="Order")
    source, ref = parts[0], ":".join(parts[1:])
    if not ref:
        raise InvalidId(f"{global_id!r} is not an order id", id=global_id)
    found = await ctx.loaders.storefront_orders.load((source, ref))
    return None if found is None else cls.from_sourced(found)


def payout_key(global_id: str) -> tuple[str, str]:
    _, parts = decode_global_id(global_id, expected_type="Payout")
    if len(parts) != 2:
        raise InvalidId(f"{global_id!r} is not a payout id", id=global_id)
    return parts[0], parts[1]


async def resolve_payout_id(ctx: RequestContext, global_id: str) -> Payout | None:
    from omnigraph.payouts.schema import Payout

    source, ref = payout_key(global_id)
    found = await ctx.loaders.payouts.load((source, ref))
    return None if found is None else Payout.from_record(source, found)


def exception_key(global_id: str) -> str:
    _, parts = decode_global_id(global_id, expected_type="Exception")
    return parts[0]


async def resolve_exception_id(ctx: RequestContext, global_id: str) -> ExceptionRecord | None:
    from omnigraph.exceptions.schema import ExceptionRecord

    row = await ctx.loaders.exceptions.load(exception_key(global_id))
    return None if row is None else ExceptionRecord.from_row(row)


def availability_key(global_id: str) -> tuple[str, str, str, Promise]:
    _, parts = decode_global_id(global_id, expected_type="InventoryAvailability")
    if len(parts) != 4:
        raise InvalidId(f"{global_id!r} is not an availability id", id=global_id)
    sku, location_id, channel, promise = parts
    try:
        return sku, location_id, channel, Promise(promise)
    except ValueError:
        raise InvalidId(f"{global_id!r} is not an availability id", id=global_id) from None


async def resolve_availability_id(
    ctx: RequestContext, global_id: str
) -> InventoryAvailability | None:
    from omnigraph.inventory.schema import InventoryAvailability

    sku, location_id, channel, promise = availability_key(global_id)
    answers = await availability(
        ctx, skus=[sku], channel=channel, promise=promise, at=None, location_ids=[location_id]
    )
    return InventoryAvailability.of(answers[0]) if answers else None


def full_node_resolvers(order_type: type[OrderCore]) -> dict[str, NodeResolver]:
    async def order(ctx: RequestContext, global_id: str) -> Node | None:
        return await resolve_order_id(ctx, global_id, order_type)

    return {
        "Order": order,
        "Payout": resolve_payout_id,
        "Exception": resolve_exception_id,
        "InventoryAvailability": resolve_availability_id,
    }


async def resolve_node(
    ctx: RequestContext, global_id: str, resolvers: Mapping[str, NodeResolver]
) -> Node | None:
    type_name, _ = decode_global_id(global_id)
    resolver = resolvers.get(type_name)
    if resolver is None:
        raise InvalidId(f"{global_id!r} names unknown type {type_name!r}", id=global_id)
    return await resolver(ctx, global_id)
