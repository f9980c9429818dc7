"""Availability: what a channel may promise, per location, from the ledger's projection.

Inputs are the quantity buckets (moved by every ledger entry, never recomputed on a read), live
reservations, open expected receipts and the allocation policy in force, so the cost of a read
depends on the SKUs asked for, not on the length of the ledger. The policy is looked up once
per location; each answer computes its number, and its buckets and explanation only when asked
for (a storefront checking 1,000 SKUs across 50 locations reads neither).
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any, NamedTuple
from typing import cast as typed
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    CompoundSelect,
    Integer,
    String,
    any_,
    bindparam,
    cast,
    func,
    literal_column,
    null,
    select,
    union_all,
)
from sqlalchemy.dialects import postgresql

from omnigraph.core.errors import InvalidInput
from omnigraph.db.models import (
    AllocationPolicyRow,
    ExpectedReceiptRow,
    InventoryGenerationRow,
    ReservationRow,
)
from omnigraph.inventory.locations import KnownLocations
from omnigraph.inventory.policy import CHANNELS, AllocationPolicy
from omnigraph.inventory.policy_store import NEWEST_POLICY, policy_of_version
from omnigraph.inventory.projection import COUNTER_COLUMNS, Position, PositionsProjection
from omnigraph.inventory.reservations import ReservationStatus, SellableRules
from omnigraph.runtime.services import Services
from omnigraph.sources.records import Location

__all__ = [
    "CHANNELS",
    "MAX_SKUS",
    "Availability",
    "LocationTerms",
    "Position",
    "Promise",
    "availability_for",
    "past_cutoff",
    "read_availability",
]


class Promise(enum.Enum):
    SHIP = "SHIP"
    STANDARD_DELIVERY = "STANDARD_DELIVERY"
    SAME_DAY_PICKUP = "SAME_DAY_PICKUP"
    SCHEDULED_WHOLESALE = "SCHEDULED_WHOLESALE"


@dataclass(frozen=True, slots=True)
class LocationTerms:
    """What holds for every SKU at one location in one read: the channel and promise asked
    for, the policy's rules, the cut-off."""

    channel: str
    promise: Promise
    rules: SellableRules
    cutoff: str | None
    closed: bool
    at: datetime


