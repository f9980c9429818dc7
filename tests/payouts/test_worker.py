"""The reconciliation worker's two periodic tasks: each at its own interval, never both at once
(as when they were one loop), a source that does not answer deferring only its own run."""

from __future__ import annotations

import asyncio
from typing import Any

from structlog.testing import capture_logs

from omnigraph.core.errors import UpstreamUnavailable
from omnigraph.payouts.worker import ReconciliationWorker
from omnigraph.runtime.periodic import PeriodicRunner


class Clock:
    """Short waits end at once (the next turn of the event loop), the hour's never does."""

    def monotonic(self) -> float:
        return 0.0

    def time(self) -> float:
        return 0.0

    async def sleep(self, seconds: float) -> None:
        if seconds > 60:
            await asyncio.Future()
        await asyncio.sleep(0)


class Recorder:
    """Stands in for the reader, the reconciler and the sweep: notes what runs when."""

    def __init__(self) -> None:
        self.busy = False
        self.overlapped = False
        self.calls: list[str] = []
        self.sweep_started = asyncio.Event()
        self.finish_sweep = asyncio.Event()
        self.sync_fails = True
        self.reconciled_after_sweep = asyncio.Event()

    async def _work(self, name: str) -> None:
        self.overlapped |= self.busy
        self.busy = True
        self.calls.append(name)
        try:
            if name == "sweep":
                self.sweep_started.set()
                await self.finish_sweep.wait()
            elif name == "reconcile" and self.finish_sweep.is_set():
                self.reconciled_after_sweep.set()
            await asyncio.sleep(0)
        finally:
            self.busy = False

    async def sync_once(self) -> Any:
        if self.sync_fails:
            self.sync_fails = False
            raise UpstreamUnavailable("psp", "timed out")
        await self._work("sync")

    async def reconcile_pending(self) -> Any:
        await self._work("reconcile")

    async def sweep(self) -> Any:
        await self._work("sweep")


async def test_reconcile_and_the_returns_sweep_take_turns() -> None:
    recorder = Recorder()
    worker = ReconciliationWorker(
        recorder,  # type: ignore[arg-type]
        recorder,  # type: ignore[arg-type]
        recorder,  # type: ignore[arg-type]
        interval_seconds=0.01,
        sweep_interval_seconds=3600,
    )
    tasks = worker.periodic(jitter=0.1)
    assert [(t.name, t.interval, t.jitter) for t in tasks] == [
        ("reconcile", 0.01, 0.1),
        ("returns_sweep", 3600, 0.1),
    ]
    with capture_logs() as logs:
        async with PeriodicRunner(tasks, clock=Clock()):
            await asyncio.wait_for(recorder.sweep_started.wait(), timeout=5)
            calls = len(recorder.calls)
            for _ in range(50):  # reconcile's interval comes round meanwhile...
                await asyncio.sleep(0)
            while_sweeping = len(recorder.calls) - calls
            recorder.finish_sweep.set()
            await asyncio.wait_for(recorder.reconciled_after_sweep.wait(), timeout=5)
    assert while_sweeping == 0  # ...and it waited for the sweep
    assert not recorder.overlapped
    assert recorder.calls.count("sweep") == 1
    assert [(e["event"], e["task"]) for e in logs] == [("periodic_task_deferred", "reconcile")]
