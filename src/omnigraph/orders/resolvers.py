"""Order resolvers: find orders, and gather what each system says about them through loaders;
the pages of an orders export, answered straight from the truths."""

from __future__ import annotations

import asyncio
import functools
import operator
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from graphql import (
    GraphQLArgument,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    Undefined,
    is_leaf_type,
)
from sqlalchemy import and_, or_, select

from omnigraph.bulk.resolvers import DirectPage, Selected
from omnigraph.core.errors import InvalidCursor, InvalidId, UnknownSource, UpstreamUnavailable
from omnigraph.core.ids import decode_global_id, encode_global_id
from omnigraph.core.provenance import Fact
from omnigraph.core.sources import SourceKind
from omnigraph.db.models import (
    CurrentDisagreementRow,
    ExceptionRow,
    OrderChangeRow,
)
from omnigraph.exceptions.lifecycle import OPEN_STATUSES
from omnigraph.graph.context import RequestContext
from omnigraph.graph.loaders import BySourceLoader, FanOutLoader, RowsLoader, SourceKey
from omnigraph.graph.pagination import (
    ListingPosition,
    ScanResult,
    check_first,
    decode_cursor,
    encode_cursor,
    scan_listing,
)
from omnigraph.graph.permissions import may_trace, principal_in, traceable_by
from omnigraph.graph.types import Money
from omnigraph.orders.authority import AuthorityRules
from omnigraph.orders.truth import (
    LINE_QUANTITIES,
    OrderEvidence,
    OrderState,
    OrderTruth,
    OrderTruths,
    truths_of,
)
from omnigraph.runtime.services import Services
from omnigraph.security.principal import Principal
from omnigraph.sources.bulk import bulk_reads
from omnigraph.sources.contract import OrderListFilter, StorefrontSource
from omnigraph.sources.records import (
    Charge,
    FulfilmentOrder,
    SalesOrder,
    Sourced,
    StorefrontLine,
    StorefrontOrder,
)

__all__ = [
    "CURRENT_DISAGREEMENT_CURSOR",
    "ORDER_CURSOR",
    "TOTALS",
    "OrderExport",
    "OrderLoaders",
    "OrderPages",
    "OrderQueryFilter",
    "list_current_disagreements",
    "list_orders",
    "load_evidence",
    "order_by_id",
    "order_by_key",
    "order_by_source_ref",
    "order_export",
    "order_key",
    "order_truth",
    "page_evidence",
    "preload_truths",
    "preloaded_truth",
    "served_totals",
]

ORDER_CURSOR = "orders"
CURRENT_DISAGREEMENT_CURSOR = "currentDisagreements"
RecordT = TypeVar("RecordT")


class OrderLoaders:
    """One request's loaders of what each system says about orders."""

    def __init__(self, services: Services) -> None:
        registry = services.registry

        async def storefront_orders(
            source: str, ids: list[str]
        ) -> dict[str, Sourced[StorefrontOrder]]:
            adapter = registry.storefront(source)
            if adapter is None:
                return {}
            found = await adapter.orders_by_id(ids)
            return {key: Sourced(source, order) for key, order in found.items()}

        # ``(storefront source, order id)`` -> ``Sourced[StorefrontOrder]`` or ``None``
        self.storefront_orders = BySourceLoader(storefront_orders)
        # storefront order ref -> what every ERP, WMS, payments provider holds for it
        self.sales_orders = FanOutLoader(
            registry.erps, lambda erp, refs: erp.sales_orders_by_order_ref(refs)
        )
        self.fulfilment_orders = FanOutLoader(
            registry.warehouses, lambda wms, refs: wms.fulfilment_orders_by_order_ref(refs)
        )
        self.charges = FanOutLoader(
            registry.payments, lambda psp, refs: psp.charges_by_order_ref(refs)
        )
        # storefront order ref -> the change-feed events about it, oldest first
        self.changes = RowsLoader(
            services.sessions,
            lambda refs: (
                select(OrderChangeRow)
                .where(OrderChangeRow.order_ref.in_(refs))
                .order_by(OrderChangeRow.occurred_at, OrderChangeRow.id)
            ),
            lambda row: row.order_ref,
        )


