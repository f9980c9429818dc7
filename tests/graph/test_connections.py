"""Every connection pages the same way: each item exactly once, ``hasNextPage`` true while one
more item exists and false on the last page, also when that page is exactly full.

The references are the demo world's own records (its orders, its payouts) and the exceptions
the test writes itself, not the service's answers.
"""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.applications import Starlette

from omnigraph.core.ids import encode_global_id
from omnigraph.demo import DemoWorld
from omnigraph.exceptions.catalogue import ExceptionCatalogue
from omnigraph.exceptions.intake import exception_id, take_in
from tests.conftest import Graph, services_of
from tests.helpers import short_pick

ORDERS = """query($first: Int!, $after: String, $filter: OrderFilter) {
  orders(first: $first, after: $after, filter: $filter) {
    edges { node { id } } pageInfo { hasNextPage endCursor } } }"""
PAYOUTS = """query($first: Int!, $after: String) {
  payouts(first: $first, after: $after) {
    edges { node { id } } pageInfo { hasNextPage endCursor } } }"""
EXCEPTIONS = """query($first: Int!, $after: String, $filter: ExceptionFilter) {
  exceptions(first: $first, after: $after, filter: $filter) {
    edges { node { id } } pageInfo { hasNextPage endCursor } } }"""

# one pass of the detector stamps all its exceptions with one moment; these are far in the past
# so that ``openedBefore`` picks exactly them out of the shared database
PASS_AT = datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC)
ONE_PASS = 11


async def walk(
    graph: Graph, query: str, field: str, first: int, **variables: Any
) -> list[tuple[list[str], bool]]:
    """Every page of ``field`` with ``first``: (its ids, its hasNextPage), to the end."""
    pages: list[tuple[list[str], bool]] = []
    after = None
    for _ in range(200):
        body = await graph.query(query, first=first, after=after, **variables)
        assert "errors" not in body, body["errors"]
        connection = body["data"][field]
        pages.append(
            ([e["node"]["id"] for e in connection["edges"]], connection["pageInfo"]["hasNextPage"])
        )
        if not connection["pageInfo"]["hasNextPage"]:
            return pages
        after = connection["pageInfo"]["endCursor"]
    raise AssertionError("the pages never ended")


def assert_paged(pages: list[tuple[list[str], bool]], expected: set[str], first: int) -> None:
    """Each of ``expected`` exactly once, full pages, hasNextPage true but on the last page."""
    seen = [item for ids, _ in pages for item in ids]
    assert sorted(seen) == sorted(expected)
    assert [more for _, more in pages] == [True] * (len(pages) - 1) + [False]
    assert [len(ids) for ids, _ in pages[:-1]] == [first] * (len(pages) - 1)
    # an empty page after a full one means the full one said there was more when there was not
    assert pages[-1][0] or len(pages) == 1


@pytest.fixture(scope="module")
async def one_pass(service: tuple[Starlette, Graph], world: DemoWorld) -> set[str]:
    """ONE_PASS exceptions stamped with the same ``detected_at``, written in an order that is
    not the order of their ids (as a detector's pass writes them); their global ids."""
    services = services_of(service[0])
    order = world.storefront_orders[0]["id"]
    keys = [f"connections:one-pass:{n}" for n in range(ONE_PASS)]
    random.Random(25).shuffle(keys)
    for key in keys:
        report = dataclasses.replace(short_pick(order, dedupe_key=key), detected_at=PASS_AT)
        await take_in(services.sessions, services.get(ExceptionCatalogue), report)
    return {encode_global_id("Exception", exception_id(key)) for key in keys}


@pytest.mark.parametrize("first", [1, 2, 3, ONE_PASS - 1, ONE_PASS])
async def test_exceptions_of_one_pass_page_each_exactly_once(
    graph: Graph, one_pass: set[str], first: int
) -> None:
    """Exceptions with one ``detectedAt`` are ordered by id too, so paging with ``first``
    neither skips nor repeats one."""
    before = {"openedBefore": (PASS_AT + timedelta(seconds=1)).isoformat()}
    pages = await walk(graph, EXCEPTIONS, "exceptions", first, filter=before)
    assert_paged(pages, one_pass, first)


@pytest.mark.parametrize("first", [1, ONE_PASS - 1, ONE_PASS, ONE_PASS + 1])
async def test_exceptions_has_next_page_exactly(
    graph: Graph, one_pass: set[str], first: int
) -> None:
    before = {"openedBefore": (PASS_AT + timedelta(seconds=1)).isoformat()}
    pages = await walk(graph, EXCEPTIONS, "exceptions", first, filter=before)
    assert_paged(pages, one_pass, first)
    assert len(pages) == -(-ONE_PASS // first)  # no empty page after an exactly full one


def orders_of(world: DemoWorld, channel: str | None = None) -> set[str]:
    return {
        encode_global_id("Order", "web-store", order["id"])
        for order in world.storefront_orders
        if channel is None or order["channel"] == channel
    }


@pytest.mark.parametrize("first", [80, 79, 40, 32])
async def test_orders_pages_end_exactly(graph: Graph, world: DemoWorld, first: int) -> None:
    """160 orders: 80, 40 and 32 end on an exactly full page, 79 on a page of two."""
    everything = orders_of(world)
    pages = await walk(graph, ORDERS, "orders", first)
    assert_paged(pages, everything, first)
    assert len(pages) == -(-len(everything) // first)


async def test_orders_of_a_channel_on_one_exactly_full_page(graph: Graph, world: DemoWorld) -> None:
    """A filter the service applies after fetching (the channel): the same promise."""
    wholesale = orders_of(world, "wholesale")
    exact = await walk(graph, ORDERS, "orders", len(wholesale), filter={"channel": "wholesale"})
    assert exact == [(exact[0][0], False)]
    assert set(exact[0][0]) == wholesale
    short = await walk(graph, ORDERS, "orders", len(wholesale) - 1, filter={"channel": "wholesale"})
    assert [more for _, more in short] == [True, False]
    assert_paged(short, wholesale, len(wholesale) - 1)


def payouts_of(world: DemoWorld) -> set[str]:
    return {encode_global_id("Payout", "psp", p["id"]) for p in world.payouts}


@pytest.mark.parametrize("first", [1, 5, 7, 34, 35, 36])
async def test_payouts_pages_end_exactly(graph: Graph, world: DemoWorld, first: int) -> None:
    """35 payouts: 5, 7 and 35 end on an exactly full page; 34 leaves one for a second page."""
    everything = payouts_of(world)
    assert len(everything) == 35
    pages = await walk(graph, PAYOUTS, "payouts", first)
    assert_paged(pages, everything, first)
    assert len(pages) == -(-len(everything) // first)
