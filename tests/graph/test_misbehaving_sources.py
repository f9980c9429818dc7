"""Sources that time out or break their contract cost only their fields, with a coded error."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from omnigraph.app import create_app, demo_sources_config
from omnigraph.core.ids import encode_global_id
from omnigraph.demo import DemoSystems, DemoWorld
from omnigraph.security.principal import Role
from tests.conftest import Graph, authorize, make_settings, serving
from tests.orders.test_schema import shipped_order

QUERY = """
query($id: ID!) {
  order(id: $id) { name totals { total { amount } } shipments { id } }
}
"""


def slow_wms(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("the WMS took too long", request=request)


def broken_wms(request: httpx.Request) -> httpx.Response:
    refs = json.loads(request.content)["orderRefs"]
    # a record without the fields the contract requires (no status, no lines)
    return httpx.Response(200, json={"data": [{"id": "WO-1", "orderRef": refs[0]}]})


async def app_with_wms(
    demo: DemoSystems, database_url: str, handler: httpx.MockTransport
) -> AsyncIterator[Graph]:
    app = create_app(
        make_settings(database_url),
        sources=demo_sources_config(demo.urls),
        transports={"wms": handler},
    )
    async with serving(app) as client:
        yield Graph(client)


@pytest.mark.parametrize(
    ("handler", "code"),
    [(slow_wms, "UPSTREAM_UNAVAILABLE"), (broken_wms, "UPSTREAM_CONTRACT_VIOLATION")],
)
async def test_misbehaving_wms_nulls_only_its_fields(
    demo: DemoSystems,
    clean_database: str,
    world: DemoWorld,
    handler: Callable[[httpx.Request], httpx.Response],
    code: str,
) -> None:
    order = shipped_order(world)
    async for graph in app_with_wms(demo, clean_database, httpx.MockTransport(handler)):
        body = await graph.query(QUERY, id=encode_global_id("Order", "web-store", order["id"]))
    data = body["data"]["order"]
    assert data["name"] == order["name"]
    assert data["totals"]["total"]["amount"]
    assert data["shipments"] is None
    (error,) = body["errors"]
    assert error["path"] == ["order", "shipments"]
    assert error["extensions"] == {"code": code, "source": "wms"}


def crashing_wms(request: httpx.Request) -> httpx.Response:
    raise RuntimeError("secret internal detail")


async def test_production_masks_unexpected_errors_and_hides_graphiql(
    demo: DemoSystems, clean_database: str, world: DemoWorld
) -> None:
    order = shipped_order(world)
    app = create_app(
        make_settings(clean_database, mode="production"),
        sources=demo_sources_config(demo.urls),
        transports={"wms": httpx.MockTransport(crashing_wms)},
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://omnigraph") as client:
            await authorize(app, client, Role.SUPPORT)
            graph = Graph(client)
            body = await graph.query(QUERY, id=encode_global_id("Order", "web-store", order["id"]))
            page = await client.get("/graphql", headers={"Accept": "text/html"})
    assert body["data"]["order"]["name"] == order["name"]
    (error,) = body["errors"]
    assert "secret" not in json.dumps(error)
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert page.status_code != 200 or "graphiql" not in page.text.lower()
