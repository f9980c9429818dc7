"""The wholesale channel's branch: requested ship dates, compliance holds, advance ship notices.

`plan_wholesale` decides, from a random stream of its own, when each trade order is due to ship,
which trade orders still on the warehouse floor the WMS holds because the retailer's routing or
labelling requirements are not met yet, and how soon after packing the WMS sends the retailer
its advance ship notice (ASN). It touches wholesale drafts only, and only these fields, so every
other record is what it was without them. `lifecycle.OrderBook` writes what it decided.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from omnigraph.demo.drafts import ComplianceHold

if TYPE_CHECKING:
    import random
    from collections.abc import Sequence
    from datetime import date, datetime

    from omnigraph.demo.drafts import DraftOrder

__all__ = ["HOLD_STAGES", "compliance_hold_count", "plan_wholesale"]

# Trade orders the floor has not shipped anything of yet: where a compliance hold can stop them.
HOLD_STAGES = ("released", "picking", "picked", "packed")
# The floor step each holdable stage last reached: where the missing requirement showed.
_HOLD_STEP = {"released": "release", "picking": "picking", "picked": "picked", "packed": "packed"}
# Before anything is labelled the routing guide is what fails; once picked, the labelling.
_ROUTING_REASONS = (
    "Retailer routing guide: no delivery appointment booked at the retailer's DC",
    "Retailer routing guide: carrier load ID not confirmed by the retailer",
)
_LABELLING_REASONS = (
    "Carton labels lack the retailer's GS1-128 SSCC barcode",
    "Packing list does not show the retailer's purchase order number",
    "Pallet built above the retailer's 1.8 m height limit",
)
_SCHEDULED_AHEAD = (2, 21)  # days after the anchor a scheduled order is due to ship
_PAPERWORK_DELAY = (120, 900)  # seconds from a floor step to its hold or ASN


def compliance_hold_count(orders: int) -> int:
    """Trade orders on compliance hold: one in a small world, two at 300 orders, up to four."""
    return max(1, min(4, orders // 150))


def plan_wholesale(
    rng: random.Random, drafts: Sequence[DraftOrder], anchor: datetime, holds: int
) -> None:
    """Give every wholesale draft its requested ship date, up to `holds` of those still on the
    floor a compliance hold (at least one where the world has one), and the rest of those that
    reached packing an ASN.

    The ERP releases a trade order to the warehouse on its requested ship date. Of the orders
    not released yet, about half are scheduled: due to ship 2 to 21 days after `anchor`; the
    others are due the day they were placed and wait for release. Holds fall on orders without
    a planted disagreement, orders the floor has no other trouble with first; a held order
    sends no ASN.
    """
    trade = [draft for draft in drafts if draft.plan.channel == "wholesale"]
    waiting = [d for d in trade if not d.reached("release") and not d.reached("cancel")]
    scheduled = {id(draft) for draft in rng.sample(waiting, (len(waiting) + 1) // 2)}

    floor = [d for d in trade if d.plan.planted is None and d.plan.stage in HOLD_STAGES]
    floor = rng.sample(floor, len(floor))
    floor.sort(key=lambda draft: draft.incident is not None)  # stable: trouble-free ones first
    held = {id(draft) for draft in floor[:holds]}

    for draft in trade:
        draft.requested_ship_date = _requested_ship_date(
            rng, draft, anchor, scheduled=id(draft) in scheduled
        )
        if id(draft) in held:
            draft.compliance_hold = _hold(rng, draft, anchor)
        elif draft.reached("packed"):
            # Before the first parcel leaves, and before the world is observed.
            deadline = draft.at("ship1") if draft.reached("ship1") else anchor
            draft.asn_delay = _delay(rng, draft.at("packed"), deadline)


def _requested_ship_date(
    rng: random.Random, draft: DraftOrder, anchor: datetime, *, scheduled: bool
) -> date:
    if draft.reached("release"):
        return draft.at("release").date()
    if scheduled:
        return (anchor + timedelta(days=rng.randint(*_SCHEDULED_AHEAD))).date()
    if draft.reached("cancel"):
        # Cancelled before release: it may have been due any day in the fortnight ahead.
        return (draft.placed_at + timedelta(days=rng.randint(0, 14))).date()
    return draft.placed_at.date()


def _hold(rng: random.Random, draft: DraftOrder, anchor: datetime) -> ComplianceHold:
    step = _HOLD_STEP[draft.plan.stage]
    reasons = _ROUTING_REASONS if step in {"release", "picking"} else _LABELLING_REASONS
    reason = rng.choice(reasons)
    return ComplianceHold(reason, step, _delay(rng, draft.at(step), anchor))


def _delay(rng: random.Random, start: datetime, deadline: datetime) -> int:
    """Seconds after `start` for paperwork that must land in its first half to `deadline`."""
    room = int((deadline - start).total_seconds()) // 2
    low, high = _PAPERWORK_DELAY
    return min(rng.randint(low, high), max(1, room))
