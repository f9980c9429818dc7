"""The canonical ``Order``: captured by a storefront, priced by the ERP, moved by the WMS, paid
through the payments provider, each field served from the system that owns it."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from types import GenericAlias
from typing import TYPE_CHECKING, Annotated, Any, Self, TypeVar

import strawberry
from strawberry.types import Info
from strawberry.types.nodes import SelectedField, Selection

from omnigraph.core.ids import encode_global_id
from omnigraph.core.provenance import Fact
from omnigraph.db.models import CurrentDisagreementRow
from omnigraph.exceptions.schema import order_exceptions
from omnigraph.graph.context import RequestContext
from omnigraph.graph.pagination import page_info, scan_connection
from omnigraph.graph.permissions import traceable
from omnigraph.graph.types import (
    Claim,
    Connection,
    Disagreement,
    Edge,
    Entity,
    ExternalRef,
    FieldProvenance,
    Money,
    Node,
    SourceKind,
)
from omnigraph.orders.disagreements import claim_from_json
from omnigraph.orders.resolvers import (
    ORDER_CURSOR,
    OrderLoaders,
    OrderQueryFilter,
    list_current_disagreements,
    list_orders,
    order_by_id,
    order_by_key,
    order_by_source_ref,
    order_truth,
    preload_truths,
    preloaded_truth,
    served_totals,
)
from omnigraph.orders.truth import (
    LINE_QUANTITIES,
    OrderEvidence,
    OrderState,
    OrderTruth,
    channel_state,
)
from omnigraph.sources.records import Sourced, StorefrontOrder

if TYPE_CHECKING:
    from omnigraph.exceptions.schema import ExceptionRecord

__all__ = [
    "Customer",
    "Order",
    "OrderCore",
    "OrderFilter",
    "OrderLine",
    "OrderState",
    "OrderTotals",
    "Payment",
    "Shipment",
    "order_queries",
    "order_truths_selected",
]

strawberry.enum(OrderState, name="OrderState")  # the truth's enum is the GraphQL enum
Ctx = Info[RequestContext, None]
T = TypeVar("T")
_LINE_INDEX = re.compile(r"\[.*\]")  # to the last bracket: a SKU may hold brackets
# The sets of systems fields ask about: one truth per order and set per request.
_ERP = frozenset({SourceKind.ERP})
_WMS = frozenset({SourceKind.WMS})
_PAYMENTS = frozenset({SourceKind.PAYMENTS})
_ERP_WMS = frozenset({SourceKind.ERP, SourceKind.WMS})
_ALL_SOURCES = frozenset({SourceKind.ERP, SourceKind.WMS, SourceKind.PAYMENTS})


# The truth each field answers from, made for a whole page before its fields run
# (``preload_truths``): the hot fields then answer with a plain call instead of an awaited one
# (60 to 85 us less a field: docs/PERFORMANCE.md); the others find it made, and every source
# is asked at once, as the fields' own asks would have been. Not ``payments``: a caller its
# permission refuses must not make the payments provider be asked.
_ORDER_TRUTHS = {
    "state": _WMS,
    "shipments": _WMS,
    "totals": _ERP,
    "currency": _ERP,
    "financialStatus": _ERP,
    "disagreements": _ERP_WMS,
    "externalRefs": _ALL_SOURCES,
    "provenance": _ALL_SOURCES,
}
_LINE_TRUTHS = {"unitPrice": _ERP, "provenance": _ERP_WMS, **dict.fromkeys(LINE_QUANTITIES, _WMS)}


def _fields(selections: Iterable[Selection]) -> Iterator[SelectedField]:
    """The fields of ``selections``, through fragments. One under a directive (``@skip``,
    ``@include``) is left out: it asks for its own truth if it runs, as before."""
    for selection in selections:
        if selection.directives:
            continue
        if isinstance(selection, SelectedField):
            yield selection
        else:
            yield from _fields(selection.selections)


def order_truths_selected(
    selections: Iterable[Selection], path: Sequence[str] = ()
) -> set[frozenset[SourceKind]]:
    """The sets of systems whose truth the selected fields of an order (found at ``path``
    below ``selections``, e.g. ``("edges", "node")``) answer synchronously from."""
    if path:
        nested = [s for f in _fields(selections) if f.name == path[0] for s in f.selections]
        return order_truths_selected(nested, path[1:])
    kinds: set[frozenset[SourceKind]] = set()
    for field in _fields(selections):
        if field.name == "lines":
            kinds.update(
                _LINE_TRUTHS[f.name] for f in _fields(field.selections) if f.name in _LINE_TRUTHS
            )
        elif field.name in _ORDER_TRUTHS:
            kinds.add(_ORDER_TRUTHS[field.name])
    return kinds


def _require(evidence: OrderEvidence, kind: SourceKind) -> None:
    error = evidence.unavailable.get(kind)
    if error is not None:
        raise error


def _degrade(info: Ctx, evidence: OrderEvidence, kinds: set[SourceKind]) -> None:
    for kind in kinds:
        error = evidence.unavailable.get(kind)
        if error is not None:
            info.context.report_degraded(error, info.path.as_list())


def _answer(
    info: Ctx,
    order: Sourced[StorefrontOrder],
    kinds: frozenset[SourceKind],
    of: Callable[[OrderTruth], T],
) -> T | Awaitable[T]:
    """``of`` the order's truth from the systems of ``kinds``: at once (a plain call) when the
    request has made that truth already, as ``preload_truths`` does for a page; else once made."""
    truth = preloaded_truth(info.context, order, kinds)
    if truth is None:
        return _answer_later(info, order, kinds, of)
    return of(truth)


async def _answer_later(
    info: Ctx,
    order: Sourced[StorefrontOrder],
    kinds: frozenset[SourceKind],
    of: Callable[[OrderTruth], T],
) -> T:
    return of(await order_truth(info.context, order, kinds))


def _state_of(info: Ctx, truth: OrderTruth) -> OrderState:
    _degrade(info, truth.evidence, {SourceKind.WMS})
    return OrderState(truth.state.served.value)


def _currency_of(info: Ctx, truth: OrderTruth) -> str:
    _degrade(info, truth.evidence, {SourceKind.ERP})
    return truth.currency.served.value


def _financial_status_of(truth: OrderTruth) -> str | None:
    _require(truth.evidence, SourceKind.ERP)
    fact = truth.financial_status
    return None if fact is None else fact.served.value.upper()


def _shipments_of(truth: OrderTruth) -> list[Shipment]:
    _require(truth.evidence, SourceKind.WMS)
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


def _totals_of(truth: OrderTruth) -> OrderTotals:
    _require(truth.evidence, SourceKind.ERP)
    return order_totals(truth)


def order_totals(truth: OrderTruth) -> OrderTotals:
    """The totals served, in the served currency (made once per truth)."""
    return truth.view("totals", lambda: OrderTotals(**served_totals(truth)))


def external_refs(evidence: OrderEvidence) -> list[ExternalRef]:
    """The order's id in each system that knows it: the storefront's, then every record's."""
    refs = [_ref(SourceKind.STOREFRONT, evidence.storefront)]
    refs += [_ref(SourceKind.ERP, s) for s in evidence.sales_orders]
    refs += [_ref(SourceKind.WMS, s) for s in evidence.fulfilment_orders]
    refs += [_ref(SourceKind.PAYMENTS, s) for s in evidence.charges]
    return refs


