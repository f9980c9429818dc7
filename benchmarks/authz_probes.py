"""Probes of issue 18, points 8, 9 and 12, as an attacker with one API key would run them.

Loopback only, bounded counts, a temporary SQLite database; runs against another checkout
(point ``PYTHONPATH`` at its ``src``, then at this tree for ``tests.helpers``) so the figures
before and after a change come from one command::

    PYTHONPATH=src:. python benchmarks/authz_probes.py

- revocation: a support key subscribes to ``exceptionEvents`` over graphql-transport-ws, the
  key is revoked (``OMNIGRAPH_AUTH_CACHE_SECONDS=0``), three exceptions are raised: how many
  events still arrive and how the socket ends;
- persisted documents: one key sends 50 distinct 100 KB documents and then 520 distinct small
  ones with their hashes (APQ): rows kept and database growth;
- existence: a storefront key asks ``node(id:)`` and ``_entities`` for an existing payout and
  exception and for made-up ones, and filters orders by ``hasOpenException``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import socket
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import websockets
from sqlalchemy import func, select
from tests.helpers import short_pick

from omnigraph.app import BACKGROUND_SWITCHES, create_app, demo_sources_config
from omnigraph.core.ids import encode_global_id
from omnigraph.db.models import PersistedDocumentRow
from omnigraph.demo import DemoSystems, build_world
from omnigraph.exceptions.catalogue import ExceptionCatalogue
from omnigraph.exceptions.intake import take_in
from omnigraph.runtime.services import Services
from omnigraph.security import api_keys
from omnigraph.security.principal import Role
from omnigraph.settings import Settings


async def main() -> None:
    world = build_world(seed=7, orders=60)
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "probe.sqlite3"
        settings = Settings(
            database_url=f"sqlite+aiosqlite:///{database}",
            mode="production",
            auth_cache_seconds=0,
            **dict.fromkeys(BACKGROUND_SWITCHES, False),
            rate_limit="off",
        )
        async with DemoSystems(world) as demo:
            app = create_app(settings, sources=demo_sources_config(demo.urls))
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
            serving = asyncio.create_task(server.serve(sockets=[sock]))
            while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag
                await asyncio.sleep(0.02)
            try:
                base = f"127.0.0.1:{sock.getsockname()[1]}"
                services: Services = app.state.services
                async with httpx.AsyncClient(base_url=f"http://{base}", timeout=30) as http:
                    print("revocation:", await revocation(services, base, world))
                    print("documents:", await documents(services, http, database))
                    print("existence:", await existence(services, http, world))
            finally:
                server.should_exit = True
                await serving
                sock.close()


async def key(services: Services, role: Role) -> tuple[str, str]:
    issued = await api_keys.create_key(
        services.sessions,
        name=f"probe-{role.value}-{uuid.uuid4().hex[:6]}",
        roles=frozenset({role}),
        channel="web" if role is Role.STOREFRONT else None,
        now=datetime.now(UTC),
    )
    return issued.secret, issued.row.prefix


async def raise_exception(services: Services, order_ref: str) -> str:
    report = short_pick(
        order_ref, dedupe_key=f"probe:{uuid.uuid4()}", summary="probe", reported_by="probe"
    )
    row, _ = await take_in(services.sessions, services.get(ExceptionCatalogue), report)
    return row.id


async def revocation(services: Services, base: str, world: Any) -> dict[str, Any]:
    token, prefix = await key(services, Role.SUPPORT)
    order = world.storefront_orders[0]["id"]
    async with websockets.connect(
        f"ws://{base}/graphql",
        subprotocols=["graphql-transport-ws"],
        additional_headers={"Authorization": f"Bearer {token}"},
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init"}))
        await ws.recv()
        query = "subscription { exceptionEvents { id status } }"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
        await asyncio.sleep(0.5)  # the subscription starts listening
        await raise_exception(services, order)
        before = json.loads(await asyncio.wait_for(ws.recv(), 5))["type"]
        await api_keys.revoke_key(services.sessions, prefix, now=datetime.now(UTC))
        for _ in range(3):
            await raise_exception(services, order)
        after, closed = 0, "open after 3 s"
        try:
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), 3))
                after += message.get("type") == "next"
        except websockets.ConnectionClosed as end:
            closed = f"closed {end.rcvd.code if end.rcvd else None}"
        except TimeoutError:
            pass
    return {"before_revocation": before, "events_after_revocation": after, "socket": closed}


async def documents(services: Services, http: httpx.AsyncClient, database: Path) -> dict[str, Any]:
    token, _ = await key(services, Role.STOREFRONT)
    headers = {"Authorization": f"Bearer {token}"}
    size_before = await asyncio.to_thread(os.path.getsize, database)
    answers: dict[str, int] = {}
    for n in range(570):
        padding = "x" * 100_000 if n < 50 else ""
        query = f"# {uuid.uuid4()} {padding}\n{{ __typename }}"
        sha = hashlib.sha256(query.encode()).hexdigest()
        body = {
            "query": query,
            "extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha}},
        }
        answer = (await http.post("/graphql", json=body, headers=headers)).json()
        code = (answer.get("errors") or [{}])[0].get("extensions", {}).get("code", "ok")
        label = f"{'large' if n < 50 else 'small'}:{code}"
        answers[label] = answers.get(label, 0) + 1
    async with services.sessions() as session:
        rows = await session.scalar(select(func.count()).select_from(PersistedDocumentRow))
    growth = await asyncio.to_thread(os.path.getsize, database) - size_before
    return {"answers": answers, "rows_kept": rows, "database_growth_mb": round(growth / 2**20, 1)}


async def existence(services: Services, http: httpx.AsyncClient, world: Any) -> dict[str, Any]:
    token, _ = await key(services, Role.STOREFRONT)
    headers = {"Authorization": f"Bearer {token}"}
    payout = next(p for p in world.payouts if p["status"] == "paid")["id"]
    exception = await raise_exception(services, world.storefront_orders[0]["id"])
    ids = {
        "payout": encode_global_id("Payout", "psp", payout),
        "made-up payout": encode_global_id("Payout", "psp", "po_made_up"),
        "exception": encode_global_id("Exception", exception),
        "made-up exception": encode_global_id("Exception", str(uuid.uuid4())),
    }

    async def ask(query: str, variables: dict[str, Any]) -> Any:
        body = {"query": query, "variables": variables}
        return (await http.post("/graphql", json=body, headers=headers)).json()

    found: dict[str, Any] = {}
    for label, global_id in ids.items():
        node = await ask("query($id: ID!) { node(id: $id) { __typename } }", {"id": global_id})
        type_name = "Payout" if "payout" in label else "Exception"
        reps = [{"__typename": type_name, "id": global_id}]
        entities = await ask(
            "query($r: [_Any!]!) { _entities(representations: $r) { __typename } }", {"r": reps}
        )
        found[label] = {"node": node.get("data"), "_entities": entities.get("data")}
    filtered = await ask(
        "{ orders(first: 5, filter: {hasOpenException: true}) { edges { node { id } } } }", {}
    )
    codes = [e.get("extensions", {}).get("code") for e in filtered.get("errors", [])]
    found["orders(hasOpenException)"] = codes or "answered"
    return found


if __name__ == "__main__":
    asyncio.run(main())
