"""A source that drops a kept-alive connection: a read is sent again, a command is not.

A server closes an idle connection when its keep-alive timeout ends (uvicorn's is 5 s, httpx
keeps one 5 s too), so a read sent on it at that moment meets a reset or a close with no answer.
The server here is plain sockets, so the drop happens exactly when the test says: it answers the
first request on each connection with ``keep-alive``, and drops the connection when a second
request arrives on it.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator

import pytest

from omnigraph.core.errors import UpstreamUnavailable
from omnigraph.settings import SourceConfig
from omnigraph.sources.upstream import Upstream

ANSWER = b'{"data": []}'


class DroppingServer:
    """Answers one request per connection, then drops it when another arrives (reset or close)."""

    def __init__(self, *, reset: bool) -> None:
        self.reset = reset
        self.connections = 0
        self.answered: list[bytes] = []
        self.dropped = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        head = await reader.readuntil(b"\r\n\r\n")
        self.answered.append(head.split(b" ")[0] + b" " + head.split(b" ")[1])
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: keep-alive\r\n"
            b"content-length: %d\r\n\r\n%s" % (len(ANSWER), ANSWER)
        )
        await writer.drain()
        try:
            await reader.readuntil(b"\r\n\r\n")  # the next request on this connection
        except asyncio.IncompleteReadError:
            writer.close()  # the client closed it first
            return
        self.dropped += 1
        sock = writer.get_extra_info("socket")
        if self.reset:  # RST: the client's read fails (httpx.ReadError)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.close()  # else FIN with no answer (httpx.RemoteProtocolError)


@pytest.fixture(params=[True, False], ids=["reset", "closed"])
async def dropping(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[DroppingServer, Upstream]]:
    """The server, and a source client of it (its pool keeps connections alive)."""
    server = DroppingServer(reset=request.param)
    listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    client = Upstream(
        SourceConfig(name="erp", kind="erp", base_url=f"http://127.0.0.1:{port}"),
        redis_key_prefix="test",
        timeout_seconds=5,
        cache_ttl_seconds=0,
        cache_max_entries=0,
    )
    try:
        yield server, client
    finally:
        await client.aclose()
        listening.close()
        await listening.wait_closed()


async def test_a_read_on_a_dropped_connection_is_sent_again_on_a_new_one(
    dropping: tuple[DroppingServer, Upstream],
) -> None:
    server, client = dropping
    first = await client.request("GET", "/orders", params={"page": 1})
    second = await client.request("GET", "/orders", params={"page": 2})
    assert (first.json(), second.json()) == ({"data": []}, {"data": []})
    assert server.dropped == 1  # the second read met the dropped connection ...
    assert server.connections == 2  # ... and was answered on a second one
    assert server.answered == [b"GET /orders?page=1", b"GET /orders?page=2"]
    assert client.calls == 3  # the dropped attempt is a call the source was sent


async def test_a_command_on_a_dropped_connection_is_not_sent_again(
    dropping: tuple[DroppingServer, Upstream],
) -> None:
    """Whether the source acted on it is unknown: the outbox retries it, with its key."""
    server, client = dropping
    await client.request("GET", "/health")
    with pytest.raises(UpstreamUnavailable) as raised:
        await client.request("POST", "/commands", json={"type": "cancel"})
    assert raised.value.extensions["source"] == "erp"
    assert server.dropped == 1
    assert server.connections == 1  # no second connection: the command went once
