"""The built-in demo is the same on any day: its world is as of a fixed instant
(``OMNIGRAPH_DEMO_AS_OF``, 2026-11-20T12:00:00Z by default), and while the service serves it,
the service's clock starts at that instant, so "now" in the graph agrees with the demo's data.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from omnigraph.core.clock import DEMO_ANCHOR, StartedClock
from omnigraph.demo import build_world
from omnigraph.runtime.services import Services
from tests.helpers import served_demo

# what a user asks first: orders with their provenance and disagreements, availability now
# (same-day pickup depends on the time of day), payouts reconciled, exceptions and their ages
QUERIES = (
    """{ orders(first: 30) { edges { node { name state channelState
        provenance(field: "state") { source recordRef asOf authoritative }
        disagreements { field authoritative { source value asOf } others { source value } }
        exceptions { kind status detectedAt } } } } }""",
    """{ availability(skus: ["SKU-0001", "SKU-0002", "SKU-0003", "SKU-0015"],
        channel: "store-pickup", promise: SAME_DAY_PICKUP) {
        sku locationId availableQuantity asOf explanation } }""",
    """{ reconciliationSummary(from: "2026-10-01T00:00:00Z", to: "2026-11-21T00:00:00Z") {
        payouts { status count amount { amount } variance { amount } }
        unmatched { status count } } }""",
    """{ exceptions(first: 100) { edges { node { id kind status subject detectedAt ownerSource
        summary } } } }""",
    """{ exceptionOperations { open { kind status ageBucket count } } }""",
)
LATER = timedelta(days=400)


class _DatetimeLater(datetime):
    """``datetime`` whose ``now`` reads a wall clock 400 days on."""

    @classmethod
    def now(cls, tz: Any = None) -> Any:
        return datetime.now(tz) + LATER


@pytest.fixture
def another_day(monkeypatch: pytest.MonkeyPatch) -> None:
    """The wall clock 400 days later, for every omnigraph module and ``time.time``."""
    for name, module in list(sys.modules.items()):
        if name.startswith("omnigraph") and getattr(module, "datetime", None) is datetime:
            monkeypatch.setattr(module, "datetime", _DatetimeLater)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + LATER.total_seconds())


async def answers(folder: Path) -> list[str]:
    """The answers to QUERIES from a demo served with the injected clock at the demo's
    instant (frozen: what the service stamps itself, like detection times, is compared too)."""
    frozen = StartedClock(DEMO_ANCHOR, monotonic=lambda: 0.0)
    async with served_demo(folder, clock=frozen, demo_orders=60) as (_, client):
        found = []
        for query in QUERIES:
            response = await client.post("/graphql", json={"query": query})
            assert response.status_code == 200, response.text
            assert "errors" not in response.json(), response.text
            found.append(response.text)
        return found


@pytest.fixture
async def today(tmp_path: Path) -> list[str]:
    return await answers(tmp_path / "today")


async def test_the_same_instant_gives_byte_identical_answers_on_another_day(
    today: list[str], another_day: None, tmp_path: Path
) -> None:
    assert datetime.now(UTC) - _DatetimeLater.now(UTC) < -LATER + timedelta(minutes=1)
    later = await answers(tmp_path / "later")
    assert later == today
    # and they say something: orders, available units, payouts, exceptions
    orders, availability, summary, exceptions, _ = (json.loads(text)["data"] for text in today)
    assert len(orders["orders"]["edges"]) == 30
    assert any(row["availableQuantity"] > 0 for row in availability["availability"])
    assert summary["reconciliationSummary"]["payouts"]
    assert exceptions["exceptions"]["edges"]


def test_the_world_defaults_to_the_fixed_instant() -> None:
    world = build_world(orders=40)
    assert world.anchor == DEMO_ANCHOR == datetime(2026, 11, 20, 12, tzinfo=UTC)
    assert max(order["placedAt"] for order in world.storefront_orders) < "2026-11-20T12:00:00"


async def test_the_service_clock_starts_at_the_demo_instant_and_runs_on(tmp_path: Path) -> None:
    """Served on the demo, "now" is the demo's instant plus the time since start; moved with
    OMNIGRAPH_DEMO_AS_OF, the world and the clock move together, and the demo systems stamp
    what they do on the same clock."""
    as_of = datetime(2026, 10, 2, 9, 30, tzinfo=UTC)
    async with served_demo(tmp_path, demo_orders=40, demo_as_of="2026-10-02T09:30:00Z") as (
        app,
        client,
    ):
        services: Services = app.state.services
        first = services.now()
        assert as_of <= first < as_of + timedelta(minutes=5)
        assert services.now() > first  # it runs on
        response = await client.post(
            "/graphql",
            json={"query": '{ orderByRef(source: "web-store", ref: "SF-100001") { placedAt } }'},
        )
        placed = response.json()["data"]["orderByRef"]["placedAt"]
        assert placed < as_of.isoformat()  # the world ends at the instant given
        storefront = services.registry.storefronts[0].client
        health = await storefront.health()
        assert health["status"] == "ok"
