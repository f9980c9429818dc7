"""Delivery when the owner is down: wait and retry, open the breaker, dead-letter, replay."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from omnigraph.demo import DemoSystems
from omnigraph.exceptions.dispatcher import CommandDispatcher
from tests.conftest import Sources
from tests.exceptions.conftest import RETRY, Clock, Outbox, owner_commands


@pytest.fixture
async def wms_down(esources: Sources) -> AsyncIterator[None]:
    async with esources.down("wms"):
        yield


async def deliver_until_settled(
    dispatcher: CommandDispatcher, clock: Clock, rounds: int = 50
) -> None:
    for _ in range(rounds):
        await dispatcher.run_once()
        clock.advance(0.06)  # past the (tiny) test backoff


async def test_owner_down_waits_with_the_last_error_then_delivers_once(
    outbox: Outbox, esources: Sources, own_demo: DemoSystems
) -> None:
    exception_id = await outbox.backordered("k-down")
    worker = outbox.dispatcher(max_attempts=50, breaker={"threshold": 3, "reset_seconds": 60})
    clock = outbox.clock
    await esources.outage("wms", True)
    try:
        for _ in range(3):
            await worker.run_once()
            clock.advance(0.06)
        waiting = await outbox.exception(exception_id)
        assert waiting["status"] == "RESOLUTION_PENDING"
        assert "HTTP 503" in waiting["lastError"]
        assert waiting["commands"][0]["attempts"] == 3
        # the breaker is open now: the owner is left alone, and the exception says why
        await esources.reset()
        clock.advance(0.06)
        await worker.run_once()
        assert (await esources.totals())["wms"] == 0
        opened = await outbox.exception(exception_id)
        assert "circuit open" in opened["lastError"]
    finally:
        await esources.outage("wms", False)
    clock.advance(59)
    await deliver_until_settled(worker, clock, rounds=3)  # still open: nothing is sent
    assert (await esources.totals())["wms"] == 0
    clock.advance(1)  # the breaker half-opens after its reset time (60 s)
    await deliver_until_settled(worker, clock, rounds=10)
    settled = await outbox.exception(exception_id)
    assert settled["status"] == "RESOLVED"
    assert settled["lastError"] is None
    (command,) = settled["commands"]
    keys = [c["idempotencyKey"] for c in await owner_commands(own_demo, "wms")]
    assert keys.count(command["idempotencyKey"]) == 1  # applied once, despite the retries


@pytest.mark.usefixtures("wms_down")
async def test_dead_letter_after_max_attempts_and_operator_replay(
    outbox: Outbox, esources: Sources
) -> None:
    exception_id = await outbox.backordered("k-dead")
    worker = outbox.dispatcher(max_attempts=2, breaker={"threshold": 100})
    await deliver_until_settled(worker, outbox.clock, rounds=4)
    dead = await outbox.exception(exception_id)
    assert dead["status"] == "RESOLUTION_FAILED"
    assert dead["commands"][0]["status"] == "DEAD"
    assert dead["commands"][0]["attempts"] == 2
    assert "gave up after 2 attempts" in dead["lastError"]
    assert dead["history"][-1]["note"].startswith("dead-lettered")

    await esources.outage("wms", False)
    replay = (await outbox.graph.query(RETRY, id=exception_id))["data"]
    outbox.clock.catch_up()
    assert replay["retryExceptionResolution"] == {
        "exception": {"status": "RESOLUTION_PENDING"},
        "userErrors": [],
    }
    await deliver_until_settled(worker, outbox.clock, rounds=2)
    done = await outbox.exception(exception_id)
    assert done["status"] == "RESOLVED"
    assert [h["status"] for h in done["history"]][-3:] == [
        "RESOLUTION_FAILED",
        "RESOLUTION_PENDING",
        "RESOLVED",
    ]
