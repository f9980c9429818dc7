"""Many writers at once through the real ASGI app: every one gets an answer, the ledger holds
exactly the reservations that were answered, and a reservation cut off by the execution timeout
says whether it was applied, as the database does.

On SQLite the app's write transactions take turns in one queue and begin IMMEDIATE, so none of
them waits in SQLite's busy handler. These tests shorten that handler's timeout to 10 ms (the
production 5 s ran out the same way under a few dozen clients and the background workers):
a writer that still waited there would fail with "database is locked".
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, event, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from omnigraph.db import engine as db_engine
from omnigraph.db.models import IdempotencyKeyRow, InventoryPositionRow, ReservationRow
from omnigraph.demo import DemoSystems
from omnigraph.runtime.services import Services
from omnigraph.settings import QueryLimits
from tests.conftest import Graph, running_app, services_of
from tests.helpers import fresh_position

SKU = "SKU-CONCURRENT-WRITES"
SELLABLE = 60  # web units at dc-north: on hand less the policy's 2 of safety stock
WRITERS = 64
# no operation here comes near it; a test that needs the deadline brings it forward itself
EXECUTION_TIMEOUT = 600.0
# a safety net only: a stuck queue fails the test instead of hanging it
CAP_SECONDS = 120

RESERVE = """
mutation($input: ReserveInventoryInput!) {
  reserveInventory(input: $input) {
    reservationId reservation { quantity status }
    userErrors { code }
  }
}
"""
RELEASE = """
mutation($id: ID!) {
  releaseReservation(id: $id) { reservationId reservation { status } userErrors { code } }
}
"""
AVAILABILITY = """
query($skus: [String!]!) {
  availability(skus: $skus, channel: "web") { sku locationId availableQuantity }
}
"""


@pytest.fixture
def short_busy_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db_engine, "SQLITE_BUSY_TIMEOUT_MS", 10)


@pytest.fixture
def deadlines(monkeypatch: pytest.MonkeyPatch) -> list[asyncio.Timeout]:
    """The execution deadlines the view sets (``asyncio.timeout(EXECUTION_TIMEOUT)``), so a
    test can make one fall due at the moment it chooses."""
    made: list[asyncio.Timeout] = []
    real = asyncio.timeout

    def recording(delay: float | None) -> asyncio.Timeout:
        deadline = real(delay)
        if delay == EXECUTION_TIMEOUT:
            made.append(deadline)
        return deadline

    monkeypatch.setattr(asyncio, "timeout", recording)
    return made


@pytest.fixture
async def busy_app(
    short_busy_timeout: None, demo: DemoSystems, clean_database: str
) -> AsyncIterator[tuple[Starlette, Graph]]:
    """The service, with a fresh position of 60 sellable web units at dc-north."""
    limits = QueryLimits(execution_timeout_seconds=EXECUTION_TIMEOUT)
    async for app, graph in running_app(demo, clean_database, limits=limits):
        services = services_of(app)
        async with services.sessions() as session, session.begin():
            await fresh_position(
                session, SKU, on_hand=SELLABLE + 2, last_event_at=datetime.now(UTC)
            )
        yield app, graph


def reservation(key: str, quantity: int = 1) -> dict[str, Any]:
    return {
        "sku": SKU,
        "locationId": "dc-north",
        "channel": "web",
        "quantity": quantity,
        "ttlSeconds": 3600,
        "idempotencyKey": f"{SKU}:{key}",
    }


async def stored(services: Services) -> dict[str, int]:
    """The ledger's reservations of the SKU, read apart from any answer: id -> quantity."""
    async with services.sessions() as session:
        rows = await session.execute(
            select(ReservationRow.id, ReservationRow.quantity).where(
                ReservationRow.sku == SKU, ReservationRow.status == "ACTIVE"
            )
        )
        return {row_id: quantity for row_id, quantity in rows}


