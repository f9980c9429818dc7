"""``Order.exceptions``: one resolver shared by the single-process ``Order`` and the exceptions
subgraph's extension of the ``Order`` entity, which knows nothing but the order's id."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Protocol

import strawberry
from strawberry.types import Info

from omnigraph.core.ids import decode_global_id
from omnigraph.graph.context import RequestContext

if TYPE_CHECKING:
    from omnigraph.exceptions.schema import ExceptionRecord

__all__ = ["order_exceptions"]


class _HasOrderId(Protocol):
    id: strawberry.ID


async def order_exceptions(
    root: strawberry.Parent[_HasOrderId], info: Info[RequestContext, None]
) -> list[Annotated[ExceptionRecord, strawberry.lazy("omnigraph.exceptions.schema")]]:
    from omnigraph.exceptions.schema import ExceptionRecord

    _, parts = decode_global_id(root.id, expected_type="Order")
    key = (parts[0], ":".join(parts[1:]))
    rows = await info.context.loaders.exceptions_by_order.load(key)
    return [ExceptionRecord.from_row(row) for row in rows]
