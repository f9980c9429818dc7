"""Availability: what a channel may promise, per location, from the ledger's projection.

Inputs are the quantity buckets (moved by every ledger entry, never recomputed on a read), live
reservations, open expected receipts and the allocation policy in force, so the cost of a read
depends on the SKUs asked for, not on the length of the ledger.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from omnigraph.db.models import ExpectedReceiptRow
from omnigraph.inventory.policy import CHANNELS, AllocationPolicy
from omnigraph.inventory.reservations import PositionFigures, sellable_units
from omnigraph.sources.records import Location

__all__ = ["CHANNELS", "Availability", "Promise", "availability_for", "past_cutoff"]


class Promise(enum.Enum):
    SHIP = "SHIP"
    STANDARD_DELIVERY = "STANDARD_DELIVERY"
    SAME_DAY_PICKUP = "SAME_DAY_PICKUP"
    SCHEDULED_WHOLESALE = "SCHEDULED_WHOLESALE"


@dataclass(frozen=True, slots=True)
class Availability:
    sku: str
    location_id: str
    channel: str
    promise: Promise
    available: int
    on_hand: int
    buckets: dict[str, int]
    as_of: datetime
    explanation: list[str]


def past_cutoff(cutoff: str | None, timezone: str, at: datetime) -> bool:
    if not cutoff:
        return False
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    hours, _, minutes = cutoff.partition(":")
    return at.astimezone(zone).time() >= time(int(hours), int(minutes or 0))


def availability_for(
    positions: Sequence[PositionFigures],
    reserved: Mapping[tuple[str, str], int],
    expected: Sequence[ExpectedReceiptRow],
    locations: Sequence[Location],
    policy: AllocationPolicy,
    *,
    channel: str,
    promise: Promise,
    at: datetime,
    location_ids: Sequence[str] | None = None,
) -> list[Availability]:
    """One answer per SKU and location that may serve ``channel`` with ``promise``."""
    # per location once, not per position: a read may touch 50,000 positions
    serving = {
        location.id: location
        for location in locations
        if policy.serves(channel, location.id)
        and (not location_ids or location.id in location_ids)
        and (promise is not Promise.SAME_DAY_PICKUP or location.type == "store")
    }
    safety = {loc: policy.safety_stock_for(channel, loc) for loc in serving}
    cutoffs = {loc: policy.cutoffs.get(loc, location.cutoff) for loc, location in serving.items()}
    closed = {
        loc: past_cutoff(cutoffs[loc], location.timezone, at) for loc, location in serving.items()
    }
    answers = []
    for position in positions:
        location = serving.get(position.location_id)
        if location is None:
            continue
        if position.last_event_at is None:  # no ledger entry reflected yet: nothing to promise
            continue
        key = (position.sku, position.location_id)
        available, terms = sellable_units(
            position, reserved.get(key, 0), policy, channel, safety[location.id]
        )
        cutoff = cutoffs[location.id]
        if promise is Promise.SCHEDULED_WHOLESALE:
            arriving = sum(
                row.quantity_open
                for row in expected
                if (row.sku, row.location_id) == key
                and row.quantity_open > 0
                and (row.expected_at is None or row.expected_at <= at)
            )
            if arriving:
                available += arriving
                terms.append(f"+ incoming by {at.date().isoformat()} {arriving}")
        elif promise is Promise.SAME_DAY_PICKUP and closed[location.id]:
            terms.append(f"past {location.id}'s same-day cut-off {cutoff}: nothing today")
            available = 0
        elif promise is Promise.SHIP and closed[location.id]:
            terms.append(f"past {location.id}'s carrier cut-off {cutoff}: ships next day")
        answers.append(
            Availability(
                sku=position.sku,
                location_id=position.location_id,
                channel=channel,
                promise=promise,
                available=available,
                on_hand=position.on_hand,
                buckets={
                    "committed": position.committed,
                    "reserved": reserved.get(key, 0),
                    "damaged": position.damaged,
                    "qualityControl": position.quality_control,
                    "safetyStock": safety[location.id],
                    "incoming": position.incoming,
                    "restrictedReturns": position.restricted_returns,
                    "returnsInInspection": position.returns_inspection,
                    "available": available,
                },
                as_of=position.last_event_at,
                explanation=terms,
            )
        )
    return answers