def _ref(kind: SourceKind, sourced: Sourced[Any]) -> ExternalRef:
    return ExternalRef(source=sourced.source, source_kind=kind, ref=sourced.record.id)


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


def _line_quantity(name: str, description: str) -> Any:
    """The ``OrderLine`` field of one of the line's WMS quantities (``name`` of its
    ``LineQuantities``), synchronously when the truth is preloaded."""

    def resolve(self: OrderLine, info: Ctx) -> int | Awaitable[int]:
        return self._quantity(info, name)

    return strawberry.field(resolver=resolve, description=description, graphql_type=int | None)


@strawberry.type(
    description="One line: asked for at the storefront, priced by the ERP, moved by the WMS."
)
class OrderLine:
    sku: str
    title: str | None
    quantity: int = strawberry.field(description="Units the customer asked for (storefront).")
    _order: strawberry.Private[Sourced[StorefrontOrder]]
    _storefront_price: strawberry.Private[Money]

    @strawberry.field(
        description="Unit price: the ERP's, or the storefront's until the ERP has the order.",
        graphql_type=Money | None,
    )
    def unit_price(self, info: Ctx) -> Money | Awaitable[Money | None] | None:
        return _answer(info, self._order, _ERP, self._unit_price_of)

    def _unit_price_of(self, truth: OrderTruth) -> Money | None:
        _require(truth.evidence, SourceKind.ERP)
        fact = truth.unit_price(self.sku)
        if fact is None:
            return None
        return Money.of(Decimal(fact.served.value), self._storefront_price.currency)

    def _quantity(self, info: Ctx, name: str) -> int | Awaitable[int]:
        """One of the line's WMS quantities: synchronously when the truth is preloaded."""

        def of(truth: OrderTruth) -> int:
            _require(truth.evidence, SourceKind.WMS)
            quantity: int = getattr(truth.line_quantities(self.sku), name)
            return quantity

        return _answer(info, self._order, _WMS, of)

    allocated = _line_quantity("allocated", "Units the WMS holds for this line (WMS).")
    cancelled = _line_quantity(
        "cancelled", "Units cancelled on this line, e.g. after a short (WMS)."
    )

    backordered = _line_quantity("backordered", "Units waiting for the next receipt (WMS).")

    @strawberry.field(
        description="Which system asserted each of this line's values, and when."
        ' `field` filters, e.g. "unitPrice" or "shipped".'
    )
    async def provenance(self, info: Ctx, field: str | None = None) -> list[FieldProvenance]:
        truth = await order_truth(info.context, self._order, _ERP_WMS)
        _degrade(info, truth.evidence, set(truth.evidence.unavailable))
        prefix = f"lines[{self.sku}]."
        may_trace = traceable(info)
        return [
            FieldProvenance.of(f.field.removeprefix(prefix), f.served, f.authoritative)
            for f in truth.served_facts()
            if f.field.startswith(prefix)
            and field in (None, f.field.removeprefix(prefix))
            and may_trace(f.field)
        ]

    picked = _line_quantity("picked", "Units picked (WMS).")
    packed = _line_quantity("packed", "Units packed (WMS).")
    shipped = _line_quantity("shipped", "Units shipped (WMS).")
    short = _line_quantity("short", "Units the WMS could not find when picking (WMS).")
    damaged = _line_quantity("damaged", "Units found damaged (WMS).")
    returned = _line_quantity("returned", "Units received back as returns (WMS).")


