"""Reconciliation tests run against demo systems of their own: resolutions change the books."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from starlette.applications import Starlette

from omnigraph.demo import DemoSystems, DemoWorld
from tests.conftest import Graph, running_app


@pytest.fixture(scope="module")
async def money_demo(world: DemoWorld) -> AsyncIterator[DemoSystems]:
    async with DemoSystems(world) as systems:
        yield systems


@pytest.fixture(scope="module")
async def money_service(
    money_demo: DemoSystems, clean_database: str
) -> AsyncIterator[tuple[Starlette, Graph]]:
    async for pair in running_app(money_demo, clean_database):
        yield pair
