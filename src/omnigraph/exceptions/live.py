"""Live exception events for subscribers: heard as they are committed, and from the audit trail.

Every status change is a row in ``exception_events``. Three ways bring it to this process's
subscribers, and each event is delivered once whichever arrives first:

- **at commit**: :meth:`ExceptionEventBus.watch` hooks the process's session factory, so an
  event committed here (the API, the in-process dispatcher, the detectors) reaches the
  subscribers here at once;
- **through Redis** (``OMNIGRAPH_REDIS_URL``): the same hook sends it on the
  ``<prefix>:events:exceptions`` channel, so subscribers on every other replica hear it within
  a Redis round trip;
- **by tailing the table**: ids only grow, so reading the rows past the last one seen carries
  changes made by any process, including those that publish nothing (a separately run
  ``omnigraph dispatch``, a replica without Redis, a message lost while Redis was away). It is the
  only cross-process path without Redis (every 0.25 s) and the safety net with it (every 1 s).
  Polling runs only while someone listens.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from omnigraph.db.models import ExceptionEventRow
from omnigraph.runtime.periodic import PeriodicTask, run_periodic
from omnigraph.runtime.pubsub import RedisChannel, Subscribers

__all__ = ["ExceptionEvent", "ExceptionEventBus"]

_PENDING = "omnigraph_exception_events"  # Session.info key: events flushed, not yet committed
_REMEMBERED = 10_000  # ids delivered lately, so an event arriving a second way is dropped


@dataclass(frozen=True, slots=True)
class ExceptionEvent:
    """One step in an exception's life, as subscribers receive it."""

    id: int
    exception_id: str
    at: datetime
    status: str
    actor: str
    note: str | None

    @classmethod
    def from_row(cls, row: ExceptionEventRow) -> ExceptionEvent:
        return cls(row.id, row.exception_id, row.at, row.status, row.actor, row.note)

    def as_message(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "exceptionId": self.exception_id,
            "at": self.at.isoformat(),
            "status": self.status,
            "actor": self.actor,
            "note": self.note,
        }

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> ExceptionEvent:
        return cls(
            int(message["id"]),
            str(message["exceptionId"]),
            datetime.fromisoformat(message["at"]),
            str(message["status"]),
            str(message["actor"]),
            None if message.get("note") is None else str(message["note"]),
        )


class ExceptionEventBus:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        poll_seconds: float | None = None,
        redis: Redis | None = None,
        channel: str = "omnigraph:events:exceptions",
    ) -> None:
        self.sessions = sessions
        self.poll_seconds = poll_seconds or (1.0 if redis is not None else 0.25)
        self._channel = RedisChannel(redis, channel, self._relayed) if redis is not None else None
        self._subscribers: Subscribers[ExceptionEvent] = Subscribers(self._channel, backlog=1000)
        self._poller: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._starting = asyncio.Lock()
        self._position = 0
        self._start = 0
        self._delivered: OrderedDict[int, None] = OrderedDict()
        self._listeners: list[Callable[[ExceptionEvent], None]] = []

    @property
    def subscribers(self) -> int:
        """How many subscribers listen in this process now."""
        return len(self._subscribers)

    def listen(self, listener: Callable[[ExceptionEvent], None]) -> None:
        """Call ``listener`` with every event committed here or relayed by another replica,
        subscribers or not (a cache that must forget what an event changes)."""
        self._listeners.append(listener)

    def watch(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        """Hear of every exception event committed through ``sessions`` as it is committed
        (and, with Redis, tell the other replicas)."""
        base: type[Session] = sessions.kw.get("sync_session_class") or Session
        # A class of its own, so that other session factories in the process are not hooked.
        announcing: type[Session] = type("AnnouncingSession", (base,), {})
        event.listen(announcing, "after_flush", _remember_flushed)
        event.listen(announcing, "after_rollback", _forget_flushed)
        event.listen(announcing, "after_commit", self._committed)
        sessions.configure(sync_session_class=announcing)

    def _committed(self, session: Session) -> None:
        rows: list[ExceptionEventRow] = session.info.pop(_PENDING, [])
        for row in sorted(rows, key=lambda row: row.id):
            committed = ExceptionEvent.from_row(row)
            for listener in self._listeners:
                listener(committed)
            self._deliver(committed)
            if self._channel is not None:
                self._channel.send(committed.as_message())

    def _relayed(self, message: dict[str, Any]) -> None:
        relayed = ExceptionEvent.from_message(message)
        for listener in self._listeners:
            listener(relayed)
        if relayed.id > self._start:  # not one from before the first subscriber came
            self._deliver(relayed)

    def _deliver(self, delivered: ExceptionEvent) -> None:
        if not self._subscribers or delivered.id in self._delivered:
            return
        self._delivered[delivered.id] = None
        if len(self._delivered) > _REMEMBERED:
            self._delivered.popitem(last=False)
        self._subscribers.deliver(delivered)

    async def subscribe(self) -> AsyncIterator[ExceptionEvent]:
        """Every exception event from now on, in the order they reach this process, until the
        subscriber leaves."""
        # not Subscribers.listening: the first subscriber starts the poller before it hears
        # anything, so that nothing it hears is delivered twice
        queue: asyncio.Queue[ExceptionEvent] = asyncio.Queue(maxsize=self._subscribers.backlog)
        async with contextlib.AsyncExitStack() as stack:
            if self._channel is not None:
                await stack.enter_async_context(self._channel.listening())
            async with self._starting:  # two first subscribers must not start two pollers
                if self._poller is None or self._poller.done():
                    self._position = self._start = await self._latest_id()
                    self._delivered.clear()
                    self._stop = asyncio.Event()
                    poll = PeriodicTask("exception_events", self._poll_once, self.poll_seconds)
                    self._poller = asyncio.create_task(run_periodic(poll, self._stop))
                self._subscribers.queues.add(queue)
            try:
                while True:
                    yield await queue.get()
            finally:
                self._subscribers.queues.discard(queue)
                if not self._subscribers:
                    await self._stop_polling()

    async def _stop_polling(self) -> None:
        """Stop polling; the poller finishes its current read so no connection is left open."""
        poller, self._poller = self._poller, None
        if poller is not None:
            self._stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await poller

    async def aclose(self) -> None:
        await self._stop_polling()
        if self._channel is not None:
            await self._channel.aclose()

    async def _latest_id(self) -> int:
        async with self.sessions() as session:
            latest = await session.scalar(select(func.max(ExceptionEventRow.id)))
            return int(latest or 0)

    async def _poll_once(self) -> bool:
        """Deliver the events past the last one seen; True (read again at once) if any."""
        async with self.sessions() as session:
            rows = list(
                await session.scalars(
                    select(ExceptionEventRow)
                    .where(ExceptionEventRow.id > self._position)
                    .order_by(ExceptionEventRow.id)
                    .limit(500)
                )
            )
        for row in rows:
            self._position = row.id
            self._deliver(ExceptionEvent.from_row(row))
        return bool(rows)


def _remember_flushed(session: Session, _flush_context: Any) -> None:
    # After a flush the new rows have their ids, and ``session.new`` still lists them.
    rows = [row for row in session.new if isinstance(row, ExceptionEventRow)]
    if rows:
        session.info.setdefault(_PENDING, []).extend(rows)


def _forget_flushed(session: Session) -> None:
    session.info.pop(_PENDING, None)
