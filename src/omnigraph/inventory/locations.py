"""The warehouses' locations, as last known good: what availability is counted over when a WMS
cannot be reached.

Availability comes from omnigraph's own ledger, but which locations exist (their type,
cut-off and time zone) is each WMS's to say. Every list a WMS answers is held in this process
and kept in the database (``warehouse_locations``, its confirmation refreshed at most every
:data:`CONFIRM_EVERY`), so while the WMS is down, and after a restart during the outage,
availability is still counted over the locations it last listed; a query's response says so in
``extensions.stale`` (the WMS, the list's age, why). The write happens beside the read, never in
its way: an availability read takes no write lock (on SQLite a writer holding the database would
otherwise hold every read), and shutting down waits for what is being written. A WMS never
reached has no list, and its locations are not invented: the read fails with
``UPSTREAM_UNAVAILABLE`` as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnigraph.core.errors import UpstreamUnavailable
from omnigraph.db.models import WarehouseLocationsRow
from omnigraph.db.upsert import insert_for
from omnigraph.sources.contract import WmsAdapter
from omnigraph.sources.parsing import parse_records
from omnigraph.sources.records import Location
from omnigraph.sources.stale import StaleRead, served_stale

__all__ = ["CONFIRM_EVERY", "KnownLocations"]

# how often a WMS's answer is written back as confirmed while it keeps answering the same list:
# the age a restarted process reports during an outage is off by at most this
CONFIRM_EVERY = timedelta(seconds=60)

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class _Known:
    locations: list[Location]
    confirmed_at: datetime  # when the WMS last answered this list
    kept_at: datetime | None  # when it was last written to the database


class KnownLocations:
    """Each WMS's locations: as it answers them, else as it last listed them (marked stale)."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, clock: Callable[[], datetime]
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self._known: dict[str, _Known] = {}
        self._writing: set[asyncio.Task[None]] = set()

    async def of(self, wms: WmsAdapter) -> list[Location]:
        """``wms``'s locations; its last known list when it cannot answer, or
        :class:`UpstreamUnavailable` when it never did."""
        try:
            locations = await wms.locations()
        except UpstreamUnavailable as error:
            known = self._known.get(wms.name) or await self._load(wms.name)
            if known is None:
                raise
            age = (self.clock() - known.confirmed_at).total_seconds()
            served_stale(
                StaleRead(
                    wms.name,
                    max(age, 0.0),
                    f"{error.message}; availability counted over its last known locations",
                )
            )
            return known.locations
        await self._confirm(wms.name, locations)
        return locations

    async def _confirm(self, source: str, locations: list[Location]) -> None:
        now = self.clock()
        held = self._known.get(source)
        if (
            held is not None
            and held.locations == locations
            and held.kept_at is not None
            and now - held.kept_at < CONFIRM_EVERY
        ):
            self._known[source] = _Known(locations, now, held.kept_at)
            return
        # held before the write, so reads arriving meanwhile do not write it again
        self._known[source] = _Known(locations, now, now)
        task = asyncio.create_task(self._keep(source, locations, now))
        self._writing.add(task)
        task.add_done_callback(self._writing.discard)

    async def _keep(self, source: str, locations: list[Location], now: datetime) -> None:
        rows = [location.model_dump(mode="json", by_alias=True) for location in locations]
        try:
            async with self.sessions() as session, session.begin():
                insert = insert_for(session)
                statement = insert(WarehouseLocationsRow).values(
                    source=source, locations=rows, confirmed_at=now
                )
                await session.execute(
                    statement.on_conflict_do_update(
                        index_elements=["source"],
                        set_={"locations": rows, "confirmed_at": now},
                    )
                )
        except SQLAlchemyError as error:
            # the list is still held here; the next answer tries to keep it again
            held = self._known.get(source)
            if held is not None and held.kept_at == now:
                self._known[source] = _Known(held.locations, held.confirmed_at, None)
            log.warning("warehouse_locations_not_kept", source=source, error=str(error))

    async def settled(self) -> None:
        """Wait until every list being written is in the database."""
        while self._writing:
            await asyncio.gather(*self._writing, return_exceptions=True)

    async def aclose(self) -> None:
        await self.settled()

    async def _load(self, source: str) -> _Known | None:
        async with self.sessions() as session:
            row = await session.get(WarehouseLocationsRow, source)
        if row is None:
            return None
        known = _Known(
            parse_records(source, Location, row.locations), row.confirmed_at, row.confirmed_at
        )
        self._known.setdefault(source, known)
        return known