@dataclass(frozen=True, slots=True)
class OrderQueryFilter:
    channel: str | None = None
    states: frozenset[OrderState] | None = None
    has_disagreement: bool | None = None
    has_open_exception: bool | None = None
    placed_from: datetime | None = None
    placed_to: datetime | None = None
    sku: str | None = None

    def upstream(self) -> OrderListFilter:
        return OrderListFilter(self.channel, self.placed_from, self.placed_to, self.sku)

    @property
    def needs_evaluation(self) -> bool:
        return (
            bool(self.states)
            or self.has_disagreement is not None
            or (self.has_open_exception is not None)
        )


async def order_by_key(
    ctx: RequestContext, source: str, ref: str
) -> Sourced[StorefrontOrder] | None:
    return await ctx.loaders(OrderLoaders).storefront_orders.load((source, ref))


async def order_by_source_ref(
    ctx: RequestContext, source: str, ref: str
) -> Sourced[StorefrontOrder] | None:
    """An order by its id in any system: the storefront's order, the ERP's sales order, the
    WMS's fulfilment order or the payment provider's charge."""
    registry = ctx.services.registry
    kind = registry.kind_of(source)
    if kind is None:
        raise UnknownSource(
            f"unknown source {source!r}; known: {', '.join(sorted(registry.clients))}",
            argument="source",
        )
    if kind is SourceKind.STOREFRONT:
        return await order_by_key(ctx, source, ref)
    order_ref: str | None = None
    if kind is SourceKind.ERP:
        erp = next(e for e in registry.erps if e.name == source)
        sales_order = (await erp.sales_orders_by_id([ref])).get(ref)
        order_ref = sales_order.order_ref if sales_order else None
    elif kind is SourceKind.WMS:
        wms = next(w for w in registry.warehouses if w.name == source)
        fulfilment = (await wms.fulfilment_orders_by_id([ref])).get(ref)
        order_ref = fulfilment.order_ref if fulfilment else None
    elif kind is SourceKind.PAYMENTS:
        payments = next(p for p in registry.payments if p.name == source)
        charge = (await payments.charges_by_id([ref])).get(ref)
        order_ref = charge.order_ref if charge else None
    if order_ref is None:
        return None
    for storefront in registry.storefronts:
        found = await order_by_key(ctx, storefront.name, order_ref)
        if found is not None:
            return found
    return None


@dataclass(frozen=True, slots=True)
class _Asked:
    """One order's questions to its loaders, asked at once and answered later: the asks of a
    whole resolver level (or page) go out in one batch per source before any is awaited, and
    awaiting the loaders' futures in turn needs no task per source (a field of a hundred orders
    would otherwise start three hundred)."""

    order: Sourced[StorefrontOrder]
    sales_orders: Awaitable[list[Sourced[SalesOrder]]] | None
    fulfilment_orders: Awaitable[list[Sourced[FulfilmentOrder]]] | None
    charges: Awaitable[list[Sourced[Charge]]] | None

    @classmethod
    def ask(
        cls, ctx: RequestContext, order: Sourced[StorefrontOrder], kinds: Set[SourceKind]
    ) -> _Asked:
        loaders, ref = ctx.loaders(OrderLoaders), order.record.id
        return cls(
            order,
            loaders.sales_orders.load(ref) if SourceKind.ERP in kinds else None,
            loaders.fulfilment_orders.load(ref) if SourceKind.WMS in kinds else None,
            loaders.charges.load(ref) if SourceKind.PAYMENTS in kinds else None,
        )

    async def evidence(self) -> OrderEvidence:
        """The answers; a source that could not be asked is noted, not raised."""
        evidence = OrderEvidence(storefront=self.order)
        missing = evidence.unavailable
        evidence.sales_orders = await _answer(self.sales_orders, SourceKind.ERP, missing)
        evidence.fulfilment_orders = await _answer(self.fulfilment_orders, SourceKind.WMS, missing)
        evidence.charges = await _answer(self.charges, SourceKind.PAYMENTS, missing)
        return evidence


