"""Exports when things happen at once or go wrong half-way: the same start twice at once, two
runners after one export, a source failing for one page, a download whose key or file ends
between its requests or while it streams, and a subscriber on a real WebSocket."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
import uvicorn
import websockets
from starlette.requests import Request

from omnigraph.bulk.download import bulk_file
from omnigraph.bulk.operations import bulk_operation_key
from omnigraph.bulk.runner import BulkCleanup
from omnigraph.bulk.store import BulkFiles
from omnigraph.security import api_keys
from omnigraph.security.principal import Principal, Role
from tests.bulk.conftest import RETENTION_SECONDS, Bulk
from tests.bulk.test_exports import ORDERS_EXPORT, listing, shopify_rows
from tests.conftest import Sources

MINE = "{ bulkOperations(first: 20) { edges { node { id status } } } }"


async def rows_of(bulk: Bulk, token: str, operation: dict[str, Any]) -> list[dict[str, Any]]:
    done = await bulk.status(token, operation["id"])
    assert done["status"] == "COMPLETED", done
    response = await bulk.download(token, done["url"])
    return [orjson.loads(line) for line in response.content.splitlines()]


async def test_the_same_start_twice_at_once_makes_one_export(bulk: Bulk) -> None:
    token = await bulk.key(Role.REPORTING)
    answers = await asyncio.gather(
        *(bulk.start(token, ORDERS_EXPORT, key="at-once") for _ in range(4))
    )
    assert [a["userErrors"] for a in answers] == [[]] * 4
    assert len({a["bulkOperation"]["id"] for a in answers}) == 1
    mine = (await bulk.query(token, MINE))["data"]["bulkOperations"]["edges"]
    assert [edge["node"]["id"] for edge in mine] == [answers[0]["bulkOperation"]["id"]]


async def test_two_runners_after_one_export_run_it_once(bulk: Bulk) -> None:
    """Two replicas' runners look at once: one claims the export, the other finds nothing to
    do while the claim is live, and the file holds every order once."""
    token = await bulk.key(Role.REPORTING)
    operation = (await bulk.start(token, ORDERS_EXPORT))["bulkOperation"]
    a, b = bulk.runner("replica-a"), bulk.runner("replica-b")
    await asyncio.gather(a.step(), b.step())
    holders = [runner for runner in (a, b) if runner.held is not None]
    assert len(holders) == 1
    # both keep stepping side by side: the other never gets a page of it
    idle = b if holders[0] is a else a
    while any(await asyncio.gather(a.step(), b.step())):
        assert idle.held is None
    assert await rows_of(bulk, token, operation) == shopify_rows(await listing(bulk, token))


@pytest.mark.parametrize("system", ["storefront", "erp"])
async def test_a_page_a_source_failed_once_is_tried_again_and_every_row_is_written_once(
    bulk: Bulk, sources: Sources, system: str
) -> None:
    """The storefront lists the page; the ERP prices it (its fields null with an error, a
    partial page): either way the page is not written until it answers whole."""
    token = await bulk.key(Role.REPORTING)
    operation = (await bulk.start(token, ORDERS_EXPORT))["bulkOperation"]
    runner = bulk.runner()
    await runner.step()
    await runner.step()
    async with sources.down(system):
        assert await runner.step() is False  # the third page waits for its retry
    waiting = await bulk.status(token, operation["id"])
    assert (waiting["status"], waiting["rootObjectCount"]) == ("RUNNING", "80")
    assert await runner.step() is False  # not due yet
    bulk.clock.advance(bulk.services.settings.bulk.retry_seconds + 1)
    await bulk.run(runner)
    assert await rows_of(bulk, token, operation) == shopify_rows(await listing(bulk, token))


async def test_a_key_revoked_between_ranges_gets_a_coded_refusal(bulk: Bulk) -> None:
    issued = await api_keys.create_key(
        bulk.services.sessions,
        name="bulk-revoked-mid-download",
        roles=frozenset({Role.REPORTING}),
        channel=None,
        now=datetime.now(UTC),
    )
    token = issued.secret
    url = await bulk.exported(token, ORDERS_EXPORT)
    head = await bulk.download(token, url, Range="bytes=0-99")
    assert (head.status_code, len(head.content)) == (206, 100)
    await api_keys.revoke_key(bulk.services.sessions, issued.row.prefix, now=datetime.now(UTC))
    rest = await bulk.download(token, url, Range="bytes=100-")
    assert rest.status_code == 401
    assert rest.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_file_that_expires_between_ranges_is_refused_not_served_in_part(
    bulk: Bulk,
) -> None:
    token = await bulk.key(Role.REPORTING)
    url = await bulk.exported(token, ORDERS_EXPORT)
    head = await bulk.download(token, url, Range="bytes=0-99")
    assert head.status_code == 206
    bulk.clock.advance(RETENTION_SECONDS + 1)
    rest = await bulk.download(token, url, Range="bytes=100-")
    assert (rest.status_code, rest.json()["errors"][0]["extensions"]["code"]) == (
        410,
        "BULK_FILE_EXPIRED",
    )


async def test_a_download_under_way_when_the_file_is_deleted_ends_whole(bulk: Bulk) -> None:
    """The retention ends and the cleanup deletes the file after a download was answered but
    before its body went out: the client still gets every byte its Content-Length promised."""
    token = await bulk.key(Role.REPORTING)
    operation = (await bulk.start(token, ORDERS_EXPORT))["bulkOperation"]
    await bulk.run()
    done = await bulk.status(token, operation["id"])
    whole = (await bulk.download(token, done["url"])).content
    principal = await api_keys.principal_for_key(bulk.services.sessions, token)
    assert isinstance(principal, Principal)
    scope = {
        "type": "http",
        "method": "GET",
        "path": done["url"],
        "headers": [],
        "query_string": b"",
        "app": bulk.app,
        "user": principal,
        "path_params": {"id": operation["id"]},
    }
    response = await bulk_file(Request(scope))
    bulk.clock.advance(RETENTION_SECONDS + 1)
    services = bulk.services
    await BulkCleanup(services.sessions, services.get(BulkFiles), clock=services.now).step()
    assert bulk.files_of(bulk_operation_key(operation["id"])) == []

    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:  # the client stays: no disconnect comes
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await response(scope, receive, send)
    start = sent[0]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    assert start["status"] == 200
    assert headers["content-length"] == str(len(whole))
    assert body == whole


@pytest.fixture
async def socket_url(bulk: Bulk) -> AsyncIterator[str]:
    """The bulk tests' service on a real socket (its lifespan already runs)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(bulk.app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
        await asyncio.sleep(0.02)
    try:
        yield f"ws://127.0.0.1:{port}/graphql"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def test_a_subscriber_on_a_websocket_sees_every_page_in_order_then_completed(
    bulk: Bulk, socket_url: str
) -> None:
    token = await bulk.key(Role.REPORTING)
    operation = (await bulk.start(token, ORDERS_EXPORT))["bulkOperation"]
    async with websockets.connect(
        socket_url,
        subprotocols=[websockets.Subprotocol("graphql-transport-ws")],
        additional_headers={"Authorization": f"Bearer {token}"},
    ) as ws:

        async def message() -> dict[str, Any]:
            found: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
            return found

        await ws.send(json.dumps({"type": "connection_init"}))
        assert (await message())["type"] == "connection_ack"
        await ws.send(
            json.dumps(
                {
                    "id": "export",
                    "type": "subscribe",
                    "payload": {
                        "query": "subscription($id: ID!) { bulkOperationChanged(id: $id)"
                        " { status rootObjectCount url errorCode } }",
                        "variables": {"id": operation["id"]},
                    },
                }
            )
        )

        async def change() -> dict[str, Any]:
            found = await message()
            assert (found["type"], found["id"]) == ("next", "export"), found
            assert "errors" not in found["payload"], found
            change: dict[str, Any] = found["payload"]["data"]["bulkOperationChanged"]
            return change

        seen = [await change()]
        runner = bulk.runner()
        while await runner.step():  # a page a step, then the file
            now = await bulk.status(token, operation["id"])
            # the subscriber reads the export when told it moved: it may also catch a step
            # half-way (claimed, its page not yet written), never a step late
            while (seen[-1]["status"], seen[-1]["rootObjectCount"]) != (
                now["status"],
                now["rootObjectCount"],
            ):
                seen.append(await change())
        assert (await message()) == {"id": "export", "type": "complete"}

    counts = [int(c["rootObjectCount"]) for c in seen]
    assert [c["status"] for c in seen] == ["CREATED"] + ["RUNNING"] * (len(seen) - 2) + [
        "COMPLETED"
    ]
    assert counts == sorted(counts)  # in order
    assert {40, 80, 120, 160} <= set(counts)  # every page
    assert (counts[0], counts[-1]) == (0, 160)
    assert seen[-1]["url"].endswith(f"/bulk/{operation['id']}/file")
    assert all(c["url"] is None for c in seen[:-1])
    assert all(c["errorCode"] is None for c in seen)
