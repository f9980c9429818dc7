"""The number availability serves is the number its explanation adds up to.

Availability counts with :meth:`SellableRules.count` (plain integers, 50,000 positions a read)
and explains with :meth:`SellableRules.explain` only when asked; the two must never disagree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omnigraph.inventory.availability import (
    Availability,
    Position,
    Promise,
    availability_for,
)
from omnigraph.inventory.policy import CHANNELS, AllocationPolicy
from omnigraph.inventory.reservations import SellableRules, sellable_units
from omnigraph.sources.records import Location

units = st.integers(min_value=0, max_value=60)
fence = st.fixed_dictionaries(
    {"quantity": st.integers(min_value=0, max_value=8), "percent": st.sampled_from([0, 10, 35])}
)


@st.composite
def policies(draw: st.DrawFn) -> tuple[dict[str, Any], AllocationPolicy]:
    """A policy document, and the policy it parses to."""
    fenced = draw(st.lists(st.sampled_from(CHANNELS), unique=True, max_size=2))
    document = {
        "locations": {channel: ["dc"] for channel in CHANNELS},
        "safety_stock": [{"location": "dc", "quantity": draw(st.integers(0, 5))}],
        "ring_fence": {channel: draw(fence) for channel in fenced},
        "priority": {"order": draw(st.permutations(CHANNELS))},
        "restock": {
            "inspection_required": draw(st.booleans()),
            "grade_b_channels": draw(st.lists(st.sampled_from(CHANNELS), unique=True)),
        },
    }
    return document, AllocationPolicy.parse(document)


def by_the_document(
    document: dict[str, Any], channel: str, figures: tuple[int, ...], reserved: int
) -> int:
    """The number as the allocation policy's rules are stated, read off the policy document
    itself (none of the policy's methods, none of the counting code): on hand less committed,
    damaged and quality control; returns awaiting inspection (they sit in quality control)
    back when no inspection is required; grade-B returns out unless the channel takes them;
    less the location's safety stock and the reservations; less each ring fence of a channel
    ranked above this one (its units, or its percent of what is left, whichever is more)."""
    on_hand, committed, damaged, qc, _incoming, restricted, inspection = figures
    units = on_hand - committed - damaged - qc
    if not document["restock"]["inspection_required"]:
        units += min(inspection, qc)
    if channel not in document["restock"]["grade_b_channels"]:
        units -= restricted
    units -= document["safety_stock"][0]["quantity"] + reserved
    order = document["priority"]["order"]
    held = sum(
        max(fence["quantity"], max(0, units) * fence["percent"] // 100)
        for other, fence in document["ring_fence"].items()
        if order.index(other) < order.index(channel)
    )
    return max(0, units - held)


def served(
    position: Position, reserved: int, policy: AllocationPolicy, channel: str
) -> Availability:
    """What a read serves ``channel`` from ``position`` at dc (a warehouse) with ``reserved``
    units reserved there."""
    (answer,) = availability_for(
        [position],
        {("SKU-1", "dc"): reserved} if reserved else {},
        [],
        [Location(id="dc", name="DC", type="warehouse")],
        policy,
        channel=channel,
        promise=Promise.SHIP,
        at=datetime(2026, 11, 20, 9, tzinfo=UTC),
    )
    return answer


@pytest.mark.parametrize(
    ("figures", "reserved", "expected"),
    [
        # 20 on hand, 5 committed, 1 damaged, 2 in QC, 2 safety stock: 10
        ((20, 5, 1, 2, 0, 0, 0), 0, 10),
        ((20, 5, 1, 2, 9, 0, 0), 3, 7),  # incoming is not sellable; reservations are taken
        ((20, 5, 1, 2, 0, 4, 0), 0, 6),  # grade-B returns are not for the web
        ((20, 5, 1, 2, 0, 0, 2), 0, 10),  # returns awaiting inspection stay in QC
        ((3, 5, 0, 0, 0, 0, 0), 0, 0),  # never below zero
        ((20, 19, 0, 0, 0, 0, 0), 0, 0),  # one short of the safety stock: none, not -1
        ((20, 17, 0, 0, 0, 0, 0), 2, 0),  # nor when the reservations take it below
    ],
)
def test_the_web_sells_what_the_default_rules_leave(
    figures: tuple[int, int, int, int, int, int, int], reserved: int, expected: int
) -> None:
    """Worked by hand: the web at dc with 2 units of safety stock and no fences."""
    policy = AllocationPolicy.parse(
        {
            "locations": {"web": ["dc"]},
            "safety_stock": [{"location": "dc", "quantity": 2}],
            "priority": {"order": list(CHANNELS)},
        }
    )
    position = Position("SKU-1", "dc", *figures, datetime(2026, 11, 20, tzinfo=UTC))
    assert sellable_units(position, reserved, policy, "web")[0] == expected
    assert served(position, reserved, policy, "web").available == expected


@settings(max_examples=300, deadline=None)
@given(
    drawn=policies(),
    channel=st.sampled_from(CHANNELS),
    figures=st.tuples(units, units, units, units, units, units, units),
    reserved=st.integers(min_value=0, max_value=20),
)
def test_the_count_is_the_explained_number(
    drawn: tuple[dict[str, Any], AllocationPolicy],
    channel: str,
    figures: tuple[int, int, int, int, int, int, int],
    reserved: int,
) -> None:
    document, policy = drawn
    on_hand, committed, damaged, qc, incoming, restricted, inspection = figures
    position = Position(
        "SKU-1",
        "dc",
        on_hand,
        committed,
        damaged,
        qc,
        incoming,
        restricted,
        inspection,
        datetime(2026, 11, 20, tzinfo=UTC),
    )
    rules = SellableRules.of(policy, channel, "dc")
    explained, terms = rules.explain(position, reserved)
    counted = rules.count(on_hand, committed, damaged, qc, restricted, inspection, reserved)
    assert counted == explained == by_the_document(document, channel, figures, reserved)
    assert sellable_units(position, reserved, policy, channel) == (explained, terms)
    # and the number a read serves (which counts plain rules inline) is the same
    answer = served(position, reserved, policy, channel)
    assert (answer.available, answer.reserved) == (explained, reserved)


# Worked by hand: every term the explanation can have. The web ranks below store-pickup, whose
# fence holds against it; marketplace and wholesale are not in the order, so they rank level
# (last), and marketplace's fence holds against wholesale too, but not against the web.
WORKED = AllocationPolicy.parse(
    {
        "locations": {"web": ["dc"], "wholesale": ["dc"]},
        "safety_stock": [
            {"location": "dc", "quantity": 2},
            {"channel": "web", "quantity": 1},
            {"location": "elsewhere", "quantity": 50},
        ],
        "ring_fence": {"store-pickup": {"quantity": 3}, "marketplace": {"percent": 10}},
        "priority": {"order": ["store-pickup", "web"]},
        "restock": {"inspection_required": False, "grade_b_channels": []},
    }
)
# 40 on hand, 5 committed, 1 damaged, 4 in quality control (2 of them returns awaiting
# inspection), 9 incoming, 3 grade-B returns
BUSY = Position("SKU-1", "dc", 40, 5, 1, 4, 9, 3, 2, datetime(2026, 11, 20, tzinfo=UTC))


@pytest.mark.parametrize(
    ("channel", "expected", "terms"),
    [
        (
            # 30 + 2 - 3 - (2 + 1) - 7 = 19, less store-pickup's 3
            "web",
            16,
            [
                "- safetyStock 3",
                "- reserved 7",
                "- ring-fenced for store-pickup 3 (store-pickup ranks above web)",
            ],
        ),
        (
            # 30 + 2 - 3 - 2 - 7 = 20, less store-pickup's 3 and 10% of 20 for marketplace
            "wholesale",
            15,
            [
                "- safetyStock 2",
                "- reserved 7",
                "- ring-fenced for store-pickup 3 (store-pickup ranks above wholesale)",
                "- ring-fenced for marketplace 2 (marketplace ranks level with wholesale)",
            ],
        ),
    ],
)
def test_the_explanation_names_every_term_that_made_the_number(
    channel: str, expected: int, terms: list[str]
) -> None:
    rules = SellableRules.of(WORKED, channel, "dc")
    assert rules.explain(BUSY, 7) == (
        expected,
        [
            "onHand 40 - committed 5 - damaged 1 - qualityControl 4 = 30",
            "+ returns awaiting inspection 2 (restock without inspection)",
            f"- grade B returns 3 (not for {channel})",
            *terms,
        ],
    )
    assert rules.count(40, 5, 1, 4, 3, 2, 7) == expected


def test_a_safety_stock_looked_up_already_is_the_one_counted() -> None:
    """The web's safety stock at dc is 3 by the policy; a caller that looked it up passes it."""
    assert sellable_units(BUSY, 7, WORKED, "web", safety=0) == (
        19,
        [
            "onHand 40 - committed 5 - damaged 1 - qualityControl 4 = 30",
            "+ returns awaiting inspection 2 (restock without inspection)",
            "- grade B returns 3 (not for web)",
            "- reserved 7",
            "- ring-fenced for store-pickup 3 (store-pickup ranks above web)",
        ],
    )
    # 29 - 7 of safety stock - 7 reserved, less store-pickup's 3
    assert SellableRules.of(WORKED, "web", "dc", 7).count(40, 5, 1, 4, 3, 2, 7) == 12


@pytest.mark.parametrize(
    ("channel", "expected", "grade_b"),
    [("marketplace", 10, []), ("web", 6, ["- grade B returns 4 (not for web)"])],
)
def test_grade_b_returns_sell_only_to_the_channels_that_take_them(
    channel: str, expected: int, grade_b: list[str]
) -> None:
    """10 on hand, 1 in quality control: a return awaiting inspection (3 more are announced
    than quality control holds), restocked without inspection; 4 grade-B returns, which the
    marketplace takes and the web does not."""
    policy = AllocationPolicy.parse(
        {
            "locations": {"web": ["dc"], "marketplace": ["dc"]},
            "priority": {"order": list(CHANNELS)},
            "restock": {"inspection_required": False, "grade_b_channels": ["marketplace"]},
        }
    )
    returned = Position("SKU-1", "dc", 10, 0, 0, 1, 0, 4, 3, None)
    rules = SellableRules.of(policy, channel, "dc")
    assert rules.explain(returned, 0) == (
        expected,
        [
            "onHand 10 - committed 0 - damaged 0 - qualityControl 1 = 9",
            "+ returns awaiting inspection 1 (restock without inspection)",
            *grade_b,
        ],
    )
    assert rules.count(10, 0, 0, 1, 4, 3, 0) == expected


@pytest.mark.parametrize(
    ("percent", "on_hand", "expected", "fenced"),
    [
        (0, 12, 8, []),  # a fence of 0 units
        (100, 4, 0, []),  # a fence of all that is sellable, when nothing is
        (100, 6, 0, ["- ring-fenced for store-pickup 2 (store-pickup ranks above web)"]),
    ],
)
def test_terms_that_take_nothing_are_not_named(
    percent: int, on_hand: int, expected: int, fenced: list[str]
) -> None:
    """No returns awaiting inspection, no grade-B returns (the web may not sell them, had it
    any), no safety stock, nothing reserved, and store-pickup's fence: only the terms that
    take something."""
    policy = AllocationPolicy.parse(
        {
            "locations": {"web": ["dc"]},
            "ring_fence": {"store-pickup": {"percent": percent}},
            "priority": {"order": ["store-pickup", "web"]},
            "restock": {"inspection_required": False},
        }
    )
    plain = Position("SKU-1", "dc", on_hand, 0, 0, 4, 0, 0, 0, None)
    assert sellable_units(plain, 0, policy, "web") == (
        expected,
        [f"onHand {on_hand} - committed 0 - damaged 0 - qualityControl 4 = {on_hand - 4}", *fenced],
    )


@pytest.mark.parametrize("channel", ["web", "marketplace"])
def test_more_returns_released_than_received_put_nothing_back(channel: str) -> None:
    """The feed may bring a return's release from inspection before its receipt: returns
    awaiting inspection are then -2 for a while, and no unit is added back or taken away for
    them. 12 on hand, 2 in quality control, 2 of the web's safety stock at dc."""
    policy = AllocationPolicy.parse(
        {
            "locations": {"web": ["dc"], "marketplace": ["dc"]},
            "safety_stock": [{"location": "dc", "channel": "web", "quantity": 2}],
            "priority": {"order": list(CHANNELS)},
            "restock": {"inspection_required": False},
        }
    )
    early = Position("SKU-1", "dc", 12, 0, 0, 2, 0, 0, -2, None)
    rules = SellableRules.of(policy, channel, "dc")
    expected = 8 if channel == "web" else 10
    assert rules.explain(early, 0)[0] == expected
    assert rules.count(12, 0, 0, 2, 0, -2, 0) == expected
