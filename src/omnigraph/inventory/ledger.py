"""The ledger reader: follows each WMS change feed into the append-only inventory ledger and
moves the quantity projection with every entry, in the same transaction as the cursor.

Re-delivered events are recognised by their event id and change nothing twice; events arriving
out of order apply cleanly because every effect is a signed change; a gap in the feed's
sequence or a malformed movement is recorded in the quarantine, never silently dropped. A page
is one transaction: a crash mid-page re-reads the page and the ledger's key keeps it exact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import insert, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnigraph.db.feed_positions import claim_feed_position, feed_position
from omnigraph.db.models import (
    ExpectedReceiptRow,
    InventoryPositionRow,
    LedgerEntryRow,
    QuarantinedEventRow,
)
from omnigraph.inventory.movements import MalformedMovement, Movement, parse_movement
from omnigraph.runtime.periodic import PeriodicTask, source_task
from omnigraph.runtime.services import utc_now
from omnigraph.sources.contract import JsonRecord, SourceClient
from omnigraph.sources.registry import SourceRegistry

__all__ = ["FEED", "LedgerReader", "SyncProgress"]

FEED = "inventory"
MOVEMENT_PREFIX = "inventory."
log = structlog.get_logger(__name__)


@dataclass(slots=True)
class SyncProgress:
    """What a read of the feeds did. Every event read is counted once: ``events_read ==
    applied + duplicates + quarantined + other_events``. ``duplicates`` are movements the
    ledger already holds (or malformed events already quarantined); ``other_events`` are the
    feed's events about something other than stock (orders, exception reports). ``gaps``
    counts holes in the feed's sequence (events that never arrived, so never read)."""

    events_read: int = 0
    applied: int = 0
    duplicates: int = 0
    quarantined: int = 0
    other_events: int = 0
    gaps: int = 0
    changed: set[tuple[str, str]] = field(default_factory=set)