async def _answer(
    asked: Awaitable[list[RecordT]] | None,
    kind: SourceKind,
    unavailable: dict[SourceKind, UpstreamUnavailable],
) -> list[RecordT]:
    if asked is None:
        return []
    try:
        return await asked
    except UpstreamUnavailable as error:
        unavailable[kind] = error
        return []


async def load_evidence(
    ctx: RequestContext, order: Sourced[StorefrontOrder], kinds: Set[SourceKind]
) -> OrderEvidence:
    """What the systems of ``kinds`` say about ``order``; unreachable ones are noted, not raised."""
    return await _Asked.ask(ctx, order, kinds).evidence()


def _truths_of(
    ctx: RequestContext,
    evidence: OrderEvidence,
    kinds: frozenset[SourceKind],
    kind_sets: Collection[frozenset[SourceKind]],
) -> dict[frozenset[SourceKind], OrderTruth]:
    """The truth of ``evidence`` (asked of the systems of ``kinds``) as each of ``kind_sets``
    sees it: the ones an earlier request decided from equal evidence where this process keeps
    them (``OrderTruths``)."""
    services = ctx.services
    rules, now = services.get(AuthorityRules), services.now()
    kept = services.find(OrderTruths)
    if kept is None:
        return truths_of(evidence, kind_sets, rules, now)
    return kept.truths(evidence, kinds, kind_sets, rules, now)


def _truth_of(
    ctx: RequestContext, evidence: OrderEvidence, kinds: frozenset[SourceKind]
) -> OrderTruth:
    return _truths_of(ctx, evidence, kinds, (kinds,))[kinds]


async def order_truth(
    ctx: RequestContext, order: Sourced[StorefrontOrder], kinds: frozenset[SourceKind]
) -> OrderTruth:
    """The served facts of ``order`` from the systems of ``kinds``, made once per request.

    Every field of an order (and of each of its lines) asks for its truth: the first ask builds
    it, the others share it, with its facts computed once."""
    key = (order_truth, order.source, order.record.id, kinds)
    truth: OrderTruth | None = ctx.memo.get(key)
    if truth is None:
        evidence = await load_evidence(ctx, order, kinds)
        # Asks that waited for the same evidence take the first one's truth.
        truth = ctx.memo.setdefault(key, _truth_of(ctx, evidence, kinds))
    return truth


def preloaded_truth(
    ctx: RequestContext, order: Sourced[StorefrontOrder], kinds: frozenset[SourceKind]
) -> OrderTruth | None:
    """The truth of ``order`` from the systems of ``kinds`` if this request already made it
    (``preload_truths``, or an earlier field): a field holding it answers without awaiting."""
    truth: OrderTruth | None = ctx.memo.get((order_truth, order.source, order.record.id, kinds))
    return truth


async def preload_truths(
    ctx: RequestContext,
    orders: Sequence[Sourced[StorefrontOrder]],
    kind_sets: Collection[frozenset[SourceKind]],
) -> None:
    """Make the truths of ``orders`` for each set of systems in ``kind_sets`` before any of
    their fields asks, so those fields answer synchronously from ``preloaded_truth``.

    Every order's loaders are asked before any answer is awaited: one batch per source for the
    whole page, as the fields' own asks would have made. An unreachable source is noted in each
    truth's evidence, never raised, so every field still fails (or degrades) on its own."""
    if not orders or not kind_sets:
        return
    kinds: frozenset[SourceKind] = frozenset().union(*kind_sets)
    memo = ctx.memo
    for order, found in zip(orders, await page_evidence(ctx, orders, kinds), strict=True):
        for kind_set, truth in _truths_of(ctx, found, kinds, kind_sets).items():
            memo.setdefault((order_truth, order.source, order.record.id, kind_set), truth)


