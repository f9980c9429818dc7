"""The root ``Query``, in groups a subgraph can serve on its own.

The contract's operations (../shared/contract/canonical.graphql). This module does not use
postponed annotations: the order queries are built for the ``Order`` class a schema serves.
"""

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any, TypeVar

import strawberry
from strawberry.types import Info

from omnigraph.api.nodes import (
    NodeResolver,
    resolve_exception_id,
    resolve_node,
    resolve_order_id,
    resolve_payout_id,
)
from omnigraph.core.errors import InvalidInput
from omnigraph.core.sources import SourceKind as Kind
from omnigraph.exceptions import resolvers as exception_resolvers
from omnigraph.exceptions.catalogue import ExceptionKind as ExceptionKindValue
from omnigraph.exceptions.operations import operations_view
from omnigraph.exceptions.operations_schema import ExceptionOperations
from omnigraph.exceptions.schema import ExceptionKind, ExceptionRecord, ExceptionStatus
from omnigraph.graph.context import RequestContext
from omnigraph.graph.pagination import ScanResult
from omnigraph.graph.types import Connection, Edge, Node, PageInfo, SourceKind
from omnigraph.inventory import resolvers as inventory_resolvers
from omnigraph.inventory.availability import Availability
from omnigraph.inventory.availability import Promise as PromiseValue
from omnigraph.inventory.oversell import record_published
from omnigraph.inventory.schema import AvailabilityTotal, InventoryAvailability, Promise
from omnigraph.orders import resolvers as order_resolvers
from omnigraph.orders.resolvers import ORDER_CURSOR
from omnigraph.orders.schema import OrderCore, OrderState, order_truths_selected
from omnigraph.orders.state import OrderState as OrderStateValue
from omnigraph.payouts import resolvers as payout_resolvers
from omnigraph.payouts.reconciliation_schema import ReconciliationSummary
from omnigraph.payouts.report import summarise
from omnigraph.payouts.resolvers import PAYOUT_CURSOR
from omnigraph.payouts.schema import Payout

__all__ = [
    "ExceptionFilter",
    "ExceptionQueries",
    "InventoryQueries",
    "OrderFilter",
    "PayoutFilter",
    "PayoutQueries",
    "node_query",
    "order_queries",
]

Ctx = Info[RequestContext, None]
ItemT = TypeVar("ItemT")
NodeT = TypeVar("NodeT")


@strawberry.input
class OrderFilter:
    channel: str | None = None
    states: list[OrderState] | None = None  # type: ignore[valid-type]
    has_disagreement: bool | None = None
    has_open_exception: bool | None = None
    placed_from: datetime | None = None
    placed_to: datetime | None = None
    sku: str | None = None


@strawberry.input
class PayoutFilter:
    status: str | None = None
    arrival_from: datetime | None = None
    arrival_to: datetime | None = None


@strawberry.input
class ExceptionFilter:
    kinds: list[ExceptionKind] | None = None  # type: ignore[valid-type]
    statuses: list[ExceptionStatus] | None = None
    owner_kind: SourceKind | None = None  # type: ignore[valid-type]
    owner_source: str | None = None
    opened_before: datetime | None = None


def _page_info(edges: Sequence[Edge[Any]], has_next: bool, resume: str | None) -> PageInfo:
    return PageInfo(
        has_next_page=has_next,
        start_cursor=edges[0].cursor if edges else None,
        end_cursor=edges[-1].cursor if edges else resume,
    )


def _scan_connection(
    result: ScanResult[ItemT], cursor_kind: str, to_node: Callable[[ItemT], NodeT]
) -> Connection[NodeT]:
    """A Relay connection over a scanned upstream listing; an empty page cut short by the scan
    limit still carries the cursor to resume from."""
    edges = [Edge(cursor=pos.encode(cursor_kind), node=to_node(item)) for item, pos in result.items]
    resume = result.resume_at.encode(cursor_kind) if result.resume_at else None
    return Connection(edges=edges, page_info=_page_info(edges, result.has_next, resume))


