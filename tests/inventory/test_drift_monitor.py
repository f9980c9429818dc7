"""The drift monitor's periodic task: a busy SQLite database defers a check with a warning (the
next interval retries), any other failure is logged as the error it is; the loop goes on."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from structlog.testing import capture_logs

from omnigraph.core.errors import UpstreamUnavailable
from omnigraph.inventory.drift import DriftMonitor, DriftReport
from omnigraph.runtime.periodic import run_periodic


def monitor_failing_with(*errors: Exception) -> tuple[DriftMonitor, asyncio.Event]:
    stop = asyncio.Event()
    monitor = DriftMonitor(
        None,  # type: ignore[arg-type]  # check() is replaced: nothing is read
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        clock=lambda: datetime.now(UTC),
    )
    remaining = list(errors)

    async def check(skus: Any = None) -> DriftReport:
        if remaining:
            raise remaining.pop(0)
        stop.set()
        return DriftReport()

    monitor.check = check  # type: ignore[method-assign]
    return monitor, stop


def locked() -> OperationalError:
    return OperationalError(
        "DELETE FROM drift_watch", {}, sqlite3.OperationalError("database is locked")
    )


@pytest.mark.parametrize(
    ("error", "event", "level"),
    [
        (locked(), "periodic_task_deferred", "warning"),
        (UpstreamUnavailable("wms", "the WMS did not answer"), "periodic_task_deferred", "warning"),
        (
            OperationalError("SELECT", {}, sqlite3.OperationalError("no such table: x")),
            "periodic_task_failed",
            "error",
        ),
    ],
)
async def test_a_failed_check_is_logged_for_what_it_is_and_the_loop_goes_on(
    error: Exception, event: str, level: str
) -> None:
    monitor, stop = monitor_failing_with(error)
    with capture_logs() as logs:
        task = monitor.periodic(interval_seconds=0.01)
        await asyncio.wait_for(run_periodic(task, stop), timeout=5)
    failures = [entry for entry in logs if entry["event"].startswith("periodic_task")]
    assert [(entry["event"], entry["log_level"], entry["task"]) for entry in failures] == [
        (event, level, "drift")
    ]
    assert ("exc_info" in failures[0]) == (level == "error")  # a deferral has no traceback
    assert stop.is_set()  # the next check ran
