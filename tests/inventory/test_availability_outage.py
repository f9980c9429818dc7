"""Availability is the ledger's: a WMS that is down does not stop it, once its locations are
known; a WMS never reached is still an upstream error, its locations never invented."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import delete, func, select
from starlette.applications import Starlette

from omnigraph.app import create_app, demo_sources_config
from omnigraph.db.models import InventoryPositionRow, ReservationRow, WarehouseLocationsRow
from omnigraph.demo import DemoSystems
from omnigraph.inventory.ledger import LedgerReader
from omnigraph.inventory.locations import KnownLocations
from omnigraph.inventory.policy import load_default_policy
from omnigraph.runtime.services import Services
from tests.clocks import WallClock
from tests.conftest import Graph, Sources, make_settings, services_of, serving

QUERY = """
query($skus: [String!]!) {
  availability(skus: $skus, channel: "web") { sku locationId availableQuantity }
}
"""
SKUS = [f"SKU-{i:04d}" for i in range(1, 31)]
STARTED = datetime(2026, 11, 20, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def outage_sources(own_demo: DemoSystems) -> Sources:
    return Sources(own_demo)


async def started(
    demo: DemoSystems, database_url: str, clock: WallClock, *, ledger_read: bool = False
) -> AsyncIterator[tuple[Services, Graph]]:
    """A service process on ``database_url`` (the next one started on it is a restart), having
    read the WMS's feed into its ledger if ``ledger_read``."""
    # the record cache off (as in every test): each read asks the WMS for its locations
    app: Starlette = create_app(
        make_settings(database_url), sources=demo_sources_config(demo.urls), clock=clock
    )
    async with serving(app) as client:
        services = services_of(app)
        if ledger_read:
            await LedgerReader(services.sessions, services.registry).sync_once()
        yield services, Graph(client)


def figures(body: dict[str, Any]) -> dict[tuple[str, str], int]:
    assert "errors" not in body, body["errors"]
    return {
        (a["sku"], a["locationId"]): a["availableQuantity"] for a in body["data"]["availability"]
    }


async def from_the_ledger(services: Services) -> dict[tuple[str, str], int]:
    """What the web may promise, counted by hand from the ledger's positions and the live
    reservations in the database (the SKUs asked for hold no returned units)."""
    policy = load_default_policy()
    async with services.sessions() as session:
        positions = list(
            await session.scalars(
                select(InventoryPositionRow).where(InventoryPositionRow.sku.in_(SKUS))
            )
        )
        reserved = {
            (sku, loc): int(total)
            for sku, loc, total in await session.execute(
                select(
                    ReservationRow.sku,
                    ReservationRow.location_id,
                    func.sum(ReservationRow.quantity),
                )
                .where(
                    ReservationRow.sku.in_(SKUS),
                    ReservationRow.status.in_(["ACTIVE", "COMMITTED"]),
                    ReservationRow.expires_at > services.now(),
                )
                .group_by(ReservationRow.sku, ReservationRow.location_id)
            )
        }
    expected = {}
    for p in positions:
        if not policy.serves("web", p.location_id) or p.last_event_at is None:
            continue
        assert p.restricted_returns == p.returns_inspection == 0, p.sku
        expected[(p.sku, p.location_id)] = max(
            0,
            p.on_hand
            - p.committed
            - p.damaged
            - p.quality_control
            - policy.safety_stock_for("web", p.location_id)
            - reserved.get((p.sku, p.location_id), 0),
        )
    return expected


async def forget_known_locations(services: Services) -> None:
    await services.get(KnownLocations).settled()  # a list being written would come back
    async with services.sessions() as session, session.begin():
        await session.execute(delete(WarehouseLocationsRow))


async def test_a_down_wms_leaves_availability_as_the_ledger_has_it_marked_stale(
    own_demo: DemoSystems, outage_sources: Sources, database_url: str
) -> None:
    clock = WallClock(STARTED)
    async for services, graph in started(own_demo, database_url, clock, ledger_read=True):
        before = await graph.query(QUERY, skus=SKUS)
        assert figures(before) == await from_the_ledger(services)
        assert "stale" not in (before.get("extensions") or {})
        async with outage_sources.down("wms"):
            clock.advance(40)
            during = await graph.query(QUERY, skus=SKUS)
            # the same numbers: the ledger has not moved, and the WMS's locations are known
            assert figures(during) == figures(before)
            (stale,) = during["extensions"]["stale"]
            assert stale["source"] == "wms"
            assert stale["ageSeconds"] == 40.0
            assert "503" in stale["reason"]
            assert "last known locations" in stale["reason"]
        after = await graph.query(QUERY, skus=SKUS)
        assert figures(after) == figures(before)
        assert "stale" not in (after.get("extensions") or {})


async def test_a_service_restarted_during_the_outage_still_answers_from_the_kept_list(
    own_demo: DemoSystems, outage_sources: Sources, database_url: str
) -> None:
    clock = WallClock(STARTED)
    async for _, graph in started(own_demo, database_url, clock, ledger_read=True):
        before = figures(await graph.query(QUERY, skus=SKUS))
    async with outage_sources.down("wms"):
        clock.advance(600)
        async for services, graph in started(own_demo, database_url, clock):
            during = await graph.query(QUERY, skus=SKUS)
            assert figures(during) == before == await from_the_ledger(services)
            (stale,) = during["extensions"]["stale"]
            assert (stale["source"], stale["ageSeconds"]) == ("wms", 600.0)


async def test_a_wms_never_reached_is_an_upstream_error_not_invented_locations(
    own_demo: DemoSystems, outage_sources: Sources, database_url: str
) -> None:
    clock = WallClock(STARTED)
    async for services, _ in started(own_demo, database_url, clock, ledger_read=True):
        await forget_known_locations(services)
    async with outage_sources.down("wms"):
        async for _, graph in started(own_demo, database_url, clock):
            body = await graph.query(QUERY, skus=SKUS)
            assert body["data"] is None or not body["data"].get("availability")
            assert [e["extensions"]["code"] for e in body["errors"]] == ["UPSTREAM_UNAVAILABLE"]
            assert body["errors"][0]["extensions"]["source"] == "wms"