async def page_evidence(
    ctx: RequestContext, orders: Sequence[Sourced[StorefrontOrder]], kinds: Set[SourceKind]
) -> list[OrderEvidence]:
    """What the systems of ``kinds`` say about each of ``orders``: every order's loaders
    asked before any answer is awaited, so a page makes one batch per source. An unreachable
    source is noted in each evidence, never raised."""
    asked = [_Asked.ask(ctx, order, kinds) for order in orders]
    return [await asks.evidence() for asks in asked]


async def list_orders(
    ctx: RequestContext, *, first: int, after: str | None, filter: OrderQueryFilter
) -> ScanResult[Sourced[StorefrontOrder]]:
    settings = ctx.services.settings
    check_first(first, settings.limits.max_page_size)
    position = ListingPosition.decode(after, ORDER_CURSOR) if after else None
    upstream = filter.upstream()

    async def fetch(
        storefront: StorefrontSource, page: str | None, limit: int
    ) -> tuple[list[Sourced[StorefrontOrder]], str | None]:
        result = await storefront.list_orders(limit=limit, cursor=page, filter=upstream)
        found = [Sourced(storefront.name, order) for order in result.orders]
        for item in found:
            ctx.loaders(OrderLoaders).storefront_orders.prime(
                (storefront.name, item.record.id), item
            )
        return found, result.next_cursor

    keep = _evaluator(ctx, filter) if filter.needs_evaluation else None
    return await scan_listing(
        [functools.partial(fetch, s) for s in ctx.services.registry.storefronts],
        first=first,
        after=position,
        keep=keep,
        max_pages=settings.limits.max_filter_scan_pages,
    )


def _evaluator(
    ctx: RequestContext, filter: OrderQueryFilter
) -> Callable[[list[Sourced[StorefrontOrder]]], Awaitable[list[bool]]]:
    """Filters that need other systems' claims, evaluated for a whole page in batched calls."""

    async def keep(orders: list[Sourced[StorefrontOrder]]) -> list[bool]:
        needs: set[SourceKind] = set()
        if filter.states:
            needs.add(SourceKind.WMS)
        if filter.has_disagreement is not None:
            needs |= {SourceKind.WMS, SourceKind.ERP}
        evidences = await asyncio.gather(*(load_evidence(ctx, o, needs) for o in orders))
        for evidence in evidences:
            for error in evidence.unavailable.values():
                raise error
        open_refs: set[tuple[str, str]] = set()
        if filter.has_open_exception is not None:
            open_refs = await _orders_with_open_exceptions(ctx, orders)
        principal = principal_in(ctx)
        flags = []
        for order, evidence in zip(orders, evidences, strict=True):
            truth = _truth_of(ctx, evidence, frozenset(needs))
            ok = True
            if filter.states:
                ok &= OrderState(truth.state.served.value) in filter.states
            if filter.has_disagreement is not None:
                # only what the caller may see: a storefront key learns nothing of money
                seen = any(may_trace(principal, f.field) for f in truth.disagreements())
                ok &= seen == filter.has_disagreement
            if filter.has_open_exception is not None:
                has_open = (order.source, order.record.id) in open_refs
                ok &= has_open == filter.has_open_exception
            flags.append(ok)
        return flags

    return keep


async def _orders_with_open_exceptions(
    ctx: RequestContext, orders: list[Sourced[StorefrontOrder]]
) -> set[tuple[str, str]]:
    refs = [o.record.id for o in orders]
    async with ctx.services.sessions() as session:
        rows = await session.execute(
            select(ExceptionRow.order_source, ExceptionRow.order_ref).where(
                ExceptionRow.order_ref.in_(refs),
                ExceptionRow.status.in_([s.value for s in OPEN_STATUSES]),
            )
        )
        return {(source or "", ref or "") for source, ref in rows}


