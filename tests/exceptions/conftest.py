"""Fixtures for exception tests, on demo systems of the module's own (``own_service``: commands
change their state)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import httpx
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
from tests.conftest import Graph, Sources, services_of
from tests.helpers import wms_short_pick

UNSETTLED = {"released", "picking", "picked", "packed"}


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
def dispatcher(services: Services) -> Callable[..., CommandDispatcher]:
    def build(clock: Callable[[], datetime] | None = None, **policy: Any) -> CommandDispatcher:
        values = {"backoff_seconds": 0.01, "backoff_max_seconds": 0.05, **policy}
        return CommandDispatcher(
            services.sessions,
            services.registry,
            worker="test",
            policy=DispatchPolicy.model_validate(values),
            **({"clock": clock} if clock is not None else {}),
        )

    return build


async def owner_commands(demo: DemoSystems, kind: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as client:
        body = (await client.get(f"{demo.urls[kind]}/_commands")).json()
    return list(body["data"])
