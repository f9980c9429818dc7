"""``InventoryAvailability``: what a channel may promise for a SKU at a location."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from omnigraph.core.ids import encode_global_id
from omnigraph.graph.context import RequestContext
from omnigraph.graph.types import Node
from omnigraph.inventory.availability import Availability
from omnigraph.inventory.availability import Promise as PromiseValue

__all__ = ["AvailabilityTotal", "InventoryAvailability", "InventoryBucket", "Promise"]

Ctx = Info[RequestContext, None]
Promise = strawberry.enum(PromiseValue, name="Promise")


@strawberry.type
class InventoryBucket:
    name: str
    quantity: int


def _buckets(root: InventoryAvailability) -> list[InventoryBucket]:
    return [InventoryBucket(name=k, quantity=v) for k, v in root.answer.buckets.items()]


def _explanation(root: InventoryAvailability) -> list[str]:
    return root.answer.explanation


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
    # buckets and explanation are built only when a query selects them: a storefront asking
    # for 1,000 SKUs across 50 locations reads neither
    buckets: list[InventoryBucket] = strawberry.field(resolver=_buckets)
    as_of: datetime = strawberry.field(description="When the stock figures were asserted.")
    explanation: list[str] = strawberry.field(
        resolver=_explanation, description="How the number was reached."
    )
    answer: strawberry.Private[Availability]

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
            as_of=a.as_of,
            answer=a,
        )

    @classmethod
    async def resolve_reference(cls, info: Ctx, id: strawberry.ID) -> InventoryAvailability | None:
        from omnigraph.api.nodes import resolve_availability_id

        return await resolve_availability_id(info.context, id)


@strawberry.type(description="What a channel may promise for one SKU across its locations.")
class AvailabilityTotal:
    sku: str
    channel: str
    promise: Promise  # type: ignore[valid-type]
    available_quantity: int
    on_hand: int
    locations: int = strawberry.field(description="Locations that contributed.")
    as_of: datetime | None = strawberry.field(description="The newest ledger event reflected.")

    @classmethod
    def of_answers(
        cls, skus: list[str], channel: str, promise: PromiseValue, answers: list[Availability]
    ) -> list[AvailabilityTotal]:
        totals = []
        for sku in dict.fromkeys(skus):
            mine = [a for a in answers if a.sku == sku]
            totals.append(
                cls(
                    sku=sku,
                    channel=channel,
                    promise=promise,
                    available_quantity=sum(a.available for a in mine),
                    on_hand=sum(a.on_hand for a in mine),
                    locations=len(mine),
                    as_of=max((a.as_of for a in mine), default=None),
                )
            )
        return totals
