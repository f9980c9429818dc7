"""A short rehearsal on the built-in demo keeps its promises (no unit reserved beyond what the
ledger allowed, no command applied twice, every WMS movement reaches availability, no order for
a published figure refused, every planted disagreement raised, availability answering through a
WMS outage), and one with reservations taken without their lock is caught: oversells, and exit
status 1.

Bounded by count (a few seconds of load at fixed rates), never by timing: no latency is
asserted."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from inspect import signature
from pathlib import Path
from typing import Any, Literal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner

from omnigraph.cli import app as cli
from omnigraph.cli.rehearse import run_rehearsal
from omnigraph.db.models import InventoryPositionRow, ReservationRow
from omnigraph.inventory import reservations
from omnigraph.inventory.policy import AllocationPolicy
from omnigraph.rehearsal.html import html_report
from omnigraph.rehearsal.scenario import load_scenario
from omnigraph.settings import Settings
from tests.conftest import FRAMEWORK_OVERRIDES

SHORT = """
name = "short"
description = "a few seconds of everything at once"
[[phases]]
name = "rush"
seconds = 3
orders_per_second = { web = 3, marketplace = 1, store-pickup = 1 }
availability_reads_per_second = 4
wms_movements_per_second = 1
wms_ack_delay_seconds = 0.2
returns_per_second = 1
late_cancellations_per_second = 1
resolutions_per_second = 2
promises_per_second = 3
disagreements_per_second = 1
race = { attempts = 30, skus = 1 }
outages = [
  { system = "erp", start_seconds = 1, seconds = 1 },
  { system = "wms", start_seconds = 0.5, seconds = 2 },
]
[thresholds]
oversells = 0
double_applications = 0
unreflected_movements = 0
broken_promises = 0
undetected_disagreements = 0
"""


@pytest.fixture
def short(tmp_path: Path) -> Path:
    path = tmp_path / "short.toml"
    path.write_text(SHORT)
    return path


@pytest.fixture
def demo_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The built-in demo, small, whatever the environment of the run says."""
    for name in list(os.environ):
        if name.startswith("OMNIGRAPH_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("OMNIGRAPH_DEMO_ORDERS", "60")
    # no record cache: the WMS's outage reaches every read that asks it something
    monkeypatch.setenv("OMNIGRAPH_CACHE_TTL_SECONDS", "0")
    monkeypatch.setenv("OMNIGRAPH_FRAMEWORK_OVERRIDES", str(FRAMEWORK_OVERRIDES).lower())


async def test_a_short_rehearsal_reserves_no_more_than_the_ledger_allowed_and_applies_nothing_twice(
    short: Path, demo_env: None
) -> None:
    # a generous cap as a safety net only: the run itself is bounded by its phases
    body = await asyncio.wait_for(run_rehearsal(load_scenario(short), Settings()), 300)
    overall = body["overall"]
    assert overall["oversells"] == 0
    assert overall["doubleApplications"] == 0
    # the race: never more winners than units the ledger allowed before it (fewer only when
    # an attempt failed outright, which the GraphQL errors count)
    [race] = overall["races"].values()
    assert 1 <= race["reserved"] <= race["allowed"], overall
    assert overall["counts"]["race winners"] == race["reserved"]
    if race["reserved"] < race["allowed"]:
        assert overall["graphql"]["operations"]["reserveInventory"]["errors"] > 0, overall
    assert overall["counts"]["race attempts"] == 30
    moved = overall["movementToAvailability"]
    assert moved["moved"] >= 1
    assert moved["reflected"] == moved["moved"], overall
    # agents resolved exceptions with double clicks: the owners received the commands, and
    # their own logs say none was applied twice
    assert overall["counts"]["exceptions resolved"] >= 1
    assert sum(tally["commands"] for tally in overall["commands"].values()) >= 1, overall
    # shoppers shown a figure ordered no more than it, before its cut-off: none refused
    promises = overall["promises"]
    assert promises["made"] >= 1, promises
    assert promises["kept"] == promises["made"], promises
    assert promises["broken"] == 0
    # every cancellation planted in the storefront after release was raised as an exception
    detected = overall["disagreementToException"]
    assert detected["planted"] >= 1, detected
    assert detected["raised"] == detected["planted"], detected
    assert detected["undetected"] == 0
    assert 0 < detected["p50Ms"] <= detected["p99Ms"]
    # through the WMS outage availability kept answering (from the ledger), marked stale
    assert overall["counts"]["outage wms (s)"] == 2
    assert overall["graphql"]["operations"]["availability"]["errors"] == 0, overall["graphql"]
    assert overall["graphql"]["staleAnswers"] >= 1
    assert body["passed"], body["thresholds"]
    assert body["phases"][0]["name"] == "rush"
    page = html_report(body)
    assert "<svg" in page
    assert "http" not in page.split("<body>")[1]  # nothing fetched: no CDN


async def reserve_without_the_lock(
    sessions: async_sessionmaker[AsyncSession],
    policy: AllocationPolicy,
    *,
    sku: str,
    location_id: str,
    channel: str,
    quantity: int,
    ttl: timedelta,
    take: Callable[[AsyncSession, str], Awaitable[bool]],
    now: datetime,
) -> ReservationRow | Literal["taken"] | None:
    """The broken way to reserve at one location, in place of the service's: count in one
    transaction, let other requests run, then insert in another, with no lock on the position
    between the two."""
    async with sessions() as session:
        position = await session.get(InventoryPositionRow, (sku, location_id))
        if position is None:
            return None
        held = await reservations.live_reserved(session, sku, location_id, now)
        available, _ = reservations.sellable_units(position, held, policy, channel)
    await asyncio.sleep(0.01)  # other requests count the same units meanwhile
    if available < quantity:
        return None
    row = reservations.new_reservation(
        sku=sku, location_id=location_id, channel=channel, quantity=quantity, ttl=ttl, now=now
    )
    async with sessions() as session, session.begin():
        if not await take(session, row.id):
            await session.rollback()
            return "taken"
        session.add(row)
    return row


def test_reservations_without_their_lock_fail_the_rehearsal(
    short: Path, demo_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the stand-in is called as the service calls its own
    assert signature(reserve_without_the_lock) == signature(reservations._reserve_at)
    monkeypatch.setattr(reservations, "_reserve_at", reserve_without_the_lock)
    report = tmp_path / "report.json"
    result = CliRunner().invoke(
        cli, ["rehearse", "--scenario", str(short), "--report", str(report)]
    )
    assert result.exit_code == 1, result.exception
    assert result.exception is None or isinstance(result.exception, SystemExit)
    body: dict[str, Any] = json.loads(report.read_text())
    assert body["overall"]["oversells"] > 0
    failed = [v["name"] for v in body["thresholds"] if not v["passed"]]
    assert failed == ["oversells"]
    assert report.with_suffix(".html").exists()
