"""A Shopify shop's storefront change feed: webhook deliveries pushed in, ``updated_at`` pulled.

The contract's ``GET /changes`` has no Shopify equivalent. A verified webhook (``orders/create``,
``orders/updated``, ``refunds/create``) drops the order's cached record at once (every replica's,
with Redis) and is put on this feed without asking Shopify anything; a reader that follows the
feed (``client.changes``) gets those first, then the orders Shopify's ``updated_at`` search says
changed since its cursor, the safety net for deliveries that never arrived. Events are shaped
like the contract's (``order.created`` / ``order.updated``, record type ``order``); like any feed
it may repeat one, and a polled change repeats the webhook's event id when it is the same change.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from omnigraph.core.errors import SourceContractViolation
from omnigraph.sources.contract import FeedPage, JsonRecord
from omnigraph.sources.shopify.mapping import canonical_order_id, legacy_id
from omnigraph.sources.shopify.queries import search_value

if TYPE_CHECKING:
    from omnigraph.sources.shopify.client import ShopifyClient

__all__ = ["ShopifyChangeFeed"]

INBOX_SIZE = 10_000  # webhook events kept for readers; older ones are found again by polling
MAX_SEEN = 5_000  # changes remembered in the cursor for the overlap window (12 hex chars each)

CHANGED_ORDERS = """
query OmnigraphChangedOrders($first: Int!, $after: String, $query: String) {
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
    nodes { legacyResourceId updatedAt }
    pageInfo { hasNextPage endCursor }
  }
}
"""


def _sequence(occurred_at: str) -> int:
    """Events are numbered by when the order changed (milliseconds since the epoch)."""
    try:
        return int(datetime.fromisoformat(occurred_at).timestamp() * 1000)
    except ValueError:
        return 0


def order_event(event_type: str, order_id: str, occurred_at: str, data: JsonRecord) -> JsonRecord:
    return {
        "id": f"evt_shopify_{order_id}_{_sequence(occurred_at)}",
        "sequence": _sequence(occurred_at),
        "type": event_type,
        "recordType": "order",
        "recordId": order_id,
        "occurredAt": occurred_at,
        "data": data,
    }


class ShopifyChangeFeed:
    """Webhook events in arrival order, then Shopify's own ``updated_at`` order search."""

    def __init__(self, client: ShopifyClient) -> None:
        self.client = client
        self._inbox: deque[tuple[int, JsonRecord]] = deque(maxlen=INBOX_SIZE)
        self._position = 0
        # the inbox lives in this process: a cursor from another process (or before a restart)
        # has read none of it
        self._epoch = secrets.token_hex(4)

    async def push(self, event: JsonRecord) -> None:
        """A change Shopify told us of: forget the cached order, put the event on the feed."""
        await self.client.upstream.forget([("orders", "id", str(event["recordId"]))])
        self._position += 1
        self._inbox.append((self._position, event))

    async def page(self, after: str | None, limit: int) -> FeedPage:
        cursor = _decode(self.client.name, after)
        if cursor["e"] != self._epoch:
            cursor.update(e=self._epoch, w=0)
        pushed = [(p, e) for p, e in self._inbox if p > cursor["w"]][:limit]
        if pushed:
            cursor["w"] = pushed[-1][0]
            return [e for _, e in pushed], _encode(cursor), True
        overlap = self.client.options.feed_overlap_seconds
        search = (
            f"updated_at:>={search_value(_shifted(cursor['u'], -overlap))}" if cursor["u"] else None
        )
        first = max(1, min(limit, 250))
        data = await self.client.graphql(
            CHANGED_ORDERS,
            {"first": first, "after": cursor["c"], "query": search},
            requested_cost=2 + first,
        )
        orders = data.get("orders")
        if not isinstance(orders, dict) or not isinstance(orders.get("nodes"), list):
            raise SourceContractViolation(self.client.name, "orders search answered no nodes")
        events = []
        seen: dict[str, int] = cursor["s"]
        for node in orders["nodes"]:
            legacy = str(node.get("legacyResourceId") or legacy_id(str(node.get("id", ""))))
            order_id = canonical_order_id(legacy, self.client.options)
            updated = str(node["updatedAt"])
            if cursor["n"] is None or _sequence(updated) > _sequence(cursor["n"]):
                cursor["n"] = updated  # the newest change this search has seen
            event = order_event("order.updated", order_id, updated, {})
            key = _seen_key(str(event["id"]))
            if key in seen:
                continue  # read in an earlier window: the overlap finds it again
            seen[key] = int(event["sequence"])
            events.append(event)
        await self.client.upstream.forget([("orders", "id", str(e["recordId"])) for e in events])
        page_info = orders.get("pageInfo") or {}
        more = bool(page_info.get("hasNextPage"))
        if more:
            cursor["c"] = page_info.get("endCursor")
        else:
            cursor["c"] = None
            if cursor["n"]:
                cursor["u"] = cursor["n"]
            # keep what the next window can find again, and no more
            floor = _sequence(cursor["u"] or "") - int(overlap * 1000)
            cursor["s"] = dict(sorted((k, v) for k, v in seen.items() if v >= floor)[-MAX_SEEN:])
        return events, _encode(cursor), more


def _seen_key(event_id: str) -> str:
    return hashlib.sha256(event_id.encode()).hexdigest()[:12]


def _shifted(moment: str, seconds: float) -> str:
    """``moment`` (ISO 8601) moved by ``seconds``, in UTC."""
    try:
        parsed = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    except ValueError:
        return moment
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return (parsed + timedelta(seconds=seconds)).astimezone(UTC).isoformat()


def _encode(cursor: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(cursor, separators=(",", ":")).encode()).decode()


def _decode(source: str, after: str | None) -> dict[str, Any]:
    if not after:
        return {"e": None, "w": 0, "u": None, "c": None, "n": None, "s": {}}
    try:
        cursor = json.loads(base64.urlsafe_b64decode(after.encode()))
        if not isinstance(cursor, dict) or not isinstance(cursor.get("w"), int):
            raise ValueError(after)
        seen = cursor.get("s") or {}
        if not isinstance(seen, dict):
            raise ValueError(after)
        return {
            "e": cursor.get("e"),
            "w": cursor["w"],
            "u": cursor.get("u"),
            "c": cursor.get("c"),
            "n": cursor.get("n"),
            "s": {str(k): int(v) for k, v in seen.items()},
        }
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise SourceContractViolation(source, f"not a Shopify feed cursor: {after!r}") from None
