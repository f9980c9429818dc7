"""Concurrent calls with one idempotency key (issue 18, point 11): every call gets the first
call's answer and the change is made once, on SQLite and PostgreSQL, through the ASGI app.
The reference is one call's effect: one outbox command, one reservation."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from omnigraph.db.engine import create_engine, create_session_factory
from omnigraph.db.idempotency import KeyClaims
from omnigraph.db.models import (
    ExceptionEventRow,
    ExceptionRow,
    IdempotencyKeyRow,
    InventoryPositionRow,
    OutboxCommandRow,
    ReservationRow,
)
from omnigraph.exceptions import resolution as service
from omnigraph.exceptions.catalogue import ExceptionCatalogue
from omnigraph.inventory.projection import positions_rewritten
from omnigraph.runtime.services import Services
from tests.conftest import Graph
from tests.exceptions.conftest import RESOLVE, resolve_input
from tests.helpers import RESERVE, ten_sellable, web_reservation

CALLS = 50  # concurrent calls per race: bounded, loopback only
SKU = "SKU-ONCE-RACE"


@pytest.fixture
async def short_pick(
    services: Services, make_short_pick: Callable[..., Any]
) -> AsyncIterator[Callable[..., Any]]:
    """``make_short_pick``, and afterwards the exceptions it made, their history and commands
    and this module's reservations are deleted: a dispatcher in a later module must not deliver
    them, nor a count see them (the database is shared)."""
    made: list[str] = []

    async def make(**details: Any) -> tuple[ExceptionRow, str]:
        row, global_id = await make_short_pick(**details)
        made.append(row.id)
        return row, global_id

    yield make
    async with services.sessions() as session, session.begin():
        await session.execute(
            delete(OutboxCommandRow).where(OutboxCommandRow.exception_id.in_(made))
        )
        await session.execute(
            delete(ExceptionEventRow).where(ExceptionEventRow.exception_id.in_(made))
        )
        await session.execute(delete(ExceptionRow).where(ExceptionRow.id.in_(made)))
        await session.execute(delete(ReservationRow).where(ReservationRow.sku == SKU))
        await session.execute(delete(InventoryPositionRow).where(InventoryPositionRow.sku == SKU))
        await positions_rewritten(session)  # written here, not by the ledger


async def race(graph: Graph, query: str, inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each input posted at once; every answer must be HTTP 200 without GraphQL errors."""
    responses = await asyncio.gather(
        *(
            graph.client.post("/graphql", json={"query": query, "variables": {"input": given}})
            for given in inputs
        )
    )
    assert [r.status_code for r in responses] == [200] * len(inputs)
    bodies = [r.json() for r in responses]
    assert [b for b in bodies if "errors" in b] == []
    return [b["data"] for b in bodies]


async def commands_of(services: Services, exception_id: str) -> int:
    async with services.sessions() as session:
        count = await session.scalar(
            select(func.count()).where(OutboxCommandRow.exception_id == exception_id)
        )
    return int(count or 0)


async def test_concurrent_resolves_with_one_key_all_get_the_first_answer_and_one_command(
    egraph: Graph, services: Services, short_pick: Callable[..., Any]
) -> None:
    row, exception_id = await short_pick()
    given = resolve_input(exception_id, "BACKORDER", f"race-resolve-{row.id}")

    answers = await race(egraph, RESOLVE, [given] * CALLS)

    codes = Counter(
        tuple(e["code"] for e in a["resolveException"]["userErrors"]) or "ok" for a in answers
    )
    assert codes == {"ok": CALLS}
    assert all(answer == answers[0] for answer in answers)  # identical, byte for byte
    assert answers[0]["resolveException"]["exception"]["status"] == "RESOLUTION_PENDING"
    assert await commands_of(services, row.id) == 1  # as one call makes


