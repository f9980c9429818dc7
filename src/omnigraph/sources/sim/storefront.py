"""The demo storefront: order capture, served over the storefront contract (storefront.yaml)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from omnigraph.sources.sim.contract import (
    ChangeFeed,
    CommandRejectedError,
    ListFilter,
    batch_route,
    list_route,
    parse_timestamp,
    require_str,
    source_app,
)

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from omnigraph.sources.sim.contract import JsonRecord
    from omnigraph.sources.sim.world import DemoWorld

__all__ = ["CHANNELS", "ORDER_STATUSES", "create_storefront_app"]

CHANNELS = ("web", "marketplace", "store-pickup", "wholesale")
ORDER_STATUSES = ("open", "cancelled", "closed")


def _one_of(allowed: tuple[str, ...]) -> Any:
    def parse(raw: str) -> str:
        if raw not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}")
        return raw

    return parse


def _placed(order: JsonRecord) -> float:
    return datetime.fromisoformat(order["placedAt"]).timestamp()


_FILTERS = (
    ListFilter("channel", _one_of(CHANNELS), lambda order, value: order["channel"] == value),
    ListFilter("status", _one_of(ORDER_STATUSES), lambda order, value: order["status"] == value),
    # A half-open window: placedFrom <= placedAt < placedTo.
    ListFilter("placedFrom", parse_timestamp, lambda order, value: _placed(order) >= value),
    ListFilter("placedTo", parse_timestamp, lambda order, value: _placed(order) < value),
    ListFilter("sku", str, lambda order, value: any(li["sku"] == value for li in order["lines"])),
)


def create_storefront_app(world: DemoWorld, *, token: str | None = None) -> Starlette:
    """The storefront system over its own copy of the world's orders and change feed."""
    orders = {order["id"]: order for order in copy.deepcopy(world.storefront_orders)}
    feed = ChangeFeed("storefront", world.events["storefront"])

    def order_of(payload: dict[str, Any]) -> JsonRecord:
        order_id = require_str(payload, "orderId")
        order = orders.get(order_id)
        if order is None:
            raise CommandRejectedError(f"no storefront order {order_id}")
        return order

    def cancel(payload: dict[str, Any]) -> str:
        order = order_of(payload)
        reason = require_str(payload, "reason")
        if order["status"] != "open":
            raise CommandRejectedError(
                f"order {order['id']} is {order['status']}; only open orders cancel"
            )
        now = datetime.now(UTC).replace(microsecond=0).isoformat()
        order.update(
            status="cancelled",
            cancelRequestedAt=now,
            cancelledAt=now,
            cancelReason=reason,
            updatedAt=now,
        )
        feed.append("order.cancelled", "order", order["id"], order)
        return f"order {order['id']} cancelled"

    def notify(payload: dict[str, Any]) -> str:
        order = order_of(payload)
        require_str(payload, "message")
        return f"message queued for {order['customer']['email']}"

    return source_app(
        "storefront",
        [
            batch_route("orders", orders.get),
            list_route(
                "orders",
                orders.values,
                # Newest placed first, then by id.
                sort_key=lambda order: (-int(_placed(order)), order["id"]),
                filters=_FILTERS,
            ),
        ],
        feed=feed,
        commands={"order.cancel": cancel, "customer.notify": notify},
        token=token,
    )
