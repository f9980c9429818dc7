"""WMS inventory movements and what each does to the quantity buckets.

Bucket names follow Shopify's inventory states where the meaning is the same: ``on_hand``
(physically in the building), ``committed`` (held for open order lines; the WMS calls it
allocated), ``damaged``, ``quality_control``, ``incoming``; ``restricted_returns`` (grade B
returns, sellable to some channels only) and ``returns_inspection`` (the part of
``quality_control`` that is returned units waiting for inspection, released by a
``quality_release`` marked ``returnInspection``) are ours. Every effect is a signed change, so
applying movements in any order gives the same position: out-of-order delivery is harmless.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

__all__ = [
    "BUCKETS",
    "MOVEMENTS",
    "MalformedMovement",
    "Movement",
    "event_sequence",
    "parse_movement",
]

BUCKETS = (
    "on_hand",
    "committed",
    "damaged",
    "quality_control",
    "incoming",
    "restricted_returns",
    "returns_inspection",
)
_DISPOSITION = {
    "restock": {},
    "restock_b": {"restricted_returns": 1},
    "inspect": {"quality_control": 1, "returns_inspection": 1},
    "damaged": {"damaged": 1},
}
# movement -> bucket -> sign of `quantity` (adjustment and cycle_count carry a signed quantity)
MOVEMENTS: Mapping[str, Mapping[str, int]] = {
    "receipt": {"on_hand": 1},
    "expected_receipt": {"incoming": 1},
    "allocate": {"committed": 1},
    "deallocate": {"committed": -1},
    "pick": {},
    "ship": {"on_hand": -1, "committed": -1},
    "adjustment": {"on_hand": 1},
    "cycle_count": {"on_hand": 1},
    "damage": {"damaged": 1},
    "damage_disposal": {"damaged": -1, "on_hand": -1},
    "quality_hold": {"quality_control": 1},
    "quality_release": {"quality_control": -1},
    "transfer_out": {"on_hand": -1},
    "transfer_in": {"on_hand": 1},
    "return_receipt": {"on_hand": 1},
}
_SIGNED = {"adjustment", "cycle_count"}


class MalformedMovement(ValueError):
    """An event that claims to be a movement but cannot be applied; it is quarantined."""


class Movement(NamedTuple):
    """One movement; ``movement_id`` (the contract's ``data.id``) identifies it, whatever event
    carries it, so a redelivery under a new event id is still the same movement. A tuple:
    immutable, and made in a third of a frozen dataclass's time (the ledger parses a million)."""

    movement_id: str
    event_id: str
    sequence: int
    movement: str
    sku: str
    location_id: str
    quantity: int
    occurred_at: datetime
    expected_receipt_id: str | None
    expected_at: datetime | None
    data: dict[str, Any]

    def deltas(self) -> dict[str, int]:
        """The signed change to each bucket at this movement's location."""
        changes = {
            bucket: sign * self.quantity for bucket, sign in MOVEMENTS[self.movement].items()
        }
        if self.movement == "return_receipt":
            for bucket, sign in _DISPOSITION[str(self.data["disposition"])].items():
                changes[bucket] = changes.get(bucket, 0) + sign * self.quantity
        if self.movement == "quality_release" and self.data.get("returnInspection") is True:
            changes["returns_inspection"] = -self.quantity  # a returned unit passed inspection
        if self.expected_receipt_id and self.movement in ("receipt", "transfer_in"):
            changes["incoming"] = changes.get("incoming", 0) - self.quantity
        return changes


def _timestamp(value: Any, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise MalformedMovement(f"{name} {value!r} is not a timestamp") from None
    if moment.tzinfo is None:
        raise MalformedMovement(f"{name} {value!r} has no offset")
    return moment


def event_sequence(event: Mapping[str, Any]) -> int | None:
    """The feed's sequence number of ``event``; None when it has none (JSON's ``true``, an
    ``int`` in Python, is none either)."""
    sequence = event.get("sequence")
    return sequence if type(sequence) is int else None


def parse_movement(event: Mapping[str, Any]) -> Movement:
    """A movement from a change-feed event; :class:`MalformedMovement` says what is wrong."""
    data = event.get("data")
    if not isinstance(data, dict):
        raise MalformedMovement("the event has no data object")
    movement = data.get("movement") or str(event.get("type", "")).removeprefix("inventory.")
    if movement not in MOVEMENTS:
        raise MalformedMovement(f"unknown movement {movement!r}")
    sku, location = data.get("sku"), data.get("locationId")
    if not isinstance(sku, str) or not sku or not isinstance(location, str) or not location:
        raise MalformedMovement("sku and locationId are required")
    quantity = data.get("quantity")
    if not isinstance(quantity, int) or isinstance(quantity, bool):
        raise MalformedMovement(f"quantity {quantity!r} is not an integer")
    if movement not in _SIGNED and quantity <= 0:
        raise MalformedMovement(f"{movement} needs a positive quantity, not {quantity}")
    if movement == "return_receipt" and data.get("disposition") not in _DISPOSITION:
        raise MalformedMovement(f"unknown return disposition {data.get('disposition')!r}")
    sequence = event_sequence(event)
    if sequence is None:
        raise MalformedMovement("the event has no sequence number")
    movement_id = data.get("id")
    if not isinstance(movement_id, str | int) or isinstance(movement_id, bool) or movement_id == "":
        raise MalformedMovement("the movement has no id")
    expected_at = data.get("expectedAt")
    return Movement(
        movement_id=str(movement_id),
        event_id=str(event.get("id") or movement_id),
        sequence=sequence,
        movement=movement,
        sku=sku,
        location_id=location,
        quantity=quantity,
        occurred_at=_timestamp(data.get("occurredAt") or event.get("occurredAt"), "occurredAt"),
        expected_receipt_id=(
            str(data["expectedReceiptId"]) if data.get("expectedReceiptId") else None
        ),
        expected_at=_timestamp(expected_at, "expectedAt") if expected_at else None,
        data=dict(data),
    )
