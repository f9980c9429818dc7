"""Periodic work: one loop for every background task of the service.

A :class:`PeriodicTask` names an async ``step`` and how often to run it; :func:`run_periodic`
runs one until a stop event is set, and :class:`PeriodicRunner` runs several as asyncio tasks of
the process. Between two runs the loop waits ``interval`` seconds, spread by ``jitter`` (a
fraction: 0.1 waits between 90 % and 110 % of the interval, so loops started together drift
apart), and less when the stop event or the task's ``wakeup`` event is set. A step that returns
``True`` has more to do and runs again at once. The first run is immediate.

A failing step never ends its loop: the failure is logged once (``periodic_task_failed``, an
error with the traceback) and the next run comes at the next interval. A failure the task
declares ``transient`` (a source system that did not answer, a busy database) is a warning
without a traceback (``periodic_task_deferred``, with the reason). Stopping never interrupts a
step: the loop ends as soon as the step under way returns, or at once while it waits.

A task marked ``singleton`` must run in one process at a time however many replicas run it
(a feed reader, a scan): given :class:`Leases` shared by the replicas, the runner runs such a task
only while this process holds the task's lease. It asks for the lease before a run (a standby
process asks at each of its intervals and skips the run while another holds it), renews every
lease it holds each third of ``lease_seconds`` while it runs (long steps and long intervals
included), stops running a task two thirds of a lease after its last renewal (the last third is
the clock skew tolerated between replicas), and releases its leases when it stops, so another
process takes over at its next interval; a process that dies without releasing is taken over
``lease_seconds`` after its last renewal. Without leases every task runs here.

Each run is reported to an optional :class:`PeriodicObserver` (the service's metrics count runs
by outcome and keep the last duration and the time of the last success). Time comes from a
:class:`Clock`, so tests drive the loops without sleeping.

No library was taken for this: APScheduler, aiojobs and aiocron schedule jobs (cron, interval
triggers, job stores) but none waits on a wake-up event or takes an injected clock and sleep,
and the loop is short.

Example::

    tasks = [PeriodicTask("ledger", ledger.step, interval=1.0, transient=source_failure)]
    async with PeriodicRunner(tasks, observer=metrics.periodic):
        ...  # the tasks run until the block ends
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol, Self

import structlog

from omnigraph.core.closing import AsyncClosing, cancelled
from omnigraph.core.errors import OmnigraphError

__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "PERIODIC_OUTCOMES",
    "SYSTEM_CLOCK",
    "Clock",
    "Leases",
    "PeriodicObserver",
    "PeriodicOutcome",
    "PeriodicRecorder",
    "PeriodicRunner",
    "PeriodicTask",
    "SystemClock",
    "repeating",
    "run_periodic",
    "source_failure",
    "source_task",
]

# the jitter's own stream: the global `random` is the process's shared state (a library or a test
# seeding or watching it must not see this loop's draws, nor this loop theirs)
_JITTER = random.Random()

log = structlog.get_logger(__name__)

# How long a singleton task's lease lasts unless renewed (settings.task_lease_seconds)
DEFAULT_LEASE_SECONDS: Final = 30.0

PeriodicOutcome = Literal["ok", "deferred", "failed"]
# ok: the step returned; deferred: it raised what its task calls transient; failed: anything else
PERIODIC_OUTCOMES: Final[tuple[PeriodicOutcome, ...]] = ("ok", "deferred", "failed")

# Called after every run with its outcome, its duration in seconds and the wall-clock time it
# ended (seconds since the epoch).
PeriodicRecorder = Callable[[PeriodicOutcome, float, float], None]


class PeriodicObserver(Protocol):
    """Told of each task as its loop starts (the service's metrics are one)."""

    def attach(self, task: str) -> PeriodicRecorder | None:
        """Start watching ``task``; return what to call after each of its runs, or None."""
        ...


class Clock(Protocol):
    """Where the loops read the time and wait; tests hand in one they move themselves."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (durations)."""
        ...

    def time(self) -> float:
        """Seconds since the epoch (when a run ended)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return after ``seconds`` (the loop cancels it when stopped or woken first)."""
        ...


class Leases(Protocol):
    """Leases shared by every replica (:class:`omnigraph.db.leases.LeaseStore`): at most one
    holder has each name at a time."""

    holder: str

    async def acquire(self, name: str, seconds: float) -> bool:
        """Take or renew ``name`` for ``seconds``; True when this holder has it now."""
        ...

    async def release(self, name: str) -> None:
        """Give ``name`` up now if this holder has it."""
        ...


class SystemClock:
    """The real time: :func:`time.monotonic`, :func:`time.time` and :func:`asyncio.sleep`."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


SYSTEM_CLOCK: Final = SystemClock()


def source_failure(error: Exception) -> str | None:
    """The reason to defer on a source system that did not answer or answered what its
    contract does not allow (an :class:`~omnigraph.core.errors.OmnigraphError`); None else."""
    return error.message if isinstance(error, OmnigraphError) else None


@dataclass(frozen=True, slots=True)
class PeriodicTask:
    """Work to run every ``interval`` seconds until stopped.

    ``step`` returns ``True`` when it has more to do now (it runs again without waiting);
    ``None`` or ``False`` waits for the next interval. ``transient`` says which failures are
    only a deferral: it returns the reason to log as a warning, or None for a real failure.
    ``wakeup``, when set, ends the wait early (and is cleared). ``context`` goes into the
    failure logs (never into metric labels). ``singleton`` tasks run in one process at a time
    when the runner is given :class:`Leases` (the lease is named after the task).
    """

    name: str
    step: Callable[[], Awaitable[bool | None]]
    interval: float
    jitter: float = 0.0
    wakeup: asyncio.Event | None = None
    transient: Callable[[Exception], str | None] | None = None
    context: Mapping[str, object] = field(default_factory=dict)
    singleton: bool = False

    def __post_init__(self) -> None:
        if not self.interval > 0:
            raise ValueError(f"{self.name}: the interval must be positive, not {self.interval}")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"{self.name}: the jitter must be in [0, 1), not {self.jitter}")

    def delay(self, draw: float) -> float:
        """The wait after a run, for ``draw`` uniform in [0, 1)."""
        return self.interval * (1 + self.jitter * (2 * draw - 1))


def source_task(
    name: str, step: Callable[[], Awaitable[bool | None]], interval: float, *, jitter: float = 0.0
) -> PeriodicTask:
    """A task that reads the source systems: a singleton (one reader per feed cursor, and a
    scan by every replica would ask the sources once per replica), deferred, not failed, when
    a source does not answer."""
    return PeriodicTask(
        name, step, interval, jitter=jitter, transient=source_failure, singleton=True
    )


async def run_periodic(
    task: PeriodicTask,
    stop: asyncio.Event,
    *,
    observer: PeriodicObserver | None = None,
    clock: Clock = SYSTEM_CLOCK,
    draw: Callable[[], float] = _JITTER.random,
    gate: Callable[[], Awaitable[bool]] | None = None,
) -> None:
    """Run ``task`` now and after every interval until ``stop`` is set; with a ``gate``, only
    the runs it allows (the others are skipped, not reported: the loop waits its interval)."""
    record = observer.attach(task.name) if observer is not None else None
    while not stop.is_set():
        if gate is not None and not await gate():
            await _wait(clock, task.delay(draw()), stop, task.wakeup)
            continue
        more = await _run_once(task, record, clock)
        if more or stop.is_set():
            continue
        await _wait(clock, task.delay(draw()), stop, task.wakeup)


async def _run_once(task: PeriodicTask, record: PeriodicRecorder | None, clock: Clock) -> bool:
    started = clock.monotonic()
    outcome: PeriodicOutcome = "ok"
    more = False
    try:
        more = bool(await task.step())
    except Exception as error:  # a bad run must not end the loop: the next one retries
        reason = task.transient(error) if task.transient is not None else None
        if reason is not None:
            outcome = "deferred"
            log.warning("periodic_task_deferred", task=task.name, reason=reason, **task.context)
        else:
            outcome = "failed"
            log.error("periodic_task_failed", task=task.name, exc_info=error, **task.context)
    if record is not None:
        record(outcome, clock.monotonic() - started, clock.time())
    return more


async def _wait(
    clock: Clock, seconds: float, stop: asyncio.Event, wakeup: asyncio.Event | None
) -> None:
    """Wait ``seconds``, or until ``stop`` or ``wakeup`` is set; then ``wakeup`` is cleared."""
    waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(clock.sleep(seconds))]
    if wakeup is not None:
        waits.append(asyncio.ensure_future(wakeup.wait()))
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()
        await asyncio.wait(waits)  # each ends its cancellation: nothing is left behind
    if wakeup is not None:
        wakeup.clear()


class _HeldLeases:
    """The leases of one runner's singleton tasks: which this process holds, and until when it
    may act on each without asking again (monotonic time)."""

    def __init__(self, store: Leases, seconds: float, clock: Clock) -> None:
        if not seconds > 0:
            raise ValueError(f"a lease must last a positive time, not {seconds}")
        self.store = store
        self.seconds = seconds
        self.clock = clock
        self.valid_until: dict[str, float] = {}

    async def hold(self, name: str) -> bool:
        """Whether this process may run ``name`` now: held and renewed lately, or taken now."""
        if self.clock.monotonic() < self.valid_until.get(name, float("-inf")):
            return True
        return await self._take(name)

    async def renew(self) -> None:
        for name in list(self.valid_until):
            await self._take(name)

    async def release(self) -> None:
        for name in list(self.valid_until):
            del self.valid_until[name]
            try:
                await self.store.release(name)
            except Exception as error:  # it lapses by itself: only later than it could have
                log.warning("lease_release_failed", task=name, reason=repr(error))
            else:
                log.info("lease_released", task=name, holder=self.store.holder)

    async def _take(self, name: str) -> bool:
        asked = self.clock.monotonic()
        try:
            held = await self.store.acquire(name, self.seconds)
        except Exception as error:  # the database did not answer: not ours until it does
            log.warning("lease_unavailable", task=name, reason=repr(error))
            held = False
        if held:
            if name not in self.valid_until:
                log.info("lease_acquired", task=name, holder=self.store.holder)
            # a third of the lease short of its row's expiry: the clock skew tolerated
            self.valid_until[name] = asked + self.seconds * 2 / 3
        elif self.valid_until.pop(name, None) is not None:
            log.warning("lease_lost", task=name, holder=self.store.holder)
        return held


class PeriodicRunner(AsyncClosing):
    """Runs :class:`PeriodicTask` loops as asyncio tasks of this process.

    ``start()`` then ``await stop()``, or ``async with runner:``, or ``await runner.run(stop)``
    to run them until an event of the caller's (a signal handler's) is set. Given ``leases``,
    each singleton task runs only while this process holds its lease (see the module).
    """

    def __init__(
        self,
        tasks: Iterable[PeriodicTask],
        *,
        observer: PeriodicObserver | None = None,
        clock: Clock = SYSTEM_CLOCK,
        draw: Callable[[], float] = _JITTER.random,
        leases: Leases | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
    ) -> None:
        self.tasks: Sequence[PeriodicTask] = tuple(tasks)
        names = [task.name for task in self.tasks]
        if len(set(names)) != len(names):
            raise ValueError(f"periodic task names must differ: {names}")
        self.observer = observer
        self.clock = clock
        self.draw = draw
        singletons = any(task.singleton for task in self.tasks)
        self.leases = (
            _HeldLeases(leases, lease_seconds, clock) if leases is not None and singletons else None
        )
        self._stop = asyncio.Event()
        self._running: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start every loop; each runs its first step at once."""
        if self._running:
            raise RuntimeError("the periodic tasks are running already")
        self._stop = asyncio.Event()
        self._running = [
            asyncio.create_task(self._loop(task, self._stop), name=f"periodic:{task.name}")
            for task in self.tasks
        ]
        if self.leases is not None:
            keeper = asyncio.create_task(self._keep(self._stop), name="periodic:leases")
            self._running.append(keeper)

    async def stop(self) -> None:
        """Stop every loop: each ends when its step under way returns, or at once if waiting;
        then the leases this process holds are released."""
        self._stop.set()
        running, self._running = self._running, []
        await asyncio.gather(*running, return_exceptions=True)
        if self.leases is not None:
            await self.leases.release()

    async def run(self, stop: asyncio.Event) -> None:
        """Run every loop until ``stop`` is set, then return when they all have ended (and
        the leases this process holds are released)."""
        loops = [self._loop(task, stop) for task in self.tasks]
        if self.leases is not None:
            loops.append(self._keep(stop))
        try:
            await asyncio.gather(*loops)
        finally:
            if self.leases is not None:
                await self.leases.release()

    async def _keep(self, stop: asyncio.Event) -> None:
        """Renew the leases this process holds every third of a lease until stopped."""
        assert self.leases is not None
        while not stop.is_set():
            await _wait(self.clock, self.leases.seconds / 3, stop, None)
            if not stop.is_set():
                await self.leases.renew()

    async def __aenter__(self) -> Self:
        self.start()
        return self

    async def aclose(self) -> None:
        await self.stop()

    def _loop(self, task: PeriodicTask, stop: asyncio.Event) -> Coroutine[Any, Any, None]:
        leases = self.leases if task.singleton else None
        return run_periodic(
            task,
            stop,
            observer=self.observer,
            clock=self.clock,
            draw=self.draw,
            gate=functools.partial(leases.hold, task.name) if leases is not None else None,
        )


@contextlib.asynccontextmanager
async def repeating(every: float, work: Callable[[], Awaitable[object]]) -> AsyncIterator[None]:
    """``work()`` every ``every`` seconds while the block runs (first after ``every``), stopped
    when it ends: for work that lives only as long as one operation, such as renewing its
    claim; long-lived work is a :class:`PeriodicTask`."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(every)
            await work()

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        await cancelled(task)
