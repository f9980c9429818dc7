"""A WMS movement as the contract describes it (docs/sources/README.md, "WMS"): what each kind
does to the buckets, and what the reader refuses, with the reason an operator reads in the
quarantine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from omnigraph.inventory.movements import MOVEMENTS, MalformedMovement, parse_movement


def event(movement: str = "receipt", **data: Any) -> dict[str, Any]:
    """An event as the contract's example shows it; ``data`` overrides or adds fields (``None``
    removes one)."""
    body: dict[str, Any] = {
        "id": "MOV-0000042",
        "movement": movement,
        "sku": "SKU-0015",
        "locationId": "dc-north",
        "quantity": 3,
        "occurredAt": "2026-11-07T23:32:35+00:00",
    }
    body.update(data)
    return {
        "id": "evt-9",
        "type": f"inventory.{movement}",
        "sequence": 9,
        "data": {key: value for key, value in body.items() if value is not None},
    }


# The contract's table, written out as the buckets a quantity of 3 moves (signed); a kind's
# buckets not named do not move. Buckets: onHand, allocated (committed), damaged, qualityHold
# (quality_control), incoming, grade B returns and returns awaiting inspection.
CONTRACT = [
    ("receipt", {"expectedReceiptId": None}, {"on_hand": 3}),
    ("receipt", {"expectedReceiptId": "PO-000001"}, {"on_hand": 3, "incoming": -3}),
    ("expected_receipt", {"expectedReceiptId": "PO-000001"}, {"incoming": 3}),
    ("allocate", {}, {"committed": 3}),
    ("deallocate", {}, {"committed": -3}),
    ("pick", {}, {}),
    ("ship", {}, {"on_hand": -3, "committed": -3}),
    ("adjustment", {"quantity": -2}, {"on_hand": -2}),
    ("cycle_count", {"quantity": 0}, {}),
    ("cycle_count", {"quantity": 5}, {"on_hand": 5}),
    ("damage", {}, {"damaged": 3}),
    ("damage_disposal", {}, {"damaged": -3, "on_hand": -3}),
    ("quality_hold", {}, {"quality_control": 3}),
    ("quality_release", {}, {"quality_control": -3}),
    (
        "quality_release",
        {"returnInspection": True},
        {"quality_control": -3, "returns_inspection": -3},
    ),
    ("transfer_out", {}, {"on_hand": -3}),
    ("transfer_in", {}, {"on_hand": 3}),
    ("transfer_in", {"expectedReceiptId": "TR-000001"}, {"on_hand": 3, "incoming": -3}),
    ("return_receipt", {"disposition": "restock"}, {"on_hand": 3}),
    ("return_receipt", {"disposition": "restock_b"}, {"on_hand": 3, "restricted_returns": 3}),
    (
        "return_receipt",
        {"disposition": "inspect"},
        {"on_hand": 3, "quality_control": 3, "returns_inspection": 3},
    ),
    ("return_receipt", {"disposition": "damaged"}, {"on_hand": 3, "damaged": 3}),
]


@pytest.mark.parametrize(("movement", "data", "moved"), CONTRACT)
def test_each_movement_moves_the_buckets_the_contract_names(
    movement: str, data: dict[str, Any], moved: dict[str, int]
) -> None:
    deltas = parse_movement(event(movement, **data)).deltas()
    assert {bucket: change for bucket, change in deltas.items() if change} == moved


def test_the_contract_table_covers_every_movement_the_reader_knows() -> None:
    assert {movement for movement, _, _ in CONTRACT} == set(MOVEMENTS)


def test_a_movement_keeps_what_the_event_said() -> None:
    parsed = parse_movement(
        event(
            "expected_receipt",
            expectedReceiptId="PO-000007",
            expectedAt="2026-11-20T09:00:00-05:00",
            occurredAt="2026-11-07T23:32:35+01:00",
        )
    )
    assert parsed.movement_id == "MOV-0000042"
    assert parsed.event_id == "evt-9"
    assert parsed.sequence == 9
    assert (parsed.movement, parsed.sku, parsed.location_id) == (
        "expected_receipt",
        "SKU-0015",
        "dc-north",
    )
    assert parsed.quantity == 3
    assert parsed.occurred_at == datetime(2026, 11, 7, 22, 32, 35, tzinfo=UTC)
    assert parsed.occurred_at.utcoffset() == timedelta(hours=1)  # the offset as sent
    assert parsed.expected_receipt_id == "PO-000007"
    assert parsed.expected_at == datetime(2026, 11, 20, 9, tzinfo=timezone(timedelta(hours=-5)))
    assert parsed.data["expectedReceiptId"] == "PO-000007"


def test_what_the_event_leaves_out_is_taken_from_around_it() -> None:
    raw = event("ship", id=1234, occurredAt=None)
    raw["data"].pop("movement")  # the kind from the event's type
    raw.pop("id")  # no event id: the movement's own
    raw["occurredAt"] = "2026-11-08T01:00:00Z"  # the time on the event
    parsed = parse_movement(raw)
    assert parsed.movement == "ship"
    assert parsed.movement_id == "1234"  # an integer id, as text
    assert parsed.event_id == "1234"
    assert parsed.occurred_at == datetime(2026, 11, 8, 1, tzinfo=UTC)
    assert parsed.expected_receipt_id is None
    assert parsed.expected_at is None


def test_the_movement_s_own_kind_comes_before_the_event_type() -> None:
    raw = event("ship")
    raw["type"] = "inventory.receipt"  # the wrapper disagrees: the movement's data says ship
    assert parse_movement(raw).movement == "ship"
    raw["data"].pop("movement")
    raw.pop("type")  # neither says: no movement
    with pytest.raises(MalformedMovement) as refused:
        parse_movement(raw)
    assert str(refused.value) == "unknown movement ''"


def test_a_null_or_empty_expected_receipt_is_none() -> None:
    assert parse_movement(event(expectedReceiptId="")).expected_receipt_id is None
    assert parse_movement(event(expectedReceiptId=None)).expected_receipt_id is None
    assert parse_movement(event(expectedReceiptId=17)).expected_receipt_id == "17"


def _without(key: str) -> dict[str, Any]:
    raw = event()
    raw.pop(key)
    return raw


MALFORMED = [
    ({"id": "e", "sequence": 1, "data": None}, "the event has no data object"),
    ({"id": "e", "sequence": 1, "data": ["receipt"]}, "the event has no data object"),
    (event("teleport"), "unknown movement 'teleport'"),
    (event(sku=None), "sku and locationId are required"),
    (event(sku=""), "sku and locationId are required"),
    (event(sku=15), "sku and locationId are required"),
    (event(locationId=None), "sku and locationId are required"),
    (event(locationId=""), "sku and locationId are required"),
    (event(quantity=None), "quantity None is not an integer"),
    (event(quantity="3"), "quantity '3' is not an integer"),
    (event(quantity=2.5), "quantity 2.5 is not an integer"),
    (event(quantity=True), "quantity True is not an integer"),
    (event(quantity=0), "receipt needs a positive quantity, not 0"),
    (event("ship", quantity=-1), "ship needs a positive quantity, not -1"),
    (event("return_receipt"), "unknown return disposition None"),
    (event("return_receipt", disposition="resell"), "unknown return disposition 'resell'"),
    (_without("sequence"), "the event has no sequence number"),
    ({**event(), "sequence": "9"}, "the event has no sequence number"),
    ({**event(), "sequence": True}, "the event has no sequence number"),
    (event(id=None), "the movement has no id"),
    (event(id=""), "the movement has no id"),
    (event(id=False), "the movement has no id"),
    (event(id=["MOV-1"]), "the movement has no id"),
    (event(occurredAt=None), "occurredAt None is not a timestamp"),
    (event(occurredAt="yesterday"), "occurredAt 'yesterday' is not a timestamp"),
    (event(occurredAt="2026-11-07T23:32:35"), "occurredAt '2026-11-07T23:32:35' has no offset"),
    (
        event("expected_receipt", expectedAt="2026-11-20"),
        "expectedAt '2026-11-20' has no offset",
    ),
    (event("expected_receipt", expectedAt="soon"), "expectedAt 'soon' is not a timestamp"),
]


@pytest.mark.parametrize(("raw", "reason"), MALFORMED)
def test_a_malformed_event_is_refused_with_what_is_wrong(raw: dict[str, Any], reason: str) -> None:
    with pytest.raises(MalformedMovement) as refused:
        parse_movement(raw)
    assert str(refused.value) == reason


def test_a_signed_movement_may_be_negative_or_zero_and_the_others_may_not() -> None:
    assert parse_movement(event("adjustment", quantity=-4)).quantity == -4
    assert parse_movement(event("cycle_count", quantity=0)).quantity == 0
    assert parse_movement(event("receipt", quantity=1)).quantity == 1
    with pytest.raises(MalformedMovement):
        parse_movement(event("damage", quantity=0))