@strawberry.type(description="One change-feed event about an order, as a system recorded it.")
class OrderChange:
    source: str = strawberry.field(description="The system whose feed said it.")
    event_type: str = strawberry.field(description='As the system names it: "order.updated".')
    record_type: str = strawberry.field(description='"order", "sales_order", "fulfilment_order".')
    record_id: str = strawberry.field(description="The record in that system.")
    occurred_at: datetime


@strawberry.federation.type(keys=["id"], name="Order", description=__doc__)
class OrderCore(Node, Entity):
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
    async def by_id(cls, ctx: RequestContext, global_id: str) -> Self | None:
        found = await order_by_id(ctx, global_id)
        return None if found is None else cls.from_sourced(found)

    def _answer(
        self, info: Ctx, kinds: frozenset[SourceKind], of: Callable[[OrderTruth], T]
    ) -> T | Awaitable[T]:
        return _answer(info, self._sourced, kinds, of)

    @strawberry.field(
        description="Canonical core state: physical truth from the WMS.", graphql_type=OrderState
    )
    def state(self, info: Ctx) -> OrderState | Awaitable[OrderState]:
        return self._answer(info, _WMS, lambda truth: _state_of(info, truth))

    @strawberry.field(
        description="Branch state where the channel has one. Store pickup: AWAITING_RELEASE,"
        " AWAITING_PICK, READY_FOR_PICKUP, MISSED_PICKUP, PICKED_UP, CANCELLED. Wholesale:"
        " SCHEDULED, AWAITING_RELEASE, IN_FULFILMENT, COMPLIANCE_HOLD, ASN_SENT, SHIPPED,"
        " CANCELLED. Other channels: null.",
        graphql_type=str | None,
    )
    def channel_state(self, info: Ctx) -> str | Awaitable[str | None] | None:
        method = self._sourced.record.fulfilment_method
        if method not in ("pickup", "wholesale"):
            return None
        kinds = _ERP_WMS if method == "wholesale" else _WMS
        return self._answer(info, kinds, lambda truth: self._channel_state_of(info, truth, kinds))

    def _channel_state_of(
        self, info: Ctx, truth: OrderTruth, kinds: frozenset[SourceKind]
    ) -> str | None:
        for kind in kinds:
            _require(truth.evidence, kind)
        evidence = truth.evidence
        return channel_state(
            self._sourced.record,
            [f.record for f in evidence.fulfilment_orders],
            [s.record for s in evidence.sales_orders],
            info.context.services.now(),
        )

    @strawberry.field(
        description="The id of this order in each system that knows it.",
        graphql_type=list[ExternalRef],
    )
    def external_refs(self, info: Ctx) -> list[ExternalRef] | Awaitable[list[ExternalRef]]:
        def of(truth: OrderTruth) -> list[ExternalRef]:
            _degrade(info, truth.evidence, set(_ALL_SOURCES))
            return external_refs(truth.evidence)

        return self._answer(info, _ALL_SOURCES, of)

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
        description="Order currency (ERP, or the storefront's until the ERP has the order).",
        graphql_type=str,
    )
    def currency(self, info: Ctx) -> str | Awaitable[str]:
        return self._answer(info, _ERP, lambda truth: _currency_of(info, truth))

    @strawberry.field(
        description="Totals: the ERP's, or the storefront's until the ERP has the order.",
        graphql_type=OrderTotals | None,
    )
    def totals(self, info: Ctx) -> OrderTotals | Awaitable[OrderTotals]:
        return self._answer(info, _ERP, _totals_of)

    @strawberry.field(
        description="Financial status as the ERP states it (storefront until then).",
        graphql_type=str | None,
    )
    def financial_status(self, info: Ctx) -> str | Awaitable[str | None] | None:
        return self._answer(info, _ERP, _financial_status_of)

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

    @strawberry.field(
        description="What each storefront, ERP and WMS recorded about this order and when, from"
        " their change feeds as omnigraph has read them, oldest first."
    )
    async def changes(self, info: Ctx) -> list[OrderChange]:
        rows = await info.context.loaders(OrderLoaders).changes.load(self._sourced.record.id)
        return [
            OrderChange(
                source=row.source,
                event_type=row.event_type,
                record_type=row.record_type,
                record_id=row.record_id,
                occurred_at=row.occurred_at,
            )
            for row in rows
        ]

    @strawberry.field(
        description="Parcels shipped, from the WMS.", graphql_type=list[Shipment] | None
    )
    def shipments(self, info: Ctx) -> list[Shipment] | Awaitable[list[Shipment]]:
        return self._answer(info, _WMS, _shipments_of)

    @strawberry.field(
        description="Charges and refunds at the payments provider.",
        graphql_type=list[Payment] | None,
    )
    def payments(self, info: Ctx) -> list[Payment] | Awaitable[list[Payment]]:
        # never preloaded for itself (a caller refused this field must not make the payments
        # provider be asked), but provenance's truth, when selected, holds the same charges
        truth = preloaded_truth(info.context, self._sourced, _ALL_SOURCES)
        if truth is not None:
            return self._payments_of(truth)
        return self._answer(info, _PAYMENTS, self._payments_of)

    def _payments_of(self, truth: OrderTruth) -> list[Payment]:
        _require(truth.evidence, SourceKind.PAYMENTS)
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
        ' e.g. "state" or "lines.unitPrice".',
        graphql_type=list[FieldProvenance],
    )
    def provenance(
        self, info: Ctx, field: str | None = None
    ) -> list[FieldProvenance] | Awaitable[list[FieldProvenance]]:
        return self._answer(info, _ALL_SOURCES, lambda t: self._provenance_of(info, t, field))

    def _provenance_of(
        self, info: Ctx, truth: OrderTruth, field: str | None
    ) -> list[FieldProvenance]:
        _degrade(info, truth.evidence, set(truth.evidence.unavailable))
        may_trace = traceable(info)
        entries = [entry for f, entry in _provenance_entries(truth) if may_trace(f.field)]
        if field is None:
            return entries
        return [e for e in entries if e.field == field or _LINE_INDEX.sub("", e.field) == field]

    @strawberry.field(
        description="Fields where systems other than the owner claim a different value.",
        graphql_type=list[Disagreement],
    )
    def disagreements(self, info: Ctx) -> list[Disagreement] | Awaitable[list[Disagreement]]:
        return self._answer(info, _ERP_WMS, lambda truth: self._disagreements_of(info, truth))

    def _disagreements_of(self, info: Ctx, truth: OrderTruth) -> list[Disagreement]:
        _degrade(info, truth.evidence, set(truth.evidence.unavailable))
        now = info.context.services.now()
        may_trace = traceable(info)
        return [
            Disagreement.of(fact, now) for fact in truth.disagreements() if may_trace(fact.field)
        ]


