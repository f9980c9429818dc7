"""``exceptionEvents`` over graphql-transport-ws, against the service on a real socket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import websockets

from omnigraph.app import create_app, demo_sources_config
from omnigraph.demo import DemoSystems
from omnigraph.exceptions.live import ExceptionEventBus
from tests.conftest import Graph, make_settings
from tests.exceptions.conftest import ACK
from tests.helpers import on_loopback, until

SUBSCRIPTION = """
subscription($owner: SourceKind, $kinds: [ExceptionKind!]) {
  exceptionEvents(ownerKind: $owner, kinds: $kinds) { id kind status ownerKind }
}
"""


@pytest.fixture
async def live(
    own_demo: DemoSystems, clean_database: str
) -> AsyncIterator[tuple[str, ExceptionEventBus]]:
    app = create_app(make_settings(clean_database), sources=demo_sources_config(own_demo.urls))
    async with on_loopback(app, lifespan="on") as port:
        yield f"ws://127.0.0.1:{port}/graphql", app.state.services.get(ExceptionEventBus)


async def next_message(ws: Any, within: float = 5.0) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), within))
    return message


async def test_support_tool_sees_changes_live_filtered_by_owner_and_kind(
    live: tuple[str, ExceptionEventBus], egraph: Graph, make_short_pick: Callable[..., Any]
) -> None:
    live_url, bus = live
    before = bus.subscribers
    async with websockets.connect(live_url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init"}))
        assert (await next_message(ws))["type"] == "connection_ack"
        await ws.send(
            json.dumps(
                {
                    "id": "wms-shorts",
                    "type": "subscribe",
                    "payload": {
                        "query": SUBSCRIPTION,
                        "variables": {"owner": "WMS", "kinds": ["SHORT_PICK"]},
                    },
                }
            )
        )
        await ws.send(
            json.dumps(
                {
                    "id": "payments",
                    "type": "subscribe",
                    "payload": {"query": SUBSCRIPTION, "variables": {"owner": "PAYMENTS"}},
                }
            )
        )
        await until(lambda: bus.subscribers == before + 2)  # both listen now
        _, exception_id = await make_short_pick()
        await egraph.query(ACK, id=exception_id)

        first = await next_message(ws)
        second = await next_message(ws)
        for message in (first, second):
            assert message["type"] == "next"
            assert message["id"] == "wms-shorts"  # nothing reaches the payments subscriber
        events = [m["payload"]["data"]["exceptionEvents"] for m in (first, second)]
        assert [e["status"] for e in events] == ["OPEN", "ACKNOWLEDGED"]
        assert {e["id"] for e in events} == {exception_id}
        assert {e["ownerKind"] for e in events} == {"WMS"}
        await ws.send(json.dumps({"id": "wms-shorts", "type": "complete"}))
