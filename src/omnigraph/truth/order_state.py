"""The canonical order state, and how each system's own words map onto it.

Physical truth comes from the WMS; the storefront only knows what it was last told, so its claim is
checked for *consistency* with the WMS, not equality.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

from omnigraph.sources.records import FulfilmentOrder, StorefrontOrder

__all__ = [
    "OrderState",
    "channel_state",
    "states_consistent",
    "storefront_state",
    "wms_state",
]


class OrderState(enum.StrEnum):
    PLACED = "PLACED"
    RELEASED = "RELEASED"
    PICKED = "PICKED"
    PACKED = "PACKED"
    PARTIALLY_SHIPPED = "PARTIALLY_SHIPPED"
    SHIPPED = "SHIPPED"
    DELIVERED = "DELIVERED"
    CANCELLED = "CANCELLED"
    PARTIALLY_RETURNED = "PARTIALLY_RETURNED"
    RETURNED = "RETURNED"


_WMS = {
    "released": OrderState.RELEASED,
    "picking": OrderState.RELEASED,
    "picked": OrderState.PICKED,
    "packed": OrderState.PACKED,
    "ready_for_pickup": OrderState.PACKED,
    "partially_shipped": OrderState.PARTIALLY_SHIPPED,
    "shipped": OrderState.SHIPPED,
    "delivered": OrderState.DELIVERED,
    "picked_up": OrderState.DELIVERED,
    "partially_returned": OrderState.PARTIALLY_RETURNED,
    "returned": OrderState.RETURNED,
    "cancelled": OrderState.CANCELLED,
}
_PROGRESS = list(OrderState)
_LEFT_BUILDING = {
    OrderState.SHIPPED,
    OrderState.DELIVERED,
    OrderState.PARTIALLY_RETURNED,
    OrderState.RETURNED,
}
_STOREFRONT = {
    "unfulfilled": OrderState.PLACED,
    "partial": OrderState.PARTIALLY_SHIPPED,
    "fulfilled": OrderState.SHIPPED,
    "ready_for_pickup": OrderState.PACKED,
    "picked_up": OrderState.DELIVERED,
}
# What each storefront claim is consistent with: it hears about physical progress only at
# milestones (fulfilled, ready, picked up), so everything between two milestones agrees with it.
_CONSISTENT = {
    OrderState.PLACED: {
        OrderState.PLACED,
        OrderState.RELEASED,
        OrderState.PICKED,
        OrderState.PACKED,
    },
    OrderState.PARTIALLY_SHIPPED: {OrderState.PARTIALLY_SHIPPED},
    OrderState.SHIPPED: _LEFT_BUILDING,
    OrderState.PACKED: {OrderState.PACKED},
    OrderState.DELIVERED: {
        OrderState.DELIVERED,
        OrderState.PARTIALLY_RETURNED,
        OrderState.RETURNED,
    },
    OrderState.CANCELLED: {OrderState.CANCELLED},
}


def wms_state(fulfilment_orders: Sequence[FulfilmentOrder]) -> OrderState | None:
    """One state for all of an order's fulfilment orders (a split order ships partially)."""
    states = [_WMS[f.status] for f in fulfilment_orders]
    if not states:
        return None
    live = [s for s in states if s is not OrderState.CANCELLED]
    if not live:
        return OrderState.CANCELLED
    if any(s in _LEFT_BUILDING for s in live) and not all(s in _LEFT_BUILDING for s in live):
        return OrderState.PARTIALLY_SHIPPED
    return min(live, key=_PROGRESS.index)


def storefront_state(order: StorefrontOrder) -> OrderState:
    if order.status == "cancelled":
        return OrderState.CANCELLED
    return _STOREFRONT[order.fulfilment_status]


def states_consistent(served: str, other: str) -> bool:
    """Whether a storefront-level claim ``other`` is consistent with the served ``served``."""
    if served == other:
        return True
    try:
        return OrderState(served) in _CONSISTENT.get(OrderState(other), set())
    except ValueError:
        return False


def channel_state(
    order: StorefrontOrder, fulfilment_orders: Sequence[FulfilmentOrder]
) -> str | None:
    """The branch state of channels that have one (pickup: the pickup journey)."""
    if order.fulfilment_method != "pickup":
        return None
    statuses = {f.status for f in fulfilment_orders}
    if "picked_up" in statuses:
        return "PICKED_UP"
    if "ready_for_pickup" in statuses:
        return "READY_FOR_PICKUP"
    if order.status == "cancelled" or statuses == {"cancelled"}:
        return "CANCELLED"
    return "AWAITING_PICK" if statuses else "AWAITING_RELEASE"