def order_key(global_id: str) -> SourceKey:
    """``(storefront source, order ref)`` from an ``Order`` global id."""
    _, parts = decode_global_id(global_id, expected_type="Order")
    source, ref = parts[0], ":".join(parts[1:])
    if not ref:
        raise InvalidId(f"{global_id!r} is not an order id", id=global_id)
    return source, ref


async def order_by_id(ctx: RequestContext, global_id: str) -> Sourced[StorefrontOrder] | None:
    return await ctx.loaders(OrderLoaders).storefront_orders.load(order_key(global_id))


async def list_current_disagreements(
    ctx: RequestContext, *, first: int, after: str | None
) -> tuple[list[tuple[CurrentDisagreementRow, str]], bool]:
    """The disagreements the detector keeps, by storefront, order ref and field; only those on
    fields the caller may trace. The cursor is the (source, ref, field) of the last row seen."""
    check_first(first, ctx.services.settings.limits.max_page_size)
    query = select(CurrentDisagreementRow)
    if after:
        payload = decode_cursor(after, CURRENT_DISAGREEMENT_CURSOR)
        position = payload.get("s"), payload.get("r"), payload.get("f")
        if not all(isinstance(part, str) for part in position):
            raise InvalidCursor(f"{after!r} is not a valid cursor", cursor=after)
        source, ref, field = (str(part) for part in position)
        query = query.where(
            or_(
                CurrentDisagreementRow.order_source > source,
                and_(
                    CurrentDisagreementRow.order_source == source,
                    or_(
                        CurrentDisagreementRow.order_ref > ref,
                        and_(
                            CurrentDisagreementRow.order_ref == ref,
                            CurrentDisagreementRow.field > field,
                        ),
                    ),
                ),
            )
        )
    principal = principal_in(ctx)
    async with ctx.services.sessions() as session:
        kept = set(await session.scalars(select(CurrentDisagreementRow.canonical_field).distinct()))
        hidden = sorted(name for name in kept if not may_trace(principal, name))
        if hidden:
            query = query.where(CurrentDisagreementRow.canonical_field.not_in(hidden))
        query = query.order_by(
            CurrentDisagreementRow.order_source,
            CurrentDisagreementRow.order_ref,
            CurrentDisagreementRow.field,
        ).limit(first + 1)
        rows = list(await session.scalars(query))
    page = [
        (
            row,
            encode_cursor(
                CURRENT_DISAGREEMENT_CURSOR,
                {"s": row.order_source, "r": row.order_ref, "f": row.field},
            ),
        )
        for row in rows[:first]
    ]
    return page, len(rows) > first


# -- the pages of an orders export ---------------------------------------------------------
#
# Pages of an ``orders`` export answered straight from each order's truth (a ``DirectRoot``
# of ``omnigraph.bulk.resolvers``): the rows ``Order``'s resolvers would give, without an
# object per order, line and provenance entry and without graphql-core completing each field.
#
# Each value is read the way its resolver in ``omnigraph.orders.schema`` reads it and serialised
# by its GraphQL type, so a row is the schema's row (tests compare the two). A page is one
# storefront page of up to ``bulk.direct_page_size`` orders and one batch per source for them;
# one truth per order, from every system any selected field needs (the values each field reads
# from it are those of the narrower truth its resolver asks for: a field's claims come from its
# own systems only). It declines (the page then runs through the schema) where the resolvers
# would do more than read: an ``orders`` filter, a field it does not list here, a field with
# arguments, a source that did not answer.

_NONE: frozenset[SourceKind] = frozenset()
_ERP = frozenset({SourceKind.ERP})
_WMS = frozenset({SourceKind.WMS})
_ERP_WMS = frozenset({SourceKind.ERP, SourceKind.WMS})
_ALL_SOURCES = frozenset({SourceKind.ERP, SourceKind.WMS, SourceKind.PAYMENTS})


