"""Shopify as a storefront: the calls of :class:`~omnigraph.sources.contract.StorefrontSource`,
answered from the Admin GraphQL API and mapped to the contract's orders (:mod:`.mapping`).

Orders by id are read with one ``nodes(ids:)`` query per batch, as many orders as Shopify's
1,000-point query cost allows (never more than 250), after the record cache; an order's returns
are read in one more query for the whole batch, only when some order has any.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from omnigraph.core.errors import SourceContractViolation
from omnigraph.settings import SHOPIFY_NODES_LIMIT
from omnigraph.sources.contract import JsonRecord, OrderListFilter, StorefrontPage
from omnigraph.sources.parsing import parse_record, parse_records
from omnigraph.sources.record_cache import CacheKey
from omnigraph.sources.records import StorefrontOrder
from omnigraph.sources.shopify.client import ShopifyClient
from omnigraph.sources.shopify.mapping import ShopifyMappingError, order_gid, order_record
from omnigraph.sources.shopify.queries import (
    ORDER_LINE_ITEMS,
    ORDERS_BY_IDS,
    ORDERS_PAGE,
    RETURNS_BY_IDS,
    order_cost,
    order_document,
    return_cost,
)

__all__ = ["ShopifyStorefrontAdapter"]

T = TypeVar("T")
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

    @property
    def batch_size(self) -> int:
        """Orders per ``nodes(ids:)`` query: what the query cost allows, at most 250."""
        per_order = order_cost(self.options.max_line_items)
        return max(1, min(SHOPIFY_NODES_LIMIT, self.options.max_query_cost // per_order))

    async def orders_by_id(self, ids: Sequence[str]) -> dict[str, StorefrontOrder]:
        records = await self.order_records(ids)
        return {key: parse_record(self.name, StorefrontOrder, raw) for key, raw in records.items()}

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
            terms.append(f"processed_at:>='{filter.placed_from.isoformat()}'")
        if filter.placed_to:
            # the contract's window is half-open: placedFrom <= placedAt < placedTo
            terms.append(f"processed_at:<'{filter.placed_to.isoformat()}'")
        if filter.sku:
            terms.append(f"sku:'{filter.sku}'")
        document = order_document(ORDERS_PAGE, self.options.max_line_items)
        found: list[JsonRecord] = []
        while True:
            first = max(1, min(limit - len(found), self.batch_size))
            data = await self.client.graphql(
                document,
                {
                    "first": first,
                    "after": cursor,
                    "query": " AND ".join(terms) or None,
                    "sortKey": "PROCESSED_AT",
                    "reverse": True,
                },
                requested_cost=2 + first * order_cost(self.options.max_line_items),
            )
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
                return StorefrontPage(parse_records(self.name, StorefrontOrder, found), cursor)

    async def _fetch(self, gids: list[str]) -> dict[str, JsonRecord]:
        """One ``nodes(ids:)`` query (and the returns of what it found), mapped, by order id."""
        line_items = self.options.max_line_items
        data = await self.client.graphql(
            order_document(ORDERS_BY_IDS, line_items),
            {"ids": gids},
            requested_cost=len(gids) * order_cost(line_items),
        )
        nodes = data.get("nodes")
        if not isinstance(nodes, list):
            raise SourceContractViolation(self.name, "nodes(ids:) answered without a list")
        orders = [n for n in nodes if isinstance(n, dict) and n.get("__typename") == "Order"]
        return {record["id"]: record for record in await self._records(orders)}

    async def _records(self, orders: list[dict[str, Any]]) -> list[JsonRecord]:
        for order in orders:
            await self._read_remaining_lines(order)
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

    async def _read_remaining_lines(self, order: dict[str, Any]) -> None:
        """An order with more line items than a batch reads: the rest, 250 at a time."""
        lines = order.get("lineItems") or {}
        page = lines.get("pageInfo") or {}
        while page.get("hasNextPage"):
            data = await self.client.graphql(
                ORDER_LINE_ITEMS,
                {"id": order["id"], "after": page.get("endCursor")},
                requested_cost=LINE_ITEMS_PAGE_COST,
            )
            more = (data.get("node") or {}).get("lineItems") or {}
            lines.setdefault("nodes", []).extend(more.get("nodes") or [])
            page = more.get("pageInfo") or {}

    async def _returns(self, ids: list[str]) -> Mapping[str, Mapping[str, Any]]:
        """Returns by GID, read in as few queries as their cost allows (none without any)."""
        found: dict[str, Mapping[str, Any]] = {}
        size = max(1, min(SHOPIFY_NODES_LIMIT, self.options.max_query_cost // return_cost()))
        for chunk in _chunks(list(dict.fromkeys(ids)), size):
            data = await self.client.graphql(
                RETURNS_BY_IDS, {"ids": chunk}, requested_cost=len(chunk) * return_cost()
            )
            for node in data.get("nodes") or ():
                if isinstance(node, dict) and node.get("id"):
                    found[str(node["id"])] = node
        return found
