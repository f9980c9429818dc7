"""Operational exceptions the demo WMS meets and reports: short picks, damages, missed pickups.

`plan_incidents` decides which drafted orders go wrong on the warehouse floor. It draws from its
own random stream and only touches orders no disagreement was planted on, so the planted
disagreements, and every record an incident does not concern, are the same as without it.
`lifecycle.OrderBook` writes the incidents into the fulfilment orders and queues a report for
each; `number_reports` gives the reports their ids in the order the WMS sent them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from omnigraph.demo.catalogue import LOCATIONS
from omnigraph.demo.drafts import Incident
from omnigraph.demo.formats import iso

if TYPE_CHECKING:
    import random
    from collections.abc import Iterable, Sequence
    from datetime import datetime

    from omnigraph.demo.drafts import DraftOrder

__all__ = [
    "EXCEPTION_KINDS",
    "PICKUP_HOLD",
    "PendingReport",
    "floor_report",
    "incident_count",
    "missed_pickup_report",
    "number_reports",
    "plan_incidents",
]

EXCEPTION_KINDS = ("SHORT_PICK", "DAMAGE", "MISSED_PICKUP")
# How long a store holds a click-and-collect order before the pickup counts as missed.
PICKUP_HOLD = timedelta(days=3)
# Stages where the floor has picked but not shipped everything: where shorts and damage show.
_FLOOR_STAGES = frozenset({"picked", "packed", "partially_shipped"})
_WAREHOUSES = frozenset(location["id"] for location in LOCATIONS if location["type"] == "warehouse")
_MOST_UNITS = {"SHORT_PICK": 6, "DAMAGE": 2}
# Collected orders left alone so a small world still shows `picked_up` twice.
_KEEP_COLLECTED = 2
_REPORT_DELAY = timedelta(minutes=2)


@dataclass(frozen=True)
class PendingReport:
    """A report the WMS will put on its change feed, waiting to be numbered."""

    moment: datetime
    data: dict[str, Any]


def incident_count(orders: int) -> int:
    """Incidents of each kind: one in the smallest world, five at the default 300 orders."""
    return max(1, min(5, orders // 60))


def plan_incidents(
    rng: random.Random, drafts: Sequence[DraftOrder], anchor: datetime, count: int
) -> None:
    """Give up to `count` drafts each kind of incident (at least one where the world allows).

    Short picks and damage land on unplanted warehouse orders that have picked but not shipped
    everything, preferring orders that would still have something to ship. A missed pickup
    turns a collected store order into one never collected, its hold lapsed before `anchor`.
    """
    floor = [
        draft
        for draft in drafts
        if draft.plan.planted is None
        and draft.location_id in _WAREHOUSES
        and draft.plan.stage in _FLOOR_STAGES
    ]
    floor = rng.sample(floor, len(floor))
    floor.sort(key=lambda draft: _open_units(draft) < 2)  # stable: orders that can part-ship first
    kinds = [kind for _ in range(count) for kind in ("SHORT_PICK", "DAMAGE")]
    for draft, kind in zip(floor, kinds, strict=False):
        draft.incident = _floor_incident(rng, draft, kind)

    collected = [draft for draft in drafts if draft.plan.stage == "picked_up"]
    lapsed = [d for d in collected if d.at("ready") + PICKUP_HOLD + timedelta(hours=1) <= anchor]
    missed = min(count, len(lapsed), max(1, len(collected) - _KEEP_COLLECTED))
    # The most recent lapses: a hold that ran out this week, not a parcel forgotten for a month.
    lapsed.sort(key=lambda draft: draft.at("ready"), reverse=True)
    for draft in rng.sample(lapsed[: 2 * missed], missed):
        draft.plan = dataclasses.replace(draft.plan, stage="ready_for_pickup")
        draft.steps = {step: at for step, at in draft.steps.items() if step != "collected"}
        draft.incident = Incident("MISSED_PICKUP")


def _open_lines(draft: DraftOrder) -> list[int]:
    """The lines still to ship at the anchor: all of them, or the second parcel's."""
    count = len(draft.lines)
    first = (count + 1) // 2 if draft.plan.stage == "partially_shipped" else 0
    return list(range(first, count))


def _open_units(draft: DraftOrder) -> int:
    return sum(draft.lines[index].quantity for index in _open_lines(draft))


def _floor_incident(rng: random.Random, draft: DraftOrder, kind: str) -> Incident:
    index = rng.choice(_open_lines(draft))
    quantity = draft.lines[index].quantity
    # Leave at least one unit of the order to ship, when the order has more than one.
    most = min(quantity, _open_units(draft) - 1, _MOST_UNITS[kind])
    return Incident(kind, index, rng.randint(1, max(1, most)))


def floor_report(
    draft: DraftOrder, fulfilment: dict[str, Any], moment: datetime, activity: str
) -> PendingReport:
    """The WMS's report of a short pick or damage found while `activity` ("picking", ...)."""
    incident = draft.incident
    assert incident is not None
    index, units = incident.line_and_units()
    line = draft.lines[index]
    item, where = line.item, fulfilment["locationId"]
    if incident.kind == "SHORT_PICK":
        detail = (
            f"Picker found {line.quantity - units} of {line.quantity} x {item.sku} "
            f"({item.name}) at {where} for {fulfilment['id']}; {units} short."
        )
    else:
        detail = (
            f"{units} x {item.sku} ({item.name}) found damaged while {activity} "
            f"{fulfilment['id']} at {where}."
        )
    return _report(incident.kind, fulfilment, moment + _REPORT_DELAY, item.sku, units, detail)


def missed_pickup_report(fulfilment: dict[str, Any], ready: datetime) -> PendingReport:
    """The store's report that a click-and-collect order outlived its hold."""
    expired = ready + PICKUP_HOLD
    detail = (
        f"{fulfilment['orderRef']} ({fulfilment['id']}) has waited for collection at "
        f"{fulfilment['locationId']} since {iso(ready)}; its {PICKUP_HOLD.days}-day hold "
        f"expired at {iso(expired)}."
    )
    return _report("MISSED_PICKUP", fulfilment, expired, None, None, detail)


def _report(
    kind: str,
    fulfilment: dict[str, Any],
    moment: datetime,
    sku: str | None,
    quantity: int | None,
    detail: str,
) -> PendingReport:
    return PendingReport(
        moment,
        {
            "kind": kind,
            "fulfilmentOrderId": fulfilment["id"],
            "orderRef": fulfilment["orderRef"],
            "locationId": fulfilment["locationId"],
            "sku": sku,
            "quantity": quantity,
            "reportedAt": iso(moment),
            "detail": detail,
        },
    )


def number_reports(pending: Iterable[PendingReport]) -> list[tuple[datetime, dict[str, Any]]]:
    """Each report with its id (`EXR-000001`...), numbered in the order the WMS sent them."""
    ordered = sorted(pending, key=lambda report: (report.moment, report.data["fulfilmentOrderId"]))
    return [
        (report.moment, {"id": f"EXR-{number:06d}", **report.data})
        for number, report in enumerate(ordered, start=1)
    ]