@dataclass(slots=True)
class _OrderAt:
    sourced: Sourced[StorefrontOrder]
    truth: OrderTruth  # from every system the selection needs
    traced: Callable[[str], bool]  # whether the caller may see a field's provenance


@dataclass(slots=True)
class _LineAt:
    order: _OrderAt
    line: StorefrontLine


_Entry = tuple[str, Fact]  # a provenance entry: the field as shown, and its fact


def _financial_status(o: _OrderAt) -> str | None:
    fact = o.truth.financial_status
    return None if fact is None else fact.served.value.upper()


TOTALS = ("subtotal", "discount", "shipping", "tax", "total")


def served_totals(truth: OrderTruth) -> dict[str, Money]:
    """What ``Order.totals`` serves: each of :data:`TOTALS` in the served currency."""
    totals, currency = truth.served_totals, truth.currency.served.value
    return {name: Money.of(getattr(totals, name), currency) for name in TOTALS}


def _provenance(o: _OrderAt) -> list[_Entry]:
    traced = o.traced
    return [(f.field, f) for f in o.truth.served_facts() if traced(f.field)]


def _unit_price(at: _LineAt) -> Money | None:
    fact = at.order.truth.unit_price(at.line.sku)
    if fact is None:
        return None
    record = at.order.sourced.record
    currency = Money.of(at.line.unit_price, record.currency).currency
    return Money.of(Decimal(fact.served.value), currency)


def _line_provenance(at: _LineAt) -> list[_Entry]:
    prefix = f"lines[{at.line.sku}]."
    traced = at.order.traced
    return [
        (f.field.removeprefix(prefix), f)
        for f in at.order.truth.served_facts()
        if f.field.startswith(prefix) and traced(f.field)
    ]


def _quantity(name: str) -> Callable[[_LineAt], int]:
    def read(at: _LineAt) -> int:
        value: int = getattr(at.order.truth.line_quantities(at.line.sku), name)
        return value

    return read


@dataclass(frozen=True, slots=True)
class _Field:
    read: Callable[[Any], Any]
    kinds: frozenset[SourceKind] = _NONE  # the systems its resolver's truth comes from
    shape: str = "leaf"  # "leaf", "object" or "list" (of objects)


# What each field's resolver in ``omnigraph.orders.schema`` reads, by GraphQL type and field.
_FIELDS: dict[str, dict[str, _Field]] = {
    "Order": {
        "id": _Field(lambda o: encode_global_id("Order", o.sourced.source, o.sourced.record.id)),
        "name": _Field(lambda o: o.sourced.record.name),
        "channel": _Field(lambda o: o.sourced.record.channel),
        "fulfilmentMethod": _Field(lambda o: o.sourced.record.fulfilment_method),
        "placedAt": _Field(lambda o: o.sourced.record.placed_at),
        "state": _Field(lambda o: OrderState(o.truth.state.served.value), _WMS),
        "currency": _Field(lambda o: o.truth.currency.served.value, _ERP),
        "financialStatus": _Field(_financial_status, _ERP),
        "totals": _Field(lambda o: served_totals(o.truth), _ERP, "object"),
        "lines": _Field(lambda o: [_LineAt(o, x) for x in o.sourced.record.lines], shape="list"),
        "provenance": _Field(_provenance, _ALL_SOURCES, "list"),
    },
    "OrderLine": {
        "sku": _Field(lambda at: at.line.sku),
        "title": _Field(lambda at: at.line.title),
        "quantity": _Field(lambda at: at.line.quantity),
        "unitPrice": _Field(_unit_price, _ERP, "object"),
        "provenance": _Field(_line_provenance, _ERP_WMS, "list"),
        **{name: _Field(_quantity(name), _WMS) for name in LINE_QUANTITIES},
    },
    "OrderTotals": {name: _Field(operator.itemgetter(name), shape="object") for name in TOTALS},
    "Money": {
        "amount": _Field(operator.attrgetter("amount")),
        "currency": _Field(operator.attrgetter("currency")),
    },
    "FieldProvenance": {
        "field": _Field(lambda e: e[0]),
        "source": _Field(lambda e: e[1].served.source),
        "sourceKind": _Field(lambda e: e[1].served.source_kind),
        "recordRef": _Field(lambda e: e[1].served.record_ref),
        "asOf": _Field(lambda e: e[1].served.as_of),
        "authoritative": _Field(lambda e: e[1].authoritative),
    },
}

