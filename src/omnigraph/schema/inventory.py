"""``InventoryAvailability``: what a channel may promise for a SKU at a location."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from omnigraph.context import RequestContext
from omnigraph.ids import encode_global_id
from omnigraph.inventory.availability import Availability
from omnigraph.inventory.availability import Promise as PromiseValue
from omnigraph.schema.common import Node

__all__ = ["InventoryAvailability", "InventoryBucket", "Promise"]

Ctx = Info[RequestContext, None]
Promise = strawberry.enum(PromiseValue, name="Promise")


@strawberry.type
class InventoryBucket:
    name: str
    quantity: int


@strawberry.federation.type(keys=["id"], name="InventoryAvailability", description=__doc__)
class InventoryAvailability(Node):
    id: strawberry.ID
    sku: str
    location_id: strawberry.ID
    channel: str
    promise: Promise  # type: ignore[valid-type]
    available_quantity: int = strawberry.field(
        description="What this channel may promise now for this promise type."
    )
    on_hand: int
    buckets: list[InventoryBucket]
    as_of: datetime = strawberry.field(description="When the stock figures were asserted.")
    explanation: list[str] = strawberry.field(description="How the number was reached.")

    @classmethod
    def of(cls, a: Availability) -> InventoryAvailability:
        return cls(
            id=strawberry.ID(
                encode_global_id(
                    "InventoryAvailability", a.sku, a.location_id, a.channel, a.promise.value
                )
            ),
            sku=a.sku,
            location_id=strawberry.ID(a.location_id),
            channel=a.channel,
            promise=a.promise,
            available_quantity=a.available,
            on_hand=a.on_hand,
            buckets=[InventoryBucket(name=k, quantity=v) for k, v in a.buckets.items()],
            as_of=a.as_of,
            explanation=a.explanation,
        )

    @classmethod
    async def resolve_reference(cls, info: Ctx, id: strawberry.ID) -> InventoryAvailability | None:
        from omnigraph.schema.nodes import resolve_availability_id

        return await resolve_availability_id(info.context, id)
