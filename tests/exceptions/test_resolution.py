"""Acknowledge and resolve through GraphQL; the owner applies the command once; failures are
userErrors with stable codes, never crashes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from omnigraph.db.idempotency import forget_expired_keys
from omnigraph.db.models import IdempotencyKeyRow
from omnigraph.demo import DemoSystems
from omnigraph.exceptions.dispatcher import CommandDispatcher
from omnigraph.runtime.services import Services
from tests.conftest import Graph
from tests.exceptions.conftest import ACK, RESOLVE, RETRY, SHOW, owner_commands, resolve_input


async def test_an_agent_acknowledges_resolves_and_the_owner_applies_it_once(
    egraph: Graph,
    make_short_pick: Callable[..., Any],
    dispatcher: Callable[..., CommandDispatcher],
    own_demo: DemoSystems,
) -> None:
    _, exception_id = await make_short_pick()
    headers = {"X-Omnigraph-Actor": "agent.ada"}
    response = await egraph.client.post(
        "/graphql",
        json={"query": ACK, "variables": {"id": exception_id, "note": "mine"}},
        headers=headers,
    )
    ack = response.json()["data"]["acknowledgeException"]
    assert ack["userErrors"] == []
    assert ack["exception"]["status"] == "ACKNOWLEDGED"
    assert ack["exception"]["history"][-1] == {
        "status": "ACKNOWLEDGED",
        "actor": "agent.ada",
        "note": "mine",
    }

    again = (await egraph.query(ACK, id=exception_id))["data"]["acknowledgeException"]
    assert again["exception"] is None
    assert [e["code"] for e in again["userErrors"]] == ["INVALID_TRANSITION"]

    body = await egraph.query(
        RESOLVE, input=resolve_input(exception_id, "BACKORDER", "key-1", "wait for stock")
    )
    resolved = body["data"]["resolveException"]
    assert resolved["userErrors"] == []
    assert resolved["exception"]["status"] == "RESOLUTION_PENDING"
    (command,) = resolved["exception"]["commands"]
    assert command["status"] == "PENDING"
    assert command["commandType"] == "fulfilment.backorder"

    assert await dispatcher().run_once() == 1
    shown = (await egraph.query(SHOW, id=exception_id))["data"]["exception"]
    assert shown["status"] == "RESOLVED"
    assert shown["resolvedAt"]
    assert [h["status"] for h in shown["history"]] == [
        "OPEN",
        "ACKNOWLEDGED",
        "RESOLUTION_PENDING",
        "RESOLVED",
    ]
    assert shown["history"][-1]["actor"] == "wms"
    assert "backordered" in shown["history"][-1]["note"]
    assert shown["commands"][0]["status"] == "DELIVERED"

    at_owner = [
        c
        for c in await owner_commands(own_demo, "wms")
        if c["idempotencyKey"] == command["idempotencyKey"]
    ]
    assert len(at_owner) == 1
    assert at_owner[0]["status"] == "accepted"


async def test_same_key_replays_and_other_input_is_refused(
    egraph: Graph, make_short_pick: Callable[..., Any]
) -> None:
    _, exception_id = await make_short_pick()
    first = await egraph.query(
        RESOLVE, input=resolve_input(exception_id, "BACKORDER", "key-replay")
    )
    second = await egraph.query(
        RESOLVE, input=resolve_input(exception_id, "BACKORDER", "key-replay")
    )
    assert first["data"]["resolveException"]["userErrors"] == []
    replay = second["data"]["resolveException"]
    assert replay["userErrors"] == []
    assert replay["exception"]["id"] == exception_id
    assert len(replay["exception"]["commands"]) == 1  # nothing was written twice

    other = await egraph.query(
        RESOLVE, input=resolve_input(exception_id, "CANCEL_LINE", "key-replay")
    )
    refused = other["data"]["resolveException"]
    assert refused["exception"] is None
    assert refused["userErrors"] == [
        {
            "code": "IDEMPOTENCY_KEY_REUSED",
            "field": ["input", "idempotencyKey"],
            "message": "this idempotency key was used with different input",
        }
    ]


async def test_two_agents_at_once_exactly_one_wins(
    egraph: Graph, make_short_pick: Callable[..., Any]
) -> None:
    _, exception_id = await make_short_pick()
    results = await asyncio.gather(
        egraph.query(RESOLVE, input=resolve_input(exception_id, "BACKORDER", "agent-a")),
        egraph.query(RESOLVE, input=resolve_input(exception_id, "CANCEL_LINE", "agent-b")),
    )
    payloads = [r["data"]["resolveException"] for r in results]
    winners = [p for p in payloads if not p["userErrors"]]
    losers = [p for p in payloads if p["userErrors"]]
    assert len(winners) == 1
    assert len(losers) == 1
    assert losers[0]["userErrors"][0]["code"] in {"CONCURRENT_RESOLUTION", "INVALID_TRANSITION"}
    shown = (await egraph.query(SHOW, id=exception_id))["data"]["exception"]
    assert len(shown["commands"]) == 1
    assert shown["resolution"] == winners[0]["exception"]["resolution"]


async def test_bad_requests_are_user_errors(
    egraph: Graph, make_short_pick: Callable[..., Any]
) -> None:
    _, exception_id = await make_short_pick()
    cases = [
        (resolve_input(exception_id, "TELEPORT", "k-bad-1"), "INVALID_RESOLUTION"),
        (resolve_input("not-an-id", "BACKORDER", "k-bad-2"), "INVALID_ID"),
        (resolve_input("RXhjZXB0aW9uOm5vcGU", "BACKORDER", "k-bad-3"), "NOT_FOUND"),
        (resolve_input(exception_id, "BACKORDER", ""), "INVALID_IDEMPOTENCY_KEY"),
    ]
    for given, code in cases:
        payload = (await egraph.query(RESOLVE, input=given))["data"]["resolveException"]
        assert [e["code"] for e in payload["userErrors"]] == [code], given
    # none of the refusals changed the exception
    shown = (await egraph.query(SHOW, id=exception_id))["data"]["exception"]
    assert shown["status"] == "OPEN"
    assert shown["commands"] == []


async def test_missing_detail_makes_a_resolution_not_applicable(
    egraph: Graph, make_short_pick: Callable[..., Any]
) -> None:
    _, exception_id = await make_short_pick(sku=None)
    payload = (await egraph.query(RESOLVE, input=resolve_input(exception_id, "BACKORDER", "k-na")))[
        "data"
    ]["resolveException"]
    assert [e["code"] for e in payload["userErrors"]] == ["RESOLUTION_NOT_APPLICABLE"]


async def test_owner_refusal_fails_the_resolution_and_retry_reopens(
    egraph: Graph,
    backordered: Callable[..., Awaitable[str]],
    dispatcher: Callable[..., CommandDispatcher],
) -> None:
    exception_id = await backordered("k-refused", quantity=10_000)  # more than the line holds
    await dispatcher().run_once()
    shown = (await egraph.query(SHOW, id=exception_id))["data"]["exception"]
    assert shown["status"] == "RESOLUTION_FAILED"
    assert "left, not 10000" in shown["lastError"]
    assert shown["commands"][0]["status"] == "REJECTED"
    assert shown["history"][-1]["actor"] == "wms"

    blocked = await egraph.query(
        RESOLVE, input=resolve_input(exception_id, "CANCEL_LINE", "k-after")
    )
    assert blocked["data"]["resolveException"]["userErrors"][0]["code"] == "INVALID_TRANSITION"
    retried = (await egraph.query(RETRY, id=exception_id))["data"]["retryExceptionResolution"]
    assert retried == {"exception": {"status": "OPEN"}, "userErrors": []}
    not_again = (await egraph.query(RETRY, id=exception_id))["data"]["retryExceptionResolution"]
    assert not_again["userErrors"][0]["code"] == "INVALID_TRANSITION"


async def test_keys_are_kept_a_day_then_forgotten(
    services: Services, backordered: Callable[..., Awaitable[str]]
) -> None:
    await backordered("k-day")
    async with services.sessions() as session:
        key = await session.get(IdempotencyKeyRow, ("resolveException", "k-day"))
    assert key is not None
    assert key.expires_at - key.created_at >= timedelta(hours=24)
    assert await forget_expired_keys(services.sessions, key.created_at + timedelta(hours=23)) == 0
    forgotten = await forget_expired_keys(services.sessions, key.expires_at + timedelta(seconds=1))
    assert forgotten >= 1
    async with services.sessions() as session:
        assert await session.get(IdempotencyKeyRow, ("resolveException", "k-day")) is None
