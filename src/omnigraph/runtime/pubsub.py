"""Redis pub/sub between replicas: what one process publishes, the others hear.

A :class:`RedisChannel` is one channel as this process sees it. Sending never blocks the
caller (messages queue and go out in order from one task) and never fails it (a Redis outage
is logged and the message dropped: these are notifications, and each bus keeps a fallback).
Receiving uses one connection per channel, open only while something in this process listens,
and skips the messages this process sent itself (its own listeners heard them at once).
:class:`Subscribers` hands what a bus hears to this process's subscribers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, Generic, TypeVar

import structlog
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from omnigraph.core.closing import cancelled

__all__ = ["RedisChannel", "Subscribers", "connect_redis"]

log = structlog.get_logger(__name__)

OUTBOX_SIZE = 10_000
READY_WAIT_SECONDS = 2.0
RETRY_SECONDS = 1.0
NewsT = TypeVar("NewsT")


def connect_redis(url: str) -> Redis:
    """A client for ``url`` with short timeouts: a slow Redis must not hold a request up."""
    client: Redis = Redis.from_url(
        url,
        socket_timeout=2.0,
        socket_connect_timeout=1.0,
        health_check_interval=30,
    )
    return client


class RedisChannel:
    """One Redis pub/sub channel: ordered, non-blocking sends; received messages handed to
    ``on_message`` (as the JSON object another process sent) while anyone here listens::

        channel = RedisChannel(client, "omnigraph:events:availability", on_message=print)
        channel.send({"changed": [["SKU-1", "dc-north"]]})  # other replicas print it
        async with channel.listening():
            ...  # this process prints what the others send
    """

    def __init__(
        self, client: Redis, name: str, on_message: Callable[[dict[str, Any]], None]
    ) -> None:
        self.client = client
        self.name = name
        self.on_message = on_message
        self.origin = uuid.uuid4().hex  # this process's messages come back to it: skip them
        self._outbox: asyncio.Queue[str] = asyncio.Queue(maxsize=OUTBOX_SIZE)
        self._sender: asyncio.Task[None] | None = None
        self._listeners = 0
        self._reader: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._toggle = asyncio.Lock()

    def send(self, payload: dict[str, Any]) -> None:
        """Queue ``payload`` for every other process listening on this channel."""
        if self._outbox.full():  # Redis has been away a while: the oldest notice goes first
            self._outbox.get_nowait()
            log.warning("redis_outbox_full", channel=self.name)
        self._outbox.put_nowait(json.dumps({"origin": self.origin, "data": payload}))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_queued())

    async def _send_queued(self) -> None:
        # One sender at a time keeps messages in the order they were sent; it ends when the
        # queue is empty (``send`` starts the next one).
        while not self._outbox.empty():
            message = self._outbox.get_nowait()
            try:
                await self.client.publish(self.name, message)
            except (RedisError, OSError) as error:
                log.warning("redis_publish_failed", channel=self.name, error=str(error))

    @contextlib.asynccontextmanager
    async def listening(self) -> AsyncIterator[None]:
        """Receive this channel's messages for as long as the block runs.

        Returns once Redis confirmed the subscription (or after a short wait when Redis is
        down: the reader keeps trying, and the caller's local events still flow)."""
        async with self._toggle:
            self._listeners += 1
            if self._reader is None:
                self._ready = asyncio.Event()
                self._reader = asyncio.create_task(self._read(self._ready))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), READY_WAIT_SECONDS)
        try:
            yield
        finally:
            async with self._toggle:
                self._listeners -= 1
                if self._listeners == 0:
                    await self._stop_reading()

    async def _stop_reading(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            await cancelled(reader)

    async def _read(self, ready: asyncio.Event) -> None:
        pubsub: PubSub = self.client.pubsub()
        try:
            while True:
                try:
                    if not pubsub.subscribed:
                        await pubsub.subscribe(self.name)
                    message = await pubsub.get_message(timeout=RETRY_SECONDS)
                except (RedisError, OSError) as error:
                    log.warning("redis_subscribe_failed", channel=self.name, error=str(error))
                    await asyncio.sleep(RETRY_SECONDS)
                    continue
                if message is None:
                    continue
                if message["type"] == "subscribe":
                    ready.set()
                elif message["type"] == "message":
                    self._deliver(message["data"])
        finally:
            await pubsub.aclose()

    def _deliver(self, raw: bytes | str) -> None:
        try:
            envelope = json.loads(raw)
        except ValueError:
            log.warning("redis_message_unreadable", channel=self.name)
            return
        if not isinstance(envelope, dict) or envelope.get("origin") == self.origin:
            return
        data = envelope.get("data")
        if not isinstance(data, dict):
            return
        try:
            self.on_message(data)
        except Exception:  # one bad message must not stop the channel
            log.exception("redis_message_failed", channel=self.name)

    async def aclose(self) -> None:
        """Stop listening and send what is still queued."""
        async with self._toggle:
            self._listeners = 0
            await self._stop_reading()
        sender = self._sender
        if sender is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(sender), READY_WAIT_SECONDS)


class Subscribers(Generic[NewsT]):
    """This process's subscribers to one bus, a bounded queue each; the bus's ``channel``
    (when there is one) listens while any of them does::

        subscribers: Subscribers[str] = Subscribers(None, backlog=100)
        async with subscribers.listening() as queue:
            subscribers.deliver("moved")
            assert await queue.get() == "moved"
    """

    def __init__(self, channel: RedisChannel | None, *, backlog: int) -> None:
        self.channel = channel
        self.backlog = backlog
        self.queues: set[asyncio.Queue[NewsT]] = set()

    def __len__(self) -> int:
        return len(self.queues)

    def deliver(self, news: NewsT) -> None:
        for queue in list(self.queues):
            if queue.full():  # a subscriber that stopped reading loses its oldest notice
                queue.get_nowait()
            queue.put_nowait(news)

    @contextlib.asynccontextmanager
    async def listening(self) -> AsyncIterator[asyncio.Queue[NewsT]]:
        """A queue of the news delivered for as long as the block runs."""
        queue: asyncio.Queue[NewsT] = asyncio.Queue(maxsize=self.backlog)
        async with contextlib.AsyncExitStack() as stack:
            if self.channel is not None:
                await stack.enter_async_context(self.channel.listening())
            self.queues.add(queue)
            try:
                yield queue
            finally:
                self.queues.discard(queue)
