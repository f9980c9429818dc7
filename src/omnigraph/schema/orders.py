"""The canonical ``Order``: captured by a storefront, priced by the ERP, moved by the WMS, paid
through the payments provider, each field served from the system that owns it."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Self

import strawberry
from strawberry.types import Info

from omnigraph.auth.permissions import hides_money_provenance
from omnigraph.config import SourceKind as Kind
from omnigraph.context import RequestContext
from omnigraph.ids import encode_global_id
from omnigraph.resolvers.orders import order_truth
from omnigraph.schema.common import Disagreement, ExternalRef, FieldProvenance, Money, Node
from omnigraph.schema.order_exceptions import order_exceptions
from omnigraph.sources.records import StorefrontOrder
from omnigraph.truth.order_state import OrderState as OrderStateValue
from omnigraph.truth.order_state import channel_state
from omnigraph.truth.orders import LineQuantities, OrderEvidence, OrderTruth, Sourced

if TYPE_CHECKING:
    from omnigraph.schema.exceptions import ExceptionRecord

__all__ = [
    "Customer",
    "Order",
    "OrderCore",
    "OrderLine",
    "OrderState",
    "OrderTotals",
    "Payment",
    "Shipment",
]

OrderState = strawberry.enum(OrderStateValue, name="OrderState")
Ctx = Info[RequestContext, None]
_LINE_INDEX = re.compile(r"\[[^\]]*\]")
# The sets of systems fields ask about: one truth per order and set per request.
_ERP = frozenset({Kind.ERP})
_WMS = frozenset({Kind.WMS})
_PAYMENTS = frozenset({Kind.PAYMENTS})
_ERP_WMS = frozenset({Kind.ERP, Kind.WMS})
_ALL_SOURCES = frozenset({Kind.ERP, Kind.WMS, Kind.PAYMENTS})


def _require(evidence: OrderEvidence, kind: Kind) -> None:
    error = evidence.unavailable.get(kind)
    if error is not None:
        raise error


def _degrade(info: Ctx, evidence: OrderEvidence, kinds: set[Kind]) -> None:
    for kind in kinds:
        error = evidence.unavailable.get(kind)
        if error is not None:
            info.context.report_degraded(error, info.path.as_list())


@strawberry.type(description="The customer as the storefront captured them.")
class Customer:
    id: strawberry.ID
    name: str
    email: str | None
    sales_channel: strawberry.Private[str | None] = None


@strawberry.type(description="Order totals; commercial truth, from the ERP when it has the order.")
class OrderTotals:
    subtotal: Money
    discount: Money
    shipping: Money
    tax: Money
    total: Money


@strawberry.type(description="A parcel the WMS shipped.")
class Shipment:
    id: strawberry.ID
    carrier: str
    tracking_number: str | None
    shipped_at: datetime
    delivered_at: datetime | None
    location_id: str
    lines: list[ShipmentLine]


@strawberry.type
class ShipmentLine:
    sku: str
    quantity: int


@strawberry.type(description="Money moved for the order at the payments provider.")
class Payment:
    id: strawberry.ID
    source: str
    status: str
    amount: Money
    captured: Money
    refunded: Money
    created_at: datetime


@strawberry.type(
    description="One line: asked for at the storefront, priced by the ERP, moved by the WMS."
)
class OrderLine:
    sku: str
    title: str | None
    quantity: int = strawberry.field(description="Units the customer asked for (storefront).")
    _order: strawberry.Private[Sourced[StorefrontOrder]]
    _storefront_price: strawberry.Private[Money]

    async def _truth(self, info: Ctx, kinds: frozenset[Kind]) -> OrderTruth:
        return await order_truth(info.context, self._order, kinds)

    @strawberry.field(
        description="Unit price: the ERP's, or the storefront's until the ERP has the order."
    )
    async def unit_price(self, info: Ctx) -> Money | None:
        truth = await self._truth(info, _ERP)
        _require(truth.evidence, Kind.ERP)
        fact = truth.unit_price(self.sku)
        if fact is None:
            return None
        return Money.of(Decimal(fact.served.value), self._storefront_price.currency)

    async def _quantities(self, info: Ctx) -> LineQuantities:
        truth = await self._truth(info, _WMS)
        _require(truth.evidence, Kind.WMS)
        return truth.line_quantities(self.sku)

    @strawberry.field(description="Units the WMS holds for this line (WMS).")
    async def allocated(self, info: Ctx) -> int | None:
        return (await self._quantities(info)).allocated

    @strawberry.field(description="Units cancelled on this line, e.g. after a short (WMS).")
    async def cancelled(self, info: Ctx) -> int | None:
        return (await self._quantities(info)).cancelled

    @strawberry.field(description="Units waiting for the next receipt (WMS).")
    async def backordered(self, info: Ctx) -> int | None:
        return (await self._quantities(info)).backordered

    @strawberry.field(
        description="Which system asserted each of this line's values, and when."
        ' `field` filters, e.g. "unitPrice" or "shipped".'
    )
    async def provenance(self, info: Ctx, field: str | None = None) -> list[FieldProvenance]:
        truth = await self._truth(info, _ERP_WMS)
        _degrade(info, truth.evidence, set(truth.evidence.unavailable))
        prefix = f"lines[{self.sku}]."
        return [
            FieldProvenance.of(f.field.removeprefix(prefix), f.served, f.authoritative)
            for f in truth.served_facts()
            if f.field.startswith(prefix)
            and field in (None, f.field.removeprefix(prefix))
            and not hides_money_provenance(info, f.field)
        ]

    @strawberry.field(description="Units picked (WMS).")
    async def picked(self, info: Ctx) -> int | None:
        return (await self._quantities(info)).picked

    @strawberry.field(description="Units packed (WMS).")
    async def packed(self, info: Ctx) -> int | None:
        return (await self._quantities(info)).packed

    @strawberry.field(description="Units shipped (WMS).")
    async def shipped(self, info: Ctx) -> int | None:
        return (await self._quantities(info)).shipped

    @strawberry.field(description="Units the WMS could not find when picking (WMS).")
    async def short(self, info: Ctx) -> int | None:
        return (await self._quantities(info)).short

    @strawberry.field(description="Units found damaged (WMS).")
    async def damaged(self, info: Ctx) -> int | None:
        return (await self._quantities(info)).damaged

    @strawberry.field(description="Units received back as returns (WMS).")
    async def returned(self, info: Ctx) -> int | None:
        return (await self._quantities(info)).returned


@strawberry.federation.type(keys=["id"], name="Order", description=__doc__)
class OrderCore(Node):
    """The order as the orders subgraph serves it (everything but its exceptions)."""

    id: strawberry.ID
    channel: str = strawberry.field(
        description='Sales channel, e.g. "web", "marketplace", "store-pickup", "wholesale".'
    )
    name: str | None = strawberry.field(description="The order number shown to the customer.")
    fulfilment_method: str = strawberry.field(description='"ship", "pickup" or "wholesale".')
    placed_at: datetime
    _sourced: strawberry.Private[Sourced[StorefrontOrder]]

    @classmethod
    def from_sourced(cls, sourced: Sourced[StorefrontOrder]) -> Self:
        order = sourced.record
        return cls(
            id=strawberry.ID(encode_global_id("Order", sourced.source, order.id)),
            channel=order.channel,
            name=order.name,
            fulfilment_method=order.fulfilment_method,
            placed_at=order.placed_at,
            _sourced=sourced,
        )

    @classmethod
    async def resolve_reference(cls, info: Ctx, id: strawberry.ID) -> Self | None:
        from omnigraph.schema.nodes import resolve_order_id

        return await resolve_order_id(info.context, id, cls)

    async def _truth(self, info: Ctx, kinds: frozenset[Kind]) -> OrderTruth:
        return await order_truth(info.context, self._sourced, kinds)

    @strawberry.field(description="Canonical core state: physical truth from the WMS.")
    async def state(self, info: Ctx) -> OrderState:  # type: ignore[valid-type]
        truth = await self._truth(info, _WMS)
        _degrade(info, truth.evidence, {Kind.WMS})
        return OrderStateValue(truth.state.served.value)

    @strawberry.field(
        description="Branch state where the channel has one. Store pickup: AWAITING_RELEASE,"
        " AWAITING_PICK, READY_FOR_PICKUP, MISSED_PICKUP, PICKED_UP, CANCELLED. Wholesale:"
        " SCHEDULED, AWAITING_RELEASE, IN_FULFILMENT, COMPLIANCE_HOLD, ASN_SENT, SHIPPED,"
        " CANCELLED. Other channels: null."
    )
    async def channel_state(self, info: Ctx) -> str | None:
        method = self._sourced.record.fulfilment_method
        if method not in ("pickup", "wholesale"):
            return None
        kinds = _ERP_WMS if method == "wholesale" else _WMS
        truth = await self._truth(info, kinds)
        for kind in kinds:
            _require(truth.evidence, kind)
        evidence = truth.evidence
        return channel_state(
            self._sourced.record,
            [f.record for f in evidence.fulfilment_orders],
            [s.record for s in evidence.sales_orders],
            info.context.services.now(),
        )

    @strawberry.field(description="The id of this order in each system that knows it.")
    async def external_refs(self, info: Ctx) -> list[ExternalRef]:
        truth = await self._truth(info, _ALL_SOURCES)
        evidence = truth.evidence
        _degrade(info, evidence, {Kind.ERP, Kind.WMS, Kind.PAYMENTS})
        refs = [
            ExternalRef(
                source=evidence.storefront.source,
                source_kind=Kind.STOREFRONT,
                ref=self._sourced.record.id,
            )
        ]
        refs += [
            ExternalRef(source=s.source, source_kind=Kind.ERP, ref=s.record.id)
            for s in evidence.sales_orders
        ]
        refs += [
            ExternalRef(source=s.source, source_kind=Kind.WMS, ref=s.record.id)
            for s in evidence.fulfilment_orders
        ]
        refs += [
            ExternalRef(source=s.source, source_kind=Kind.PAYMENTS, ref=s.record.id)
            for s in evidence.charges
        ]
        return refs

    @strawberry.field(description="The customer as captured by the storefront.")
    def customer(self) -> Customer | None:
        customer = self._sourced.record.customer
        if customer is None:
            return None
        return Customer(
            id=strawberry.ID(customer.id),
            name=customer.name,
            email=customer.email,
            sales_channel=self._sourced.record.channel,
        )

    @strawberry.field(
        description="Order currency (ERP, or the storefront's until the ERP has the order)."
    )
    async def currency(self, info: Ctx) -> str:
        truth = await self._truth(info, _ERP)
        _degrade(info, truth.evidence, {Kind.ERP})
        return truth.currency.served.value

    @strawberry.field(
        description="Totals: the ERP's, or the storefront's until the ERP has the order."
    )
    async def totals(self, info: Ctx) -> OrderTotals | None:
        truth = await self._truth(info, _ERP)
        _require(truth.evidence, Kind.ERP)
        totals = self._sourced.record.totals
        if truth.total.served.source_kind is Kind.ERP:
            totals = next(
                s.record.totals
                for s in truth.evidence.sales_orders
                if s.record.id == truth.total.served.record_ref
            )
        currency = truth.currency.served.value
        return OrderTotals(
            subtotal=Money.of(totals.subtotal, currency),
            discount=Money.of(totals.discount, currency),
            shipping=Money.of(totals.shipping, currency),
            tax=Money.of(totals.tax, currency),
            total=Money.of(totals.total, currency),
        )

    @strawberry.field(description="Financial status as the ERP states it (storefront until then).")
    async def financial_status(self, info: Ctx) -> str | None:
        truth = await self._truth(info, _ERP)
        _require(truth.evidence, Kind.ERP)
        fact = truth.financial_status
        return None if fact is None else fact.served.value.upper()

    @strawberry.field(description="Lines as captured, with ERP prices and WMS quantities.")
    def lines(self) -> list[OrderLine]:
        order = self._sourced.record
        return [
            OrderLine(
                sku=line.sku,
                title=line.title,
                quantity=line.quantity,
                _order=self._sourced,
                _storefront_price=Money.of(line.unit_price, order.currency),
            )
            for line in order.lines
        ]

    @strawberry.field(description="Parcels shipped, from the WMS.")
    async def shipments(self, info: Ctx) -> list[Shipment] | None:
        truth = await self._truth(info, _WMS)
        _require(truth.evidence, Kind.WMS)
        return [
            Shipment(
                id=strawberry.ID(shipment.id),
                carrier=shipment.carrier,
                tracking_number=shipment.tracking_number,
                shipped_at=shipment.shipped_at,
                delivered_at=shipment.delivered_at,
                location_id=f.record.location_id,
                lines=[ShipmentLine(sku=x.sku, quantity=x.quantity) for x in shipment.lines],
            )
            for f in truth.evidence.fulfilment_orders
            for shipment in f.record.shipments
        ]

    @strawberry.field(description="Charges and refunds at the payments provider.")
    async def payments(self, info: Ctx) -> list[Payment] | None:
        truth = await self._truth(info, _PAYMENTS)
        _require(truth.evidence, Kind.PAYMENTS)
        return [
            Payment(
                id=strawberry.ID(c.record.id),
                source=c.source,
                status=c.record.status,
                amount=Money.from_minor_units(c.record.amount, c.record.currency),
                captured=Money.from_minor_units(c.record.amount_captured, c.record.currency),
                refunded=Money.from_minor_units(c.record.amount_refunded, c.record.currency),
                created_at=c.record.created_at,
            )
            for c in truth.evidence.charges
        ]

    @strawberry.field(
        description="Which system asserted each served value, and when. `field` filters,"
        ' e.g. "state" or "lines.unitPrice".'
    )
    async def provenance(self, info: Ctx, field: str | None = None) -> list[FieldProvenance]:
        truth = await self._truth(info, _ALL_SOURCES)
        _degrade(info, truth.evidence, set(truth.evidence.unavailable))
        entries = [
            FieldProvenance.of(f.field, f.served, f.authoritative)
            for f in truth.served_facts()
            if not hides_money_provenance(info, f.field)
        ]
        if field is None:
            return entries
        return [e for e in entries if e.field == field or _LINE_INDEX.sub("", e.field) == field]

    @strawberry.field(
        description="Fields where systems other than the owner claim a different value."
    )
    async def disagreements(self, info: Ctx) -> list[Disagreement]:
        truth = await self._truth(info, _ERP_WMS)
        _degrade(info, truth.evidence, set(truth.evidence.unavailable))
        now = info.context.services.now()
        return [
            Disagreement.of(fact, now)
            for fact in truth.disagreements()
            if not hides_money_provenance(info, fact.field)
        ]


@strawberry.federation.type(keys=["id"], name="Order", description=__doc__)
class Order(OrderCore):
    """The order as the single-process graph serves it: with its exceptions."""

    exceptions: list[Annotated[ExceptionRecord, strawberry.lazy("omnigraph.schema.exceptions")]] = (
        strawberry.field(
            resolver=order_exceptions,
            description="Operational exceptions about this order, newest first.",
        )
    )
