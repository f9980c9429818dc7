"""The canonical order state, and how each system's own words map onto it.

Physical truth comes from the WMS; the storefront only knows what it was last told, so its claim is
checked for *consistency* with the WMS, not equality.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime, timedelta

from omnigraph.sources.records import FulfilmentOrder, SalesOrder, StorefrontOrder

__all__ = [
    "PICKUP_HOLD",
    "OrderState",
    "canonical_state",
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


PICKUP_HOLD = timedelta(days=3)


def canonical_state(
    storefront: StorefrontOrder, fulfilment_orders: Sequence[FulfilmentOrder]
) -> OrderState:
    """The canonical core state, from the authoritative facts under the default rules.

    | WMS (all fulfilment orders of the order) | storefront    | state                  |
    | ---------------------------------------- | ------------- | ---------------------- |
    | no record yet                            | cancelled     | CANCELLED              |
    | no record yet                            | anything else | its coarse state       |
    | released / picking                       | any           | RELEASED               |
    | picked                                   | any           | PICKED                 |
    | packed / ready_for_pickup                | any           | PACKED                 |
    | some shipped (or later), some not        | any           | PARTIALLY_SHIPPED      |
    | shipped                                  | any           | SHIPPED                |
    | delivered / picked_up                    | any           | DELIVERED              |
    | partially_returned                       | any           | PARTIALLY_RETURNED     |
    | returned                                 | any           | RETURNED               |
    | every one cancelled                      | any           | CANCELLED              |

    Cancelled fulfilment orders beside live ones are ignored; several live ones take the least
    advanced state. The graph serves this through the authority rules (owner: WMS, fallback:
    storefront), so a rules change can make another system the owner.
    """
    physical = wms_state(fulfilment_orders)
    return physical if physical is not None else storefront_state(storefront)


def channel_state(
    order: StorefrontOrder,
    fulfilment_orders: Sequence[FulfilmentOrder],
    sales_orders: Sequence[SalesOrder],
    now: datetime,
) -> str | None:
    """The branch state of channels whose behaviour diverges from the core lifecycle.

    Store pickup: AWAITING_RELEASE -> AWAITING_PICK -> READY_FOR_PICKUP -> PICKED_UP, or
    MISSED_PICKUP once the store's hold (``pickupHoldUntil``, else 3 days) has passed, or
    CANCELLED. Wholesale: SCHEDULED (ship date ahead, not released) -> AWAITING_RELEASE ->
    IN_FULFILMENT -> COMPLIANCE_HOLD (held by the WMS) -> ASN_SENT (advance ship notice out) ->
    SHIPPED, or CANCELLED. Other channels have no branch: ``None``.
    """
    statuses = {f.status for f in fulfilment_orders}
    if order.fulfilment_method == "pickup":
        if "picked_up" in statuses:
            return "PICKED_UP"
        if order.status == "cancelled" or (statuses and statuses <= {"cancelled"}):
            return "CANCELLED"
        ready = [f for f in fulfilment_orders if f.status == "ready_for_pickup"]
        if ready:
            hold_until = min(f.pickup_hold_until or f.updated_at + PICKUP_HOLD for f in ready)
            return "MISSED_PICKUP" if now > hold_until else "READY_FOR_PICKUP"
        return "AWAITING_PICK" if statuses else "AWAITING_RELEASE"
    if order.fulfilment_method == "wholesale":
        if order.status == "cancelled" or (statuses and statuses <= {"cancelled"}):
            return "CANCELLED"
        if any(f.compliance_hold is not None for f in fulfilment_orders):
            return "COMPLIANCE_HOLD"
        if statuses & {"shipped", "delivered", "partially_returned", "returned"}:
            return "SHIPPED"
        if any(f.asn_sent_at is not None for f in fulfilment_orders):
            return "ASN_SENT"
        if statuses:
            return "IN_FULFILMENT"
        ship_dates = [s.requested_ship_date for s in sales_orders if s.requested_ship_date]
        if ship_dates and min(ship_dates) > now.date():
            return "SCHEDULED"
        return "AWAITING_RELEASE"
    return None
