"""The reconciliation loop run inside ``serve``: sync payouts, reconcile what changed, and now
and then sweep the returns for ones nobody refunded."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import timedelta

import structlog

from omnigraph.core.errors import OmnigraphError
from omnigraph.payouts.reconciler import Reconciler
from omnigraph.payouts.returns import ReturnSweep
from omnigraph.payouts.sync import PaymentsReader

__all__ = ["ReconciliationWorker"]

log = structlog.get_logger(__name__)


class ReconciliationWorker:
    def __init__(
        self,
        reader: PaymentsReader,
        reconciler: Reconciler,
        sweep: ReturnSweep,
        *,
        interval_seconds: float,
        sweep_interval_seconds: float,
    ) -> None:
        self.reader = reader
        self.reconciler = reconciler
        self.sweep = sweep
        self.interval = timedelta(seconds=interval_seconds)
        self.sweep_interval = sweep_interval_seconds

    async def run(self, stop: asyncio.Event) -> None:
        last_sweep: float | None = None
        while not stop.is_set():
            try:
                await self.reader.sync_once()
                await self.reconciler.reconcile_pending()
                if last_sweep is None or time.monotonic() - last_sweep >= self.sweep_interval:
                    await self.sweep.sweep()
                    last_sweep = time.monotonic()
            except OmnigraphError as error:
                log.warning("reconciliation_sources_unavailable", error=error.message)
            except Exception:
                log.exception("reconciliation_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval.total_seconds())
