"""The demo storefront: order capture, served over the storefront contract (storefront.yaml)."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import TYPE_CHECKING, Any

from omnigraph.demo.contract import (
    CommandRejectedError,
    ListFilter,
    SourceAppFactory,
    SourceParts,
    batch_route,
    list_route,
    parse_timestamp,
    require_record,
    require_str,
    resync_command,
)
from omnigraph.demo.formats import NumberSeries, iso

if TYPE_CHECKING:
    from omnigraph.demo.contract import JsonRecord, SourceSystem
    from omnigraph.demo.world import DemoWorld

__all__ = ["CHANNELS", "FULFILMENT_STATUSES", "ORDER_STATUSES", "create_storefront_app"]

CHANNELS = ("web", "marketplace", "store-pickup", "wholesale")
ORDER_STATUSES = ("open", "cancelled", "closed")
FULFILMENT_STATUSES = ("unfulfilled", "partial", "fulfilled", "ready_for_pickup", "picked_up")


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


# What the storefront shows once it hears of each warehouse status (order.sync_fulfilment).
_FROM_WAREHOUSE = {
    "released": "unfulfilled",
    "picking": "unfulfilled",
    "picked": "unfulfilled",
    "packed": "unfulfilled",
    "cancelled": "unfulfilled",
    "partially_shipped": "partial",
    "shipped": "fulfilled",
    "delivered": "fulfilled",
    "partially_returned": "fulfilled",
    "returned": "fulfilled",
    "ready_for_pickup": "ready_for_pickup",
    "picked_up": "picked_up",
}
# Warehouse statuses after which the storefront closes the order.
_CLOSES = frozenset({"delivered", "picked_up"})


def _storefront(world: DemoWorld, storefront: SourceSystem) -> SourceParts:
    """The storefront system over its own copy of the world's orders and change feed."""
    now, feed = storefront.now, storefront.feed
    orders = {order["id"]: order for order in copy.deepcopy(world.storefront_orders)}
    returns = NumberSeries(
        "RMA-", (entry["id"] for order in orders.values() for entry in order["returns"])
    )

    def order_of(payload: dict[str, Any]) -> JsonRecord:
        return require_record(payload, "orderId", orders, "storefront order")

    def changed(order: JsonRecord, event_type: str = "order.updated") -> None:
        order["updatedAt"] = iso(now())
        feed.append(event_type, "order", order["id"], order)

    def cancel(payload: dict[str, Any]) -> str:
        order = order_of(payload)
        reason = require_str(payload, "reason")
        if order["status"] != "open":
            raise CommandRejectedError(
                f"order {order['id']} is {order['status']}; only open orders cancel"
            )
        moment = iso(now())
        order.update(
            status="cancelled", cancelRequestedAt=moment, cancelledAt=moment, cancelReason=reason
        )
        changed(order, "order.cancelled")
        return f"order {order['id']} cancelled"

    def notify(payload: dict[str, Any]) -> str:
        order = order_of(payload)
        message = require_str(payload, "message")
        email = order["customer"]["email"]
        order["notifications"].append({"to": email, "message": message, "sentAt": iso(now())})
        changed(order)
        return f"message queued for {email}"

    def reinstate(payload: dict[str, Any]) -> str:
        """Withdraw a cancellation: the order is open again; money is not touched."""
        order = order_of(payload)
        if order["status"] != "cancelled":
            raise CommandRejectedError(f"order {order['id']} is {order['status']}, not cancelled")
        order.update(status="open", cancelRequestedAt=None, cancelledAt=None, cancelReason=None)
        changed(order)
        return f"order {order['id']} reinstated; its cancellation is withdrawn"

    def open_return(payload: dict[str, Any]) -> str:
        order = order_of(payload)
        reason = require_str(payload, "reason")
        pending = next((entry for entry in order["returns"] if entry["status"] == "open"), None)
        if pending is not None:
            raise CommandRejectedError(
                f"order {order['id']} already has return {pending['id']} open"
            )
        entry = {
            "id": returns.next(),
            "status": "open",
            "reason": reason,
            "openedAt": iso(now()),
            "lines": [
                {"sku": line["sku"], "quantity": line["quantity"]} for line in order["lines"]
            ],
        }
        order["returns"].append(entry)
        changed(order)
        return f"return {entry['id']} opened for order {order['id']}"

    def sync_fulfilment(payload: dict[str, Any]) -> str:
        """Catch up with the warehouse. The storefront cannot see the WMS, so the caller says
        what it reports: a storefront fulfilment status, or the WMS status it maps from."""
        order = order_of(payload)
        reported = payload.get("fulfilmentStatus")
        if not isinstance(reported, str) or (
            reported not in FULFILMENT_STATUSES and reported not in _FROM_WAREHOUSE
        ):
            raise CommandRejectedError(
                "payload.fulfilmentStatus must be a storefront fulfilment status "
                f"({', '.join(FULFILMENT_STATUSES)}) or a WMS status; the storefront cannot see "
                "the warehouse itself"
            )
        status = _FROM_WAREHOUSE.get(reported, reported)
        if order["status"] == "cancelled":
            raise CommandRejectedError(f"order {order['id']} is cancelled; reinstate it first")
        if order["fulfilmentStatus"] == status:
            raise CommandRejectedError(f"order {order['id']} already shows {status}")
        was = order["fulfilmentStatus"]
        order["fulfilmentStatus"] = status
        closes = reported in _CLOSES or status == "picked_up"
        if closes:
            order["status"] = "closed"
        changed(order, "order.closed" if closes else "order.updated")
        return f"order {order['id']} fulfilment status {was} -> {status}"

    return SourceParts(
        routes=[
            batch_route("orders", orders.get),
            list_route(
                "orders",
                orders.values,
                # Newest placed first, then by id.
                sort_key=lambda order: (-int(_placed(order)), order["id"]),
                filters=_FILTERS,
                # an order's id and placedAt never change and no order is removed: the order
                # of the list holds until an order is added (sorting 100,000 orders for each
                # request took 0.2-0.5 s of it)
                keys_stand_while=orders.__len__,
            ),
        ],
        commands={
            "order.cancel": cancel,
            "customer.notify": notify,
            "order.reinstate": reinstate,
            "return.open": open_return,
            "order.sync_fulfilment": sync_fulfilment,
            "record.resync": resync_command(
                feed, "storefront order", ("order.updated", "order", orders)
            ),
        },
    )


create_storefront_app = SourceAppFactory("storefront", _storefront)