@strawberry.federation.type(keys=["id"], name="Order", description=__doc__)
class Order(OrderCore):
    """The order as the single-process graph serves it: with its exceptions."""

    exceptions: list[Annotated[ExceptionRecord, strawberry.lazy("omnigraph.exceptions.schema")]] = (
        strawberry.field(
            resolver=order_exceptions,
            description="Operational exceptions about this order, newest first.",
        )
    )


@strawberry.input
class OrderFilter:
    channel: str | None = None
    states: list[OrderState] | None = None
    has_disagreement: bool | None = None
    has_open_exception: bool | None = None
    placed_from: datetime | None = None
    placed_to: datetime | None = None
    sku: str | None = None


_TruthsKey = tuple[int, tuple[str, ...], tuple[str, ...]]
_TRUTHS_BELOW: dict[_TruthsKey, tuple[object, frozenset[frozenset[SourceKind]]]] = {}
_TRUTHS_BELOW_MAX = 512


def _truths_below(info: Ctx, path: tuple[str, ...] = ()) -> frozenset[frozenset[SourceKind]]:
    """The truths the query's selection below the current field (at ``path``) answers from.

    Worked out once per parsed document: it depends only on the document's nodes (a field
    under ``@skip``/``@include`` is left to ask for itself), and the parser cache hands the
    same nodes to every request with the same text. strawberry's ``selected_fields`` rebuilds
    the whole selection on every call (about 0.3 ms a support lookup)."""
    operation = info.operation
    response_path = tuple(key for key in info.path.as_list() if isinstance(key, str))
    key = (id(operation), response_path, path)
    found = _TRUTHS_BELOW.get(key)
    if found is not None and found[0] is operation:
        return found[1]
    below = [s for field in info.selected_fields for s in field.selections]
    truths = frozenset(order_truths_selected(below, path))
    if len(_TRUTHS_BELOW) >= _TRUTHS_BELOW_MAX:
        _TRUTHS_BELOW.clear()
    _TRUTHS_BELOW[key] = (operation, truths)  # holds the operation: its id stays its own
    return truths


