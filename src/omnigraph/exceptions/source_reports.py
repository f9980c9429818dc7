"""Exceptions reported by source systems on their change feeds (the WMS reports shorts,
damages and missed pickups), read with a persisted cursor and handed to intake."""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnigraph.db.feed_positions import feed_position, move_feed_position
from omnigraph.exceptions.catalogue import ExceptionCatalogue, ExceptionKind
from omnigraph.exceptions.intake import ExceptionReport, take_in
from omnigraph.runtime.periodic import PeriodicTask, source_task
from omnigraph.sources.contract import JsonRecord, SourceClient
from omnigraph.sources.registry import SourceRegistry

__all__ = ["REPORT_EVENT", "ReportSyncProgress", "SourceReportReader"]

REPORT_EVENT = "exception.reported"
FEED = "exception-reports"
log = structlog.get_logger(__name__)


@dataclass(slots=True)
class ReportSyncProgress:
    """What a read of the feeds did; every event read is counted once: ``events_read ==
    new + known + malformed + other_events``. ``known`` are reports already recorded (a
    re-sent report, or one read before); ``other_events`` are not exception reports."""

    events_read: int = 0
    new: int = 0
    known: int = 0
    malformed: int = 0
    other_events: int = 0


@dataclass(eq=False)
class SourceReportReader:
    """Follows each WMS change feed and takes its exception reports in, exactly once each."""

    sessions: async_sessionmaker[AsyncSession]
    registry: SourceRegistry
    catalogue: ExceptionCatalogue
    _: KW_ONLY
    page_size: int = 200
    skipped: int = field(default=0, init=False)

    def periodic(self, *, poll_seconds: float = 2.0, jitter: float = 0.0) -> PeriodicTask:
        """The reader as a background task: every feed read to its end every ``poll_seconds``
        (a feed that does not answer defers to the next poll)."""
        return source_task("report_feed", self._step, poll_seconds, jitter=jitter)

    async def _step(self) -> None:
        await self.sync_once()

    async def sync_once(self) -> int:
        """Read every WMS feed to its end; return how many new exceptions were recorded."""
        return (await self.sync()).new

    async def sync(self) -> ReportSyncProgress:
        """Read every WMS feed to its end; say what became of each event."""
        total = ReportSyncProgress()
        for wms in self.registry.warehouses:
            await self._follow(wms.client, total)
        return total

    async def _follow(self, client: SourceClient, total: ReportSyncProgress) -> None:
        cursor = await self._cursor(client.name)
        while True:
            events, next_cursor, more = await client.changes(cursor, self.page_size)
            total.events_read += len(events)
            for event in events:
                if event.get("type") != REPORT_EVENT:
                    total.other_events += 1
                    continue
                outcome = await self._take(client.name, event)
                if outcome is None:
                    total.malformed += 1
                elif outcome:
                    total.new += 1
                else:
                    total.known += 1
            if next_cursor != cursor:
                await self._save_cursor(client.name, next_cursor)
                cursor = next_cursor
            if not more or not events:
                return

    async def _take(self, source: str, event: JsonRecord) -> bool | None:
        """Whether the report is new (False: recorded already); None when malformed."""
        data: dict[str, Any] = event.get("data") or {}
        try:
            kind = ExceptionKind(data["kind"])
            report_id = str(data["id"])
            reported_at = datetime.fromisoformat(str(data.get("reportedAt") or event["occurredAt"]))
        except (KeyError, ValueError) as error:
            self.skipped += 1
            log.warning("report_malformed", source=source, event=event.get("id"), error=repr(error))
            return None
        order_ref = data.get("orderRef")
        storefront = self.registry.storefronts[0].name if self.registry.storefronts else None
        subject = (
            f"{storefront}:{order_ref}"
            if order_ref and storefront
            else str(order_ref or f"{data.get('sku')}@{data.get('locationId')}")
        )
        report = ExceptionReport(
            kind=kind,
            dedupe_key=f"{source}:report:{report_id}",
            subject=subject,
            subject_type="order" if order_ref else "sku@location",
            summary=str(data.get("detail") or f"{kind.value} reported by {source}"),
            detected_at=reported_at,
            reported_by=source,
            owner_source=source,
            order_source=storefront if order_ref else None,
            order_ref=str(order_ref) if order_ref else None,
            details={k: v for k, v in data.items() if k not in ("kind", "detail")},
        )
        _, new = await take_in(self.sessions, self.catalogue, report)
        return new

    async def _cursor(self, source: str) -> str | None:
        row = await feed_position(self.sessions, source, FEED)
        return row.cursor if row else None

    async def _save_cursor(self, source: str, cursor: str | None) -> None:
        async with self.sessions() as session, session.begin():
            await move_feed_position(session, source, FEED, cursor, datetime.now(UTC))
