"""The ledger reader: follows each WMS change feed into the append-only inventory ledger and
moves the quantity projection with every entry, in the same transaction as the cursor.

Re-delivered events are recognised by their event id and change nothing twice; events arriving
out of order apply cleanly because every effect is a signed change; a gap in the feed's
sequence or a malformed movement is recorded in the quarantine, never silently dropped. A page
is one transaction: a crash mid-page re-reads the page and the ledger's key keeps it exact.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from collections.abc import Callable, Iterable
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime
from typing import Any

import orjson
import structlog
from sqlalchemy import bindparam, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnigraph.db.feed_positions import claim_feed_position, feed_position
from omnigraph.db.models import (
    ExpectedReceiptRow,
    InventoryGenerationRow,
    InventoryPositionRow,
    LedgerEntryRow,
    QuarantinedEventRow,
)
from omnigraph.db.upsert import insert_of, rows_insert, rows_parameters
from omnigraph.inventory.movements import (
    BUCKETS,
    MalformedMovement,
    Movement,
    event_sequence,
    parse_movement,
)
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


@dataclass(frozen=True, slots=True)
class _Page:
    """A page of the feed as read from ``read_from``, each event parsed: a movement, why it is
    malformed, or None for an event about something other than stock."""

    read_from: str | None
    events: list[JsonRecord]
    parsed: list[Movement | MalformedMovement | None]
    next_cursor: str | None
    more: bool
    movements: _Movements


@dataclass(frozen=True, slots=True)
class _Movements:
    """A page's movements laid out for storing, made while the page before it is stored: each
    movement once (the first of a movement twice in the page), its ledger entry, and what the
    page does to the positions and expected receipts if the ledger has none of them yet."""

    first: dict[str, Movement]
    repeated: int
    entries: list[dict[str, Any]]
    positions: list[dict[str, Any]]
    expected: list[dict[str, Any]]
    changed: list[tuple[str, str]]

    @classmethod
    def of(cls, source: str, movements: list[Movement]) -> _Movements:
        first: dict[str, Movement] = {}
        for movement in movements:
            first.setdefault(movement.movement_id, movement)
        entries = [
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
                "data": movement.data,
            }
            for movement in first.values()
        ]
        return cls(first, len(movements) - len(first), entries, *_changes(list(first.values())))


def _changes(
    movements: list[Movement],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[tuple[str, str]]]:
    """What ``movements`` do to the positions and the expected receipts, each in key order
    (so two pages' writes lock rows in the same order), and the positions they move."""
    changes = net_changes(movements)
    expected = expected_changes(movements)
    return (
        [changes[key] for key in sorted(changes)],
        [expected[key] for key in sorted(expected)],
        list(changes),
    )


def _prepared(
    source: str,
    read_from: str | None,
    events: list[JsonRecord],
    next_cursor: str | None,
    more: bool,
) -> _Page:
    """A page read from ``read_from``, each event parsed and its movements laid out."""
    parsed = [_parsed(event) for event in events]
    if _unstorable(events) is not None:  # rare: find the events, one by one
        parsed = [
            (_unstorable(event) or movement) if isinstance(movement, Movement) else movement
            for event, movement in zip(events, parsed, strict=True)
        ]
    movements = [movement for movement in parsed if isinstance(movement, Movement)]
    return _Page(read_from, events, parsed, next_cursor, more, _Movements.of(source, movements))


@dataclass(frozen=True, slots=True)
class _Stored:
    """A page stored: the feed's highest sequence number seen so far."""

    last_sequence: int | None


_NUL = b"\\u0000"


def _unstorable(value: object) -> MalformedMovement | None:
    """Why ``value`` cannot travel as the JSON rows are written with (``rows_parameters``), if
    it cannot: a number past 64 bits, or a NUL character, which PostgreSQL's text refuses. A
    movement carrying one is malformed on every database alike, rather than stopping its feed
    at a page PostgreSQL refuses on every read."""
    try:
        text = orjson.dumps(value)
    except orjson.JSONEncodeError:
        return MalformedMovement("the event holds a number past 64 bits")
    if _NUL in text:
        return MalformedMovement("the event holds a NUL character (\\u0000)")
    return None


def _parsed(event: JsonRecord) -> Movement | MalformedMovement | None:
    if not str(event.get("type", "")).startswith(MOVEMENT_PREFIX):
        return None
    try:
        return parse_movement(event)
    except MalformedMovement as error:
        return error


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
        """Store the feed's pages one after another, reading ahead: the next page is fetched
        and parsed while this one is stored (it is read from the cursor this one leaves)."""
        cursor, last_sequence = await self._position(client.name)
        ahead = asyncio.ensure_future(self._read(client, cursor))
        try:
            while True:
                page = await ahead
                last = not page.more or not page.events
                gate = asyncio.Event()
                if not last:
                    ahead = asyncio.ensure_future(self._read(client, page.next_cursor, gate))
                try:
                    stored = await self._apply_page(client.name, page, last_sequence, total, gate)
                finally:
                    gate.set()
                if progress is not None:
                    progress(total)
                if last:
                    return
                if stored:
                    last_sequence = stored.last_sequence
                else:  # another reader moved the cursor meanwhile: re-read from its position
                    ahead.cancel()
                    cursor, last_sequence = await self._position(client.name)
                    ahead = asyncio.ensure_future(self._read(client, cursor))
        finally:
            # a page read ahead and not stored stops being read; its failure, if it failed,
            # is not left unretrieved (the failure that ended the loop is the one raised)
            ahead.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await ahead

    async def _read(
        self, client: SourceClient, cursor: str | None, gate: asyncio.Event | None = None
    ) -> _Page:
        """The page after ``cursor``, parsed and laid out (:func:`_prepared`) once ``gate``
        opens: the store of the page before it opens it as it sends its entries, so the work
        runs while the database stores them, not before the store's first statement (where
        the loop would run it, and the store, and the database, would wait for it)."""
        events, next_cursor, more = await client.changes(cursor, self.page_size)
        if gate is not None:
            await gate.wait()
        return _prepared(client.name, cursor, events, next_cursor, more)

    async def _position(self, source: str) -> tuple[str | None, int | None]:
        row = await feed_position(self.sessions, source, FEED)
        return (row.cursor, row.last_sequence) if row else (None, None)

    async def _apply_page(
        self,
        source: str,
        page: _Page,
        last_sequence: int | None,
        total: SyncProgress,
        gate: asyncio.Event,
    ) -> _Stored | None:
        """One page, one transaction with the cursor: gaps and malformed events quarantined,
        then the movements stored (:meth:`_apply`). None when another reader stored it."""
        now = self.clock()
        async with self.sessions() as session, session.begin():
            position = await claim_feed_position(
                session, source, FEED, read_from=page.read_from, now=now
            )
            if position is None:
                return None
            total.events_read += len(page.events)
            highest = last_sequence
            for event, parsed in zip(page.events, page.parsed, strict=True):
                sequence = event_sequence(event)
                if sequence is not None:
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
                if parsed is None:
                    total.other_events += 1
                elif isinstance(parsed, Movement):
                    continue  # stored with the page's movements below
                elif await self._already_quarantined(session, source, event):
                    total.duplicates += 1
                else:
                    session.add(
                        QuarantinedEventRow(
                            source=source,
                            event_id=str(event.get("id")),
                            sequence=sequence,
                            reason=f"malformed: {parsed}",
                            raw=dict(event),
                            received_at=now,
                        )
                    )
                    total.quarantined += 1
            await self._apply(session, page.movements, now, total, gate)
            position.cursor = page.next_cursor
            position.last_sequence = highest
            position.updated_at = now
        return _Stored(highest)

    async def _apply(
        self,
        session: AsyncSession,
        page: _Movements,
        now: datetime,
        total: SyncProgress,
        gate: asyncio.Event,
    ) -> None:
        """The page's movements into the ledger and the projection, in two statements.

        A movement is applied once by its id, whichever event (first or a redelivery under a
        new event id) brings it: the page's entries go in with ``ON CONFLICT DO NOTHING`` on the
        ledger's key, and only the rows it inserted (``RETURNING``) move stock; the same
        movement twice in one page is sent once (the first wins). The positions then move by
        the page's net change per SKU and location, added to the stored buckets by one
        ``INSERT ... ON CONFLICT DO UPDATE``: no position is read first. The rows and the net
        changes were made when the page was read (:class:`_Movements`); they are made again
        only for a page some of whose movements the ledger already had.
        """
        total.duplicates += page.repeated
        if not page.first:
            return
        dialect = session.get_bind().dialect.name
        gate.set()  # the next page is laid out while the database stores this one's entries
        stored = set(
            await session.scalars(
                _ledger_insert(dialect),
                rows_parameters(dialect, _ENTRY_COLUMNS, page.entries, {"ingested_at": now}),
            )
        )
        positions, expected, changed = page.positions, page.expected, page.changed
        if len(stored) < len(page.first):
            fresh = [movement for key, movement in page.first.items() if key in stored]
            total.duplicates += len(page.first) - len(fresh)
            if not fresh:
                return
            positions, expected, changed = _changes(fresh)
        total.applied += len(stored)
        total.changed.update(changed)
        generation = await session.scalar(_next_generation(dialect), {"epoch": str(uuid.uuid4())})
        await session.execute(
            _position_upsert(dialect),
            rows_parameters(dialect, _POSITION_COLUMNS, positions, {"generation": generation}),
        )
        if expected:
            await session.execute(
                _expected_upsert(dialect),
                rows_parameters(dialect, _EXPECTED_COLUMNS, expected),
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


_LEDGER = LedgerEntryRow.__table__
_POSITIONS = InventoryPositionRow.__table__
_EXPECTED = ExpectedReceiptRow.__table__
_ENTRY_COLUMNS = tuple(column.name for column in _LEDGER.columns if column.name != "ingested_at")
_POSITION_COLUMNS = (
    "sku",
    "location_id",
    *BUCKETS,
    "version",
    "last_event_at",
    "last_event_id",
)
_GENERATION = InventoryGenerationRow.__table__
_EXPECTED_COLUMNS = ("expected_receipt_id", "sku", "location_id", "quantity_open", "expected_at")


def net_changes(movements: Iterable[Movement]) -> dict[tuple[str, str], dict[str, Any]]:
    """Per SKU and location, what ``movements`` applied one by one do to its position: each
    bucket's net change, the number of movements (the version's step) and the latest event
    (the one a position applying them in this order would name: the latest ``occurred_at``,
    the later movement on a tie)."""
    changes: dict[tuple[str, str], dict[str, Any]] = {}
    for movement in movements:
        key = (movement.sku, movement.location_id)
        change = changes.get(key)
        if change is None:
            change = changes[key] = {
                "sku": movement.sku,
                "location_id": movement.location_id,
                **dict.fromkeys(BUCKETS, 0),
                "version": 0,
                "last_event_at": movement.occurred_at,
                "last_event_id": movement.event_id,
            }
        for bucket, delta in movement.deltas().items():
            change[bucket] += delta
        change["version"] += 1
        if movement.occurred_at >= change["last_event_at"]:
            change["last_event_at"] = movement.occurred_at
            change["last_event_id"] = movement.event_id
    return changes


def expected_changes(
    movements: Iterable[Movement],
) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Per expected receipt, SKU and location: the change to the units still open (announced
    by ``expected_receipt``, received by ``receipt`` and ``transfer_in``) and the date the last
    announcement gave (None when ``movements`` announce nothing)."""
    changes: dict[tuple[str, str, str], dict[str, Any]] = {}
    for movement in movements:
        if movement.expected_receipt_id is None:
            continue
        key = (movement.expected_receipt_id, movement.sku, movement.location_id)
        change = changes.get(key)
        if change is None:
            change = changes[key] = {
                "expected_receipt_id": movement.expected_receipt_id,
                "sku": movement.sku,
                "location_id": movement.location_id,
                "quantity_open": 0,
                "expected_at": None,
            }
        if movement.movement == "expected_receipt":
            change["quantity_open"] += movement.quantity
            change["expected_at"] = movement.expected_at or movement.occurred_at
        elif movement.movement in ("receipt", "transfer_in"):
            change["quantity_open"] -= movement.quantity
    return changes


@functools.cache
def _next_generation(dialect: str) -> Any:
    """The page's number (:class:`InventoryGenerationRow`), its row locked until the page
    commits; the first page makes the row, with the ``epoch`` bound."""
    statement = insert_of(dialect)(_GENERATION).values(id=1, generation=1, epoch=bindparam("epoch"))
    return statement.on_conflict_do_update(
        index_elements=[_GENERATION.c.id], set_={"generation": _GENERATION.c.generation + 1}
    ).returning(_GENERATION.c.generation)


@functools.cache
def _ledger_insert(dialect: str) -> Any:
    """Store a page's entries, each movement only if the ledger has not got it; the ids of those
    stored come back."""
    statement = rows_insert(dialect, _LEDGER, _ENTRY_COLUMNS, ("ingested_at",))
    return statement.on_conflict_do_nothing(
        index_elements=[_LEDGER.c.source, _LEDGER.c.movement_id]
    ).returning(_LEDGER.c.movement_id)


@functools.cache
def _position_upsert(dialect: str) -> Any:
    """Add a page's net changes (:func:`net_changes`) to the stored positions: a position not
    stored yet is inserted as its changes (its buckets start at zero)."""
    statement = rows_insert(dialect, _POSITIONS, _POSITION_COLUMNS, ("generation",))
    new = statement.excluded
    later = or_(
        _POSITIONS.c.last_event_at.is_(None),
        new.last_event_at >= _POSITIONS.c.last_event_at,
    )
    return statement.on_conflict_do_update(
        index_elements=[_POSITIONS.c.sku, _POSITIONS.c.location_id],
        set_={
            **{bucket: _POSITIONS.c[bucket] + new[bucket] for bucket in BUCKETS},
            "version": _POSITIONS.c.version + new.version,
            "generation": new.generation,
            # every SET reads the row as it was, so both columns ask the same question
            "last_event_at": case((later, new.last_event_at), else_=_POSITIONS.c.last_event_at),
            "last_event_id": case((later, new.last_event_id), else_=_POSITIONS.c.last_event_id),
        },
    )


@functools.cache
def _expected_upsert(dialect: str) -> Any:
    """Add a page's changes to the open expected receipts (:func:`expected_changes`)."""
    statement = rows_insert(dialect, _EXPECTED, _EXPECTED_COLUMNS)
    new = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=[_EXPECTED.c.expected_receipt_id, _EXPECTED.c.sku, _EXPECTED.c.location_id],
        set_={
            "quantity_open": _EXPECTED.c.quantity_open + new.quantity_open,
            "expected_at": func.coalesce(new.expected_at, _EXPECTED.c.expected_at),
        },
    )
