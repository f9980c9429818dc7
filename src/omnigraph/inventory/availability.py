"""Availability from the WMS stock snapshot: what a channel may promise, per location.

A first version: the ledger-derived projection and run-time allocation policy replace the
snapshot later, behind the same ``availability_for`` signature.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from omnigraph.sources.records import Location, StockLevel

__all__ = ["CHANNELS", "Availability", "Promise", "availability_for"]

CHANNELS = frozenset({"web", "marketplace", "store-pickup", "wholesale"})


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


def _eligible(location: Location, promise: Promise) -> bool:
    if promise is Promise.SAME_DAY_PICKUP:
        return location.type == "store"
    if promise is Promise.STANDARD_DELIVERY:
        return True
    return location.type == "warehouse"


def _past_cutoff(location: Location, at: datetime) -> bool:
    if not location.cutoff:
        return False
    try:
        zone = ZoneInfo(location.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    hours, _, minutes = location.cutoff.partition(":")
    return at.astimezone(zone).time() >= time(int(hours), int(minutes or 0))


def availability_for(
    stock: Sequence[StockLevel],
    locations: Sequence[Location],
    *,
    channel: str,
    promise: Promise,
    at: datetime,
    location_ids: Sequence[str] | None = None,
) -> list[Availability]:
    """One answer per SKU and eligible location, with the terms that produced the number."""
    by_id = {loc.id: loc for loc in locations}
    answers = []
    for row in stock:
        location = by_id.get(row.location_id)
        if location is None or not _eligible(location, promise):
            continue
        if location_ids and row.location_id not in location_ids:
            continue
        sellable = row.on_hand - row.allocated - row.damaged - row.quality_hold
        explanation = [
            f"onHand {row.on_hand} - committed {row.allocated} - damaged {row.damaged}"
            f" - qualityControl {row.quality_hold} = {sellable}"
        ]
        if promise is Promise.SCHEDULED_WHOLESALE and row.incoming:
            sellable += row.incoming
            explanation.append(f"+ incoming {row.incoming} (scheduled wholesale may count it)")
        if promise is Promise.SAME_DAY_PICKUP and _past_cutoff(location, at):
            explanation.append(f"past {location.id} same-day cut-off {location.cutoff}: 0")
            sellable = 0
        answers.append(
            Availability(
                sku=row.sku,
                location_id=row.location_id,
                channel=channel,
                promise=promise,
                available=max(0, sellable),
                on_hand=row.on_hand,
                buckets={
                    "committed": row.allocated,
                    "damaged": row.damaged,
                    "qualityControl": row.quality_hold,
                    "incoming": row.incoming,
                    "safetyStock": 0,
                },
                as_of=row.as_of,
                explanation=explanation,
            )
        )
    return answers
