"""A WebSocket signs in by its handshake's header or its ``connection_init`` payload (as a
browser must), and a revoked key's open socket stops: no more events, no new subscription, then
closed.

The service runs on a loopback socket and is spoken to as a client would, in both protocols
strawberry serves (graphql-transport-ws and the older graphql-ws). Time is the services'
injected clock, moved by hand: the key cache window (``OMNIGRAPH_AUTH_CACHE_SECONDS``, 5 s here)
passes without anyone waiting for it.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
import websockets
from starlette.applications import Starlette
from websockets.asyncio.client import ClientConnection

from omnigraph.app import background_tasks, create_app, demo_sources_config
from omnigraph.core.ids import encode_global_id
from omnigraph.demo import DemoSystems, DemoWorld
from omnigraph.exceptions.catalogue import ExceptionCatalogue
from omnigraph.exceptions.intake import take_in
from omnigraph.exceptions.live import ExceptionEventBus
from omnigraph.graph.live_sockets import FORBIDDEN_CLOSE_CODE, UNAUTHORIZED_CLOSE_CODE
from omnigraph.runtime.services import Services
from omnigraph.security import api_keys
from omnigraph.security.principal import Role
from tests.clocks import WallClock
from tests.conftest import issue_key, make_settings, services_of
from tests.helpers import on_loopback, short_pick, until

WINDOW = 5.0  # OMNIGRAPH_AUTH_CACHE_SECONDS of the service under test
SECRET = "live-revocation-secret-with-enough-entropy-0123"
SUBSCRIPTION = "subscription { exceptionEvents { id status } }"
PROTOCOLS = ["graphql-transport-ws", "graphql-ws"]
START = {"graphql-transport-ws": "subscribe", "graphql-ws": "start"}
RESULT = {"graphql-transport-ws": "next", "graphql-ws": "data"}


@dataclass
class Live:
    app: Starlette
    url: str
    # the services' clock: it starts at the real time, as JWTs are checked against the real
    # time when a socket opens
    clock: WallClock

    @property
    def services(self) -> Services:
        return services_of(self.app)


@pytest.fixture(scope="module")
async def live(demo: DemoSystems, clean_database: str) -> AsyncIterator[Live]:
    app = create_app(
        make_settings(
            clean_database, mode="production", auth_cache_seconds=WINDOW, jwt_secret=SECRET
        ),
        sources=demo_sources_config(demo.urls),
    )
    async with on_loopback(app, lifespan="on") as port:
        clock = WallClock(datetime.now(UTC))
        app.state.services.clock = clock
        yield Live(app, f"ws://127.0.0.1:{port}/graphql", clock)


@pytest.fixture(params=PROTOCOLS)
def protocol(request: pytest.FixtureRequest) -> str:
    """Each subscription test runs in both WebSocket protocols."""
    return str(request.param)


@pytest.fixture(autouse=True)
def now(live: Live) -> None:
    """Each test starts at the real time."""
    live.clock.at = datetime.now(UTC)


async def issue(live: Live, name: str, role: Role = Role.SUPPORT) -> tuple[str, str]:
    """A key (support unless told): (its secret, its prefix)."""
    issued = await issue_key(live.app, role, name=f"{name}-{uuid.uuid4().hex[:6]}")
    return issued.secret, issued.row.prefix


async def revoke(live: Live, prefix: str) -> None:
    assert await api_keys.revoke_key(live.services.sessions, prefix, now=datetime.now(UTC))


async def receive(ws: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 5))
    return message


async def open_subscription(
    live: Live, token: str, protocol: str, *, in_payload: bool = False
) -> ClientConnection:
    """A socket with ``token`` (in the handshake's header, or in ``connection_init``'s
    payload), acknowledged, its subscription listening."""
    bus = live.services.get(ExceptionEventBus)
    before = bus.subscribers
    ws = await opened(live, token, protocol, in_payload=in_payload)
    await subscribe(ws, protocol)
    await until(lambda: bus.subscribers == before + 1)
    return ws


async def opened(
    live: Live, token: str, protocol: str, *, in_payload: bool = False
) -> ClientConnection:
    credential = f"Bearer {token}"
    ws = await websockets.connect(
        live.url,
        subprotocols=[protocol],
        additional_headers={} if in_payload else {"Authorization": credential},
    )
    payload = {"authorization": credential} if in_payload else {}
    await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
    assert (await receive(ws))["type"] == "connection_ack"
    return ws


async def subscribe(ws: ClientConnection, protocol: str) -> None:
    payload = {"query": SUBSCRIPTION}
    await ws.send(json.dumps({"id": "events", "type": START[protocol], "payload": payload}))


async def raise_exception(live: Live, world: DemoWorld) -> str:
    """A new exception: one event for every subscriber."""
    order = world.storefront_orders[0]["id"]
    row, _ = await take_in(
        live.services.sessions,
        live.services.get(ExceptionCatalogue),
        short_pick(order, dedupe_key=f"live-revocation:{uuid.uuid4()}"),
    )
    return row.id


async def close_code(ws: ClientConnection) -> tuple[int | None, list[dict[str, Any]]]:
    """How the server closed ``ws``, and what it sent before; a socket left open fails."""
    messages = []
    try:
        while True:
            messages.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
    except websockets.ConnectionClosed as closed:
        return (closed.rcvd.code if closed.rcvd else None), messages
    except TimeoutError:
        raise AssertionError(f"the socket was left open; it sent {messages}") from None


async def test_a_revoked_keys_subscription_gets_no_more_events_and_is_closed(
    live: Live, world: DemoWorld, protocol: str
) -> None:
    # a revoked key's open socket kept receiving exception events
    token, prefix = await issue(live, "live-events")
    ws = await open_subscription(live, token, protocol)
    await raise_exception(live, world)
    event = await receive(ws)
    assert event["type"] == RESULT[protocol], event
    assert event["payload"]["data"]["exceptionEvents"]["status"] == "OPEN"

    await revoke(live, prefix)
    live.clock.advance(WINDOW + 0.1)  # the key cache window has passed: HTTP refuses it now
    await raise_exception(live, world)
    code, sent = await close_code(ws)
    assert code == FORBIDDEN_CLOSE_CODE
    assert [m for m in sent if m.get("type") == RESULT[protocol]] == [], sent


async def test_an_idle_subscription_of_a_revoked_key_is_closed_within_the_window(
    live: Live, protocol: str
) -> None:
    revoked, prefix = await issue(live, "live-idle")
    kept, _ = await issue(live, "live-kept")
    doomed = await open_subscription(live, revoked, protocol)
    other = await open_subscription(live, kept, protocol)
    (recheck,) = [t for t in background_tasks(live.services) if t.name == "websocket_recheck"]
    assert recheck.interval == WINDOW  # every replica re-reads its sockets' keys this often

    await revoke(live, prefix)
    await recheck.step()  # the next re-check, however soon after the revocation
    code, sent = await close_code(doomed)
    assert code == FORBIDDEN_CLOSE_CODE
    assert sent == []
    assert other.close_code is None  # a live key's socket stays open
    await other.close()


async def test_a_revoked_key_cannot_start_a_subscription_on_an_open_socket(
    live: Live, world: DemoWorld, protocol: str
) -> None:
    token, prefix = await issue(live, "live-start")
    ws = await opened(live, token, protocol)
    await revoke(live, prefix)
    live.clock.advance(WINDOW + 0.1)
    await subscribe(ws, protocol)
    await raise_exception(live, world)  # were it listening, this would reach it
    code, sent = await close_code(ws)
    assert code == FORBIDDEN_CLOSE_CODE
    assert sent == []


async def test_a_jwt_subscription_ends_when_the_token_expires(
    live: Live, world: DemoWorld, protocol: str
) -> None:
    expiry = int(time.time()) + 60
    token = jwt.encode(
        {"sub": f"live-{uuid.uuid4().hex[:6]}", "roles": ["support"], "exp": expiry},
        SECRET,
        algorithm="HS256",
    )
    ws = await open_subscription(live, token, protocol)
    (recheck,) = [t for t in background_tasks(live.services) if t.name == "websocket_recheck"]
    live.clock.at = datetime.fromtimestamp(expiry, UTC)  # expired, but within the leeway
    await recheck.step()
    await raise_exception(live, world)
    assert (await receive(ws))["type"] == RESULT[protocol]
    live.clock.at = datetime.fromtimestamp(expiry + 31, UTC)  # past the 30 s leeway
    await recheck.step()
    code, sent = await close_code(ws)
    assert code == FORBIDDEN_CLOSE_CODE
    assert sent == []


@pytest.mark.parametrize(
    "headers",
    [{"Authorization": "Bearer og_not-a-live-key"}, {"Authorization": "Basic dXNlcjpwdw=="}],
    ids=["unknown-key", "not-bearer"],
)
async def test_production_refuses_a_websocket_with_a_wrong_header(
    live: Live, world: DemoWorld, protocol: str, headers: dict[str, str]
) -> None:
    """Production mode: a socket whose handshake carries a wrong credential is refused there
    (HTTP 403), in both protocols; it is never acknowledged, so it can subscribe to nothing."""
    bus = live.services.get(ExceptionEventBus)
    before = bus.subscribers
    with pytest.raises(websockets.InvalidStatus) as refused:
        await first_event(live, world, protocol, headers, {})
    assert refused.value.response.status_code == 403
    assert bus.subscribers == before


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({}, UNAUTHORIZED_CLOSE_CODE),
        ({"authorization": ""}, FORBIDDEN_CLOSE_CODE),
        ({"authorization": "Bearer og_not-a-live-key"}, FORBIDDEN_CLOSE_CODE),
        ({"authorization": "Basic dXNlcjpwdw=="}, FORBIDDEN_CLOSE_CODE),
    ],
    ids=["no-key", "empty", "unknown-key", "not-bearer"],
)
async def test_production_closes_a_websocket_without_a_live_key_at_connection_init(
    live: Live, world: DemoWorld, protocol: str, payload: dict[str, str], code: int
) -> None:
    """Production mode: a socket opened without a header must sign in with its
    ``connection_init``; without a token it is closed with 4401, with a wrong one 4403, never
    acknowledged, so it hears nothing."""
    bus = live.services.get(ExceptionEventBus)
    before = bus.subscribers
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await first_event(live, world, protocol, {}, payload)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == code
    assert bus.subscribers == before


async def test_a_token_in_connection_init_signs_a_socket_in_with_its_roles(
    live: Live, world: DemoWorld, protocol: str
) -> None:
    """A browser cannot set the handshake's header: the token in ``connection_init``'s payload
    signs the socket in as the same key would over HTTP, with the same roles."""
    token, _ = await issue(live, "payload-support")
    ws = await open_subscription(live, token, protocol, in_payload=True)
    exception_id = await raise_exception(live, world)
    event = await receive(ws)
    assert event["type"] == RESULT[protocol], event
    shown = event["payload"]["data"]["exceptionEvents"]
    assert shown == {"id": encode_global_id("Exception", exception_id), "status": "OPEN"}
    await ws.close()

    storefront, _ = await issue(live, "payload-storefront", Role.STOREFRONT)
    ws = await opened(live, storefront, protocol, in_payload=True)
    await subscribe(ws, protocol)
    refused = await receive(ws)
    assert refused["type"] == "error", refused  # as over HTTP: the role may not subscribe
    errors = refused["payload"] if isinstance(refused["payload"], list) else [refused["payload"]]
    assert [e["extensions"]["code"] for e in errors] == ["FORBIDDEN"]
    await ws.close()


async def test_a_revoked_key_signed_in_by_connection_init_is_closed(
    live: Live, protocol: str
) -> None:
    token, prefix = await issue(live, "payload-revoked")
    ws = await open_subscription(live, token, protocol, in_payload=True)
    (recheck,) = [t for t in background_tasks(live.services) if t.name == "websocket_recheck"]
    await revoke(live, prefix)
    await recheck.step()
    code, sent = await close_code(ws)
    assert code == FORBIDDEN_CLOSE_CODE
    assert sent == []


async def test_a_connection_init_token_that_is_not_the_handshakes_is_refused(
    live: Live,
) -> None:
    header, _ = await issue(live, "header-key")
    other, _ = await issue(live, "other-key")
    ws = await websockets.connect(
        live.url,
        subprotocols=["graphql-transport-ws"],
        additional_headers={"Authorization": f"Bearer {header}"},
    )
    await ws.send(
        json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {other}"}})
    )
    code, sent = await close_code(ws)
    assert code == FORBIDDEN_CLOSE_CODE
    assert sent == []


async def first_event(
    live: Live,
    world: DemoWorld,
    protocol: str,
    headers: dict[str, str],
    payload: dict[str, str],
) -> dict[str, Any]:
    """What a socket opened with ``headers`` and signed in with ``payload`` hears after
    subscribing, if it is accepted."""
    async with websockets.connect(
        live.url, subprotocols=[protocol], additional_headers=headers
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        await subscribe(ws, protocol)
        await raise_exception(live, world)
        while True:
            message = await receive(ws)
            if message.get("type") not in {"connection_ack", "ka"}:
                return message
