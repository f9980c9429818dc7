"""Reservations: units promised to a channel for a while, never more than the ledger allows.

Each attempt takes its idempotency key (``omnigraph.db.idempotency``: a repeat waits for the
first and replays its answer), then locks the position it draws from (it updates the position
row: a row lock on PostgreSQL; on SQLite its transaction already holds the one writer's turn),
then counts what is sellable, live reservations included, and only then inserts. Concurrent
attempts queue on that lock, so the last units go to exactly as many reservations as they
cover. Expired reservations stop counting on their own: every count filters on
``expires_at``."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnigraph.db.idempotency import KeyClaims, request_hash
from omnigraph.db.models import ExpectedReceiptRow, InventoryPositionRow, ReservationRow
from omnigraph.exceptions.resolution import Outcome, once, refused
from omnigraph.inventory.policy import CHANNELS, AllocationPolicy

__all__ = [
    "PositionFigures",
    "ReservationStatus",
    "SellableRules",
    "commit_reservation",
    "live_reserved",
    "new_reservation",
    "release_reservation",
    "reserve",
    "sellable_units",
]

SCOPE = "reserveInventory"
MAX_QUANTITY = 10_000
MAX_TTL = timedelta(days=1)


class PositionFigures(Protocol):
    """The buckets of one position: an ORM row or a plain tuple both have them."""

    @property
    def sku(self) -> str: ...
    @property
    def location_id(self) -> str: ...
    @property
    def on_hand(self) -> int: ...
    @property
    def committed(self) -> int: ...
    @property
    def damaged(self) -> int: ...
    @property
    def quality_control(self) -> int: ...
    @property
    def incoming(self) -> int: ...
    @property
    def restricted_returns(self) -> int: ...
    @property
    def returns_inspection(self) -> int: ...
    @property
    def last_event_at(self) -> datetime | None: ...


class ReservationStatus:
    ACTIVE = "ACTIVE"
    RELEASED = "RELEASED"
    COMMITTED = "COMMITTED"


@dataclass(frozen=True, slots=True)
class SellableRules:
    """What the policy says about selling to one channel from one location, looked up once for
    every SKU there: an availability read may count 50,000 positions with the same rules."""

    channel: str
    safety: int
    restock_uninspected: bool
    grade_b_allowed: bool
    # the ring-fences that hold against the channel: (owner, units, percent, how it ranks)
    fences: tuple[tuple[str, int, float, str], ...]

    @classmethod
    def of(
        cls, policy: AllocationPolicy, channel: str, location_id: str, safety: int | None = None
    ) -> SellableRules:
        """``safety`` is the policy's safety stock here, when the caller has looked it up."""
        mine = policy.rank(channel)
        return cls(
            channel=channel,
            safety=policy.safety_stock_for(channel, location_id) if safety is None else safety,
            restock_uninspected=not policy.restock.inspection_required,
            grade_b_allowed=policy.grade_b_allowed(channel),
            # as AllocationPolicy.fences_against: fences of channels ranked at or above this one
            # (a fence of no units and no percent holds nothing back: left out)
            fences=tuple(
                (
                    other,
                    fence.quantity,
                    fence.percent,
                    "above" if policy.rank(other) < mine else "level with",
                )
                for other, fence in policy.ring_fence.items()
                if other != channel
                and policy.rank(other) <= mine
                and (fence.quantity or fence.percent)
            ),
        )

    @property
    def plain(self) -> bool:
        """Whether :meth:`count` is on hand less committed, damaged, quality control, grade-B
        returns unless the channel takes them, safety stock and reservations, and nothing
        more (no returns restocked before inspection, no ring-fence): what a caller counting
        50,000 positions may work out inline."""
        return not self.restock_uninspected and not self.fences

    def count(
        self,
        on_hand: int,
        committed: int,
        damaged: int,
        quality_control: int,
        restricted_returns: int,
        returns_inspection: int,
        reserved: int,
    ) -> int:
        """What the channel may still promise from a position with these figures:
        :meth:`explain`'s number without the words (plain integers: it runs 50,000 times in a
        read)."""
        base = on_hand - committed - damaged - quality_control
        # conditionals, not min() and max(): this runs 50,000 times in a read
        if self.restock_uninspected:
            awaiting = (
                returns_inspection if returns_inspection < quality_control else quality_control
            )
            if awaiting > 0:
                base += awaiting
        if restricted_returns and not self.grade_b_allowed:
            base -= restricted_returns
        base -= self.safety + reserved
        if self.fences:
            sellable = base if base > 0 else 0
            for _, quantity, percent, _ in self.fences:
                base -= max(quantity, int(sellable * percent / 100))
        return base if base > 0 else 0

    def explain(self, position: PositionFigures, reserved: int) -> tuple[int, list[str]]:
        """What the channel may still promise from ``position``, and the terms that made it."""
        base = position.on_hand - position.committed - position.damaged - position.quality_control
        terms = [
            f"onHand {position.on_hand} - committed {position.committed} - damaged "
            f"{position.damaged} - qualityControl {position.quality_control} = {base}"
        ]
        awaiting = min(position.returns_inspection, position.quality_control)
        if awaiting > 0 and self.restock_uninspected:
            base += awaiting
            terms.append(f"+ returns awaiting inspection {awaiting} (restock without inspection)")
        if position.restricted_returns and not self.grade_b_allowed:
            base -= position.restricted_returns
            terms.append(
                f"- grade B returns {position.restricted_returns} (not for {self.channel})"
            )
        if self.safety:
            base -= self.safety
            terms.append(f"- safetyStock {self.safety}")
        if reserved:
            base -= reserved
            terms.append(f"- reserved {reserved}")
        sellable = max(0, base)
        for other, quantity, percent, ranks in self.fences:
            fenced = max(quantity, int(sellable * percent / 100))
            if fenced:
                base -= fenced
                terms.append(
                    f"- ring-fenced for {other} {fenced} ({other} ranks {ranks} {self.channel})"
                )
        return max(0, base), terms


