"""The one loop behind every background task: interval, jitter, stop, wake-up, failures and the
metrics of each run. Time comes from a clock the tests move: nothing here sleeps."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from prometheus_client import generate_latest
from structlog.testing import capture_logs

from omnigraph.core.closing import cancelled
from omnigraph.core.errors import UpstreamUnavailable
from omnigraph.observability.metrics import ServiceMetrics
from omnigraph.runtime.periodic import (
    PeriodicRunner,
    PeriodicTask,
    repeating,
    run_periodic,
    source_failure,
)
from tests.observability.scrape import parse, value

EPOCH = 1_700_000_000.0
RUNS = "omnigraph_periodic_runs_total"
LAST_DURATION = "omnigraph_periodic_last_duration_seconds"
LAST_SUCCESS = "omnigraph_periodic_last_success_timestamp_seconds"


class FakeClock:
    """Moves only when a loop sleeps (by the whole wait) or a test advances it. ``parked``
    sleeps never end by themselves: only stop or wake-up ends the wait."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []
        self.parked = False
        self.sleeping = asyncio.Event()
        self._slept = asyncio.Condition()

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return EPOCH + self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def slept(self, times: int) -> None:
        """Return once the loops have begun ``times`` waits in all."""
        async with self._slept:
            await asyncio.wait_for(self._slept.wait_for(lambda: len(self.sleeps) >= times), 5)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.sleeping.set()
        async with self._slept:
            self._slept.notify_all()
        try:
            if self.parked:
                await asyncio.Future()  # until the loop cancels the wait
            self.now += seconds
            await asyncio.sleep(0)
        finally:
            self.sleeping.clear()


class Steps:
    """A step that records when it ran and does what the test planned for each run; the
    loop's stop event is set after ``runs`` runs."""

    def __init__(self, clock: FakeClock, runs: int, plan: list[Any] | None = None) -> None:
        self.clock = clock
        self.runs = runs
        self.plan = list(plan or [])
        self.ran_at: list[float] = []
        self.stop = asyncio.Event()

    async def __call__(self) -> bool | None:
        self.ran_at.append(self.clock.now)
        if len(self.ran_at) >= self.runs:
            self.stop.set()
        what = self.plan.pop(0) if self.plan else None
        if isinstance(what, Exception):
            raise what
        if isinstance(what, float):  # this run takes that long
            self.clock.advance(what)
            return None
        return what  # type: ignore[no-any-return]


def draws(*values: float) -> Callable[[], float]:
    remaining: Iterator[float] = iter(values)
    return lambda: next(remaining)


async def run(task: PeriodicTask, stop: asyncio.Event, clock: FakeClock, **options: Any) -> None:
    await asyncio.wait_for(run_periodic(task, stop, clock=clock, **options), timeout=5)


async def test_the_first_run_is_at_once_then_one_every_interval() -> None:
    clock = FakeClock()
    steps = Steps(clock, runs=4)
    await run(PeriodicTask("ticks", steps, interval=10.0), steps.stop, clock)
    assert steps.ran_at == [100.0, 110.0, 120.0, 130.0]
    assert clock.sleeps == [10.0, 10.0, 10.0]  # none after the run that stopped it


async def test_the_interval_is_counted_from_the_end_of_a_run() -> None:
    clock = FakeClock()
    steps = Steps(clock, runs=3, plan=[4.0, 4.0])
    await run(PeriodicTask("slow", steps, interval=10.0), steps.stop, clock)
    assert steps.ran_at == [100.0, 114.0, 128.0]


async def test_jitter_spreads_each_wait_within_its_bounds() -> None:
    clock = FakeClock()
    steps = Steps(clock, runs=4)
    task = PeriodicTask("spread", steps, interval=10.0, jitter=0.2)
    await run(task, steps.stop, clock, draw=draws(0.0, 0.5, 0.75))
    assert clock.sleeps == pytest.approx([8.0, 10.0, 11.0])
    drawn = random.Random(7)
    waits = [task.delay(drawn.random()) for _ in range(10_000)]
    assert all(8.0 <= wait < 12.0 for wait in waits)
    assert min(waits) < 8.1  # the whole range is used
    assert max(waits) > 11.9
    assert sum(waits) / len(waits) == pytest.approx(10.0, abs=0.05)  # the mean stays