_TruthsKey = tuple[int, tuple[str, ...], tuple[str, ...]]
_TRUTHS_BELOW: dict[_TruthsKey, tuple[object, frozenset[frozenset[Kind]]]] = {}
_TRUTHS_BELOW_MAX = 512


def _truths_below(info: Ctx, path: tuple[str, ...] = ()) -> frozenset[frozenset[Kind]]:
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


def node_query(resolvers: Mapping[str, NodeResolver]) -> type[Any]:
    """``node(id:)`` resolving the types in ``resolvers``."""

    @strawberry.type(name="Query")
    class NodeQuery:
        @strawberry.field(description="Any object by its global id.")
        async def node(self, info: Ctx, id: strawberry.ID) -> Node | None:
            return await resolve_node(info.context, id, resolvers)

    return NodeQuery


def order_queries(order_type: type[OrderCore]) -> type[Any]:
    """``order``, ``orderByRef`` and ``orders``, answering ``order_type`` objects."""

    @strawberry.type(name="Query")
    class OrderQueries:
        @strawberry.field(description="An order by its global id.")
        async def order(self, info: Ctx, id: strawberry.ID) -> order_type | None:  # type: ignore[valid-type]
            return await resolve_order_id(info.context, id, order_type)

        @strawberry.field(
            description="An order by its id in any system that knows it: storefront, ERP,"
            " WMS or payments (a charge id)."
        )
        async def order_by_ref(self, info: Ctx, source: str, ref: str) -> order_type | None:  # type: ignore[valid-type]
            found = await order_resolvers.order_by_source_ref(info.context, source, ref)
            if found is None:
                return None
            await order_resolvers.preload_truths(info.context, [found], _truths_below(info))
            return order_type.from_sourced(found)

        @strawberry.field(
            description="Orders, newest first per storefront. `first` is at most 100."
        )
        async def orders(
            self,
            info: Ctx,
            first: int = 50,
            after: str | None = None,
            filter: OrderFilter | None = None,
        ) -> Connection[order_type]:  # type: ignore[valid-type]
            f = filter or OrderFilter()
            result = await order_resolvers.list_orders(
                info.context,
                first=first,
                after=after,
                filter=order_resolvers.OrderQueryFilter(
                    channel=f.channel,
                    states=frozenset(OrderStateValue(s) for s in f.states) if f.states else None,
                    has_disagreement=f.has_disagreement,
                    has_open_exception=f.has_open_exception,
                    placed_from=f.placed_from,
                    placed_to=f.placed_to,
                    sku=f.sku,
                ),
            )
            # One truth per order for the whole page, so its hot fields answer synchronously.
            await order_resolvers.preload_truths(
                info.context,
                [item for item, _ in result.items],
                _truths_below(info, ("edges", "node")),
            )
            return _scan_connection(result, ORDER_CURSOR, order_type.from_sourced)

    return OrderQueries


async def _availability(
    info: Ctx,
    skus: list[str],
    channel: str,
    promise: PromiseValue,
    at: datetime | None,
    location_ids: list[strawberry.ID] | None,
) -> list[Availability]:
    return await inventory_resolvers.availability(
        info.context,
        skus=skus,
        channel=channel,
        promise=PromiseValue(promise),
        at=at,
        location_ids=[str(i) for i in location_ids] if location_ids else None,
    )


@strawberry.type(name="Query")
class InventoryQueries:
    @strawberry.field(
        description="What a channel may promise for each SKU, per location. A channel that"
        " shows these figures to its customers passes `publish: true`, so omnigraph can raise"
        " OVERSELL_RISK if the ledger later allows less."
    )
    async def availability(
        self,
        info: Ctx,
        skus: list[str],
        channel: str,
        promise: Promise = PromiseValue.SHIP,  # type: ignore[valid-type]
        at: datetime | None = None,
        location_ids: list[strawberry.ID] | None = None,
        publish: bool = False,
    ) -> list[InventoryAvailability]:
        answers = await _availability(info, skus, channel, promise, at, location_ids)
        if publish:
            await record_published(
                info.context.services.sessions, answers, info.context.services.now()
            )
        return [InventoryAvailability.of(a) for a in answers]

    @strawberry.field(
        description="What a channel may promise for each SKU across its locations (the sum of"
        " `availability` per location)."
    )
    async def availability_totals(
        self,
        info: Ctx,
        skus: list[str],
        channel: str,
        promise: Promise = PromiseValue.SHIP,  # type: ignore[valid-type]
        at: datetime | None = None,
        location_ids: list[strawberry.ID] | None = None,
    ) -> list[AvailabilityTotal]:
        answers = await _availability(info, skus, channel, promise, at, location_ids)
        return AvailabilityTotal.of_answers(skus, channel, PromiseValue(promise), answers)


