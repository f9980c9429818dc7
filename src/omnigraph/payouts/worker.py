"""The reconciliation work run inside ``serve``: sync payouts and reconcile what changed, and now
and then sweep the returns for ones nobody refunded; two periodic tasks that take turns."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from omnigraph.payouts.reconciler import Reconciler
from omnigraph.payouts.returns import ReturnSweep
from omnigraph.payouts.sync import PaymentsReader
from omnigraph.runtime.periodic import PeriodicTask, source_task

__all__ = ["ReconciliationWorker"]


@dataclass
class ReconciliationWorker:
    reader: PaymentsReader
    reconciler: Reconciler
    sweep: ReturnSweep
    interval_seconds: float = field(kw_only=True)
    sweep_interval_seconds: float = field(kw_only=True)
    # One at a time, as when both were one loop: they write reconciliation lines and
    # exceptions, and SQLite has one writer.
    _turn: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)

    def periodic(self, *, jitter: float = 0.0) -> list[PeriodicTask]:
        """``reconcile`` every ``interval_seconds`` and ``returns_sweep`` every
        ``sweep_interval_seconds``, both at once on start; a source that does not answer defers
        the run to the next interval."""
        return [
            source_task("reconcile", self.reconcile, self.interval_seconds, jitter=jitter),
            source_task(
                "returns_sweep", self.sweep_returns, self.sweep_interval_seconds, jitter=jitter
            ),
        ]

    async def reconcile(self) -> None:
        """Read the payments feeds, then reconcile every payout they marked."""
        async with self._turn:
            await self.reader.sync_once()
            await self.reconciler.reconcile_pending()

    async def sweep_returns(self) -> None:
        """Flag every return received past its grace that nobody refunded."""
        async with self._turn:
            await self.sweep.sweep()