class Availability(NamedTuple):
    """One answer: what a channel may promise for a SKU at a location.

    A plain tuple of the position it was counted from (its figures: ``figures.on_hand``...),
    the numbers the read worked out and the location's terms (``terms.channel``,
    ``terms.promise``), made without a Python-level ``__init__``: a read of 1,000 SKUs makes
    50,000, and the fewer references each holds, the less the collector walks."""

    figures: Position
    available: int
    reserved: int
    arriving: int
    terms: LocationTerms

    @property
    def sku(self) -> str:
        return self.figures.sku

    @property
    def location_id(self) -> str:
        return self.figures.location_id

    @property
    def as_of(self) -> datetime:
        # a position no ledger entry reached is never answered: it has a time
        return typed(datetime, self.figures.last_event_at)

    @property
    def buckets(self) -> dict[str, int]:
        figures = self.figures
        return {
            "committed": figures.committed,
            "reserved": self.reserved,
            "damaged": figures.damaged,
            "qualityControl": figures.quality_control,
            "safetyStock": self.terms.rules.safety,
            "incoming": figures.incoming,
            "restrictedReturns": figures.restricted_returns,
            "returnsInInspection": figures.returns_inspection,
            "available": self.available,
        }

    @property
    def explanation(self) -> list[str]:
        """How the number was reached, term by term (built on demand)."""
        here = self.terms
        _, terms = here.rules.explain(self.figures, self.reserved)
        if here.promise is Promise.SCHEDULED_WHOLESALE:
            if self.arriving:
                terms.append(f"+ incoming by {here.at.date().isoformat()} {self.arriving}")
        elif here.promise is Promise.SAME_DAY_PICKUP and here.closed:
            terms.append(f"past {self.location_id}'s same-day cut-off {here.cutoff}: nothing today")
        elif here.promise is Promise.SHIP and here.closed:
            terms.append(f"past {self.location_id}'s carrier cut-off {here.cutoff}: ships next day")
        return terms


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
    positions: Sequence[Position],
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
    here_by_location: dict[str, LocationTerms] = {}
    for loc, location in serving.items():
        cutoff = policy.cutoffs.get(loc, location.cutoff)
        here_by_location[loc] = LocationTerms(
            channel=channel,
            promise=promise,
            rules=SellableRules.of(policy, channel, loc),
            cutoff=cutoff,
            closed=past_cutoff(cutoff, location.timezone, at),
            at=at,
        )
    arriving_by_position: dict[tuple[str, str], int] = {}
    if promise is Promise.SCHEDULED_WHOLESALE:
        for row in expected:
            if row.quantity_open > 0 and (row.expected_at is None or row.expected_at <= at):
                key = (row.sku, row.location_id)
                arriving_by_position[key] = arriving_by_position.get(key, 0) + row.quantity_open
    scheduled = promise is Promise.SCHEDULED_WHOLESALE
    pickup = promise is Promise.SAME_DAY_PICKUP
    answers: list[Availability] = []
    answer = answers.append  # the loop runs 50,000 times for 1,000 SKUs: names bound once
    make = tuple.__new__
    # per location: its terms, its rules' count, and for plain rules (SellableRules.plain) the
    # units kept back and whether grade-B returns are, so the loop counts without a call
    counting = {
        loc: (
            here,
            here.rules.count,
            here.rules.plain,
            here.rules.safety,
            not here.rules.grade_b_allowed,
        )
        for loc, here in here_by_location.items()
    }
    terms_of = counting.get
    reserved_at = reserved.get if reserved else None
    for position in positions:
        sku, location_id, on_hand, committed, damaged, qc, _, restricted, inspection, as_of = (
            position
        )
        found = terms_of(location_id)
        if found is None:
            continue
        if as_of is None:  # no ledger entry reflected yet: nothing to promise
            continue
        here, count, plain, safety, grade_b_out = found
        reserved_here = reserved_at((sku, location_id), 0) if reserved_at is not None else 0
        if plain:  # SellableRules.count for plain rules, inline
            available = on_hand - committed - damaged - qc - safety - reserved_here
            if restricted and grade_b_out:
                available -= restricted
            if available < 0:
                available = 0
        else:
            available = count(
                on_hand, committed, damaged, qc, restricted, inspection, reserved_here
            )
        arriving = 0
        if scheduled:
            arriving = arriving_by_position.get((sku, location_id), 0)
            available += arriving
        elif pickup and here.closed:
            available = 0
        answer(make(Availability, (position, available, reserved_here, arriving, here)))
    return answers


MAX_SKUS = 1000


def _state_read(skus: ColumnElement[bool]) -> CompoundSelect[Any]:
    """Everything a read asks of the database in one statement, so one round trip: a first
    row (``kind`` 0) with the ledger's page counter and the newest policy version, then a row
    (``kind`` 1) per SKU and location with live reservations and their sum."""
    counter = [
        select(column).where(InventoryGenerationRow.id == 1).scalar_subquery()
        for column in COUNTER_COLUMNS
    ]
    # the newest policy version's two columns, each from its own one-row read of the index
    newest = [
        select(column).order_by(AllocationPolicyRow.version.desc()).limit(1).scalar_subquery()
        for column in NEWEST_POLICY.selected_columns
    ]
    head = select(
        literal_column("0", Integer).label("kind"),
        *counter,
        *newest,
        cast(null(), String).label("sku"),
        cast(null(), String).label("location_id"),
        cast(null(), BigInteger).label("reserved"),
    )
    reservations = (
        select(
            literal_column("1", Integer),
            null(),
            null(),
            null(),
            null(),
            ReservationRow.sku,
            ReservationRow.location_id,
            func.sum(ReservationRow.quantity),
        )
        .where(
            skus,
            ReservationRow.status.in_([ReservationStatus.ACTIVE, ReservationStatus.COMMITTED]),
            ReservationRow.expires_at > bindparam("now"),
        )
        .group_by(ReservationRow.sku, ReservationRow.location_id)
    )
    return union_all(head, reservations)


