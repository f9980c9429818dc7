"""A source that is down is answered from its last good copy for a while, marked stale;
money and background work never are."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from omnigraph.core.errors import UpstreamUnavailable
from omnigraph.core.ids import encode_global_id
from omnigraph.core.sources import SourceKind
from omnigraph.demo import DemoSystems, DemoWorld
from omnigraph.settings import SourceConfig
from omnigraph.sources.contract import ContractClient
from omnigraph.sources.stale import LastGood, stale_reads
from tests.clocks import SecondsClock
from tests.conftest import Graph, Sources, running_app
from tests.orders.test_schema import shipped_order

QUERY = """
query($id: ID!) {
  order(id: $id) {
    name
    totals { total { amount } }
    shipments { id trackingNumber }
    provenance(field: "totals.total") { sourceKind authoritative }
  }
}
"""


WINDOW = 30.0  # OMNIGRAPH_STALE_IF_ERROR_SECONDS of the service under test
PAYMENTS = """
query($id: ID!) {
  order(id: $id) { name payments { id status amount { amount } } }
}
"""


@pytest.fixture
async def stale_service(
    demo: DemoSystems, clean_database: str
) -> AsyncIterator[tuple[Starlette, Graph, SecondsClock]]:
    async for app, graph in running_app(demo, clean_database, stale_if_error_seconds=WINDOW):
        clock = SecondsClock(1_000.0)
        for client in app.state.services.registry.clients.values():
            client.upstream.last_good.clock = clock
        yield app, graph, clock


@pytest.fixture
def order_id(world: DemoWorld) -> str:
    return encode_global_id("Order", "web-store", shipped_order(world)["id"])


async def test_a_down_wms_is_served_from_its_last_good_copy_marked_stale_then_null(
    stale_service: tuple[Starlette, Graph, SecondsClock], sources: Sources, order_id: str
) -> None:
    _, graph, clock = stale_service
    fresh = await graph.query(QUERY, id=order_id)
    assert "stale" not in (fresh.get("extensions") or {})
    assert fresh["data"]["order"]["shipments"]
    async with sources.down("wms"):
        clock.advance(WINDOW - 1)  # the copy is 29 s old: still within the window
        stale = await graph.query(QUERY, id=order_id)
        assert "errors" not in stale, stale["errors"]
        assert stale["data"]["order"]["shipments"] == fresh["data"]["order"]["shipments"]
        (marked,) = stale["extensions"]["stale"]
        assert marked == {"source": "wms", "ageSeconds": WINDOW - 1, "reason": marked["reason"]}
        assert "HTTP 503" in marked["reason"]
        clock.advance(1)  # 30 s old: past the window, null with the usual error
        expired = await graph.query(QUERY, id=order_id)
        assert expired["data"]["order"]["shipments"] is None
        assert {e["extensions"]["source"] for e in expired["errors"]} == {"wms"}
        assert "stale" not in (expired.get("extensions") or {})


async def test_money_is_never_served_stale(
    stale_service: tuple[Starlette, Graph, SecondsClock], sources: Sources, order_id: str
) -> None:
    graph = stale_service[1]
    await graph.query(QUERY, id=order_id)  # the ERP answered once
    async with sources.down("erp"):
        body = await graph.query(QUERY, id=order_id)
    assert "stale" not in (body.get("extensions") or {})
    # totals come from the storefront's claim, flagged as not the owner's, with the ERP's error
    assert body["data"]["order"]["provenance"] == [
        {"sourceKind": "STOREFRONT", "authoritative": False}
    ]
    assert {e["extensions"]["source"] for e in body["errors"]} == {"erp"}


async def test_payments_are_never_served_stale(
    stale_service: tuple[Starlette, Graph, SecondsClock],
    sources: Sources,
    order_id: str,
    world: DemoWorld,
) -> None:
    """The other half of money: a payments provider that is down answers null with its error
    at once, however fresh the copy of the charges the service saw a second before."""
    _, graph, clock = stale_service
    ref = shipped_order(world)["id"]
    charges = sorted(c["id"] for c in world.charges if c["metadata"]["order_ref"] == ref)
    fresh = await graph.query(PAYMENTS, id=order_id)
    assert sorted(p["id"] for p in fresh["data"]["order"]["payments"]) == charges
    async with sources.down("payments"):
        clock.advance(1)
        body = await graph.query(PAYMENTS, id=order_id)
    assert "stale" not in (body.get("extensions") or {})
    assert body["data"]["order"]["name"] == fresh["data"]["order"]["name"]
    assert body["data"]["order"]["payments"] is None
    assert {e["extensions"]["source"] for e in body["errors"]} == {"psp"}


def test_outside_a_request_nothing_is_served_stale() -> None:
    copies = LastGood("wms", window_seconds=60, max_entries=10)
    copies.keep(("fulfilment-orders", "id", "FO-1"), {"id": "FO-1"})
    down = UpstreamUnavailable("wms", "HTTP 503")
    with pytest.raises(UpstreamUnavailable):
        copies.serve([("fulfilment-orders", "id", "FO-1")], down)  # a background worker
    with stale_reads() as served:
        assert copies.serve([("fulfilment-orders", "id", "FO-1")], down) == [{"id": "FO-1"}]
    assert [read.source for read in served] == ["wms"]
    with stale_reads(), pytest.raises(UpstreamUnavailable):
        copies.serve([("fulfilment-orders", "id", "FO-2")], down)  # never asked before


async def test_background_reads_keep_no_copies() -> None:
    """The reconciler reads a million records no request asks for again: none are kept, so a
    request finds no copy of them when the source goes down; a query's own reads are kept."""
    down = False

    def wms(request: httpx.Request) -> httpx.Response:
        if down:
            return httpx.Response(503)
        refs = json.loads(request.content)["orderRefs"]
        return httpx.Response(200, json={"data": [{"id": f"FO-{r}", "orderRef": r} for r in refs]})

    client = ContractClient(
        SourceConfig(name="wms", kind=SourceKind.WMS, base_url="http://wms.test"),
        timeout_seconds=1,
        cache_ttl_seconds=0,
        cache_max_entries=100,
        redis_key_prefix="omnigraph-test",
        stale_if_error_seconds=60,
        transport=httpx.MockTransport(wms),
    )
    try:
        await client.by_order_ref("fulfilment-orders", ["SF-1"])  # a background worker
        with stale_reads():
            await client.by_order_ref("fulfilment-orders", ["SF-2"])  # a GraphQL query
        down = True
        with stale_reads() as served:
            with pytest.raises(UpstreamUnavailable):
                await client.by_order_ref("fulfilment-orders", ["SF-1"])
            kept = await client.by_order_ref("fulfilment-orders", ["SF-2"])
        assert kept == {"SF-2": [{"id": "FO-SF-2", "orderRef": "SF-2"}]}
        assert [read.source for read in served] == ["wms"]
    finally:
        await client.upstream.aclose()
