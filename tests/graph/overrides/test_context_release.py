"""A finished request leaves its truths, records and futures to reference counting, not to the
cyclic garbage collector, whose pauses were a quarter of a reporting page's CPU under load
(docs/PERFORMANCE.md, optimisation 9): ``omnigraph.graph.overrides.ReleasedContexts``."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette

from omnigraph.orders.truth import OrderTruth, OrderTruths
from omnigraph.sources.records import Sourced
from tests.conftest import Graph, needs_overrides, services_of

PAGE = """{ orders(first: 20) { edges { node { id state totals { total { amount } }
  lines { sku shipped } provenance { field source } } } } }"""


@pytest.fixture
def collector_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def alive(kind: type) -> int:
    return sum(isinstance(thing, kind) for thing in gc.get_objects())


@needs_overrides
@pytest.mark.usefixtures("collector_off")
async def test_a_finished_request_leaves_no_truth_for_the_collector(
    app: Starlette, graph: Graph
) -> None:
    body = await graph.query(PAGE)
    assert "errors" not in body, body.get("errors")
    assert len(body["data"]["orders"]["edges"]) == 20
    # the truths this process keeps for later requests are let go here: with the collector
    # off, anything left in a reference cycle would still be here: without the release, 60
    # truths and 73 records; the one record the loop may still hold for a moment is not a cycle
    services_of(app).get(OrderTruths).clear()
    assert alive(OrderTruth) == 0
    assert alive(Sourced) <= 1