# The read of every request, built once per database (a statement SQLAlchemy has compiled
# before: its cache key computed from the same object). The SKUs as one array parameter on
# PostgreSQL; SQLite has no arrays, so an expanding IN there (SQLAlchemy renders one parameter
# per SKU on every execution: 1,000 for a large read).
_STATE_READ = {
    "postgresql": _state_read(
        ReservationRow.sku == any_(bindparam("skus", type_=postgresql.ARRAY(String)))
    ),
    "sqlite": _state_read(ReservationRow.sku.in_(bindparam("skus", expanding=True))),
}


async def read_availability(
    services: Services,
    *,
    skus: Sequence[str],
    channel: str,
    promise: Promise,
    at: datetime | None,
    location_ids: Sequence[str] | None,
) -> list[Availability]:
    """What ``channel`` may promise for ``skus``: the WMS's locations (its last known list
    while it is down, :mod:`omnigraph.inventory.locations`), then one session and in it one
    statement for the ledger's page counter, the newest policy version and the live
    reservations; the policy parsed once per version, the positions from this process's
    :class:`PositionsProjection` (caught up to that counter), and the expected receipts when
    the promise counts them."""
    if channel not in CHANNELS:
        raise InvalidInput(
            f"unknown channel {channel!r}; known: {', '.join(sorted(CHANNELS))}",
            argument="channel",
        )
    if len(skus) > MAX_SKUS:
        raise InvalidInput(f"at most {MAX_SKUS} skus per call, got {len(skus)}", argument="skus")
    unique = list(dict.fromkeys(skus))
    now = services.now()
    sessions = services.sessions
    # each WMS's locations, or the ones it last listed while it cannot answer (marked stale):
    # the figures are the ledger's, so a WMS outage does not stop availability
    known = services.get(KnownLocations)
    location_lists = await asyncio.gather(*(known.of(wms) for wms in services.registry.warehouses))
    locations: list[Location] = [loc for group in location_lists for loc in group]
    # one session for the figures (opened after the WMS has answered, so no connection waits
    # on an upstream), and one statement for the counter, the policy's version and the
    # reservations: the positions and the parsed policy are this process's, caught up by it
    async with sessions() as session:
        dialect = session.get_bind().dialect.name
        state_read = _STATE_READ.get(dialect, _STATE_READ["sqlite"])
        counter: tuple[int | None, str | None] = (None, None)
        newest: tuple[int | None, datetime | None] = (None, None)
        reserved: dict[tuple[str, str], int] = {}
        for kind, generation, epoch, version, created_at, sku, loc, total in await session.execute(
            state_read, {"skus": unique, "now": now}
        ):
            if kind:
                reserved[sku, loc] = int(total)
            else:
                counter, newest = (generation, epoch), (version, created_at)
        _, policy = await policy_of_version(session, *newest)
        serving = [loc.id for loc in locations if policy.serves(channel, loc.id)]
        if location_ids:
            serving = [loc for loc in serving if loc in location_ids]
        # a process without one (a one-off command) reads through one of its own, used once
        projection = services.find(PositionsProjection) or PositionsProjection()
        positions = await projection.positions(session, unique, serving, counter=counter)
        expected: list[ExpectedReceiptRow] = []
        if promise is Promise.SCHEDULED_WHOLESALE:
            expected = list(
                await session.scalars(
                    select(ExpectedReceiptRow).where(
                        ExpectedReceiptRow.sku.in_(unique), ExpectedReceiptRow.quantity_open > 0
                    )
                )
            )
    return availability_for(
        positions,
        reserved,
        expected,
        locations,
        policy,
        channel=channel,
        promise=promise,
        at=at or now,
        location_ids=location_ids,
    )
