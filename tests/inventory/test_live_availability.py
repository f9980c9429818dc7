"""``availabilityChanged`` fires when a ledger event or a reservation moves a watched SKU."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets

from omnigraph.demo import DemoSystems
from omnigraph.inventory.ledger import LedgerReader
from omnigraph.inventory.live import AvailabilityBus
from omnigraph.runtime.services import Services
from tests.conftest import services_of
from tests.helpers import on_loopback, until
from tests.inventory.test_ledger import ScriptedWms, forget_inventory

SUBSCRIPTION = """subscription { availabilityChanged(skus: ["SKU-F"], channel: "web") {
  sku locationId availableQuantity } }"""


@pytest.fixture
async def live(
    own_demo: DemoSystems, clean_database: str
) -> AsyncIterator[tuple[str, ScriptedWms, Services]]:
    wms = ScriptedWms()
    app = wms.serving(own_demo, clean_database)
    async with on_loopback(app, lifespan="on") as port:
        services = services_of(app)
        await forget_inventory(services)
        try:
            yield f"127.0.0.1:{port}", wms, services
        finally:
            await forget_inventory(services)


async def receive(ws: Any) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 5))
    return message


async def test_ledger_events_and_reservations_reach_subscribers(
    live: tuple[str, ScriptedWms, Services],
) -> None:
    address, wms, services = live
    reader = LedgerReader(
        services.sessions, services.registry, on_change=services.get(AvailabilityBus).publish
    )
    async with websockets.connect(
        f"ws://{address}/graphql", subprotocols=["graphql-transport-ws"]
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init"}))
        assert (await receive(ws))["type"] == "connection_ack"
        bus = services.get(AvailabilityBus)
        before = bus.subscribers
        await ws.send(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIPTION}})
        )
        await until(lambda: bus.subscribers == before + 1)  # it listens now
        wms.add("receipt", "SKU-F", "store-london", 5)
        await reader.sync_once()
        first = await receive(ws)
        assert first["payload"]["data"]["availabilityChanged"] == {
            "sku": "SKU-F",
            "locationId": "store-london",
            "availableQuantity": 5,
        }
        async with httpx.AsyncClient(base_url=f"http://{address}") as client:
            response = await client.post(
                "/graphql",
                json={
                    "query": """mutation {
              reserveInventory(input: {sku: "SKU-F", locationId: "store-london", channel: "web",
                quantity: 2, idempotencyKey: "live-1"}) { reservationId userErrors { code } } }"""
                },
            )
        assert response.json()["data"]["reserveInventory"]["userErrors"] == []
        second = await receive(ws)
        assert second["payload"]["data"]["availabilityChanged"]["availableQuantity"] == 3
        await ws.send(json.dumps({"id": "1", "type": "complete"}))