_Row = Callable[[Any, list[int]], dict[str, Any]]  # a row, counting nested rows in the list


def _unwrap(type_: Any) -> tuple[bool, GraphQLNamedType]:
    listed = False
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        if isinstance(type_, GraphQLList):
            if listed:
                raise _Declined
            listed = True
        type_ = type_.of_type
    return listed, type_


class _Declined(Exception):
    pass


@dataclass
class _Compiler:
    schema: GraphQLSchema
    fields: set[tuple[str, str]]
    kinds: set[SourceKind]

    def row(self, type_name: str, selection: tuple[Selected, ...]) -> _Row:
        table = _FIELDS.get(type_name)
        graphql_type = self.schema.get_type(type_name)
        if table is None or not isinstance(graphql_type, GraphQLObjectType) or not selection:
            raise _Declined
        steps: list[tuple[str, Callable[[Any, list[int]], Any]]] = []
        for selected in selection:
            if selected.name == "__typename":
                steps.append((selected.key, _constant(type_name)))
                continue
            known, defined = table.get(selected.name), graphql_type.fields.get(selected.name)
            if known is None or defined is None or _defaults(defined.args):
                raise _Declined
            self.fields.add((type_name, selected.name))
            self.kinds |= known.kinds
            listed, named = _unwrap(defined.type)
            if is_leaf_type(named):
                if known.shape != "leaf" or listed or selected.children:
                    raise _Declined
                steps.append((selected.key, _leaf(known.read, named.serialize)))
            elif known.shape == "list" and listed:
                steps.append(
                    (selected.key, _list(known.read, self.row(named.name, selected.children)))
                )
            elif known.shape == "object" and not listed:
                steps.append(
                    (selected.key, _object(known.read, self.row(named.name, selected.children)))
                )
            else:
                raise _Declined

        def row(source: Any, count: list[int]) -> dict[str, Any]:
            return {key: step(source, count) for key, step in steps}

        return row


def _defaults(arguments: Mapping[str, GraphQLArgument]) -> bool:
    """Whether an argument left out still means something (what is read here reads none)."""
    return any(a.default_value not in (None, Undefined) for a in arguments.values())


def _constant(value: str) -> Callable[[Any, list[int]], Any]:
    return lambda source, count: value


def _leaf(
    read: Callable[[Any], Any], serialize: Callable[[Any], Any]
) -> Callable[[Any, list[int]], Any]:
    def step(source: Any, count: list[int]) -> Any:
        value = read(source)
        return None if value is None else serialize(value)

    return step


def _object(read: Callable[[Any], Any], row: _Row) -> Callable[[Any, list[int]], Any]:
    def step(source: Any, count: list[int]) -> Any:
        value = read(source)
        return None if value is None else row(value, count)

    return step


def _list(read: Callable[[Any], Any], row: _Row) -> Callable[[Any, list[int]], Any]:
    def step(source: Any, count: list[int]) -> Any:
        items = read(source)
        if items is None:
            return None
        count[0] += len(items)  # each item a row of its own level
        return [row(item, count) for item in items]

    return step


class OrderExport:
    """The :class:`~omnigraph.bulk.resolvers.DirectRoot` of ``orders``."""

    def compile(self, schema: GraphQLSchema, node: tuple[Selected, ...]) -> OrderPages | None:
        compiler = _Compiler(schema, set(), set())
        try:
            if _node_type(schema) != "Order":
                return None
            row = compiler.row("Order", node)
        except _Declined:
            return None
        return OrderPages(row, frozenset(compiler.fields), frozenset(compiler.kinds))