async def test_a_key_in_flight_with_other_input_is_refused_and_only_one_input_applies(
    egraph: Graph, services: Services, short_pick: Callable[..., Any]
) -> None:
    row, exception_id = await short_pick()
    key = f"race-reuse-{row.id}"
    backorder = resolve_input(exception_id, "BACKORDER", key)
    cancel = resolve_input(exception_id, "CANCEL_LINE", key)

    answers = await race(egraph, RESOLVE, [backorder, cancel] * (CALLS // 2))

    by_input: dict[str, Counter[str]] = {"BACKORDER": Counter(), "CANCEL_LINE": Counter()}
    for given, answer in zip([backorder, cancel] * (CALLS // 2), answers, strict=True):
        payload = answer["resolveException"]
        outcome = payload["userErrors"][0]["code"] if payload["userErrors"] else "ok"
        by_input[given["resolution"]][outcome] += 1
    winner = next(r for r, seen in by_input.items() if seen["ok"])
    loser = next(r for r in by_input if r != winner)
    assert by_input[winner] == {"ok": CALLS // 2}
    assert by_input[loser] == {"IDEMPOTENCY_KEY_REUSED": CALLS // 2}
    async with services.sessions() as session:
        commands = list(
            await session.scalars(
                select(OutboxCommandRow.resolution).where(OutboxCommandRow.exception_id == row.id)
            )
        )
    assert commands == [winner]


async def test_concurrent_refusals_with_one_key_all_say_why_and_keep_no_key(
    egraph: Graph, services: Services, short_pick: Callable[..., Any]
) -> None:
    row, exception_id = await short_pick()
    key = f"race-refused-{row.id}"

    answers = await race(egraph, RESOLVE, [resolve_input(exception_id, "TELEPORT", key)] * 10)

    assert {tuple(e["code"] for e in a["resolveException"]["userErrors"]) for a in answers} == {
        ("INVALID_RESOLUTION",)
    }
    async with services.sessions() as session:
        assert await session.get(IdempotencyKeyRow, ("resolveException", key)) is None
    # the key was never taken: the caller may use it for the input it meant
    fixed = await egraph.query(RESOLVE, input=resolve_input(exception_id, "BACKORDER", key))
    assert fixed["data"]["resolveException"]["userErrors"] == []


@pytest.mark.usefixtures("short_pick")
async def test_concurrent_reservations_with_one_key_all_get_the_first_answer_and_one_hold(
    egraph: Graph, services: Services
) -> None:
    async with services.sessions() as session, session.begin():
        await session.execute(delete(ReservationRow).where(ReservationRow.sku == SKU))
        await session.execute(delete(InventoryPositionRow).where(InventoryPositionRow.sku == SKU))
        await positions_rewritten(session)  # written here, not by the ledger
        session.add(ten_sellable(SKU))
    given = web_reservation(SKU, f"race-reserve-{datetime.now(UTC).timestamp()}", quantity=3)

    answers = await race(egraph, RESERVE, [given] * CALLS)

    assert all(answer == answers[0] for answer in answers)
    assert answers[0]["reserveInventory"]["userErrors"] == []
    async with services.sessions() as session:
        held = list(await session.scalars(select(ReservationRow).where(ReservationRow.sku == SKU)))
    assert [(r.id, r.quantity) for r in held] == [
        (answers[0]["reserveInventory"]["reservationId"], 3)
    ]


async def test_a_key_held_past_the_wait_is_in_flight_then_free_once_its_holder_gives_up(
    services: Services, short_pick: Callable[..., Any], clean_database: str
) -> None:
    """A holder that keeps the key (a replica stuck inside its transaction) gets the others a
    retryable refusal after the wait, not a hang; once it rolls back the key is free. (The
    replica has an engine of its own: on SQLite the writers of one engine take turns, so a
    holder there would be waited for in its queue, up to the execution timeout.)"""
    row, _ = await short_pick()
    key = f"race-stuck-{row.id}"
    now = datetime.now(UTC)
    keys = KeyClaims(services.sessions, wait_seconds=0.2)
    resolve = {
        "exception_id": row.id,
        "resolution": "BACKORDER",
        "note": None,
        "idempotency_key": key,
        "actor": "test",
        "now": now,
        "keys": keys,
    }
    catalogue = services.get(ExceptionCatalogue)
    replica = create_engine(clean_database)
    try:
        async with create_session_factory(replica)() as stuck, stuck.begin():
            assert await keys.take(stuck, "resolveException", key, "another", {}, now)

            waited = await service.resolve(services.sessions, catalogue, **resolve)

            await stuck.rollback()
    finally:
        await replica.dispose()
    assert waited.row is None
    assert [(p.code, p.field) for p in waited.problems] == [
        ("IDEMPOTENCY_IN_FLIGHT", ("input", "idempotencyKey"))
    ]
    assert await commands_of(services, row.id) == 0

    retried = await service.resolve(services.sessions, catalogue, **resolve)
    assert retried.problems == []
    assert await commands_of(services, row.id) == 1
