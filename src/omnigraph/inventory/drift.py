"""Drift: the ledger's projection against the WMS's own stock snapshot.

A difference beyond the tolerance that lasts longer than the grace period raises an
INVENTORY_DRIFT exception owned by that WMS (feed lag heals itself within the grace period and
raises nothing); a difference that heals is forgotten.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import delete, select, tuple_
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnigraph.db.models import DriftWatchRow, InventoryPositionRow, PublishedAvailabilityRow
from omnigraph.exceptions.catalogue import ExceptionCatalogue, ExceptionKind
from omnigraph.exceptions.intake import ExceptionReport, take_in
from omnigraph.inventory.availability import Promise, read_availability
from omnigraph.inventory.oversell import oversell_risks
from omnigraph.runtime.periodic import PeriodicTask, source_failure
from omnigraph.sources.records import StockLevel
from omnigraph.sources.registry import SourceRegistry

if TYPE_CHECKING:
    from omnigraph.runtime.services import Services

__all__ = ["DriftMonitor", "DriftReport", "compare"]

log = structlog.get_logger(__name__)
# ledger bucket -> WMS snapshot field
COMPARED = {
    "on_hand": "on_hand",
    "committed": "allocated",
    "damaged": "damaged",
    "quality_control": "quality_hold",
    "incoming": "incoming",
}


@dataclass(slots=True)
class DriftReport:
    compared: int = 0
    drifting: dict[tuple[str, str], dict[str, dict[str, int]]] = field(default_factory=dict)
    raised: int = 0


def compare(
    position: InventoryPositionRow | None, snapshot: StockLevel, tolerance: int
) -> dict[str, dict[str, int]]:
    """Buckets where ledger and WMS differ by more than ``tolerance`` units."""
    differences = {}
    for bucket, wms_field in COMPARED.items():
        ledger = getattr(position, bucket) if position is not None else 0
        wms = int(getattr(snapshot, wms_field))
        if abs(ledger - wms) > tolerance:
            differences[bucket] = {"ledger": ledger, "wms": wms}
    return differences


@dataclass(eq=False)
class DriftMonitor:
    """Compares the ledger with each WMS's stock snapshot; raises drift that outlasts ``grace``."""

    sessions: async_sessionmaker[AsyncSession]
    registry: SourceRegistry
    catalogue: ExceptionCatalogue
    _: KW_ONLY
    tolerance: int = 0
    grace: timedelta = timedelta(minutes=15)
    clock: Callable[[], datetime]

    def periodic(
        self, *, interval_seconds: float, services: Services | None = None, jitter: float = 0.0
    ) -> PeriodicTask:
        """The monitor as a background task: every ``interval_seconds``, the oversell check
        (given ``services``) and the drift check. A source that does not answer, or a busy
        SQLite database, defers the check to the next interval with a warning."""

        async def check() -> None:
            if services is not None:
                await self.check_oversell(services)
            report = await self.check()
            if report.drifting:
                log.warning("inventory_drift", positions=len(report.drifting), raised=report.raised)

        return PeriodicTask(
            "drift",
            check,
            interval_seconds,
            jitter=jitter,
            transient=_deferred,
            singleton=True,  # one comparison with each WMS per interval, not one per replica
        )

    async def check_oversell(self, services: Services) -> int:
        """Published figures above what the ledger allows now raise OVERSELL_RISK."""

        async with self.sessions() as session:
            published = list(
                await session.execute(
                    select(
                        PublishedAvailabilityRow.channel, PublishedAvailabilityRow.sku
                    ).distinct()
                )
            )
        by_channel: dict[str, list[str]] = {}
        for channel, sku in published:
            by_channel.setdefault(channel, []).append(sku)
        owner = self.registry.warehouses[0].name if self.registry.warehouses else "wms"
        raised = 0
        for channel, skus in by_channel.items():
            current = await read_availability(
                services,
                skus=skus,
                channel=channel,
                promise=Promise.SHIP,
                at=None,
                location_ids=None,
            )
            raised += await oversell_risks(
                self.sessions, self.catalogue, current, owner_source=owner, now=self.clock()
            )
        return raised

    async def check(self, skus: list[str] | None = None) -> DriftReport:
        """Compare every position the ledger knows (or ``skus``) with each WMS's snapshot."""
        now = self.clock()
        report = DriftReport()
        async with self.sessions() as session:
            query = select(InventoryPositionRow)
            if skus:
                query = query.where(InventoryPositionRow.sku.in_(skus))
            positions = {(p.sku, p.location_id): p for p in await session.scalars(query)}
        wanted = skus or sorted({sku for sku, _ in positions})
        healed: list[tuple[str, str]] = []
        for wms in self.registry.warehouses:
            snapshot = await wms.stock(wanted, None) if wanted else []
            for row in snapshot:
                key = (row.sku, row.location_id)
                report.compared += 1
                differences = compare(positions.get(key), row, self.tolerance)
                if differences:
                    report.drifting[key] = differences
                    report.raised += await self._watch(wms.name, key, differences, now)
                else:
                    healed.append(key)
        await self._forget(healed)
        return report

    async def _watch(
        self,
        source: str,
        key: tuple[str, str],
        differences: dict[str, dict[str, int]],
        now: datetime,
    ) -> int:
        async with self.sessions() as session, session.begin():
            watch = await session.get(DriftWatchRow, key)
            if watch is None:
                session.add(
                    DriftWatchRow(
                        sku=key[0],
                        location_id=key[1],
                        first_seen_at=now,
                        last_seen_at=now,
                        differences=differences,
                    )
                )
                return 0
            watch.last_seen_at = now
            watch.differences = differences
            first_seen = watch.first_seen_at
        if now - first_seen < self.grace:
            return 0
        sku, location = key
        summary = ", ".join(
            f"{bucket} ledger {d['ledger']} vs WMS {d['wms']}" for bucket, d in differences.items()
        )
        report = ExceptionReport(
            kind=ExceptionKind.INVENTORY_DRIFT,
            dedupe_key=f"drift:{source}:{sku}@{location}:{first_seen.isoformat()}",
            subject=f"{sku}@{location}",
            subject_type="sku@location",
            summary=f"{sku} at {location} drifted since {first_seen:%Y-%m-%d %H:%M}: {summary}",
            detected_at=now,
            reported_by="omnigraph:drift-monitor",
            owner_source=source,
            details={"sku": sku, "locationId": location, "differences": differences},
        )
        _, created = await take_in(self.sessions, self.catalogue, report)
        return int(created)

    async def _forget(self, keys: list[tuple[str, str]]) -> None:
        """Positions that agree again stop being watched (their grace starts afresh)."""
        if not keys:
            return
        async with self.sessions() as session, session.begin():
            await session.execute(
                delete(DriftWatchRow).where(
                    tuple_(DriftWatchRow.sku, DriftWatchRow.location_id).in_(keys)
                )
            )


def _busy(error: OperationalError) -> bool:
    """SQLite's "database is locked": another writer held the lock past the busy timeout."""
    return "database is locked" in str(error.orig)


def _deferred(error: Exception) -> str | None:
    """Why a failed check only waits for the next interval; None when it really failed."""
    if isinstance(error, OperationalError) and _busy(error):
        # SQLite has one writer: this process's writers take turns, but behind a long write by
        # another process on the same file the busy timeout can run out; the next check comes
        # round anyway
        return "database busy"
    return source_failure(error)