async def all_at_once(writers: dict[str, Coroutine[Any, Any, dict[str, Any]]]) -> dict[str, Any]:
    """Each writer's answer, all sent at once; every one must come (within the safety cap)
    and none may be an error."""
    tasks = {key: asyncio.create_task(writer) for key, writer in writers.items()}
    _, unanswered = await asyncio.wait(tasks.values(), timeout=CAP_SECONDS)
    for task in unanswered:
        task.cancel()
    answers = {key: task.result() for key, task in tasks.items() if task not in unanswered}
    errors = collections.Counter(
        error.get("extensions", {}).get("code")
        for body in answers.values()
        for error in body.get("errors", [])
    )
    assert (len(unanswered), errors) == (0, {}), "every writer answered, none with an error"
    return answers


async def test_64_concurrent_reservations_all_get_answers_and_the_ledger_holds_exactly_theirs(
    busy_app: tuple[Starlette, Graph],
) -> None:
    app, graph = busy_app
    wanted = {f"rush-{i}": i % 3 + 1 for i in range(WRITERS)}  # 127 units asked for, 60 there
    answers = await all_at_once(
        {key: graph.query(RESERVE, input=reservation(key, q)) for key, q in wanted.items()}
    )
    made = {
        key: body["data"]["reserveInventory"]
        for key, body in answers.items()
        if body["data"]["reserveInventory"]["reservationId"]
    }
    refused = {
        key: [e["code"] for e in body["data"]["reserveInventory"]["userErrors"]]
        for key, body in answers.items()
        if key not in made
    }
    assert set(map(tuple, refused.values())) <= {("INSUFFICIENT_AVAILABILITY",)}
    # the ledger holds exactly the reservations that were answered, for the units answered
    ledger = await stored(app.state.services)
    assert ledger == {
        answer["reservationId"]: answer["reservation"]["quantity"] for answer in made.values()
    }
    assert all(answer["reservation"]["quantity"] == wanted[key] for key, answer in made.items())
    sold = sum(ledger.values())
    assert sold <= SELLABLE  # never oversold
    # and nothing a refused writer asked for was left: what remains is less than each asked
    assert refused
    assert all(wanted[key] > SELLABLE - sold for key in refused)


