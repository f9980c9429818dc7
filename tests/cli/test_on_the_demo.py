"""Every command works on the embedded default, as ``serve`` does: without a sources file the
built-in demo systems start in the process for the command's duration. Each says what it did,
and its figures add up: every event read is counted in one of the categories it names, checked
against the demo world itself, built again here."""

from __future__ import annotations

import os
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import select
from typer.testing import CliRunner

from omnigraph.app import service_clock
from omnigraph.cli import app as cli
from omnigraph.cli.demo import demo_sources_toml
from omnigraph.core.clock import DEMO_ANCHOR, StartedClock
from omnigraph.db.engine import create_engine, create_session_factory
from omnigraph.db.models import ExceptionRow, OutboxCommandRow
from omnigraph.demo import DemoWorld, build_world
from omnigraph.exceptions.catalogue import ExceptionCatalogue
from omnigraph.exceptions.resolution import acknowledge, resolve
from omnigraph.settings import Settings
from tests.helpers import PLANTED_EXCEPTION

ORDERS = 60


@pytest.fixture(scope="module")
def world() -> DemoWorld:
    """The world the commands' demo systems serve, built independently of them."""
    return build_world(seed=7, orders=ORDERS, anchor=DEMO_ANCHOR)


@pytest.fixture
def database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A fresh database, and an environment holding nothing else of omnigraph's but a small
    demo business."""
    for name in list(os.environ):
        if name.startswith("OMNIGRAPH_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    url = f"sqlite+aiosqlite:///{tmp_path / 'omnigraph.sqlite3'}"
    monkeypatch.setenv("OMNIGRAPH_DATABASE_URL", url)
    monkeypatch.setenv("OMNIGRAPH_DEMO_ORDERS", str(ORDERS))
    return url


def run(*args: str) -> Result:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result


def numbers(pattern: str, text: str) -> list[int]:
    found = re.search(pattern, text)
    assert found, f"{pattern!r} not in {text!r}"
    return [int(group) for group in found.groups()]


WMS = (
    r"(\d+) events read: (\d+) stock movements applied, (\d+) already in the ledger,"
    r" (\d+) quarantined, (\d+) not about stock \(orders, exception reports\); (\d+) gaps"
)


def test_sync_wms_accounts_for_every_event_it_reads(database: str, world: DemoWorld) -> None:
    first = run("sync", "wms")
    assert "built-in demo systems (seed 7, 60 orders, as of 2026-11-20T12:00:00Z)" in (first.stderr)
    read, applied, already, quarantined, other, gaps = numbers(WMS, first.stdout)
    feed = world.events["wms"]
    assert read == len(feed) == applied + already + quarantined + other
    assert applied == len(world.inventory_movements)
    assert other == sum(not event["type"].startswith("inventory.") for event in feed)
    assert (already, quarantined, gaps) == (0, 0, 0)
    # the cursor persists: a second run reads nothing new
    assert numbers(WMS, run("sync", "wms").stdout) == [0, 0, 0, 0, 0, 0]


EXCEPTIONS = (
    r"(\d+) events read: (\d+) new exceptions, (\d+) reports already recorded, (\d+) malformed,"
    r" (\d+) not exception reports"
)


def test_sync_exceptions_accounts_for_every_event_it_reads(database: str, world: DemoWorld) -> None:
    read, new, known, malformed, other = numbers(EXCEPTIONS, run("sync", "exceptions").stdout)
    feed = world.events["wms"]
    reports = [event for event in feed if event["type"] == "exception.reported"]
    assert read == len(feed) == new + known + malformed + other
    assert new == len(world.reported_exceptions)
    assert known == len(reports) - len(world.reported_exceptions) == 1  # the one sent twice
    assert (malformed, other) == (0, len(feed) - len(reports))


PAYMENTS = (
    r"(\d+) events read: (\d+) about payouts \((\d+) payouts named\), (\d+) about charges,"
    r" refunds and disputes .*; (\d+) transactions stored \(0 unchanged\); (\d+) payouts"
    r" reconciled \((.*)\), (\d+) new exceptions; (\d+) returns without a refund"
)


def test_sync_payments_accounts_for_every_event_it_reads(database: str, world: DemoWorld) -> None:
    out = run("sync", "payments").stdout
    found = re.search(PAYMENTS, out)
    assert found, out
    read, about_payouts, _, other, stored, reconciled = (int(found.group(n)) for n in range(1, 7))
    feed = world.events["payments"]
    assert read == len(feed) == about_payouts + other
    assert about_payouts == sum(event["recordType"] == "payout" for event in feed)
    assert stored == sum(1 for txn in world.balance_transactions if txn["payout"])
    assert reconciled == len(world.payouts)
    by_status = dict(
        (status, int(count))
        for count, status in (part.split() for part in found.group(7).split(", "))
    )
    assert sum(by_status.values()) == reconciled
    # the payouts the demo planted a variance in are the ones reconciled as VARIANCE
    assert by_status["VARIANCE"] == len(world.planted_of("payout_variance"))
    assert int(found.group(9)) == len(world.planted_of("return_without_refund"))


def test_detect_raises_what_the_demo_planted(database: str, world: DemoWorld) -> None:
    import json

    report = json.loads(run("detect").stdout)
    assert report["orders"] == len(world.storefront_orders)
    planted = dict(
        Counter(PLANTED_EXCEPTION[p.kind] for p in world.planted if p.kind in PLANTED_EXCEPTION)
    )
    assert report["raised"] == planted
    assert report["alreadyKnown"] == 0
    assert json.loads(run("detect").stdout)["alreadyKnown"] == sum(planted.values())


async def _resolve_one(url: str) -> str:
    """Acknowledge and resolve one open exception (as an agent would in GraphiQL); its id."""
    engine = create_engine(url)
    sessions = create_session_factory(engine)
    catalogue = ExceptionCatalogue.load()
    now = DEMO_ANCHOR  # as `serve` on the demo would: its clock starts at the demo's instant
    try:
        async with sessions() as session:
            rows = (await session.scalars(select(ExceptionRow))).all()
        for row in sorted(rows, key=lambda r: r.dedupe_key):
            if row.kind != "SHORT_PICK":
                continue
            await acknowledge(sessions, row.id, actor="test", note=None, now=now)
            done = await resolve(
                sessions,
                catalogue,
                exception_id=row.id,
                resolution="BACKORDER",
                note=None,
                idempotency_key=f"cli-test-{row.id}",
                actor="test",
                now=now,
            )
            assert done.row is not None, done.problems
            return str(row.id)
        raise AssertionError("the demo reports no short pick")
    finally:
        await engine.dispose()


async def _commands(url: str) -> list[tuple[str, str]]:
    engine = create_engine(url)
    try:
        async with create_session_factory(engine)() as session:
            rows = (await session.scalars(select(OutboxCommandRow))).all()
            return [(row.exception_id, row.status) for row in rows]
    finally:
        await engine.dispose()


async def test_dispatch_says_how_many_commands_it_delivered(database: str) -> None:
    import asyncio

    loop_free = asyncio.to_thread  # the command runs its own event loop
    first = (await loop_free(run, "dispatch", "--once")).stdout
    assert first.splitlines()[-1] == "0 commands dispatched"
    await loop_free(run, "sync", "exceptions")
    resolved = await _resolve_one(database)
    assert await _commands(database) == [(resolved, "PENDING")]
    out = (await loop_free(run, "dispatch", "--once")).stdout
    assert out.splitlines()[-1] == "1 command dispatched: 1 delivered"
    assert await _commands(database) == [(resolved, "DELIVERED")]


def test_empty_lists_say_so(database: str) -> None:
    assert run("documents", "list").stdout.startswith("no documents: register operations")
    assert run("keys", "list").stdout.startswith("no API keys: create one")


def test_the_demo_sources_file_names_the_systems_and_their_instant(tmp_path: Path) -> None:
    """``omnigraph demo --write FILE`` writes this: every command given it uses the running
    demo systems, on a clock started at the demo's instant."""
    urls = {kind: f"http://127.0.0.1:{8101 + i}" for i, kind in enumerate(("storefront", "erp"))}
    urls |= {"wms": "http://127.0.0.1:8103", "payments": "http://127.0.0.1:8104"}
    path = tmp_path / "demo.toml"
    path.write_text(demo_sources_toml(urls, Settings(demo_as_of="2026-10-01T08:00:00Z")))
    settings = Settings(config=path)
    assert {(s.name, s.kind.value, str(s.base_url)) for s in settings.sources} == {
        ("web-store", "storefront", "http://127.0.0.1:8101/"),
        ("erp", "erp", "http://127.0.0.1:8102/"),
        ("wms", "wms", "http://127.0.0.1:8103/"),
        ("psp", "payments", "http://127.0.0.1:8104/"),
    }
    clock = service_clock(settings, built_in_demo=False)
    assert isinstance(clock, StartedClock)
    assert clock.start == datetime(2026, 10, 1, 8, tzinfo=UTC)
    # configured sources without the demo's instant keep the wall clock
    plain = path.read_text().replace('demo_as_of = "2026-10-01T08:00:00Z"', "")
    path.write_text(plain)
    assert not isinstance(service_clock(Settings(config=path), built_in_demo=False), StartedClock)
