"""The canonical state follows the WMS; the storefront's word is checked for consistency."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from omnigraph.sources.records import FulfilmentOrder
from omnigraph.truth.order_state import OrderState, states_consistent, wms_state

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