async def test_jitter_leaves_the_global_random_state_alone() -> None:
    """Hypothesis (the source conformance checks) fails a strategy whose draw moved the global
    `random` state; a jittered loop running beside it in the process must not move it."""
    clock = FakeClock()
    steps = Steps(clock, runs=4)
    before = random.getstate()
    await run(PeriodicTask("private", steps, interval=10.0, jitter=0.2), steps.stop, clock)
    assert random.getstate() == before
    assert len(set(clock.sleeps)) == 3  # jittered all the same: three different waits
    assert all(8.0 <= wait < 12.0 for wait in clock.sleeps)


@pytest.mark.parametrize(("interval", "jitter"), [(0.0, 0.0), (-1.0, 0.0), (1.0, 1.0), (1.0, -0.1)])
def test_an_interval_must_be_positive_and_the_jitter_a_fraction(
    interval: float, jitter: float
) -> None:
    async def step() -> None:
        return None

    with pytest.raises(ValueError, match="bad"):
        PeriodicTask("bad", step, interval=interval, jitter=jitter)


async def test_a_step_with_more_to_do_runs_again_without_waiting() -> None:
    clock = FakeClock()
    steps = Steps(clock, runs=4, plan=[True, True, None])
    await run(PeriodicTask("batches", steps, interval=5.0), steps.stop, clock)
    assert steps.ran_at == [100.0, 100.0, 100.0, 105.0]
    assert clock.sleeps == [5.0]


async def test_stop_ends_a_waiting_loop_at_once() -> None:
    clock = FakeClock()
    clock.parked = True
    steps = Steps(clock, runs=99)
    loop = asyncio.create_task(
        run_periodic(PeriodicTask("idle", steps, 3600.0), steps.stop, clock=clock)
    )
    await asyncio.wait_for(clock.sleeping.wait(), timeout=5)
    steps.stop.set()
    await asyncio.wait_for(loop, timeout=5)
    assert steps.ran_at == [100.0]
    assert not clock.sleeping.is_set()  # the wait was cancelled, not left behind


async def test_stop_lets_the_run_under_way_finish() -> None:
    clock = FakeClock()
    stop = asyncio.Event()
    started, release = asyncio.Event(), asyncio.Event()
    finished: list[bool] = []

    async def step() -> None:
        started.set()
        await release.wait()
        finished.append(True)

    runner = PeriodicRunner([PeriodicTask("long", step, 60.0)], clock=clock)
    loop = asyncio.create_task(runner.run(stop))
    await asyncio.wait_for(started.wait(), timeout=5)
    stop.set()
    await asyncio.sleep(0)
    assert not loop.done()  # the run is not cut short...
    release.set()
    await asyncio.wait_for(loop, timeout=5)  # ...and nothing runs after it
    assert finished == [True]
    assert clock.sleeps == []


async def test_the_wake_up_event_ends_the_wait_and_is_cleared() -> None:
    clock = FakeClock()
    clock.parked = True
    wakeup = asyncio.Event()
    steps = Steps(clock, runs=3)
    task = PeriodicTask("woken", steps, interval=30.0, wakeup=wakeup)
    loop = asyncio.create_task(run_periodic(task, steps.stop, clock=clock))
    for runs in (1, 2):
        await clock.slept(runs)
        assert len(steps.ran_at) == runs
        wakeup.set()
    await asyncio.wait_for(loop, timeout=5)
    assert steps.ran_at == [100.0, 100.0, 100.0]  # woken each time, no time passed
    assert not wakeup.is_set()


async def test_a_wake_up_during_a_run_is_not_lost() -> None:
    clock = FakeClock()
    clock.parked = True
    wakeup = asyncio.Event()
    ran = 0
    stop = asyncio.Event()

    async def step() -> None:
        nonlocal ran
        ran += 1
        if ran == 1:
            wakeup.set()  # work queued while the first run was under way
        else:
            stop.set()

    await run(PeriodicTask("queued", step, interval=30.0, wakeup=wakeup), stop, clock)
    assert ran == 2
    assert clock.sleeps == [30.0]  # the wait began, and ended at once


async def test_a_failed_run_is_logged_once_and_the_loop_goes_on() -> None:
    clock = FakeClock()
    boom = RuntimeError("boom")
    steps = Steps(clock, runs=3, plan=[boom])
    task = PeriodicTask("fragile", steps, interval=1.0, context={"worker": "w1"})
    with capture_logs() as logs:
        await run(task, steps.stop, clock)
    assert steps.ran_at == [100.0, 101.0, 102.0]
    assert logs == [
        {
            "event": "periodic_task_failed",
            "log_level": "error",
            "task": "fragile",
            "worker": "w1",
            "exc_info": boom,
        }
    ]


