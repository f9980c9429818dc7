"""The WMS's inventory movements: what each one does to the stock snapshot's buckets.

Every unit the demo WMS moves is one movement event on its change feed (`inventory.<movement>`,
record type `inventory_movement`), so replaying the movements from the start gives its stock
snapshot (`/stock/query`) exactly. `bucket_changes` is the one definition of that arithmetic:
the WMS applies it to its rows as it moves stock, and `replay_movements` is the ground truth
tests hold a ledger reader to.

    >>> row = {"sku": "SKU-0001", "locationId": "dc-north"}
    >>> replay_movements(
    ...     [
    ...         {**row, "movement": "receipt", "quantity": 10},
    ...         {**row, "movement": "allocate", "quantity": 3},
    ...         {**row, "movement": "ship", "quantity": 2},
    ...     ]
    ... )[("SKU-0001", "dc-north")]
    {'onHand': 8, 'allocated': 1, 'damaged': 0, 'qualityHold': 0, 'incoming': 0}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "DISPOSITIONS",
    "MOVEMENTS",
    "MOVEMENT_DETAILS",
    "MOVEMENT_RECORD_TYPE",
    "SIGNED_MOVEMENTS",
    "STOCK_BUCKETS",
    "apply_movement",
    "bucket_changes",
    "free_stock_change",
    "movement_event_type",
    "movement_id",
    "replay_movements",
]

MOVEMENT_RECORD_TYPE = "inventory_movement"
STOCK_BUCKETS = ("onHand", "allocated", "damaged", "qualityHold", "incoming")
# movement -> bucket -> sign applied to `quantity`
_EFFECTS: dict[str, dict[str, int]] = {
    "receipt": {"onHand": 1},
    "expected_receipt": {"incoming": 1},
    "allocate": {"allocated": 1},
    "deallocate": {"allocated": -1},
    "pick": {},
    "ship": {"onHand": -1, "allocated": -1},
    "adjustment": {"onHand": 1},
    "cycle_count": {"onHand": 1},
    "damage": {"damaged": 1},
    "damage_disposal": {"damaged": -1, "onHand": -1},
    "quality_hold": {"qualityHold": 1},
    "quality_release": {"qualityHold": -1},
    "transfer_out": {"onHand": -1},
    "transfer_in": {"onHand": 1},
    "return_receipt": {"onHand": 1},
}
MOVEMENTS = tuple(_EFFECTS)
# Their `quantity` is the signed change to onHand; every other movement's is positive.
SIGNED_MOVEMENTS = frozenset({"adjustment", "cycle_count"})
# What a returned unit is graded: sellable (A), sellable to restricted channels only (B, still
# plain onHand in the snapshot), held for inspection, or broken.
DISPOSITIONS = ("restock", "restock_b", "inspect", "damaged")
_DISPOSITION_EFFECTS: dict[str, dict[str, int]] = {
    "restock": {},
    "restock_b": {},
    "inspect": {"qualityHold": 1},
    "damaged": {"damaged": 1},
}
# The fields each movement carries after `id, movement, sku, locationId, quantity, occurredAt`.
MOVEMENT_DETAILS: dict[str, tuple[str, ...]] = {
    "receipt": ("expectedReceiptId",),
    "expected_receipt": ("expectedReceiptId", "expectedAt"),
    "allocate": ("fulfilmentOrderId", "orderRef"),
    "deallocate": ("fulfilmentOrderId", "orderRef"),
    "pick": ("fulfilmentOrderId",),
    "ship": ("fulfilmentOrderId", "shipmentId"),
    "adjustment": ("reason",),
    "cycle_count": ("countedQuantity",),
    "damage": ("fulfilmentOrderId",),
    "damage_disposal": (),
    "quality_hold": ("reason",),
    "quality_release": ("reason",),
    "transfer_out": ("transferId", "toLocationId"),
    "transfer_in": ("transferId", "fromLocationId", "expectedReceiptId"),
    "return_receipt": ("orderRef", "fulfilmentOrderId", "disposition"),
}
# Movements that settle an expected receipt when they name one: incoming drops as they land.
_SETTLES_INCOMING = frozenset({"receipt", "transfer_in"})


def movement_id(number: int) -> str:
    """`MOV-0000001`: movements are numbered in the order the WMS recorded them."""
    return f"MOV-{number:07d}"


def movement_event_type(movement: str) -> str:
    """The change-feed event type of a movement: `inventory.receipt`, ..."""
    return f"inventory.{movement}"


def bucket_changes(movement: Mapping[str, Any]) -> dict[str, int]:
    """The signed change a movement makes to each snapshot bucket of its row.

    A receipt or transfer-in that names an `expectedReceiptId` also takes its quantity off
    `incoming`; a return receipt's `disposition` may put the units on hold or among the damaged.
    """
    kind, quantity = movement["movement"], int(movement["quantity"])
    changes = {bucket: sign * quantity for bucket, sign in _EFFECTS[kind].items()}
    if kind == "return_receipt":
        for bucket, sign in _DISPOSITION_EFFECTS[movement["disposition"]].items():
            changes[bucket] = changes.get(bucket, 0) + sign * quantity
    if kind in _SETTLES_INCOMING and movement.get("expectedReceiptId"):
        changes["incoming"] = changes.get("incoming", 0) - quantity
    return changes


def free_stock_change(movement: Mapping[str, Any]) -> int:
    """How a movement changes free stock: onHand less allocated, damaged and held units."""
    changes = bucket_changes(movement)
    return (
        changes.get("onHand", 0)
        - changes.get("allocated", 0)
        - changes.get("damaged", 0)
        - changes.get("qualityHold", 0)
    )


def apply_movement(row: dict[str, Any], movement: Mapping[str, Any]) -> None:
    """Change a stock row (or any dict with the bucket keys) by one movement, in place."""
    for bucket, change in bucket_changes(movement).items():
        row[bucket] += change


def replay_movements(
    movements: Iterable[Mapping[str, Any]],
) -> dict[tuple[str, str], dict[str, int]]:
    """Every row's buckets after the movements, by `(sku, locationId)`; rows no movement
    touched are absent (all zero)."""
    rows: dict[tuple[str, str], dict[str, int]] = {}
    for movement in movements:
        key = (movement["sku"], movement["locationId"])
        row = rows.get(key)
        if row is None:
            row = rows[key] = dict.fromkeys(STOCK_BUCKETS, 0)
        apply_movement(row, movement)
    return rows