def _node_type(schema: GraphQLSchema) -> str | None:
    query = schema.query_type
    orders = query.fields.get("orders") if query is not None else None
    if orders is None:
        return None
    _, connection = _unwrap(orders.type)
    edges = connection.fields.get("edges") if isinstance(connection, GraphQLObjectType) else None
    if edges is None:
        return None
    _, edge = _unwrap(edges.type)
    node = edge.fields.get("node") if isinstance(edge, GraphQLObjectType) else None
    return None if node is None else _unwrap(node.type)[1].name


@dataclass(frozen=True, slots=True)
class OrderPages:
    """A compiled ``orders`` node selection (:class:`~omnigraph.bulk.resolvers.DirectQuery`)."""

    row: _Row
    fields: frozenset[tuple[str, str]]
    kinds: frozenset[SourceKind]

    async def page(
        self, ctx: RequestContext, principal: Principal, first: int, after: str | None
    ) -> DirectPage | None:
        kinds = self.kinds
        evidences: list[OrderEvidence] = []
        with bulk_reads():  # nor are its records (nor cached): each is read once
            try:
                orders, has_next, end_cursor = await _listed(ctx, first, after)
            except UpstreamUnavailable:
                return None  # the schema reports it as the listing would; the runner retries
            if kinds:
                evidences = await page_evidence(ctx, orders, kinds)
        truths: list[OrderTruth | None] = [None] * len(orders)
        if kinds:
            if any(evidence.unavailable for evidence in evidences):
                return None  # the schema reports what did not answer; the runner retries
            # decided for this page only: an export reads each order once, and kept with the
            # process's truths (``OrderTruths``) a scan's orders would fill them, about 60 KB
            # an order, and push out the orders live queries ask about
            services = ctx.services
            rules, now = services.get(AuthorityRules), services.now()
            truths = [OrderTruth(evidence, rules, now) for evidence in evidences]
        traced = traceable_by(principal)
        row, count = self.row, [len(orders)]
        nodes = [
            row(_OrderAt(order, truth, traced), count)  # type: ignore[arg-type]
            for order, truth in zip(orders, truths, strict=True)
        ]
        return DirectPage(nodes, has_next, end_cursor, count[0])


async def _listed(
    ctx: RequestContext, first: int, after: str | None
) -> tuple[list[Sourced[StorefrontOrder]], bool, str | None]:
    """One storefront page of up to ``first`` orders after ``after`` (a cursor of the
    ``orders`` connection: one of the schema's pages resumes from it, and it from theirs),
    whether more follow, and the cursor after it: the start of the storefront's next page."""
    position = ListingPosition.decode(after, ORDER_CURSOR) if after else ListingPosition()
    storefronts = ctx.services.registry.storefronts
    source, page, skip = position.source, position.page, position.skip
    orders: list[Sourced[StorefrontOrder]] = []
    reads = 0
    max_reads = ctx.services.settings.limits.max_filter_scan_pages
    while source < len(storefronts) and not orders and reads < max_reads:
        storefront = storefronts[source]
        listed = await storefront.list_orders(limit=first, cursor=page, filter=OrderListFilter())
        reads += 1
        orders = [Sourced(storefront.name, order) for order in listed.orders[skip:]]
        skip = max(0, skip - len(listed.orders))
        if listed.next_cursor:
            page = listed.next_cursor
        else:
            source, page, skip = source + 1, None, 0
    has_next = source < len(storefronts)
    end = ListingPosition(source, page, skip).encode(ORDER_CURSOR) if has_next else None
    return orders, has_next, end


def order_export() -> Mapping[str, OrderExport]:
    """The direct roots the orders room offers bulk exports."""
    return {"orders": OrderExport()}