def sellable_units(
    position: PositionFigures,
    reserved: int,
    policy: AllocationPolicy,
    channel: str,
    safety: int | None = None,
) -> tuple[int, list[str]]:
    """What ``channel`` may still promise from ``position``, and the terms that made the number.

    ``safety`` is the policy's safety stock here, when the caller has already looked it up.
    """
    return SellableRules.of(policy, channel, position.location_id, safety).explain(
        position, reserved
    )


async def live_reserved(session: AsyncSession, sku: str, location_id: str, now: datetime) -> int:
    total = await session.scalar(
        select(func.coalesce(func.sum(ReservationRow.quantity), 0)).where(
            ReservationRow.sku == sku,
            ReservationRow.location_id == location_id,
            ReservationRow.status.in_([ReservationStatus.ACTIVE, ReservationStatus.COMMITTED]),
            ReservationRow.expires_at > now,
        )
    )
    return int(total or 0)


async def _known_sku(sessions: async_sessionmaker[AsyncSession], sku: str) -> bool:
    """Whether the ledger has ever held ``sku`` at any location, or a receipt expects it."""
    async with sessions() as session:
        held = await session.scalar(
            select(InventoryPositionRow.sku).where(InventoryPositionRow.sku == sku).limit(1)
        )
        expected = held or await session.scalar(
            select(ExpectedReceiptRow.sku).where(ExpectedReceiptRow.sku == sku).limit(1)
        )
    return expected is not None


async def reserve(
    sessions: async_sessionmaker[AsyncSession],
    policy: AllocationPolicy,
    *,
    sku: str,
    location_id: str | None,
    channel: str,
    quantity: int,
    ttl_seconds: int,
    idempotency_key: str,
    now: datetime,
    keys: KeyClaims | None = None,
) -> Outcome[ReservationRow]:
    if channel not in CHANNELS:
        return refused("UNKNOWN_CHANNEL", f"unknown channel {channel!r}", "input", "channel")
    if not 1 <= quantity <= MAX_QUANTITY:
        return refused(
            "INVALID_QUANTITY", f"quantity must be 1 to {MAX_QUANTITY}", "input", "quantity"
        )
    ttl = timedelta(seconds=ttl_seconds)
    if not timedelta(seconds=1) <= ttl <= MAX_TTL:
        return refused("INVALID_TTL", "ttlSeconds must be 1 to 86400", "input", "ttlSeconds")
    claims = keys or KeyClaims(sessions)
    fingerprint = request_hash(sku, location_id, channel, quantity, ttl_seconds)

    async def take(session: AsyncSession, reservation_id: str) -> bool:
        answer = {"reservationId": reservation_id}
        return await claims.take(session, SCOPE, idempotency_key, fingerprint, answer, now)

    async def work() -> Outcome[ReservationRow] | None:
        if location_id is not None:
            if not policy.serves(channel, location_id):
                return refused(
                    "LOCATION_NOT_SERVING",
                    f"{location_id} does not serve {channel}",
                    "input",
                    "locationId",
                )
            candidates = [location_id]
        else:
            candidates = list(policy.locations.get(channel, []))
        for candidate in candidates:
            made = await _reserve_at(
                sessions,
                policy,
                sku=sku,
                location_id=candidate,
                channel=channel,
                quantity=quantity,
                ttl=ttl,
                take=take,
                now=now,
            )
            if made == "taken":
                return None
            if isinstance(made, ReservationRow):
                return Outcome(made)
        if not await _known_sku(sessions, sku):
            return refused(
                "UNKNOWN_SKU",
                f"{sku!r} is not a SKU any warehouse holds or expects",
                "input",
                "sku",
            )
        return refused(
            "INSUFFICIENT_AVAILABILITY",
            f"fewer than {quantity} x {sku} available for {channel}",
            "input",
            "quantity",
        )

    async def load(stored: dict[str, Any]) -> ReservationRow | None:
        async with sessions() as session:
            return await session.get(ReservationRow, str(stored["reservationId"]))

    return await once(claims, SCOPE, idempotency_key, fingerprint, now, work, load)


