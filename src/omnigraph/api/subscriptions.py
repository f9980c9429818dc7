"""``exceptionEvents``: live exception changes for support tools (graphql-transport-ws)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncGenerator

import strawberry
from strawberry.types import Info

from omnigraph.core.sources import SourceKind as Kind
from omnigraph.db.models import ExceptionRow
from omnigraph.exceptions.catalogue import ExceptionKind as ExceptionKindValue
from omnigraph.exceptions.schema import ExceptionKind, ExceptionRecord, ExceptionStatus
from omnigraph.graph.context import RequestContext
from omnigraph.graph.types import SourceKind
from omnigraph.inventory.availability import Promise as PromiseValue
from omnigraph.inventory.resolvers import availability
from omnigraph.inventory.schema import InventoryAvailability, Promise

__all__ = ["AvailabilitySubscriptions", "ExceptionSubscriptions"]

Ctx = Info[RequestContext, None]


@strawberry.type(name="Subscription")
class ExceptionSubscriptions:
    @strawberry.subscription(
        description="Each change of an exception (new, acknowledged, pending, resolved, failed),"
        " as the exception stands after it; filtered by owner kind and kinds."
    )
    async def exception_events(
        self,
        info: Ctx,
        owner_kind: SourceKind | None = None,  # type: ignore[valid-type]
        kinds: list[ExceptionKind] | None = None,  # type: ignore[valid-type]
    ) -> AsyncGenerator[ExceptionRecord, None]:
        services = info.context.services
        wanted_owner = Kind(owner_kind).value if owner_kind else None
        wanted_kinds = {ExceptionKindValue(k).value for k in kinds} if kinds else None
        async for event in services.exception_events.subscribe():
            async with services.sessions() as session:
                row = await session.get(ExceptionRow, event.exception_id)
            if row is None:
                continue
            if wanted_owner and row.owner_kind != wanted_owner:
                continue
            if wanted_kinds and row.kind not in wanted_kinds:
                continue
            # The exception as this change left it (later changes arrive as their own events).
            yield dataclasses.replace(
                ExceptionRecord.from_row(row), status=ExceptionStatus(event.status)
            )


@strawberry.type(name="Subscription")
class AvailabilitySubscriptions:
    @strawberry.subscription(
        description="Availability of the watched SKUs for a channel, each time a ledger event or"
        " a reservation changes it (only answers that changed are sent)."
    )
    async def availability_changed(
        self,
        info: Ctx,
        skus: list[str],
        channel: str,
        promise: Promise = PromiseValue.SHIP,  # type: ignore[valid-type]
    ) -> AsyncGenerator[InventoryAvailability, None]:
        services = info.context.services
        watched = set(skus)
        last: dict[tuple[str, str], int] = {}
        for answer in await availability(
            info.context,
            skus=skus,
            channel=channel,
            promise=PromiseValue(promise),
            at=None,
            location_ids=None,
        ):
            last[(answer.sku, answer.location_id)] = answer.available
        async for changed in services.availability_events.subscribe():
            touched = sorted({sku for sku, _ in changed if sku in watched})
            if not touched:
                continue
            for answer in await availability(
                info.context,
                skus=touched,
                channel=channel,
                promise=PromiseValue(promise),
                at=None,
                location_ids=None,
            ):
                key = (answer.sku, answer.location_id)
                if last.get(key) != answer.available:
                    last[key] = answer.available
                    yield InventoryAvailability.of(answer)
