"""One writer at a time on SQLite, and a commit that a timeout cannot cut in half.

SQLite has one write lock per database. Left to itself, each writer waits for it in SQLite's
busy handler (a sleep-and-retry that serves no one in order) and fails with "database is
locked" once ``busy_timeout`` runs out; under a few dozen concurrent writers some always did.
So on SQLite every write transaction (``async with session.begin():``, the only way omnigraph
writes) first queues on this process's :class:`WriteQueue` (an ``asyncio.Lock``: first come,
first served, without holding a pooled connection while it waits), then opens the database
transaction with ``BEGIN IMMEDIATE`` just before its first statement, taking SQLite's write
lock before its first read, so it never has to upgrade a read snapshot into a write (which
SQLite refuses at once, busy handler or not). Another process on the same file (a command run
beside the service, subgraph processes sharing one file) still waits in that BEGIN, in the busy
handler: for ``busy_timeout``, or for what a PRAGMA run first in the transaction set (an
idempotency key's wait, ``omnigraph.db.idempotency``). Reads do not queue: they run beside the
writer, as WAL allows.

PostgreSQL needs no queue (row locks do that work) and keeps its behaviour; the rest is shared:

- **The commit finishes.** Once a write transaction's commit (or its rollback after an error)
  has started, a cancellation (the operation's execution timeout) waits for it to end and is
  raised afterwards, so a write is never left half-known: it is applied or it is not.
- **An operation knows what it changed.** :func:`tracking_writes` starts a record for one
  GraphQL operation; every write transaction that commits a change during it counts there, so
  an operation cut off by its timeout can say whether it applied anything (``applied``).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary, WeakSet

from sqlalchemy import Connection, Engine, TextClause, event
from sqlalchemy.ext.asyncio import AsyncSession, AsyncSessionTransaction
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

__all__ = [
    "OperationWrites",
    "QueuedSession",
    "WriteQueue",
    "queue_writes",
    "tracking_writes",
]

# the execution option a queued write transaction's connection carries: its BEGIN is IMMEDIATE
IMMEDIATE = "omnigraph_begin_immediate"
# session.info: whether the current write transaction changed anything
_WROTE = "omnigraph_wrote"


class WriteQueue:
    """The process's queue of SQLite write transactions on one engine: one at a time."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._holder: asyncio.Task[Any] | None = None

    async def acquire(self) -> None:
        me = asyncio.current_task()
        if me is not None and self._holder is me:
            # the inner transaction would wait for the outer one, which waits for it
            raise RuntimeError("a write transaction was begun inside another on the same task")
        await self._lock.acquire()
        self._holder = me

    def release(self) -> None:
        self._holder = None
        self._lock.release()


_queues: WeakKeyDictionary[Engine, WriteQueue] = WeakKeyDictionary()


def queue_writes(engine: Engine) -> WriteQueue:
    """Make every queued write transaction on ``engine`` (a SQLite one) wait for its turn and
    begin with ``BEGIN IMMEDIATE``; the queue, made once per engine."""
    queue = _queues.get(engine)
    if queue is None:
        queue = _queues[engine] = WriteQueue()
        event.listen(engine, "begin", _begin_pending)
        event.listen(engine, "before_cursor_execute", _begin_immediate)
        event.listen(engine, "commit", _ended)
        event.listen(engine, "rollback", _ended)
    return queue


# connections of queued write transactions whose BEGIN IMMEDIATE is still to come
_pending: WeakSet[Connection] = WeakSet()


def _begin_pending(connection: Connection) -> None:
    if connection.get_execution_options().get(IMMEDIATE):
        _pending.add(connection)


def _begin_immediate(connection: Connection, cursor: Any, statement: str, *_: Any) -> None:
    """A queued write transaction takes SQLite's write lock before its first statement (a
    PRAGMA aside: ``busy_timeout`` may be set first, for how long this BEGIN waits for another
    process), so it never has to turn a read into a write. Other transactions keep the
    driver's own deferred begin."""
    if connection in _pending and statement.lstrip()[:6].upper() != "PRAGMA":
        _pending.discard(connection)
        cursor.execute("BEGIN IMMEDIATE")


def _ended(connection: Connection) -> None:
    _pending.discard(connection)


