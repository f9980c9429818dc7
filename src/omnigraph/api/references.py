"""Entity references: a type another subgraph owns, known here only by its key.

The orders subgraph answers ``node(id:)`` for every type; for payouts, exceptions and
availability it returns a reference and the gateway fetches the rest from the owning subgraph.
The exceptions subgraph extends ``Order`` with ``exceptions`` the same way. A reference to a
type the caller may not read is ``null``, as ``node(id:)`` answers it in every subgraph.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Self

import strawberry
from strawberry.types import Info

from omnigraph.api.nodes import NodeResolver
from omnigraph.exceptions.resolvers import exception_key
from omnigraph.exceptions.schema import order_exceptions
from omnigraph.graph.context import RequestContext
from omnigraph.graph.matrix import may_read_type
from omnigraph.graph.types import Node
from omnigraph.inventory.resolvers import availability_key
from omnigraph.payouts.resolvers import payout_key

if TYPE_CHECKING:
    from omnigraph.exceptions.schema import ExceptionRecord

__all__ = [
    "ExceptionReference",
    "InventoryAvailabilityReference",
    "OrderWithExceptions",
    "PayoutReference",
    "reference_resolvers",
]


class _Reference:
    """What ``_entities`` answers for a reference: the id, or ``null`` for a type the caller
    may not read (as for an object that does not exist)."""

    @classmethod
    def resolve_reference(cls, info: Info[RequestContext, None], id: strawberry.ID) -> Self | None:
        definition: Any = getattr(cls, "__strawberry_definition__", None)
        if definition is not None and not may_read_type(info.context, definition.name):
            return None
        return cls(id=id)  # type: ignore[call-arg]


@strawberry.federation.type(keys=["id"], name="Payout")
class PayoutReference(_Reference, Node):
    id: strawberry.ID


@strawberry.federation.type(keys=["id"], name="Exception")
class ExceptionReference(_Reference, Node):
    id: strawberry.ID


@strawberry.federation.type(keys=["id"], name="InventoryAvailability")
class InventoryAvailabilityReference(_Reference, Node):
    id: strawberry.ID


@strawberry.federation.type(keys=["id"], name="Order")
class OrderWithExceptions:
    """The exceptions subgraph's part of ``Order``."""

    id: strawberry.ID
    exceptions: list[Annotated[ExceptionRecord, strawberry.lazy("omnigraph.exceptions.schema")]] = (
        strawberry.field(
            resolver=order_exceptions,
            description="Operational exceptions about this order, newest first.",
        )
    )


def reference_resolvers() -> dict[str, NodeResolver]:
    """``node(id:)`` answers for types owned elsewhere: the id is checked, not looked up."""

    async def payout(_ctx: RequestContext, global_id: str) -> Node | None:
        payout_key(global_id)
        return PayoutReference(id=strawberry.ID(global_id))

    async def exception(_ctx: RequestContext, global_id: str) -> Node | None:
        exception_key(global_id)
        return ExceptionReference(id=strawberry.ID(global_id))

    async def availability(_ctx: RequestContext, global_id: str) -> Node | None:
        availability_key(global_id)
        return InventoryAvailabilityReference(id=strawberry.ID(global_id))

    return {
        "Payout": payout,
        "Exception": exception,
        "InventoryAvailability": availability,
    }
