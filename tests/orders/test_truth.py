"""The canonical state follows the WMS; the storefront's word is checked for consistency."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from omnigraph.orders.truth import (
    OrderState,
    canonical_state,
    channel_state,
    states_consistent,
    wms_state,
)
from omnigraph.sources.records import FulfilmentOrder, SalesOrder, StorefrontOrder

NOW = datetime(2026, 11, 20, tzinfo=UTC)


def fulfilment(status: str, ref: str = "WO-1") -> FulfilmentOrder:
    return FulfilmentOrder.model_validate(
        {
            "id": ref,
            "orderRef": "SF-1",
            "locationId": "dc-north",
            "status": status,
            "lines": [],
            "updatedAt": NOW.isoformat(),
        }
    )


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([], None),
        (["picking"], OrderState.RELEASED),
        (["ready_for_pickup"], OrderState.PACKED),
        (["picked_up"], OrderState.DELIVERED),
        (["shipped", "picking"], OrderState.PARTIALLY_SHIPPED),
        (["shipped", "cancelled"], OrderState.SHIPPED),
        (["cancelled", "cancelled"], OrderState.CANCELLED),
        (["delivered", "shipped"], OrderState.SHIPPED),
    ],
)
def test_split_fulfilment_gives_one_state(statuses: list[str], expected: OrderState | None) -> None:
    orders = [fulfilment(s, f"WO-{i}") for i, s in enumerate(statuses)]
    assert wms_state(orders) == expected


def test_storefront_unfulfilled_agrees_with_picking_but_not_with_shipped() -> None:
    assert states_consistent("PICKED", "PLACED")
    assert not states_consistent("SHIPPED", "PLACED")
    assert not states_consistent("SHIPPED", "CANCELLED")
    assert states_consistent("RETURNED", "SHIPPED")


def storefront_order(
    status: str = "open", fulfilment_status: str = "unfulfilled", method: str = "ship"
) -> StorefrontOrder:
    return StorefrontOrder.model_validate(
        {
            "id": "SF-1",
            "channel": "web",
            "fulfilmentMethod": method,
            "currency": "GBP",
            "status": status,
            "fulfilmentStatus": fulfilment_status,
            "placedAt": NOW.isoformat(),
            "updatedAt": NOW.isoformat(),
            "lines": [],
            "totals": {"subtotal": "0", "total": "0"},
        }
    )


def wms_order(status: str, **fields: object) -> FulfilmentOrder:
    return FulfilmentOrder.model_validate(
        {
            "id": "WO-1",
            "orderRef": "SF-1",
            "locationId": "store-london",
            "status": status,
            "lines": [],
            "updatedAt": NOW.isoformat(),
            **fields,
        }
    )


@pytest.mark.parametrize(
    ("storefront", "wms", "expected"),
    [
        (("open", "unfulfilled"), [], OrderState.PLACED),
        (("cancelled", "unfulfilled"), [], OrderState.CANCELLED),
        (("open", "unfulfilled"), ["picking"], OrderState.RELEASED),
        (("open", "unfulfilled"), ["picked"], OrderState.PICKED),
        (("open", "ready_for_pickup"), ["ready_for_pickup"], OrderState.PACKED),
        (("open", "partial"), ["shipped", "packed"], OrderState.PARTIALLY_SHIPPED),
        (("cancelled", "unfulfilled"), ["shipped"], OrderState.SHIPPED),  # physical truth wins
        (("closed", "picked_up"), ["picked_up"], OrderState.DELIVERED),
        (("closed", "fulfilled"), ["partially_returned"], OrderState.PARTIALLY_RETURNED),
        (("closed", "fulfilled"), ["returned"], OrderState.RETURNED),
        (("open", "unfulfilled"), ["cancelled"], OrderState.CANCELLED),
    ],
)
def test_canonical_state_table(
    storefront: tuple[str, str], wms: list[str], expected: OrderState
) -> None:
    order = storefront_order(*storefront)
    assert canonical_state(order, [wms_order(s) for s in wms]) == expected


LATER = NOW + timedelta(days=5)


@pytest.mark.parametrize(
    ("method", "status", "wms", "erp_ship_date", "expected"),
    [
        ("ship", "open", [], None, None),
        ("pickup", "open", [], None, "AWAITING_RELEASE"),
        ("pickup", "open", [("picking", {})], None, "AWAITING_PICK"),
        (
            "pickup",
            "open",
            [("ready_for_pickup", {"pickupHoldUntil": (LATER + timedelta(days=1)).isoformat()})],
            None,
            "READY_FOR_PICKUP",
        ),
        (
            "pickup",
            "open",
            [("ready_for_pickup", {"pickupHoldUntil": (LATER - timedelta(days=1)).isoformat()})],
            None,
            "MISSED_PICKUP",
        ),
        ("pickup", "open", [("ready_for_pickup", {})], None, "MISSED_PICKUP"),  # 3-day default hold
        ("pickup", "closed", [("picked_up", {})], None, "PICKED_UP"),
        ("pickup", "cancelled", [], None, "CANCELLED"),
        ("wholesale", "open", [], (LATER + timedelta(days=3)).date().isoformat(), "SCHEDULED"),
        (
            "wholesale",
            "open",
            [],
            (LATER - timedelta(days=3)).date().isoformat(),
            "AWAITING_RELEASE",
        ),
        ("wholesale", "open", [("picked", {})], None, "IN_FULFILMENT"),
        (
            "wholesale",
            "open",
            [("packed", {"complianceHold": {"reason": "routing guide", "since": NOW.isoformat()}})],
            None,
            "COMPLIANCE_HOLD",
        ),
        ("wholesale", "open", [("packed", {"asnSentAt": NOW.isoformat()})], None, "ASN_SENT"),
        ("wholesale", "closed", [("shipped", {"asnSentAt": NOW.isoformat()})], None, "SHIPPED"),
    ],
)
def test_channel_branch_table(
    method: str,
    status: str,
    wms: list[tuple[str, dict[str, object]]],
    erp_ship_date: str | None,
    expected: str | None,
) -> None:
    order = storefront_order(status=status, method=method)
    sales = [
        SalesOrder.model_validate(
            {
                "id": "SO-1",
                "orderRef": "SF-1",
                "currency": "GBP",
                "terms": "NET30",
                "status": "open",
                "financialStatus": "invoiced",
                "lines": [],
                "totals": {"subtotal": "0", "total": "0"},
                "requestedShipDate": erp_ship_date,
                "updatedAt": NOW.isoformat(),
            }
        )
    ]
    fulfilment = [wms_order(s, **fields) for s, fields in wms]
    assert channel_state(order, fulfilment, sales, LATER) == expected