@strawberry.type(name="Query")
class PayoutQueries:
    @strawberry.field(description="A payout by its global id.")
    async def payout(self, info: Ctx, id: strawberry.ID) -> Payout | None:
        return await resolve_payout_id(info.context, id)

    @strawberry.field(
        description="The reconciliation of a period [from, to): payouts by status, money by"
        " reporting category, unmatched lines by status. Read from omnigraph's own tables."
    )
    async def reconciliation_summary(
        self,
        info: Ctx,
        start: Annotated[datetime, strawberry.argument(name="from")],
        end: Annotated[datetime, strawberry.argument(name="to")],
    ) -> ReconciliationSummary:
        if start.tzinfo is None or end.tzinfo is None or end <= start:
            raise InvalidInput(
                "`from` and `to` need offsets, and `to` must be after `from`", argument="from"
            )
        summary = await summarise(info.context.services.sessions, start, end)
        return ReconciliationSummary.of(summary)

    @strawberry.field(description="Payouts as the provider lists them (newest first).")
    async def payouts(
        self,
        info: Ctx,
        first: int = 50,
        after: str | None = None,
        filter: PayoutFilter | None = None,
    ) -> Connection[Payout]:
        f = filter or PayoutFilter()
        result = await payout_resolvers.list_payouts(
            info.context,
            first=first,
            after=after,
            filter=payout_resolvers.PayoutQueryFilter(f.status, f.arrival_from, f.arrival_to),
        )
        return _scan_connection(
            result, PAYOUT_CURSOR, lambda item: Payout.from_record(item.source, item.record)
        )


@strawberry.type(name="Query")
class ExceptionQueries:
    @strawberry.field(
        description="Open exceptions by kind, owner and age, and resolution times for the"
        " period [resolvedFrom, resolvedTo) (default: the last 7 days)."
    )
    async def exception_operations(
        self,
        info: Ctx,
        resolved_from: datetime | None = None,
        resolved_to: datetime | None = None,
    ) -> ExceptionOperations:
        now = info.context.services.now()
        end = resolved_to or now
        start = resolved_from or end - timedelta(days=7)
        if start >= end:
            raise InvalidInput("resolvedFrom must be before resolvedTo", argument="resolvedFrom")
        view = await operations_view(
            info.context.services.sessions, now=now, resolved_from=start, resolved_to=end
        )
        return ExceptionOperations.of(view, start, end)

    @strawberry.field(description="An exception by its global id.")
    async def exception(self, info: Ctx, id: strawberry.ID) -> ExceptionRecord | None:
        return await resolve_exception_id(info.context, id)

    @strawberry.field(description="Exceptions, newest first.")
    async def exceptions(
        self,
        info: Ctx,
        first: int = 50,
        after: str | None = None,
        filter: ExceptionFilter | None = None,
    ) -> Connection[ExceptionRecord]:
        f = filter or ExceptionFilter()
        rows, has_next = await exception_resolvers.list_exceptions(
            info.context,
            first=first,
            after=after,
            filter=exception_resolvers.ExceptionQueryFilter(
                kinds=[ExceptionKindValue(k).value for k in f.kinds] if f.kinds else None,
                statuses=[s.value for s in f.statuses] if f.statuses else None,
                owner_kind=Kind(f.owner_kind) if f.owner_kind else None,
                owner_source=f.owner_source,
                opened_before=f.opened_before,
            ),
        )
        edges = [Edge(cursor=cursor, node=ExceptionRecord.from_row(row)) for row, cursor in rows]
        return Connection(edges=edges, page_info=_page_info(edges, has_next, None))
