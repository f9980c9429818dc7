"""What availability answers for one read, worked by hand: which locations answer a channel and
a promise, what each may promise, the cut-offs, what arrives for wholesale, and the buckets and
explanation a client reads. No database: the positions, reservations and announced receipts are
given as the read would find them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from omnigraph.core.errors import ConfigurationError
from omnigraph.db.models import ExpectedReceiptRow
from omnigraph.inventory.availability import Position, Promise, availability_for, past_cutoff
from omnigraph.inventory.policy import (
    CHANNELS,
    AllocationPolicy,
    PolicyInvalid,
    load_default_policy,
)
from omnigraph.sources.records import Location

POLICY = AllocationPolicy.parse(
    {
        "locations": {
            "web": ["dc", "store-a"],
            "store-pickup": ["dc", "store-a", "store-b"],
            "wholesale": ["dc"],
        },
        "safety_stock": [{"location": "dc", "quantity": 2}],
        "priority": {"order": list(CHANNELS)},
        "cutoffs": {"store-b": "12:30"},  # the policy's cut-off wins over the WMS's
    }
)
LOCATIONS = [
    Location(id="dc", name="DC", type="warehouse", cutoff="15:00", timezone="Europe/London"),
    Location(id="store-a", name="A", type="store", cutoff="17:00", timezone="America/New_York"),
    Location(id="store-b", name="B", type="store", cutoff="18:00", timezone="Europe/London"),
    Location(id="far", name="Far", type="warehouse"),
]
SEEN = datetime(2026, 11, 19, tzinfo=UTC)
POSITIONS = [
    Position("SKU-1", "far", 50, 0, 0, 0, 0, 0, 0, SEEN),  # serves nobody
    Position("SKU-2", "dc", 9, 0, 0, 0, 0, 0, 0, None),  # nothing in the ledger yet
    Position("SKU-1", "dc", 20, 5, 1, 2, 4, 0, 0, SEEN),  # 20 - 5 - 1 - 2 - 2 safety = 10
    Position("SKU-1", "store-a", 6, 1, 0, 0, 0, 0, 0, SEEN),  # 5
    Position("SKU-1", "store-b", 3, 0, 0, 0, 0, 0, 0, SEEN),  # 3
]
MORNING = datetime(2026, 11, 20, 9, tzinfo=UTC)  # 09:00 in London, 04:00 in New York


def answers(
    channel: str,
    promise: Promise,
    at: datetime = MORNING,
    *,
    reserved: dict[tuple[str, str], int] | None = None,
    expected: list[ExpectedReceiptRow] | None = None,
    only: list[str] | None = None,
) -> dict[str, tuple[int, list[str]]]:
    found = availability_for(
        POSITIONS,
        reserved or {},
        expected or [],
        LOCATIONS,
        POLICY,
        channel=channel,
        promise=promise,
        at=at,
        location_ids=only,
    )
    assert {a.sku for a in found} <= {"SKU-1"}
    return {a.location_id: (a.available, a.explanation) for a in found}


def test_each_location_that_serves_the_channel_answers_what_it_may_promise() -> None:
    web = answers("web", Promise.SHIP)
    assert {where: n for where, (n, _) in web.items()} == {"dc": 10, "store-a": 5}
    assert web["dc"][1] == [
        "onHand 20 - committed 5 - damaged 1 - qualityControl 2 = 12",
        "- safetyStock 2",
    ]
    assert answers("web", Promise.SHIP, only=["store-a"]).keys() == {"store-a"}
    reserved = answers("web", Promise.SHIP, reserved={("SKU-1", "dc"): 3})
    assert reserved["dc"] == (7, [*web["dc"][1], "- reserved 3"])
    assert reserved["store-a"] == web["store-a"]  # a reservation elsewhere takes nothing here


def test_the_buckets_a_client_reads_add_up_to_the_number() -> None:
    (dc,) = availability_for(
        POSITIONS[2:3], {("SKU-1", "dc"): 3}, [], LOCATIONS, POLICY,
        channel="web", promise=Promise.SHIP, at=MORNING,
    )  # fmt: skip
    assert dc.buckets == {
        "committed": 5,
        "reserved": 3,
        "damaged": 1,
        "qualityControl": 2,
        "safetyStock": 2,
        "incoming": 4,
        "restrictedReturns": 0,
        "returnsInInspection": 0,
        "available": 7,
    }
    assert (dc.figures.on_hand, dc.as_of, dc.reserved, dc.arriving) == (20, SEEN, 3, 0)
    assert (dc.sku, dc.location_id, dc.terms.channel, dc.terms.promise) == (
        "SKU-1",
        "dc",
        "web",
        Promise.SHIP,
    )


def test_same_day_pickup_is_for_stores_until_their_cut_off_in_their_own_time() -> None:
    morning = answers("store-pickup", Promise.SAME_DAY_PICKUP)
    assert {where: n for where, (n, _) in morning.items()} == {"store-a": 5, "store-b": 3}
    # 12:30 in London: store-b's (policy) cut-off has come, store-a's (17:00 New York) has not
    noon = answers(
        "store-pickup", Promise.SAME_DAY_PICKUP, datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
    )
    assert noon["store-a"][0] == 5
    assert noon["store-b"] == (
        0,
        [
            "onHand 3 - committed 0 - damaged 0 - qualityControl 0 = 3",
            "past store-b's same-day cut-off 12:30: nothing today",
        ],
    )
    just_before = answers(
        "store-pickup", Promise.SAME_DAY_PICKUP, datetime(2026, 11, 20, 12, 29, tzinfo=UTC)
    )
    assert just_before["store-b"][0] == 3
    evening = answers(
        "store-pickup", Promise.SAME_DAY_PICKUP, datetime(2026, 11, 20, 22, tzinfo=UTC)
    )
    assert {where: n for where, (n, _) in evening.items()} == {"store-a": 0, "store-b": 0}


def test_a_ship_promise_past_the_carrier_cut_off_still_counts_and_says_next_day() -> None:
    late = answers("web", Promise.SHIP, datetime(2026, 11, 20, 15, tzinfo=UTC))
    assert late["dc"][0] == 10
    assert late["dc"][1][-1] == "past dc's carrier cut-off 15:00: ships next day"
    early = answers("web", Promise.SHIP, datetime(2026, 11, 20, 14, 59, tzinfo=UTC))
    assert "cut-off" not in early["dc"][1][-1]


def receipt(ref: str, quantity: int, at: datetime | None, sku: str = "SKU-1") -> ExpectedReceiptRow:
    return ExpectedReceiptRow(
        expected_receipt_id=ref, sku=sku, location_id="dc", quantity_open=quantity, expected_at=at
    )


def test_a_scheduled_wholesale_promise_counts_what_arrives_by_then() -> None:
    expected = [
        receipt("PO-1", 5, MORNING - timedelta(days=1)),
        receipt("PO-2", 4, MORNING),  # due exactly now: counted
        receipt("PO-3", 7, MORNING + timedelta(minutes=1)),  # later: not yet
        receipt("PO-4", 0, None),  # nothing left open
        receipt("TR-1", 2, None),  # in transit, no date: counted
        receipt("TR-2", 1, None),  # a single unit counts too
        receipt("PO-5", 8, None, sku="SKU-9"),  # another SKU
    ]
    wholesale = answers("wholesale", Promise.SCHEDULED_WHOLESALE, expected=expected)
    assert wholesale["dc"][0] == 10 + 5 + 4 + 2 + 1
    assert wholesale["dc"][1][-1] == "+ incoming by 2026-11-20 12"
    # the same receipts promise nothing to an order that ships now
    assert answers("wholesale", Promise.SHIP, expected=expected)["dc"][0] == 10
    assert answers("wholesale", Promise.SCHEDULED_WHOLESALE)["dc"][1][-1] == "- safetyStock 2"


@pytest.mark.parametrize(
    ("cutoff", "zone", "at", "past"),
    [
        (None, "Europe/London", datetime(2026, 11, 20, 23, tzinfo=UTC), False),
        ("17:00", "Europe/London", datetime(2026, 11, 20, 16, 59, tzinfo=UTC), False),
        ("17:00", "Europe/London", datetime(2026, 11, 20, 17, tzinfo=UTC), True),
        ("17:00", "Europe/London", datetime(2026, 7, 20, 16, tzinfo=UTC), True),  # BST
        ("17", "Europe/London", datetime(2026, 11, 20, 17, tzinfo=UTC), True),  # whole hours
        ("17:00", "Not/AZone", datetime(2026, 11, 20, 17, tzinfo=UTC), True),  # read as UTC
        ("17:00", "Not/AZone", datetime(2026, 11, 20, 16, 59, tzinfo=UTC), False),
    ],
)
def test_a_cut_off_is_the_locations_own_time(
    cutoff: str | None, zone: str, at: datetime, past: bool
) -> None:
    assert past_cutoff(cutoff, zone, at) is past


def test_returns_count_as_the_channels_restock_rules_say() -> None:
    """Grade-B returns only for the channels that take them; returns awaiting inspection (in
    quality control) only where no inspection is required."""
    policy = AllocationPolicy.parse(
        {
            "locations": {"web": ["dc"], "marketplace": ["dc"]},
            "priority": {"order": list(CHANNELS)},
            "restock": {"inspection_required": False, "grade_b_channels": ["marketplace"]},
        }
    )
    position = Position("SKU-1", "dc", 30, 0, 0, 6, 0, 4, 5, SEEN)
    found = {
        channel: availability_for(
            [position], {}, [], LOCATIONS, policy, channel=channel, promise=Promise.SHIP, at=MORNING
        )[0]
        for channel in ("web", "marketplace")
    }
    # 30 - 6 in QC + 5 of them awaiting inspection (no inspection needed) = 29; web: - 4 grade B
    assert (found["web"].available, found["marketplace"].available) == (25, 29)
    assert "- grade B returns 4 (not for web)" in found["web"].explanation
    assert "+ returns awaiting inspection 5 (restock without inspection)" in (
        found["marketplace"].explanation
    )


def test_a_document_that_is_not_a_policy_says_where_and_why() -> None:
    base: dict[str, Any] = {"locations": {"web": ["dc"]}, "priority": {"order": ["web"]}}
    cases = {
        "priority: Field required": {"locations": {}},
        "safety_stock.1.quantity: Input should be greater than or equal to 0": {
            **base,
            "safety_stock": [{"quantity": 1}, {"quantity": -1}],
        },
        "(document): Value error, unknown channel 'teleport'; known: web, marketplace,"
        " store-pickup, wholesale": {**base, "locations": {"teleport": ["dc"]}},
    }
    for message, document in cases.items():
        with pytest.raises(PolicyInvalid) as refused:
            AllocationPolicy.parse(document)
        assert str(refused.value) == message


def test_a_policy_may_name_only_known_locations() -> None:
    document = {
        "locations": {"web": ["dc", "ghost-1"]},
        "priority": {"order": ["web"]},
        "cutoffs": {"ghost-2": "10:00"},
        "safety_stock": [{"location": "ghost-3", "quantity": 1}, {"quantity": 1}],
    }
    with pytest.raises(PolicyInvalid) as refused:
        AllocationPolicy.parse(document, known_locations={"dc"})
    assert str(refused.value) == "unknown location ghost-1, ghost-2, ghost-3"
    known = {"dc", "ghost-1", "ghost-2", "ghost-3"}
    assert AllocationPolicy.parse(document, known_locations=known).serves("web", "ghost-1")


def test_who_serves_what_and_who_ranks_where() -> None:
    assert POLICY.serves("web", "store-a")
    assert not POLICY.serves("web", "store-b")
    assert not POLICY.serves("marketplace", "dc")  # a channel the policy gives no location
    partial = AllocationPolicy.parse(
        {"locations": {"web": ["dc"]}, "priority": {"order": ["web", "store-pickup"]}}
    )
    assert [partial.rank(c) for c in ("web", "store-pickup", "marketplace", "wholesale")] == [
        0,
        1,
        2,
        2,
    ]


def test_a_fence_of_a_channel_level_with_another_holds_against_it() -> None:
    """Channels left out of the priority order rank last, level with one another: the
    marketplace's fence holds against wholesale, as a fence of a channel ranked above would."""
    document = load_default_policy().model_dump()
    document["ring_fence"] = {"marketplace": {"quantity": 5}}
    document["priority"] = {"order": ["store-pickup", "web"]}
    policy = AllocationPolicy.parse(document)
    assert policy.fences_against("wholesale", 100) == {"marketplace": 5}
    assert policy.fences_against("web", 100) == {}


def test_a_policy_file_that_is_not_toml_is_named_in_the_error(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text("[locations\n")
    with pytest.raises(ConfigurationError) as refused:
        load_default_policy(path)
    assert str(refused.value).startswith(f"allocation policy {path} is not valid TOML: ")
