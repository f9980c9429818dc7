"""SIGKILL a dispatcher in the middle of a batch: after a restart every command reaches its
owner, and the owner applies none of them twice (it counts deliveries and applications)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from omnigraph.db.models import OutboxCommandRow
from omnigraph.demo import DemoSystems
from omnigraph.runtime.services import Services
from tests.conftest import Graph
from tests.exceptions.conftest import SHOW, owner_commands

COMMANDS = 12


def sources_file(path: Path, demo: DemoSystems) -> Path:
    names = {"storefront": "web-store", "erp": "erp", "wms": "wms", "payments": "psp"}
    path.write_text(
        "".join(
            f'[[sources]]\nname = "{names[kind]}"\nkind = "{kind}"\nbase_url = "{url}"\n\n'
            for kind, url in demo.urls.items()
        )
    )
    return path


async def start_dispatcher(
    config: Path, database_url: str, worker: str
) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "OMNIGRAPH_DATABASE_URL": database_url,
        "OMNIGRAPH_DISPATCH_BATCH_SIZE": "4",
        "OMNIGRAPH_DISPATCH_LEASE_SECONDS": "1.5",
        "OMNIGRAPH_DISPATCH_BACKOFF_SECONDS": "0.05",
        "OMNIGRAPH_DISPATCH_BACKOFF_MAX_SECONDS": "0.2",
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "omnigraph",
        "dispatch",
        "--config",
        str(config),
        "--worker",
        worker,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def set_latency(demo: DemoSystems, seconds: float) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{demo.urls['wms']}/_control/latency", json={"seconds": seconds}
        )
        response.raise_for_status()


async def wait_for(condition: Callable[[], Any], within: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out waiting"
        await asyncio.sleep(0.05)


async def test_sigkill_mid_batch_then_restart_delivers_everything_once(
    egraph: Graph,
    services: Services,
    own_demo: DemoSystems,
    backordered: Callable[..., Awaitable[str]],
    clean_database: str,
    tmp_path: Path,
) -> None:
    exception_ids = [await backordered(f"crash-{i}") for i in range(COMMANDS)]
    keys = set()
    async with services.sessions() as session:
        for exception_id in exception_ids:
            shown = (await egraph.query(SHOW, id=exception_id))["data"]["exception"]
            keys.add(shown["commands"][0]["idempotencyKey"])
    config = sources_file(tmp_path / "omnigraph.toml", own_demo)

    async def ours() -> list[dict[str, Any]]:
        return [c for c in await owner_commands(own_demo, "wms") if c["idempotencyKey"] in keys]

    await set_latency(own_demo, 0.4)
    first = await start_dispatcher(config, clean_database, "doomed")
    try:
        # kill once a batch has landed and the next one is in flight
        await wait_for(lambda: _delivered_at_least(ours, 5))
    finally:
        first.send_signal(signal.SIGKILL)
        await first.wait()
    async with services.sessions() as session:
        unfinished = list(
            await session.scalars(
                select(OutboxCommandRow).where(
                    OutboxCommandRow.idempotency_key.in_(keys), OutboxCommandRow.status == "PENDING"
                )
            )
        )
    assert unfinished, "the kill came too late to interrupt anything"

    await set_latency(own_demo, 0)
    second = await start_dispatcher(config, clean_database, "survivor")
    try:
        await wait_for(lambda: _all_delivered(services, keys))
    finally:
        second.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(second.wait(), 10) == 0

    at_owner = await ours()
    assert {c["idempotencyKey"] for c in at_owner} == keys  # every command reached its owner
    assert all(c["applications"] == 1 for c in at_owner)  # and none was applied twice
    assert sum(c["deliveries"] for c in at_owner) > COMMANDS  # though some were delivered again
    for exception_id in exception_ids:
        shown = (await egraph.query(SHOW, id=exception_id))["data"]["exception"]
        assert shown["status"] == "RESOLVED"


async def _delivered_at_least(ours: Callable[[], Any], count: int) -> bool:
    return sum(c["deliveries"] for c in await ours()) >= count


async def _all_delivered(services: Services, keys: set[str]) -> bool:
    async with services.sessions() as session:
        statuses = list(
            await session.scalars(
                select(OutboxCommandRow.status).where(OutboxCommandRow.idempotency_key.in_(keys))
            )
        )
    return len(statuses) == len(keys) and set(statuses) == {"DELIVERED"}
