"""Shopify as a storefront: the calls of :class:`~omnigraph.sources.contract.StorefrontSource`,
answered from the Admin GraphQL API and mapped to the contract's orders (:mod:`.mapping`).

Orders by id are read with one ``nodes(ids:)`` query per batch, as many orders as Shopify's
1,000-point query cost allows (never more than 250), after the record cache; an order's returns
are read in one more query for the whole batch, only when some order has any.

A batch is sized from the cost of one order or return as :mod:`.queries` counts it, raised to
what Shopify counts (the ``requestedQueryCost`` of each answer) when Shopify counts more; a batch
Shopify refuses with ``MAX_COST_EXCEEDED`` is split and read in smaller batches.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

import structlog

from omnigraph.core.errors import SourceContractViolation
from omnigraph.settings import SHOPIFY_NODES_LIMIT
from omnigraph.sources.contract import JsonRecord, OrderListFilter, StorefrontPage
from omnigraph.sources.parsing import parse_kept, parse_kept_records, parse_record
from omnigraph.sources.record_cache import CacheKey
from omnigraph.sources.records import OrderPayments, StorefrontOrder
from omnigraph.sources.shopify.client import QueryTooCostly, ShopifyClient
from omnigraph.sources.shopify.mapping import ShopifyMappingError, order_gid, order_record
from omnigraph.sources.shopify.queries import (
    ALL_REFUNDS,
    ALL_TRANSACTIONS,
    ORDER_FULFILLMENT_ORDERS,
    ORDER_LINE_ITEMS,
    ORDER_REFUNDS,
    ORDER_RETURNS,
    ORDER_TRANSACTIONS,
    ORDERS_BY_IDS,
    ORDERS_PAGE,
    REFUND_TRANSACTIONS,
    REFUNDS_FIRST,
    RETURNS_BY_IDS,
    TRANSACTIONS_FIRST,
    document_cost,
    order_cost,
    order_document,
    return_cost,
    search_value,
)

__all__ = ["ShopifyStorefrontAdapter"]

T = TypeVar("T")
log = structlog.get_logger(__name__)
LINE_ITEMS_PAGE_COST = 1 + 2 + 250 * 3  # ORDER_LINE_ITEMS: the order, then 250 priced lines


def _chunks(items: Sequence[T], size: int) -> Iterable[list[T]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


class ShopifyStorefrontAdapter:
    """Orders of one Shopify shop, as the storefront contract's records."""

    def __init__(self, client: ShopifyClient) -> None:
        self.client = client
        self.name = client.name
        self.options = client.options
        # the requested cost of one order and of one return: as counted from the documents,
        # raised to what Shopify counts when it counts more
        self.order_cost = float(order_cost(self.options.max_line_items))
        self.return_cost = float(return_cost())

    @property
    def batch_size(self) -> int:
        """Orders per ``nodes(ids:)`` query: what the query cost allows, at most 250."""
        return self._fits(self.order_cost)

    def _fits(self, per_item: float) -> int:
        return max(1, min(SHOPIFY_NODES_LIMIT, int(self.options.max_query_cost // per_item)))

    def _counted(self, what: str, counted: float | None, items: int, overhead: int = 0) -> None:
        """Learn from Shopify's count of a query of ``items`` orders or returns."""
        if counted is None or items < 1:
            return
        per_item = (counted - overhead) / items
        current = self.order_cost if what == "order" else self.return_cost
        if per_item > current:
            log.info("shopify_cost_raised", source=self.name, what=what, cost=per_item)
            if what == "order":
                self.order_cost = per_item
            else:
                self.return_cost = per_item

    async def orders_by_id(self, ids: Sequence[str]) -> dict[str, StorefrontOrder]:
        records = await self.order_records(ids)
        return {key: parse_kept(self.name, StorefrontOrder, raw) for key, raw in records.items()}

    async def order_payments_by_id(self, ids: Sequence[str]) -> dict[str, OrderPayments]:
        records = await self.order_records(ids)
        return {key: parse_record(self.name, OrderPayments, raw) for key, raw in records.items()}

    async def order_records(self, ids: Sequence[str]) -> dict[str, JsonRecord]:
        """Contract-shaped records by canonical order id; unknown ids are left out."""
        gids = {
            order_id: gid
            for order_id in dict.fromkeys(ids)
            if (gid := order_gid(order_id, self.options)) is not None
        }

        async def fetch(keys: list[CacheKey]) -> list[Any]:
            records = await self._fetch([gids[key[2]] for key in keys])
            return [records.get(key[2]) or {} for key in keys]

        keys = [("orders", "id", order_id) for order_id in gids]
        records = await self.client.upstream.read(keys, fetch, chunk=self.batch_size)
        return {order_id: record for order_id, record in zip(gids, records, strict=True) if record}

    async def list_orders(
        self, *, limit: int, cursor: str | None, filter: OrderListFilter
    ) -> StorefrontPage:
        """Newest first (``processedAt``, the contract's ``placedAt``), ``limit`` orders a page
        as the contract says: Shopify's pages are as many as the query cost allows (6 orders
        with 20 line items each), so one page here is as many of them as it takes. A channel
        filter is applied after mapping, reading on until the page is full or none are left."""
        terms = []
        if filter.placed_from:
            terms.append(f"processed_at:>={search_value(filter.placed_from.isoformat())}")
        if filter.placed_to:
            # the contract's window is half-open: placedFrom <= placedAt < placedTo
            terms.append(f"processed_at:<{search_value(filter.placed_to.isoformat())}")
        if filter.sku:
            terms.append(f"sku:{search_value(filter.sku)}")
        document = order_document(ORDERS_PAGE, self.options.max_line_items, self.client.api_version)
        found: list[JsonRecord] = []
        cap = SHOPIFY_NODES_LIMIT  # lowered when Shopify refuses a page as too costly
        while True:
            first = max(1, min(limit - len(found), self._fits(self.order_cost + 2), cap))
            try:
                data, counted = await self.client.query(
                    document,
                    {
                        "first": first,
                        "after": cursor,
                        "query": " AND ".join(terms) or None,
                        "sortKey": "PROCESSED_AT",
                        "reverse": True,
                    },
                    requested_cost=2 + first * self.order_cost,
                )
            except QueryTooCostly as refused:
                if first == 1:
                    raise
                self._counted("order", refused.cost, first, overhead=2)
                cap = first // 2
                continue
            self._counted("order", counted, first, overhead=2)
            connection = data.get("orders")
            if not isinstance(connection, dict) or not isinstance(connection.get("nodes"), list):
                raise SourceContractViolation(self.name, "orders answered without nodes")
            records = await self._records(connection["nodes"])
            page_info = connection.get("pageInfo") or {}
            cursor = page_info.get("endCursor") if page_info.get("hasNextPage") else None
            await self.client.upstream.cache_put([(("orders", "id", r["id"]), r) for r in records])
            if filter.channel:
                records = [r for r in records if r["channel"] == filter.channel]
            found += records
            if len(found) >= limit or cursor is None:
                return StorefrontPage(parse_kept_records(self.name, StorefrontOrder, found), cursor)

    async def _fetch(self, gids: list[str]) -> dict[str, JsonRecord]:
        """One ``nodes(ids:)`` query (and the returns of what it found), mapped, by order id;
        split in smaller queries when Shopify refuses it as too costly."""
        line_items = self.options.max_line_items
        if len(gids) > self.batch_size:  # Shopify counted more than us since it was cut
            found: dict[str, JsonRecord] = {}
            for chunk in _chunks(gids, self.batch_size):
                found |= await self._fetch(chunk)
            return found
        try:
            data, counted = await self.client.query(
                order_document(ORDERS_BY_IDS, line_items, self.client.api_version),
                {"ids": gids},
                requested_cost=len(gids) * self.order_cost,
            )
        except QueryTooCostly as refused:
            if len(gids) == 1:
                raise
            self._counted("order", refused.cost, len(gids))
            found = {}
            for chunk in _chunks(gids, min(self.batch_size, len(gids) // 2)):
                found |= await self._fetch(chunk)
            return found
        self._counted("order", counted, len(gids))
        nodes = data.get("nodes")
        if not isinstance(nodes, list):
            raise SourceContractViolation(self.name, "nodes(ids:) answered without a list")
        orders = [n for n in nodes if isinstance(n, dict) and n.get("__typename") == "Order"]
        return {record["id"]: record for record in await self._records(orders)}

    async def _records(self, orders: list[dict[str, Any]]) -> list[JsonRecord]:
        for order in orders:
            await self._complete(order)
        returns = await self._returns(
            [
                ref["id"]
                for order in orders
                for ref in (order.get("returns") or {}).get("nodes") or ()
            ]
        )
        try:
            return [order_record(order, returns, self.options) for order in orders]
        except ShopifyMappingError as error:
            raise SourceContractViolation(self.name, str(error)) from None

    async def _complete(self, order: dict[str, Any]) -> None:
        """What a batch read of an order only in part, read after it: line items, returns,
        fulfillment orders and a refund's transactions page by page; transactions and refunds
        (plain lists, no cursor) whole, when the batch read as many as it asked for."""
        await self._rest_of(order, "lineItems", ORDER_LINE_ITEMS, LINE_ITEMS_PAGE_COST)
        await self._rest_of(order, "returns", ORDER_RETURNS, document_cost(ORDER_RETURNS))
        await self._rest_of(
            order,
            "fulfillmentOrders",
            ORDER_FULFILLMENT_ORDERS,
            document_cost(ORDER_FULFILLMENT_ORDERS),
        )
        if len(order.get("transactions") or ()) >= TRANSACTIONS_FIRST:
            order["transactions"] = await self._whole(
                order, "transactions", ORDER_TRANSACTIONS, ALL_TRANSACTIONS
            )
        if len(order.get("refunds") or ()) >= REFUNDS_FIRST:
            order["refunds"] = await self._whole(order, "refunds", ORDER_REFUNDS, ALL_REFUNDS)
        for refund in order.get("refunds") or ():
            if isinstance(refund, dict) and refund.get("id"):
                await self._rest_of(
                    refund,
                    "transactions",
                    REFUND_TRANSACTIONS,
                    document_cost(REFUND_TRANSACTIONS),
                )

    async def _rest_of(self, owner: dict[str, Any], field: str, document: str, cost: float) -> None:
        """The pages of ``owner``'s connection ``field`` after the one it holds."""
        connection = owner.get(field)
        if not isinstance(connection, dict):
            return  # null: denied (partial data) or absent
        page = connection.get("pageInfo") or {}
        while page.get("hasNextPage"):
            data = await self.client.graphql(
                document, {"id": owner["id"], "after": page.get("endCursor")}, requested_cost=cost
            )
            more = (data.get("node") or {}).get(field) or {}
            connection.setdefault("nodes", []).extend(more.get("nodes") or [])
            page = more.get("pageInfo") or {}

    async def _whole(
        self, order: dict[str, Any], field: str, document: str, at_most: int
    ) -> list[Any]:
        """An order's list ``field`` read again with up to ``at_most`` items."""
        data = await self.client.graphql(
            document, {"id": order["id"]}, requested_cost=document_cost(document)
        )
        items = (data.get("node") or {}).get(field)
        if not isinstance(items, list):
            return list(order.get(field) or ())
        if len(items) >= at_most:
            # Shopify's lists have no cursor: past this many, say so instead of guessing
            log.warning(
                "shopify_list_truncated", source=self.name, order=order.get("id"), field=field
            )
        return items

    async def _returns(self, ids: list[str]) -> Mapping[str, Mapping[str, Any]]:
        """Returns by GID, read in as few queries as their cost allows (none without any)."""
        found: dict[str, Mapping[str, Any]] = {}
        for chunk in _chunks(list(dict.fromkeys(ids)), self._fits(self.return_cost)):
            found |= await self._read_returns(chunk)
        return found

    async def _read_returns(self, ids: list[str]) -> dict[str, Mapping[str, Any]]:
        try:
            data, counted = await self.client.query(
                RETURNS_BY_IDS, {"ids": ids}, requested_cost=len(ids) * self.return_cost
            )
        except QueryTooCostly as refused:
            if len(ids) == 1:
                raise
            self._counted("return", refused.cost, len(ids))
            found: dict[str, Mapping[str, Any]] = {}
            for chunk in _chunks(ids, min(self._fits(self.return_cost), len(ids) // 2)):
                found |= await self._read_returns(chunk)
            return found
        self._counted("return", counted, len(ids))
        return {
            str(node["id"]): node
            for node in data.get("nodes") or ()
            if isinstance(node, dict) and node.get("id")
        }
