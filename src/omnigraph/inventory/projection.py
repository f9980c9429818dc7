"""This process's copy of the inventory positions availability reads, kept exact against the
database that every process shares.

A read of 1,000 SKUs at 50 locations needs 50,000 positions; loading them from the database
took most of the read's time. The copy holds the positions of the SKUs asked for (loaded once),
and before each read asks the database what changed, in two small reads: the ledger's page
counter (:class:`~omnigraph.db.models.InventoryGenerationRow`; or the caller reads its two
columns, :data:`COUNTER_COLUMNS`, in a statement of its own and hands them over) and, only when
it moved, the positions stamped with a later page. Every page takes its number under the
counter's row lock, so numbers commit in order: once page ``n`` is seen, every position stamped
``n`` or lower is seen too, and nothing committed is missed, whichever process's reader wrote
it. A read therefore answers exactly what the database holds when it starts, as a direct read
did.

Positions written other than by the ledger (a repair, a test's fixture) must call
:func:`positions_rewritten` in the same transaction: it draws a new epoch for the counter, and
every copy starts again at its next read.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from omnigraph.db.models import InventoryGenerationRow, InventoryPositionRow
from omnigraph.db.upsert import insert_for

__all__ = ["COUNTER_COLUMNS", "Position", "PositionsProjection", "positions_rewritten"]


class Position(NamedTuple):
    """One position's figures as availability reads them: a plain tuple (a read may count
    50,000)."""

    sku: str
    location_id: str
    on_hand: int
    committed: int
    damaged: int
    quality_control: int
    incoming: int
    restricted_returns: int
    returns_inspection: int
    last_event_at: datetime | None


_POSITIONS = InventoryPositionRow.__table__
_FIGURES = [_POSITIONS.c[name] for name in Position._fields]
# the ledger's page counter: its number and epoch (a caller reading more may ask for these two
# columns in its own statement and pass them to :meth:`PositionsProjection.positions`)
COUNTER_COLUMNS = (InventoryGenerationRow.generation, InventoryGenerationRow.epoch)
_COUNTER = select(*COUNTER_COLUMNS).where(InventoryGenerationRow.id == 1)
_OF_SKUS = select(*_FIGURES).where(_POSITIONS.c.sku.in_(bindparam("skus", expanding=True)))
_MOVED_SINCE = (
    select(*_FIGURES).where(_POSITIONS.c.generation > bindparam("seen")).limit(bindparam("limit"))
)


async def positions_rewritten(session: AsyncSession) -> None:
    """Say, in the transaction that wrote them, that positions were written other than by the
    ledger: a new epoch, so every process's copy is dropped at its next read."""
    epoch = str(uuid.uuid4())
    statement = insert_for(session)(InventoryGenerationRow).values(id=1, generation=0, epoch=epoch)
    await session.execute(
        statement.on_conflict_do_update(index_elements=["id"], set_={"epoch": epoch})
    )


class PositionsProjection:
    """The positions of the SKUs read so far, up to ``max_positions`` (then it starts again)."""

    def __init__(self, *, max_positions: int = 250_000, max_moved: int = 20_000) -> None:
        self.max_positions = max_positions
        self.max_moved = max_moved  # more moved at once than this: load again what is asked
        self._by_sku: dict[str, dict[str, Position]] = {}
        # per SKU, its positions that reflect a ledger entry, ordered by location: made at the
        # first read after the SKU's positions changed, so a read sorts nothing it sorted before
        self._listed: dict[str, list[Position]] = {}
        self._locations: set[str] = set()  # every location a held position is at
        self._held = 0
        self._seen: tuple[int, str] | None = None  # (generation, epoch) caught up to
        self._lock = asyncio.Lock()

    async def positions(
        self,
        session: AsyncSession,
        skus: Sequence[str],
        locations: Collection[str],
        *,
        counter: tuple[int | None, str | None] | None = None,
    ) -> list[Position]:
        """The positions of ``skus`` (each once) at ``locations`` that reflect a ledger entry,
        ordered by SKU and location, as the database holds them now.

        ``counter``: the ledger's page counter ``(generation, epoch)`` as the caller read it in
        ``session`` with its own statement (:data:`COUNTER_COLUMNS`), so this read sends none;
        ``(None, None)`` when there is no counter yet."""
        async with self._lock:
            if counter is None:
                row = (await session.execute(_COUNTER)).first()
                counter = (row[0], row[1]) if row is not None else (None, None)
            await self._catch_up(session, (counter[0] or 0, counter[1] or ""))
            if self._held > self.max_positions:
                self._forget()
            missing = [sku for sku in skus if sku not in self._by_sku]
            if missing:
                await self._load(session, missing)
            wanted = set(locations)
            every = wanted.issuperset(self._locations)  # the usual read: nothing to leave out
            found: list[Position] = []
            add = found.extend
            listed = self._listed
            for sku in sorted(skus):
                here = listed.get(sku)
                if here is None:
                    here = listed[sku] = [
                        position
                        for _, position in sorted(self._by_sku[sku].items())
                        if position.last_event_at is not None
                    ]
                if every:
                    add(here)
                elif here:
                    add(position for position in here if position.location_id in wanted)
            return found

    async def _catch_up(self, session: AsyncSession, now: tuple[int, str]) -> None:
        seen, self._seen = self._seen, now
        if seen is None or seen[1] != now[1] or now[0] < seen[0]:
            self._forget()
            return
        if now[0] == seen[0] or not self._by_sku:
            return
        moved = (
            await session.execute(_MOVED_SINCE, {"seen": seen[0], "limit": self.max_moved + 1})
        ).all()
        if len(moved) > self.max_moved:
            self._forget()
            return
        for row in moved:
            here = self._by_sku.get(row[0])
            if here is not None:
                self._held += row[1] not in here
                here[row[1]] = Position._make(row)
                self._listed.pop(row[0], None)
                self._locations.add(row[1])

    async def _load(self, session: AsyncSession, skus: list[str]) -> None:
        for sku in skus:
            self._by_sku[sku] = {}
        for start in range(0, len(skus), 1000):
            rows = await session.execute(_OF_SKUS, {"skus": skus[start : start + 1000]})
            for row in rows:
                self._by_sku[row[0]][row[1]] = Position._make(row)
                self._locations.add(row[1])
                self._held += 1

    def _forget(self) -> None:
        self._by_sku.clear()
        self._listed.clear()
        self._locations.clear()
        self._held = 0
