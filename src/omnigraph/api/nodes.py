"""Global id resolution for ``node(id:)`` and federation ``_entities``.

The single-process graph resolves every type fully. A subgraph resolves its own types and, for a
type another subgraph owns, answers a reference (the id alone) that the gateway completes there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import strawberry
from strawberry.types import Info

from omnigraph.core.errors import InvalidId
from omnigraph.core.ids import decode_global_id
from omnigraph.exceptions.schema import ExceptionRecord
from omnigraph.graph.context import RequestContext
from omnigraph.graph.matrix import may_read_type
from omnigraph.graph.types import Node
from omnigraph.inventory.schema import InventoryAvailability
from omnigraph.orders.schema import OrderCore
from omnigraph.payouts.schema import Payout

__all__ = ["NodeResolver", "full_node_resolvers", "node_query", "resolve_node"]

NodeResolver = Callable[[RequestContext, str], Awaitable[Node | None]]


def full_node_resolvers(order_type: type[OrderCore]) -> dict[str, NodeResolver]:
    return {
        "Order": order_type.by_id,
        "Payout": Payout.by_id,
        "Exception": ExceptionRecord.by_id,
        "InventoryAvailability": InventoryAvailability.by_id,
    }


async def resolve_node(
    ctx: RequestContext, global_id: str, resolvers: Mapping[str, NodeResolver]
) -> Node | None:
    type_name, _ = decode_global_id(global_id)
    resolver = resolvers.get(type_name)
    if resolver is None:
        raise InvalidId(f"{global_id!r} names unknown type {type_name!r}", id=global_id)
    if not may_read_type(ctx, type_name):
        return None
    return await resolver(ctx, global_id)


def node_query(resolvers: Mapping[str, NodeResolver]) -> type[Any]:
    """``node(id:)`` resolving the types in ``resolvers``."""

    @strawberry.type(name="Query")
    class NodeQuery:
        @strawberry.field(description="Any object by its global id.")
        async def node(self, info: Info[RequestContext, None], id: strawberry.ID) -> Node | None:
            return await resolve_node(info.context, id, resolvers)

    return NodeQuery
