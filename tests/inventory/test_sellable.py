"""The number availability serves is the number its explanation adds up to.

Availability counts with :meth:`SellableRules.count` (plain integers, 50,000 positions a read)
and explains with :meth:`SellableRules.explain` only when asked; the two must never disagree.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from omnigraph.inventory.availability import Position
from omnigraph.inventory.policy import CHANNELS, AllocationPolicy
from omnigraph.inventory.reservations import SellableRules, sellable_units

units = st.integers(min_value=0, max_value=60)
fence = st.fixed_dictionaries(
    {"quantity": st.integers(min_value=0, max_value=8), "percent": st.sampled_from([0, 10, 35])}
)


@st.composite
def policies(draw: st.DrawFn) -> AllocationPolicy:
    fenced = draw(st.lists(st.sampled_from(CHANNELS), unique=True, max_size=2))
    return AllocationPolicy.parse(
        {
            "locations": {"web": ["dc"]},
            "safety_stock": [{"location": "dc", "quantity": draw(st.integers(0, 5))}],
            "ring_fence": {channel: draw(fence) for channel in fenced},
            "priority": {"order": draw(st.permutations(CHANNELS))},
            "restock": {
                "inspection_required": draw(st.booleans()),
                "grade_b_channels": draw(st.lists(st.sampled_from(CHANNELS), unique=True)),
            },
        }
    )


def by_the_policy(position: Position, reserved: int, policy: AllocationPolicy, channel: str) -> int:
    """The number as the policy's own methods define it, term by term."""
    base = position.on_hand - position.committed - position.damaged - position.quality_control
    awaiting = min(position.returns_inspection, position.quality_control)
    if awaiting > 0 and not policy.restock.inspection_required:
        base += awaiting
    if position.restricted_returns and not policy.grade_b_allowed(channel):
        base -= position.restricted_returns
    base -= policy.safety_stock_for(channel, position.location_id) + reserved
    base -= sum(policy.fences_against(channel, max(0, base)).values())
    return max(0, base)


@settings(max_examples=300, deadline=None)
@given(
    policy=policies(),
    channel=st.sampled_from(CHANNELS),
    figures=st.tuples(units, units, units, units, units, units, units),
    reserved=st.integers(min_value=0, max_value=20),
)
def test_the_count_is_the_explained_number(
    policy: AllocationPolicy,
    channel: str,
    figures: tuple[int, int, int, int, int, int, int],
    reserved: int,
) -> None:
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
    assert counted == explained == by_the_policy(position, reserved, policy, channel)
    assert sellable_units(position, reserved, policy, channel) == (explained, terms)