@dataclass(eq=False)
class LedgerReader:
    """Follows each WMS change feed into the ledger, ``page_size`` events at a time."""

    sessions: async_sessionmaker[AsyncSession]
    registry: SourceRegistry
    _: KW_ONLY
    page_size: int = 500
    clock: Callable[[], datetime] = utc_now
    on_change: Callable[[set[tuple[str, str]]], Any] | None = None

    def periodic(self, *, poll_seconds: float = 1.0, jitter: float = 0.0) -> PeriodicTask:
        """The reader as a background task: every feed read to its end every ``poll_seconds``
        (a feed that does not answer defers to the next poll)."""
        return source_task("ledger", self._step, poll_seconds, jitter=jitter)

    async def _step(self) -> None:
        await self.sync_once()

    async def sync_once(
        self, progress: Callable[[SyncProgress], None] | None = None
    ) -> SyncProgress:
        """Read every WMS feed to its end."""
        total = SyncProgress()
        for wms in self.registry.warehouses:
            await self._follow(wms.client, total, progress)
        if total.changed and self.on_change is not None:
            self.on_change(total.changed)
        return total

    async def _follow(
        self,
        client: SourceClient,
        total: SyncProgress,
        progress: Callable[[SyncProgress], None] | None,
    ) -> None:
        while True:
            cursor, last_sequence = await self._position(client.name)
            events, next_cursor, more = await client.changes(cursor, self.page_size)
            await self._apply_page(client.name, events, cursor, next_cursor, last_sequence, total)
            if progress is not None:
                progress(total)
            if not more or not events:
                return

    async def _position(self, source: str) -> tuple[str | None, int | None]:
        row = await feed_position(self.sessions, source, FEED)
        return (row.cursor, row.last_sequence) if row else (None, None)

    async def _apply_page(
        self,
        source: str,
        events: list[JsonRecord],
        cursor: str | None,
        next_cursor: str | None,
        last_sequence: int | None,
        total: SyncProgress,
    ) -> None:
        """One page, one transaction: the reads are batched (known event ids, positions, open
        expected receipts), the buckets move in memory, the writes flush together."""
        now = self.clock()
        movements: list[Movement] = []
        async with self.sessions() as session, session.begin():
            position = await claim_feed_position(session, source, FEED, read_from=cursor, now=now)
            if position is None:
                return  # another reader moved the cursor meanwhile: re-read from its position
            total.events_read += len(events)
            highest = last_sequence
            for event in events:
                sequence = event.get("sequence")
                if isinstance(sequence, int):
                    if highest is not None and sequence > highest + 1:
                        missing = f"{highest + 1}..{sequence - 1}"
                        session.add(
                            QuarantinedEventRow(
                                source=source,
                                event_id=None,
                                sequence=highest + 1,
                                reason=f"gap: feed sequence {missing} never arrived",
                                raw=None,
                                received_at=now,
                            )
                        )
                        total.gaps += 1
                    highest = sequence if highest is None else max(highest, sequence)
                if not str(event.get("type", "")).startswith(MOVEMENT_PREFIX):
                    total.other_events += 1
                    continue
                try:
                    movements.append(parse_movement(event))
                except MalformedMovement as error:
                    if await self._already_quarantined(session, source, event):
                        total.duplicates += 1
                    else:
                        session.add(
                            QuarantinedEventRow(
                                source=source,
                                event_id=str(event.get("id")),
                                sequence=sequence if isinstance(sequence, int) else None,
                                reason=f"malformed: {error}",
                                raw=dict(event),
                                received_at=now,
                            )
                        )
                        total.quarantined += 1
            await self._apply(session, source, movements, now, total)
            position.cursor = next_cursor
            position.last_sequence = highest
            position.updated_at = now

    async def _apply(
        self,
        session: AsyncSession,
        source: str,
        movements: list[Movement],
        now: datetime,
        total: SyncProgress,
    ) -> None:
        if not movements:
            return
        # a movement is applied once by its id, whichever event (first or a redelivery under
        # a new event id) brings it; the same movement twice in one page counts once
        known = set(
            await session.scalars(
                select(LedgerEntryRow.movement_id).where(
                    LedgerEntryRow.source == source,
                    LedgerEntryRow.movement_id.in_({m.movement_id for m in movements}),
                )
            )
        )
        fresh: list[Movement] = []
        for movement in movements:
            if movement.movement_id in known:
                total.duplicates += 1
            else:
                known.add(movement.movement_id)
                fresh.append(movement)
        keys = {(m.sku, m.location_id) for m in fresh}
        positions = (
            {
                (row.sku, row.location_id): row
                for row in await session.scalars(
                    select(InventoryPositionRow).where(
                        tuple_(InventoryPositionRow.sku, InventoryPositionRow.location_id).in_(keys)
                    )
                )
            }
            if keys
            else {}
        )
        expected_keys = {
            (m.expected_receipt_id, m.sku, m.location_id) for m in fresh if m.expected_receipt_id
        }
        expected = (
            {
                (row.expected_receipt_id, row.sku, row.location_id): row
                for row in await session.scalars(
                    select(ExpectedReceiptRow).where(
                        tuple_(
                            ExpectedReceiptRow.expected_receipt_id,
                            ExpectedReceiptRow.sku,
                            ExpectedReceiptRow.location_id,
                        ).in_(expected_keys)
                    )
                )
            }
            if expected_keys
            else {}
        )
        for movement in fresh:
            self._move(positions, session, movement)
            self._track_expected(expected, session, movement)
            total.applied += 1
            total.changed.add((movement.sku, movement.location_id))
        if not fresh:
            return
        # the page's entries in one multi-row INSERT (the ledger is append-only: no entry is
        # read back into this session), each movement id once, as filtered above
        await session.execute(
            insert(LedgerEntryRow),
            [
                {
                    "source": source,
                    "movement_id": movement.movement_id,
                    "event_id": movement.event_id,
                    "sequence": movement.sequence,
                    "movement": movement.movement,
                    "sku": movement.sku,
                    "location_id": movement.location_id,
                    "quantity": movement.quantity,
                    "occurred_at": movement.occurred_at,
                    "ingested_at": now,
                    "data": movement.data,
                }
                for movement in fresh
            ],
        )

    async def _already_quarantined(
        self, session: AsyncSession, source: str, event: JsonRecord
    ) -> bool:
        found = await session.scalar(
            select(QuarantinedEventRow.id).where(
                QuarantinedEventRow.source == source,
                QuarantinedEventRow.event_id == str(event.get("id")),
            )
        )
        return found is not None

    def _move(
        self,
        positions: dict[tuple[str, str], InventoryPositionRow],
        session: AsyncSession,
        movement: Movement,
    ) -> None:
        key = (movement.sku, movement.location_id)
        row = positions.get(key)
        if row is None:
            row = InventoryPositionRow.empty(movement.sku, movement.location_id)
            positions[key] = row
            session.add(row)
        for bucket, change in movement.deltas().items():
            setattr(row, bucket, getattr(row, bucket) + change)
        if row.last_event_at is None or movement.occurred_at >= row.last_event_at:
            row.last_event_at = movement.occurred_at
            row.last_event_id = movement.event_id
        row.version += 1

    def _track_expected(
        self,
        expected: dict[tuple[str, str, str], ExpectedReceiptRow],
        session: AsyncSession,
        movement: Movement,
    ) -> None:
        """Open expected receipts by date, so a scheduled promise can count what arrives."""
        if movement.expected_receipt_id is None:
            return
        key = (movement.expected_receipt_id, movement.sku, movement.location_id)
        row = expected.get(key)
        if row is None:
            row = ExpectedReceiptRow(
                expected_receipt_id=movement.expected_receipt_id,
                sku=movement.sku,
                location_id=movement.location_id,
                quantity_open=0,
                expected_at=None,
            )
            expected[key] = row
            session.add(row)
        if movement.movement == "expected_receipt":
            row.quantity_open += movement.quantity
            row.expected_at = movement.expected_at or movement.occurred_at
        elif movement.movement in ("receipt", "transfer_in"):
            row.quantity_open -= movement.quantity
