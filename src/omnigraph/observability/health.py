"""Health, in three parts, for three readers.

- **Liveness** (``GET /livez``): the process answers. No I/O, so a slow database or a down
  source never gets a live process restarted.
- **Readiness** (``GET /readyz``): this process can serve: its own database answers a trivial
  query and holds the migrations this code needs. A source being down is not a reason to stop
  serving (the graph answers what the others know, with errors naming the one that is down).
- **Source status** (``GET /healthz``, the readiness plus each source's reachability): each
  source probed with one cheap call at most once per ``source_status_seconds``, however many
  requests ask; a request in between is answered from the last probe, with when it was made.

Both checks are kept for a while (:class:`KeptCheck`): concurrent requests share one check
under way, and the answer serves every request until it is older than its window, so these
unauthenticated paths cost the database at most one query a second and each source one probe a
window. No library was taken: ``async-lru`` coalesces calls and expires them, but on the event
loop's own timer, and tests move an injected clock instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Generic, Literal, TypeVar

import structlog
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnigraph.db.engine import migration_head, migration_revisions
from omnigraph.sources.registry import SourceRegistry

__all__ = ["READINESS_SECONDS", "Health", "KeptCheck", "Readiness"]

log = structlog.get_logger(__name__)

# How long a readiness answer is kept: one query a second at most, whatever the request rate.
READINESS_SECONDS: Final = 1.0
# The longest the database may take to answer the readiness query.
DATABASE_TIMEOUT_SECONDS: Final = 2.0

ResultT = TypeVar("ResultT")


class KeptCheck(Generic[ResultT]):
    """An async check run at most once per ``seconds`` of ``clock``: callers in between get
    the kept result, and callers while it runs wait for that same run."""

    def __init__(
        self,
        check: Callable[[], Awaitable[ResultT]],
        seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.check = check
        self.seconds = seconds
        self.clock = clock
        self._kept: tuple[float, ResultT] | None = None
        self._running: asyncio.Future[ResultT] | None = None

    async def get(self) -> ResultT:
        kept = self._kept
        if kept is not None and self.clock() < kept[0] + self.seconds:
            return kept[1]
        if self._running is None:
            self._running = asyncio.ensure_future(self._run())
        # shielded: a caller that gives up (its client went away) leaves the run to the others
        return await asyncio.shield(self._running)

    async def _run(self) -> ResultT:
        started = self.clock()
        try:
            result = await self.check()
            self._kept = (started, result)
            return result
        finally:
            self._running = None

    async def aclose(self) -> None:
        """Cancel a run under way (the process is stopping)."""
        running, self._running = self._running, None
        if running is not None:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)


@dataclass(frozen=True, slots=True)
class Readiness:
    database: Literal["ok", "unavailable"]
    # ok: at this code's head, or past it (a newer release migrated the database, its
    # migrations keep older code working); behind: not all of this code's migrations ran
    migrations: Literal["ok", "behind", "unknown"]

    @property
    def ready(self) -> bool:
        return self.database == "ok" and self.migrations == "ok"

    def as_json(self) -> dict[str, Any]:
        return {
            "status": "ready" if self.ready else "unready",
            "database": self.database,
            "migrations": self.migrations,
        }


class Health:
    """Readiness and the sources' status of one process, each kept for its window."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        registry: SourceRegistry,
        *,
        source_status_seconds: float,
        now: Callable[[], datetime],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sessions = sessions
        self.registry = registry
        self.now = now
        self.head = migration_head()
        self.known = migration_revisions()
        self.readiness = KeptCheck(self._readiness, READINESS_SECONDS, clock)
        self.sources = KeptCheck(self._sources, source_status_seconds, clock)

    async def ready(self) -> Readiness:
        return await self.readiness.get()

    async def source_status(self) -> dict[str, dict[str, Any]]:
        return await self.sources.get()

    async def aclose(self) -> None:
        await self.readiness.aclose()
        await self.sources.aclose()

    async def _readiness(self) -> Readiness:
        try:
            async with asyncio.timeout(DATABASE_TIMEOUT_SECONDS), self.sessions() as session:
                revision = await session.scalar(text("SELECT version_num FROM alembic_version"))
        except (SQLAlchemyError, OSError, TimeoutError) as error:
            log.warning("readiness_database_unavailable", error=repr(error))
            return Readiness("unavailable", "unknown")
        if revision == self.head or (revision is not None and revision not in self.known):
            return Readiness("ok", "ok")
        log.warning("readiness_migrations_behind", database=revision, code=self.head)
        return Readiness("ok", "behind")

    async def _sources(self) -> dict[str, dict[str, Any]]:
        clients = self.registry.clients
        checks = await asyncio.gather(*(client.health() for client in clients.values()))
        checked_at = self.now().isoformat()
        return {
            name: {"kind": client.kind.value, **check, "checkedAt": checked_at}
            for (name, client), check in zip(clients.items(), checks, strict=True)
        }