def new_reservation(
    *, sku: str, location_id: str, channel: str, quantity: int, ttl: timedelta, now: datetime
) -> ReservationRow:
    """An active reservation made ``now``, holding ``quantity`` units until ``ttl`` from now."""
    return ReservationRow(
        id=str(uuid.uuid4()),
        sku=sku,
        location_id=location_id,
        channel=channel,
        quantity=quantity,
        status=ReservationStatus.ACTIVE,
        expires_at=now + ttl,
        created_at=now,
        updated_at=now,
    )


async def _reserve_at(
    sessions: async_sessionmaker[AsyncSession],
    policy: AllocationPolicy,
    *,
    sku: str,
    location_id: str,
    channel: str,
    quantity: int,
    ttl: timedelta,
    take: Callable[[AsyncSession, str], Awaitable[bool]],
    now: datetime,
) -> ReservationRow | Literal["taken"] | None:
    """A reservation at ``location_id`` if it has the units; ``"taken"`` if another request
    with the key reserved first. The key is taken first thing in the transaction, so it lands
    with the reservation or not at all."""
    row = new_reservation(
        sku=sku, location_id=location_id, channel=channel, quantity=quantity, ttl=ttl, now=now
    )
    async with sessions() as session, session.begin():
        if not await take(session, row.id):
            await session.rollback()
            return "taken"
        locked = await session.execute(
            update(InventoryPositionRow)
            .where(InventoryPositionRow.sku == sku, InventoryPositionRow.location_id == location_id)
            .values(version=InventoryPositionRow.version + 1)
        )
        if locked.rowcount != 1:  # type: ignore[attr-defined]
            await session.rollback()
            return None
        position = await session.get(
            InventoryPositionRow, (sku, location_id), populate_existing=True
        )
        assert position is not None
        reserved = await live_reserved(session, sku, location_id, now)
        available, _ = sellable_units(position, reserved, policy, channel)
        if available < quantity:
            await session.rollback()
            return None
        session.add(row)
    return row


async def _finish(
    sessions: async_sessionmaker[AsyncSession], reservation_id: str, target: str, now: datetime
) -> Outcome[ReservationRow]:
    async with sessions() as session, session.begin():
        row = await session.get(ReservationRow, reservation_id)
        if row is None:
            return refused("NOT_FOUND", "no such reservation", "id")
        if row.status != ReservationStatus.ACTIVE or row.expires_at <= now:
            state = "expired" if row.status == ReservationStatus.ACTIVE else row.status.lower()
            return refused("INVALID_TRANSITION", f"the reservation is {state}", "id")
        row.status = target
        row.updated_at = now
    return Outcome(row)


async def release_reservation(
    sessions: async_sessionmaker[AsyncSession], reservation_id: str, now: datetime
) -> Outcome[ReservationRow]:
    """Give the units back now instead of at expiry."""
    return await _finish(sessions, reservation_id, ReservationStatus.RELEASED, now)


async def commit_reservation(
    sessions: async_sessionmaker[AsyncSession], reservation_id: str, now: datetime
) -> Outcome[ReservationRow]:
    """The units became an order: they keep counting until the WMS allocates them (the TTL
    bridges the gap until the allocation reaches the ledger)."""
    return await _finish(sessions, reservation_id, ReservationStatus.COMMITTED, now)
