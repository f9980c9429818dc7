"""Order resolvers: find orders, and gather what each system says about them through loaders."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Collection, Sequence, Set
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlalchemy import and_, or_, select

from omnigraph.core.errors import InvalidCursor, InvalidId, UnknownSource, UpstreamUnavailable
from omnigraph.core.ids import decode_global_id
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
from omnigraph.graph.permissions import may_trace, principal_in
from omnigraph.orders.authority import AuthorityRules
from omnigraph.orders.truth import (
    OrderEvidence,
    OrderState,
    OrderTruth,
    OrderTruths,
    truths_of,
)
from omnigraph.runtime.services import Services
from omnigraph.sources.contract import OrderListFilter, StorefrontSource
from omnigraph.sources.records import (
    Charge,
    FulfilmentOrder,
    SalesOrder,
    Sourced,
    StorefrontOrder,
)

__all__ = [
    "CURRENT_DISAGREEMENT_CURSOR",
    "ORDER_CURSOR",
    "OrderLoaders",
    "OrderQueryFilter",
    "list_current_disagreements",
    "list_orders",
    "load_evidence",
    "order_by_id",
    "order_by_key",
    "order_by_source_ref",
    "order_key",
    "order_truth",
    "page_evidence",
    "preload_truths",
    "preloaded_truth",
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