_DISAGREEMENT_TYPES: dict[str, type[Any]] = {}


def current_disagreement_type(order_type: type[OrderCore]) -> type[Any]:
    """The ``CurrentDisagreement`` whose ``order`` is an ``order_type`` (one per order type:
    a schema that builds twice finds the same type)."""
    key = f"{order_type.__module__}.{order_type.__qualname__}"
    if key not in _DISAGREEMENT_TYPES:
        _DISAGREEMENT_TYPES[key] = _make_current_disagreement_type(order_type)
    return _DISAGREEMENT_TYPES[key]


def _make_current_disagreement_type(order_type: type[OrderCore]) -> type[Any]:

    @strawberry.type(
        name="CurrentDisagreement",
        description="A field of an order its systems disagree about, as the disagreement"
        " detector last found it (it checks every order periodically and the orders each"
        " change-feed event touches, seconds after it).",
    )
    class CurrentDisagreement:
        order_source: str = strawberry.field(description="The storefront that took the order.")
        order_ref: str = strawberry.field(description="The order's id in that storefront.")
        field: str = strawberry.field(
            description='As in `Order.disagreements`: "state", "lines[SKU-1].unitPrice".'
        )
        authoritative: Claim = strawberry.field(description="The value the graph serves.")
        others: list[Claim] = strawberry.field(description="The conflicting claims.")
        first_seen_at: datetime = strawberry.field(
            description="When the detector first found them disagreeing."
        )
        last_seen_at: datetime = strawberry.field(
            description="When a check last found them still disagreeing."
        )

        @strawberry.field(
            description="The order (null when its storefront no longer has it).",
            graphql_type=order_type | None,
        )
        async def order(self, info: Ctx) -> OrderCore | None:
            found = await order_by_key(info.context, self.order_source, self.order_ref)
            return None if found is None else order_type.from_sourced(found)

        @classmethod
        def from_row(cls, row: CurrentDisagreementRow) -> CurrentDisagreement:
            claims = row.claims
            return cls(
                order_source=row.order_source,
                order_ref=row.order_ref,
                field=row.field,
                authoritative=Claim.of(claim_from_json(claims["authoritative"])),
                others=[Claim.of(claim_from_json(c)) for c in claims["others"]],
                first_seen_at=row.first_seen_at,
                last_seen_at=row.last_seen_at,
            )

    return CurrentDisagreement


