"""The naive baseline: the strawberry schema a team would write first, without dataloaders.

The same types and answers as omnigraph for the three benchmark operations, over the same source
adapters, record caches, database and truth rules, but every resolver fetches what it needs
itself: each order asks the ERP, the WMS and the payments provider on its own, each line field
asks again, exceptions are one query per order. No parse or validation cache, no limits, no
permissions, no masking: a plain schema behind strawberry's ASGI app (its types, where the
answers are built the same way, are omnigraph's own).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import strawberry
from sqlalchemy import select
from starlette.requests import Request
from strawberry.asgi import GraphQL
from strawberry.types import Info

from omnigraph.core.ids import encode_global_id
from omnigraph.db.models import ExceptionRow
from omnigraph.exceptions.catalogue import ExceptionCatalogue
from omnigraph.exceptions.schema import ExceptionKind, ExceptionStatus
from omnigraph.graph.pagination import scan_listing
from omnigraph.graph.types import (
    Connection,
    Disagreement,
    Edge,
    ExternalRef,
    FieldProvenance,
    Money,
    PageInfo,
    SourceKind,
)
from omnigraph.inventory.availability import read_availability
from omnigraph.inventory.schema import InventoryBucket, Promise
from omnigraph.orders.authority import AuthorityRules
from omnigraph.orders.resolvers import ORDER_CURSOR
from omnigraph.orders.schema import OrderState, OrderTotals, external_refs, order_totals
from omnigraph.orders.truth import OrderEvidence, OrderTruth, channel_state
from omnigraph.runtime.services import Services
from omnigraph.sources.contract import OrderListFilter
from omnigraph.sources.records import Charge, FulfilmentOrder, Sourced, StorefrontOrder

__all__ = ["NaiveGraphQL", "naive_schema"]


@dataclass(slots=True)
class NaiveContext:
    services: Services


Ctx = Info[NaiveContext, None]
RecordT = TypeVar("RecordT")


async def _by_ref(
    adapters: Sequence[Any],
    ask: Callable[[Any, list[str]], Awaitable[dict[str, list[RecordT]]]],
    ref: str,
) -> list[Sourced[RecordT]]:
    """What every source of one kind holds for order ``ref``, asked one source at a time."""
    found = []
    for adapter in adapters:
        records = (await ask(adapter, [ref])).get(ref, [])
        found += [Sourced(adapter.name, record) for record in records]
    return found


async def _fulfilment_orders(info: Ctx, ref: str) -> list[Sourced[FulfilmentOrder]]:
    registry = info.context.services.registry
    return await _by_ref(
        registry.warehouses, lambda w, refs: w.fulfilment_orders_by_order_ref(refs), ref
    )


async def _charges(info: Ctx, ref: str) -> list[Sourced[Charge]]:
    registry = info.context.services.registry
    return await _by_ref(registry.payments, lambda p, refs: p.charges_by_order_ref(refs), ref)


async def _truth(info: Ctx, order: Sourced[StorefrontOrder], kinds: set[SourceKind]) -> OrderTruth:
    ref = order.record.id
    evidence = OrderEvidence(storefront=order)
    if SourceKind.ERP in kinds:
        registry = info.context.services.registry
        evidence.sales_orders = await _by_ref(
            registry.erps, lambda e, refs: e.sales_orders_by_order_ref(refs), ref
        )
    if SourceKind.WMS in kinds:
        evidence.fulfilment_orders = await _fulfilment_orders(info, ref)
    if SourceKind.PAYMENTS in kinds:
        evidence.charges = await _charges(info, ref)
    services = info.context.services
    return OrderTruth(evidence, services.get(AuthorityRules), services.now())


@strawberry.type(name="InventoryAvailability")
class InventoryAvailability:
    sku: str
    location_id: strawberry.ID
    available_quantity: int
    on_hand: int
    buckets: list[InventoryBucket]
    as_of: datetime
    explanation: list[str]


@strawberry.type(name="Customer")
class Customer:
    name: str
    email: str | None


@strawberry.type(name="Shipment")
class Shipment:
    id: strawberry.ID
    carrier: str
    tracking_number: str | None
    shipped_at: datetime
    delivered_at: datetime | None


@strawberry.type(name="Payment")
class Payment:
    id: strawberry.ID
    status: str
    captured: Money
    refunded: Money


@strawberry.type(name="Exception")
class ExceptionRecord:
    id: strawberry.ID
    kind: ExceptionKind
    status: ExceptionStatus
    owner_source: str
    allowed_resolutions: list[str]


@strawberry.type(name="OrderLine")
class OrderLine:
    sku: str
    title: str | None
    quantity: int
    _order: strawberry.Private[Sourced[StorefrontOrder]]

    @strawberry.field
    async def unit_price(self, info: Ctx) -> Money | None:
        fact = (await _truth(info, self._order, {SourceKind.ERP})).unit_price(self.sku)
        if fact is None:
            return None
        return Money.of(Decimal(fact.served.value), self._order.record.currency)

    @strawberry.field
    async def picked(self, info: Ctx) -> int:
        return (await _truth(info, self._order, {SourceKind.WMS})).line_quantities(self.sku).picked

    @strawberry.field
    async def shipped(self, info: Ctx) -> int:
        return (await _truth(info, self._order, {SourceKind.WMS})).line_quantities(self.sku).shipped

    @strawberry.field
    async def short(self, info: Ctx) -> int:
        return (await _truth(info, self._order, {SourceKind.WMS})).line_quantities(self.sku).short

    @strawberry.field
    async def returned(self, info: Ctx) -> int:
        return (
            (await _truth(info, self._order, {SourceKind.WMS})).line_quantities(self.sku).returned
        )


@strawberry.type(name="Order")
class Order:
    id: strawberry.ID
    name: str | None
    channel: str
    placed_at: datetime
    _sourced: strawberry.Private[Sourced[StorefrontOrder]]

    @classmethod
    def of(cls, sourced: Sourced[StorefrontOrder]) -> Order:
        order = sourced.record
        return cls(
            id=strawberry.ID(encode_global_id("Order", sourced.source, order.id)),
            name=order.name,
            channel=order.channel,
            placed_at=order.placed_at,
            _sourced=sourced,
        )

    @strawberry.field
    async def state(self, info: Ctx) -> OrderState:
        truth = await _truth(info, self._sourced, {SourceKind.WMS})
        return OrderState(truth.state.served.value)

    @strawberry.field
    async def channel_state(self, info: Ctx) -> str | None:
        order = self._sourced.record
        if order.fulfilment_method not in ("pickup", "wholesale"):
            return None
        truth = await _truth(info, self._sourced, {SourceKind.WMS, SourceKind.ERP})
        return channel_state(
            order,
            [f.record for f in truth.evidence.fulfilment_orders],
            [s.record for s in truth.evidence.sales_orders],
            info.context.services.now(),
        )

    @strawberry.field
    def customer(self) -> Customer | None:
        customer = self._sourced.record.customer
        return None if customer is None else Customer(name=customer.name, email=customer.email)

    @strawberry.field
    async def external_refs(self, info: Ctx) -> list[ExternalRef]:
        kinds = {SourceKind.ERP, SourceKind.WMS, SourceKind.PAYMENTS}
        return external_refs((await _truth(info, self._sourced, kinds)).evidence)

    @strawberry.field
    async def totals(self, info: Ctx) -> OrderTotals:
        return order_totals(await _truth(info, self._sourced, {SourceKind.ERP}))

    @strawberry.field
    async def financial_status(self, info: Ctx) -> str | None:
        fact = (await _truth(info, self._sourced, {SourceKind.ERP})).financial_status
        return None if fact is None else fact.served.value.upper()

    @strawberry.field
    def lines(self) -> list[OrderLine]:
        return [
            OrderLine(sku=line.sku, title=line.title, quantity=line.quantity, _order=self._sourced)
            for line in self._sourced.record.lines
        ]

    @strawberry.field
    async def shipments(self, info: Ctx) -> list[Shipment]:
        return [
            Shipment(
                id=strawberry.ID(s.id),
                carrier=s.carrier,
                tracking_number=s.tracking_number,
                shipped_at=s.shipped_at,
                delivered_at=s.delivered_at,
            )
            for f in await _fulfilment_orders(info, self._sourced.record.id)
            for s in f.record.shipments
        ]

    @strawberry.field
    async def payments(self, info: Ctx) -> list[Payment]:
        return [
            Payment(
                id=strawberry.ID(c.record.id),
                status=c.record.status,
                captured=Money.from_minor_units(c.record.amount_captured, c.record.currency),
                refunded=Money.from_minor_units(c.record.amount_refunded, c.record.currency),
            )
            for c in await _charges(info, self._sourced.record.id)
        ]

    @strawberry.field
    async def provenance(self, info: Ctx) -> list[FieldProvenance]:
        truth = await _truth(
            info, self._sourced, {SourceKind.ERP, SourceKind.WMS, SourceKind.PAYMENTS}
        )
        return [
            FieldProvenance.of(f.field, f.served, f.authoritative) for f in truth.served_facts()
        ]

    @strawberry.field
    async def disagreements(self, info: Ctx) -> list[Disagreement]:
        truth = await _truth(info, self._sourced, {SourceKind.ERP, SourceKind.WMS})
        now = info.context.services.now()
        return [Disagreement.of(f, now) for f in truth.disagreements()]

    @strawberry.field
    async def exceptions(self, info: Ctx) -> list[ExceptionRecord]:
        services = info.context.services
        async with services.sessions() as session:
            rows = await session.scalars(
                select(ExceptionRow)
                .where(
                    ExceptionRow.order_source == self._sourced.source,
                    ExceptionRow.order_ref == self._sourced.record.id,
                )
                .order_by(ExceptionRow.detected_at.desc(), ExceptionRow.id)
            )
            return [
                ExceptionRecord(
                    id=strawberry.ID(encode_global_id("Exception", row.id)),
                    kind=ExceptionKind(row.kind),
                    status=ExceptionStatus(row.status),
                    owner_source=row.owner_source,
                    allowed_resolutions=list(
                        services.get(ExceptionCatalogue)
                        .rule(row.kind)
                        .applicable(row.details or {})
                    ),
                )
                for row in rows
            ]


@strawberry.input(name="OrderFilter")
class OrderFilter:
    channel: str | None = None


@strawberry.type(name="Query")
class Query:
    @strawberry.field
    async def availability(
        self,
        info: Ctx,
        skus: list[str],
        channel: str,
        promise: Promise = Promise.SHIP,
    ) -> list[InventoryAvailability]:
        answers = await read_availability(
            info.context.services,
            skus=skus,
            channel=channel,
            promise=promise,
            at=None,
            location_ids=None,
        )
        return [
            InventoryAvailability(
                sku=a.sku,
                location_id=strawberry.ID(a.location_id),
                available_quantity=a.available,
                on_hand=a.figures.on_hand,
                buckets=[InventoryBucket(name=k, quantity=v) for k, v in a.buckets.items()],
                as_of=a.as_of,
                explanation=a.explanation,
            )
            for a in answers
        ]

    @strawberry.field
    async def order_by_ref(self, info: Ctx, source: str, ref: str) -> Order | None:
        storefront = info.context.services.registry.storefront(source)
        if storefront is None:
            return None  # the naive schema knows storefront refs only
        found = (await storefront.orders_by_id([ref])).get(ref)
        return None if found is None else Order.of(Sourced(source, found))

    @strawberry.field
    async def orders(
        self,
        info: Ctx,
        first: int = 50,
        after: str | None = None,
        filter: OrderFilter | None = None,
    ) -> Connection[Order]:
        upstream = OrderListFilter(channel=filter.channel if filter else None)
        storefront = info.context.services.registry.storefronts[0]

        async def fetch(
            page: str | None, limit: int
        ) -> tuple[list[Sourced[StorefrontOrder]], str | None]:
            result = await storefront.list_orders(limit=limit, cursor=page, filter=upstream)
            return [Sourced(storefront.name, o) for o in result.orders], result.next_cursor

        limits = info.context.services.settings.limits
        result = await scan_listing(
            [fetch], first=first, after=None, max_pages=limits.max_filter_scan_pages
        )
        edges = [
            Edge(cursor=position.encode(ORDER_CURSOR), node=Order.of(order))
            for order, position in result.items
        ]
        return Connection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=result.has_next, end_cursor=edges[-1].cursor if edges else None
            ),
        )


# federation's Schema only because the shared types (Money) are @shareable: no entities here
naive_schema = strawberry.federation.Schema(query=Query)


class NaiveGraphQL(GraphQL[NaiveContext, None]):
    """strawberry's ASGI app over :data:`naive_schema`; ``services`` answers the process's
    ``Services`` once the service has started."""

    def __init__(self, services: Callable[[], Services]) -> None:
        super().__init__(naive_schema, graphql_ide=None, allow_queries_via_get=False)
        self._services = services

    async def get_context(self, request: Request, response: Any) -> NaiveContext:  # type: ignore[override]
        return NaiveContext(self._services())
