"""Pages of an ``orders`` export answered straight from each order's truth
(``omnigraph.bulk.direct``): the rows ``Order``'s resolvers would give, without an object per
order, line and provenance entry and without graphql-core completing each field.

Each value is read the way its resolver in ``omnigraph.orders.schema`` reads it and serialised
by its GraphQL type, so a row is the schema's row (tests compare the two). A page is one
storefront page of up to ``bulk.direct_page_size`` orders and one batch per source for them;
one truth per order, from every system any selected field needs (the values each field reads
from it are those of the narrower truth its resolver asks for: a field's claims come from its
own systems only). It declines (the page then runs through the schema) where the resolvers
would do more than read: an ``orders`` filter, a field it does not list here, a field with
arguments, a source that did not answer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

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

from omnigraph.bulk.direct import DirectPage, Selected
from omnigraph.core.errors import UpstreamUnavailable
from omnigraph.core.ids import encode_global_id
from omnigraph.core.provenance import Fact
from omnigraph.core.sources import SourceKind
from omnigraph.graph.context import RequestContext
from omnigraph.graph.pagination import ListingPosition
from omnigraph.graph.permissions import may_trace
from omnigraph.graph.types import Money
from omnigraph.orders.authority import AuthorityRules
from omnigraph.orders.resolvers import ORDER_CURSOR, page_evidence
from omnigraph.orders.schema import order_totals
from omnigraph.orders.truth import LINE_QUANTITIES, OrderEvidence, OrderState, OrderTruth
from omnigraph.security.principal import Principal
from omnigraph.sources.contract import OrderListFilter
from omnigraph.sources.bulk import bulk_reads
from omnigraph.sources.records import Sourced, StorefrontLine, StorefrontOrder

__all__ = ["OrderExport", "OrderPages", "order_export"]

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


def _attribute(name: str) -> Callable[[Any], Any]:
    def read(source: Any) -> Any:
        return getattr(source, name)

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
        "totals": _Field(lambda o: order_totals(o.truth), _ERP, "object"),
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
    "OrderTotals": {
        name: _Field(_attribute(name), shape="object")
        for name in ("subtotal", "discount", "shipping", "tax", "total")
    },
    "Money": {"amount": _Field(_attribute("amount")), "currency": _Field(_attribute("currency"))},
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
    """The :class:`~omnigraph.bulk.direct.DirectRoot` of ``orders``."""

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
    """A compiled ``orders`` node selection (:class:`~omnigraph.bulk.direct.DirectQuery`)."""

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
        # a caller who may trace money traces every field (``may_trace``)
        traced: Callable[[str], bool] = (
            _always if may_trace(principal, "totals") else lambda f: may_trace(principal, f)
        )
        row, count = self.row, [len(orders)]
        nodes = [
            row(_OrderAt(order, truth, traced), count)  # type: ignore[arg-type]
            for order, truth in zip(orders, truths, strict=True)
        ]
        return DirectPage(nodes, has_next, end_cursor, count[0])


def _always(field: str) -> bool:
    return True


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