def order_queries(order_type: type[OrderCore]) -> type[Any]:
    """``order``, ``orderByRef`` and ``orders``, answering ``order_type`` objects (the full
    ``Order`` of the single-process graph, or the orders subgraph's ``Order``), and
    ``currentDisagreements``."""
    disagreement_type = current_disagreement_type(order_type)

    @strawberry.type(name="Query")
    class OrderQueries:
        @strawberry.field(description="An order by its global id.", graphql_type=order_type | None)
        async def order(self, info: Ctx, id: strawberry.ID) -> OrderCore | None:
            return await order_type.by_id(info.context, id)

        @strawberry.field(
            description="An order by its id in any system that knows it: storefront, ERP,"
            " WMS or payments (a charge id).",
            graphql_type=order_type | None,
        )
        async def order_by_ref(self, info: Ctx, source: str, ref: str) -> OrderCore | None:
            found = await order_by_source_ref(info.context, source, ref)
            if found is None:
                return None
            await preload_truths(info.context, [found], _truths_below(info))
            return order_type.from_sourced(found)

        @strawberry.field(
            description="Orders, newest first per storefront. `first` is at most 100.",
            # ``Connection[order_type]``, spelt so mypy takes a type argument chosen at run time
            graphql_type=GenericAlias(Connection, (order_type,)),
        )
        async def orders(
            self,
            info: Ctx,
            first: int = 50,
            after: str | None = None,
            filter: OrderFilter | None = None,
        ) -> Connection[OrderCore]:
            f = filter or OrderFilter()
            result = await list_orders(
                info.context,
                first=first,
                after=after,
                filter=OrderQueryFilter(
                    channel=f.channel,
                    states=frozenset(f.states) if f.states else None,
                    has_disagreement=f.has_disagreement,
                    has_open_exception=f.has_open_exception,
                    placed_from=f.placed_from,
                    placed_to=f.placed_to,
                    sku=f.sku,
                ),
            )
            # One truth per order for the whole page, so its hot fields answer synchronously.
            await preload_truths(
                info.context,
                [item for item, _ in result.items],
                _truths_below(info, ("edges", "node")),
            )
            return scan_connection(result, ORDER_CURSOR, order_type.from_sourced)

        @strawberry.field(
            description="The disagreements the detector currently knows of, by storefront,"
            " order and field: one read of omnigraph's store, where `orders(filter:"
            " {hasDisagreement: true})` asks every system about every order. Only fields the"
            " caller may trace (a storefront key: no money). `first` is at most 100.",
            graphql_type=GenericAlias(Connection, (disagreement_type,)),
        )
        async def current_disagreements(
            self, info: Ctx, first: int = 50, after: str | None = None
        ) -> Connection[Any]:
            rows, has_next = await list_current_disagreements(
                info.context, first=first, after=after
            )
            edges = [
                Edge(cursor=cursor, node=disagreement_type.from_row(row)) for row, cursor in rows
            ]
            return Connection(edges=edges, page_info=page_info(edges, has_next, None))

    return OrderQueries


def _provenance_entries(truth: OrderTruth) -> list[tuple[Fact, FieldProvenance]]:
    """Each served fact of ``truth`` with its provenance entry, built once per truth."""
    return truth.view(
        "provenance",
        lambda: [
            (f, FieldProvenance.of(f.field, f.served, f.authoritative))
            for f in truth.served_facts()
        ],
    )
