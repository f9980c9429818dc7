"""Fixtures for exception tests, on demo systems of the module's own (``own_service``: commands
change their state), and the GraphQL they share."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import httpx
import purgatory.domain.model
import pytest
from starlette.applications import Starlette

from omnigraph.core.ids import encode_global_id
from omnigraph.db.models import ExceptionRow
from omnigraph.demo import DemoSystems, DemoWorld
from omnigraph.exceptions.catalogue import ExceptionCatalogue
from omnigraph.exceptions.dispatcher import CommandDispatcher
from omnigraph.exceptions.intake import take_in
from omnigraph.runtime.services import Services
from omnigraph.settings import DispatchPolicy
from tests.clocks import WallClock
from tests.conftest import Graph, Sources, services_of
from tests.helpers import wms_short_pick

UNSETTLED = {"released", "picking", "picked", "packed"}

ACK = """
mutation($id: ID!, $note: String) {
  acknowledgeException(id: $id, note: $note) {
    exception { id status history { status actor note } }
    userErrors { code field message }
  }
}
"""
RESOLVE = """
mutation($input: ResolveExceptionInput!) {
  resolveException(input: $input) {
    exception { id status resolution lastError commands { status commandType idempotencyKey } }
    userErrors { code field message }
  }
}
"""
RETRY = """
mutation($id: ID!) {
  retryExceptionResolution(id: $id) { exception { status } userErrors { code message } }
}
"""
SHOW = """
query($id: ID!) {
  exception(id: $id) {
    status resolution resolvedAt lastError
    history { status actor note }
    commands { status attempts lastError ownerAnswer payload idempotencyKey }
  }
}
"""


def resolve_input(
    exception_id: str, resolution: str, key: str, note: str | None = None
) -> dict[str, Any]:
    return {"id": exception_id, "resolution": resolution, "idempotencyKey": key, "note": note}


@pytest.fixture
def egraph(own_service: tuple[Starlette, Graph]) -> Graph:
    return own_service[1]


@pytest.fixture
def services(own_service: tuple[Starlette, Graph]) -> Services:
    return services_of(own_service[0])


@pytest.fixture(scope="module")
def esources(own_demo: DemoSystems) -> Sources:
    return Sources(own_demo)


@pytest.fixture(scope="module")
def open_lines(world: DemoWorld) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Fulfilment-order lines the WMS can still act on, each handed out once per module."""
    planted = {p.order_ref for p in world.planted}
    lines = [
        (order, line)
        for order in world.wms_fulfilment_orders
        if order["status"] in UNSETTLED and order["orderRef"] not in planted
        for line in order["lines"]
        if line["quantity"] - line["shipped"] - line["short"] >= 1
    ]
    return iter(lines)


_keys = itertools.count(1)


@pytest.fixture
def make_short_pick(
    services: Services, open_lines: Iterator[tuple[dict[str, Any], dict[str, Any]]]
) -> Callable[..., Any]:
    async def make(**details: Any) -> tuple[ExceptionRow, str]:
        order, line = next(open_lines)
        key = f"test:short:{next(_keys)}:{order['id']}:{line['sku']}"
        report = wms_short_pick(order, line, dedupe_key=key, **details)
        row, _ = await take_in(services.sessions, services.get(ExceptionCatalogue), report)
        return row, encode_global_id("Exception", row.id)

    return make


@pytest.fixture
def backordered(
    egraph: Graph, make_short_pick: Callable[..., Any]
) -> Callable[..., Awaitable[str]]:
    """A new short pick (``details`` as ``make_short_pick``'s) resolved ``BACKORDER`` under the
    idempotency ``key``: the exception's id, its command waiting for the dispatcher."""

    async def resolve(key: str, **details: Any) -> str:
        _, exception_id = await make_short_pick(**details)
        await backorder(egraph, exception_id, key)
        return exception_id

    return resolve


async def backorder(graph: Graph, exception_id: str, key: str) -> None:
    """Resolve the exception ``BACKORDER`` under the idempotency ``key``: its command waits."""
    body = await graph.query(RESOLVE, input=resolve_input(exception_id, "BACKORDER", key))
    assert body["data"]["resolveException"]["userErrors"] == []


class Clock(WallClock):
    """The dispatcher's clock and its circuit breakers' (purgatory reads ``time.time()``),
    moved by hand: a backoff or a breaker's reset time passes without anyone waiting."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        super().__init__(datetime.now(UTC))
        monkeypatch.setattr(
            purgatory.domain.model, "time", SimpleNamespace(time=lambda: self.at.timestamp())
        )

    def catch_up(self) -> None:
        """To the real time (the service stamped the command with it), never back."""
        self.at = max(self.at, datetime.now(UTC))


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch)


@pytest.fixture
def dispatcher(services: Services) -> Callable[..., CommandDispatcher]:
    """A dispatcher for the service's owners (or ``owners``, an owner's name -> its client),
    with a tiny backoff unless ``policy`` says otherwise."""

    def build(
        clock: Callable[[], datetime] | None = None,
        *,
        owners: dict[str, Any] | None = None,
        worker: str = "test",
        **policy: Any,
    ) -> CommandDispatcher:
        values = {"backoff_seconds": 0.01, "backoff_max_seconds": 0.05, **policy}
        registry = services.registry if owners is None else SimpleNamespace(clients=owners)
        return CommandDispatcher(
            services.sessions,
            registry,  # type: ignore[arg-type]  # the dispatcher reads only ``clients``
            worker=worker,
            policy=DispatchPolicy.model_validate(values),
            **({"clock": clock} if clock is not None else {}),
        )

    return build


@dataclass
class Outbox:
    """The outbox as a test drives it: exceptions resolved into it through GraphQL, and
    dispatchers delivering from it on the hand-moved ``clock``."""

    graph: Graph
    clock: Clock
    make_short_pick: Callable[..., Any]
    build_dispatcher: Callable[..., CommandDispatcher]

    async def short_pick(self, **details: Any) -> str:
        """A new short pick (``details`` as ``make_short_pick``'s): its exception's id."""
        _, exception_id = await self.make_short_pick(**details)
        return str(exception_id)

    async def backorder(self, exception_id: str, key: str) -> None:
        """Resolved ``BACKORDER`` under ``key``; the clock catches up with the real time the
        service stamped the command with, so the command is due."""
        await backorder(self.graph, exception_id, key)
        self.clock.catch_up()

    async def backordered(self, key: str, **details: Any) -> str:
        """A new short pick resolved ``BACKORDER`` under ``key``: its exception's id."""
        exception_id = await self.short_pick(**details)
        await self.backorder(exception_id, key)
        return exception_id

    def dispatcher(self, **config: Any) -> CommandDispatcher:
        """A dispatcher on the clock (``config`` as the ``dispatcher`` fixture's)."""
        return self.build_dispatcher(self.clock, **config)

    async def exception(self, exception_id: str, query: str = SHOW) -> dict[str, Any]:
        """The exception as ``query`` shows it."""
        body = await self.graph.query(query, id=exception_id)
        return dict(body["data"]["exception"])


@pytest.fixture
def outbox(
    egraph: Graph,
    clock: Clock,
    make_short_pick: Callable[..., Any],
    dispatcher: Callable[..., CommandDispatcher],
) -> Outbox:
    return Outbox(egraph, clock, make_short_pick, dispatcher)


async def owner_commands(demo: DemoSystems, kind: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as client:
        body = (await client.get(f"{demo.urls[kind]}/_commands")).json()
    return list(body["data"])