@dataclass(slots=True)
class OperationWrites:
    """What one GraphQL operation has written so far."""

    committed: int = 0  # write transactions that changed something and committed

    @property
    def applied(self) -> bool:
        return self.committed > 0


_operation: contextvars.ContextVar[OperationWrites | None] = contextvars.ContextVar(
    "omnigraph_operation_writes", default=None
)


@contextlib.contextmanager
def tracking_writes() -> Iterator[OperationWrites]:
    """Count the write transactions committed from here on in this context (the tasks it
    starts included)."""
    writes = OperationWrites()
    token = _operation.set(writes)
    try:
        yield writes
    finally:
        _operation.reset(token)


class _TrackedSession(Session):
    """The ORM session under :class:`QueuedSession`: it notes whether a transaction wrote."""


@event.listens_for(_TrackedSession, "after_flush")
def _flushed(session: Session, _flush: UOWTransaction) -> None:
    session.info[_WROTE] = True


# raw SQL that changes nothing
_READS = frozenset({"SELECT", "PRAGMA", "SET", "SHOW"})


@event.listens_for(_TrackedSession, "do_orm_execute")
def _executed(state: ORMExecuteState) -> None:
    if state.is_select:
        return
    if isinstance(state.statement, TextClause):
        words = state.statement.text.split(None, 1)
        if words and words[0].upper() in _READS:
            return
    state.session.info[_WROTE] = True  # an INSERT, UPDATE or DELETE


class QueuedSession(AsyncSession):
    """``AsyncSession`` whose ``begin()`` is a :class:`QueuedTransaction`."""

    sync_session_class = _TrackedSession

    def begin(self) -> AsyncSessionTransaction:
        queue = _queues.get(self.sync_session.get_bind())  # type: ignore[arg-type]
        return QueuedTransaction(self, queue)


class QueuedTransaction(AsyncSessionTransaction):
    """``async with session.begin():`` that waits for its turn to write (on SQLite), commits
    even when cancelled once the commit has started, and reports a committed change to the
    operation's :class:`OperationWrites`."""

    def __init__(self, session: AsyncSession, queue: WriteQueue | None) -> None:
        super().__init__(session)
        self.queue = queue
        self.queued = False

    async def start(self, is_ctxmanager: bool = False) -> AsyncSessionTransaction:
        if self.queue is not None and not is_ctxmanager:
            raise TypeError("a write transaction on SQLite is begun with `async with`")
        if self.queue is not None:
            await self.queue.acquire()
            self.queued = True
        try:
            await super().start(is_ctxmanager)
            self.session.info[_WROTE] = False
            if self.queue is not None:
                # the connection now, marked so that its transaction begins IMMEDIATE (the
                # mark is this checkout's only: the pooled connection serves readers too)
                await self.session.connection(execution_options={IMMEDIATE: True})
        except BaseException:
            await self._release_after(self._rollback_if_started())
            raise
        return self

    async def _rollback_if_started(self) -> None:
        if self.sync_transaction is not None:
            await self.rollback()

    async def __aexit__(self, type_: Any, value: Any, traceback: Any) -> None:
        # the commit (or the rollback after an error), once started, finishes before this
        # transaction gives its turn back, whatever cancels the task meanwhile
        ending = asyncio.ensure_future(super().__aexit__(type_, value, traceback))
        cancelled = False
        try:
            while not ending.done():
                try:
                    await asyncio.shield(ending)
                except asyncio.CancelledError:
                    if ending.cancelled():
                        raise
                    cancelled = True
                except Exception:  # the commit's own failure, raised below
                    pass
        finally:
            if ending.done():
                self._release()
            else:  # pragma: no cover - only when the loop itself is torn down
                ending.add_done_callback(lambda _: self._release())
        failure = ending.exception()
        if type_ is None and failure is None and self.session.info.get(_WROTE):
            writes = _operation.get()
            if writes is not None:
                writes.committed += 1
        if cancelled:
            # the cancellation comes through now, and the operation can tell what was applied
            raise asyncio.CancelledError
        if failure is not None:
            raise failure

    async def _release_after(self, step: Any) -> None:
        try:
            await step
        finally:
            self._release()

    def _release(self) -> None:
        if self.queued:
            self.queued = False
            assert self.queue is not None
            self.queue.release()