async def test_a_transient_failure_is_a_warning_without_traceback() -> None:
    clock = FakeClock()
    down = UpstreamUnavailable("wms", "connection refused")
    steps = Steps(clock, runs=2, plan=[down])
    task = PeriodicTask("feed", steps, interval=1.0, transient=source_failure)
    with capture_logs() as logs:
        await run(task, steps.stop, clock)
    assert logs == [
        {
            "event": "periodic_task_deferred",
            "log_level": "warning",
            "task": "feed",
            "reason": down.message,
        }
    ]
    assert source_failure(RuntimeError("not a source")) is None


async def test_cancelling_a_loop_is_not_a_failure() -> None:
    clock = FakeClock()
    started = asyncio.Event()

    async def step() -> None:
        started.set()
        await asyncio.Future()

    with capture_logs() as logs:
        loop = asyncio.create_task(
            run_periodic(PeriodicTask("hung", step, 1.0), asyncio.Event(), clock=clock)
        )
        await asyncio.wait_for(started.wait(), timeout=5)
        loop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop
    assert logs == []


async def test_the_runner_runs_each_task_until_stopped() -> None:
    clock = FakeClock()
    clock.parked = True
    ran: list[str] = []

    def step(name: str) -> Callable[[], Any]:
        async def record() -> None:
            ran.append(name)

        return record

    runner = PeriodicRunner(
        [PeriodicTask("a", step("a"), 1.0), PeriodicTask("b", step("b"), 2.0)], clock=clock
    )
    async with runner:
        await clock.slept(2)
        assert sorted(ran) == ["a", "b"]
    assert clock.sleeps == [1.0, 2.0]
    assert sorted(ran) == ["a", "b"]
    with pytest.raises(ValueError, match="must differ"):
        PeriodicRunner([PeriodicTask("a", step("a"), 1.0), PeriodicTask("a", step("a"), 1.0)])


async def test_each_run_is_counted_by_outcome_and_timed_in_the_scrape() -> None:
    metrics = ServiceMetrics()
    clock = FakeClock()
    down = UpstreamUnavailable("psp", "timed out")
    steps = Steps(clock, runs=4, plan=[2.5, RuntimeError("boom"), down, 0.75])
    task = PeriodicTask("reconcile", steps, interval=30.0, transient=source_failure)
    before = parse(generate_latest(metrics.registry).decode())
    assert value(before, RUNS, task="reconcile", outcome="ok") == 0
    with capture_logs():
        await run(task, steps.stop, clock, observer=metrics.periodic)
    samples = parse(generate_latest(metrics.registry).decode())
    assert value(samples, RUNS, task="reconcile", outcome="ok") == 2
    assert value(samples, RUNS, task="reconcile", outcome="failed") == 1
    assert value(samples, RUNS, task="reconcile", outcome="deferred") == 1
    assert value(samples, LAST_DURATION, task="reconcile") == 0.75
    # the second success ended at 100 + 2.5 + 3 waits of 30 + 0.75
    assert value(samples, LAST_SUCCESS, task="reconcile") == EPOCH + 193.25
    # a task is in the scrape from its start, before it first succeeds
    idle = ServiceMetrics()
    idle.periodic.attach("drift")
    samples = parse(generate_latest(idle.registry).decode())
    assert (LAST_SUCCESS, frozenset({("task", "drift")})) in samples
    assert value(samples, LAST_SUCCESS, task="drift") == 0
    assert value(samples, RUNS, task="drift", outcome="failed") == 0
    assert (RUNS, frozenset({("task", "drift"), ("outcome", "failed")})) in samples


async def test_repeating_work_runs_while_its_block_runs_and_stops_with_it() -> None:
    done: list[int] = []

    async def work() -> None:
        done.append(len(done))

    async with repeating(0, work):
        for _ in range(10):  # each turn of the loop lets the repeating work run once
            await asyncio.sleep(0)
        during = len(done)
    for _ in range(10):
        await asyncio.sleep(0)
    assert during >= 3
    assert len(done) == during  # nothing after the block ended


async def test_cancelled_waits_for_the_task_to_stop() -> None:
    stopped = asyncio.Event()

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            stopped.set()

    task = asyncio.create_task(forever())
    await asyncio.sleep(0)
    await cancelled(task)
    assert task.cancelled()
    assert stopped.is_set()