async def test_64_concurrent_writers_of_two_kinds_all_get_answers_and_the_ledger_agrees(
    busy_app: tuple[Starlette, Graph],
) -> None:
    """32 releases of held reservations and 32 new reservations, all at once: a release has
    no idempotency key to wait on, so before the queue it waited in SQLite's busy handler."""
    app, graph = busy_app
    held = []
    for i in range(WRITERS // 2):
        body = await graph.query(RESERVE, input=reservation(f"held-{i}", 1))
        held.append(body["data"]["reserveInventory"]["reservationId"])
    wanted = {f"rush-{i}": i % 3 + 1 for i in range(WRITERS // 2)}
    answers = await all_at_once(
        {f"release-{i}": graph.query(RELEASE, id=held_id) for i, held_id in enumerate(held)}
        | {key: graph.query(RESERVE, input=reservation(key, q)) for key, q in wanted.items()}
    )
    released = [answers[f"release-{i}"]["data"]["releaseReservation"] for i in range(len(held))]
    assert [
        (r["reservationId"], r["reservation"]["status"], r["userErrors"]) for r in released
    ] == [(held_id, "RELEASED", []) for held_id in held]
    made = {
        key: answers[key]["data"]["reserveInventory"]
        for key in wanted
        if answers[key]["data"]["reserveInventory"]["reservationId"]
    }
    assert {
        tuple(e["code"] for e in answers[key]["data"]["reserveInventory"]["userErrors"])
        for key in wanted
        if key not in made
    } <= {("INSUFFICIENT_AVAILABILITY",)}
    # the ledger: exactly the new reservations answered are held, and the released are not
    ledger = await stored(app.state.services)
    assert ledger == {
        answer["reservationId"]: answer["reservation"]["quantity"] for answer in made.values()
    }
    assert all(answer["reservation"]["quantity"] == wanted[key] for key, answer in made.items())
    assert sum(ledger.values()) <= SELLABLE
    async with app.state.services.sessions() as session:
        statuses = set(
            await session.scalars(select(ReservationRow.status).where(ReservationRow.id.in_(held)))
        )
    assert statuses == {"RELEASED"}


async def test_reads_do_not_wait_for_the_writer(busy_app: tuple[Starlette, Graph]) -> None:
    """While a write transaction holds the writer, availability is read and answered; a
    reservation waits for its turn and then goes through."""
    app, graph = busy_app
    services = services_of(app)
    async with asyncio.timeout(CAP_SECONDS):
        async with services.sessions() as session, session.begin():
            await session.execute(
                update(InventoryPositionRow)
                .where(InventoryPositionRow.sku == SKU)
                .values(version=InventoryPositionRow.version + 1)
            )
            waiting = asyncio.create_task(graph.query(RESERVE, input=reservation("waits", 5)))
            read = await graph.query(AVAILABILITY, skus=[SKU])
            assert "errors" not in read, read["errors"]
            assert [a["availableQuantity"] for a in read["data"]["availability"]] == [SELLABLE]
            assert not waiting.done()
        body = await waiting
    assert body["data"]["reserveInventory"]["reservation"] == {"quantity": 5, "status": "ACTIVE"}


def engine_of(services: Services) -> AsyncEngine:
    bind = services.sessions.kw["bind"]
    assert isinstance(bind, AsyncEngine)
    return bind


@pytest.fixture
def cut_off_at(
    busy_app: tuple[Starlette, Graph], deadlines: list[asyncio.Timeout]
) -> Iterator[Callable[[str], None]]:
    """``cut_off_at(moment)`` makes the next reservation's execution deadline fall due at that
    moment of its write transaction: ``"lock"`` (its first statement, which locks the
    position), ``"insert"`` (its rows written, at commit) or ``"commit"`` (the COMMIT itself)."""
    engine = engine_of(busy_app[0].state.services).sync_engine
    chosen: list[str] = []

    def due() -> None:
        if chosen:
            chosen.clear()
            deadlines[-1].reschedule(asyncio.get_running_loop().time())

    def executing(connection: Connection, cursor: Any, statement: str, *_: Any) -> None:
        if chosen == ["lock"] and statement.startswith("UPDATE inventory_positions"):
            due()
        if statement.startswith("INSERT INTO inventory_reservations"):
            connection.info["reserving"] = True
            if chosen == ["insert"]:
                due()

    def committing(connection: Connection) -> None:
        if connection.info.pop("reserving", False) and chosen == ["commit"]:
            due()

    event.listen(engine, "before_cursor_execute", executing)
    event.listen(engine, "commit", committing)
    yield chosen.append
    event.remove(engine, "before_cursor_execute", executing)
    event.remove(engine, "commit", committing)
    assert not chosen, f"the reservation never reached {chosen}"


@pytest.mark.parametrize(
    ("moment", "applied"), [("lock", False), ("insert", True), ("commit", True)]
)
async def test_a_reservation_cut_off_by_the_timeout_says_whether_it_applied(
    busy_app: tuple[Starlette, Graph],
    cut_off_at: Callable[[str], None],
    moment: str,
    applied: bool,
) -> None:
    app, graph = busy_app
    services = services_of(app)
    cut_off_at(moment)
    async with asyncio.timeout(CAP_SECONDS):
        body = await graph.query(RESERVE, input=reservation("cut", 2))
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "TIMEOUT"
    assert error["extensions"]["applied"] is applied
    # the database agrees with the answer
    ledger = await stored(services)
    assert sorted(ledger.values()) == ([2] if applied else [])
    async with services.sessions() as session:
        keys = await session.scalar(
            select(func.count()).where(IdempotencyKeyRow.key == f"{SKU}:cut")
        )
    assert keys == (1 if applied else 0)
    # a retry with the same key gets the reservation that was made, or makes it now; the
    # writer's turn was given back either way
    async with asyncio.timeout(CAP_SECONDS):
        retry = await graph.query(RESERVE, input=reservation("cut", 2))
        after = await graph.query(RESERVE, input=reservation("after", 1))
    assert "errors" not in retry, retry["errors"]
    retried = retry["data"]["reserveInventory"]["reservationId"]
    assert (retried in ledger) is applied
    assert after["data"]["reserveInventory"]["reservation"] == {"quantity": 1, "status": "ACTIVE"}
    assert sorted((await stored(services)).values()) == [1, 2]
