"""The operations view counts open exceptions by kind, owner and age, and times resolutions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update

from omnigraph.db.models import ExceptionRow
from omnigraph.exceptions.dispatcher import CommandDispatcher
from omnigraph.exceptions.operations import percentile
from omnigraph.runtime.services import Services
from tests.conftest import Graph
from tests.exceptions.conftest import RESOLVE, resolve_input

QUERY = """
query($from: DateTime, $to: DateTime) {
  exceptionOperations(resolvedFrom: $from, resolvedTo: $to) {
    open { kind ownerSource status ageBucket count }
    openByKind { key count }
    openByAge { key count }
    resolved failed
    resolutionTime { count p50Seconds p90Seconds p99Seconds meanSeconds }
  }
}
"""


def test_nearest_rank_percentiles() -> None:
    values = [float(v) for v in range(1, 11)]
    assert percentile(values, 0.5) == 5.0
    assert percentile(values, 0.9) == 9.0
    assert percentile(values, 0.99) == 10.0
    assert percentile([], 0.5) is None


async def test_open_by_age_and_resolution_times(
    egraph: Graph,
    services: Services,
    make_short_pick: Callable[..., Any],
    dispatcher: Callable[..., CommandDispatcher],
) -> None:
    before = (await egraph.query(QUERY))["data"]["exceptionOperations"]
    old, _ = await make_short_pick()
    young, young_id = await make_short_pick()
    now = datetime.now(UTC)
    async with services.sessions() as session, session.begin():
        await session.execute(
            update(ExceptionRow)
            .where(ExceptionRow.id == old.id)
            .values(detected_at=now - timedelta(days=4))
        )
        await session.execute(
            update(ExceptionRow)
            .where(ExceptionRow.id == young.id)
            .values(detected_at=now - timedelta(hours=2))
        )
    view = (await egraph.query(QUERY))["data"]["exceptionOperations"]
    by_age = {c["key"]: c["count"] for c in view["openByAge"]}
    before_age = {c["key"]: c["count"] for c in before["openByAge"]}
    assert by_age["OVER_3D"] == before_age["OVER_3D"] + 1
    assert by_age["1H_TO_4H"] == before_age["1H_TO_4H"] + 1
    short_open = sum(g["count"] for g in view["open"] if g["kind"] == "SHORT_PICK")
    assert {c["key"]: c["count"] for c in view["openByKind"]}["SHORT_PICK"] == short_open

    await egraph.query(RESOLVE, input=resolve_input(young_id, "BACKORDER", "ops-young"))
    await dispatcher().run_once()
    after = (await egraph.query(QUERY))["data"]["exceptionOperations"]
    assert after["resolved"] == before["resolved"] + 1
    times = after["resolutionTime"]
    assert times["count"] == after["resolved"]
    assert times["p99Seconds"] >= 2 * 3600 - 60  # the young one took two hours from detection
    assert times["p50Seconds"] <= times["p90Seconds"] <= times["p99Seconds"]

    bad = await egraph.query(
        QUERY, **{"from": now.isoformat(), "to": (now - timedelta(days=1)).isoformat()}
    )
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
