"""Subscriptions over WebSocket stop when their credential does.

A WebSocket is authenticated once, at the handshake; a subscription may then live for hours.
So the principal of every open socket is checked again, with the same key lookup HTTP uses:

- before each event is sent (``next`` in graphql-transport-ws, ``data`` in graphql-ws) and
  before each new operation starts (``subscribe``, ``start``), through the key cache, so a
  revoked key gets no event and starts nothing once its cache window has passed, exactly when
  HTTP would refuse it;
- by :meth:`SocketGuard.sweep`, every ``recheck_seconds`` (``OMNIGRAPH_AUTH_CACHE_SECONDS``, at
  least 1 s) on every replica, reading each socket's key afresh, so an idle socket is closed
  within that window of its key's revocation too.

A socket whose API key is revoked (or no longer known), or whose JWT has expired, is closed with
code 4403 (``Forbidden``) and a reason saying which; nothing more is sent on it. A client that
reconnects with the same credential is refused at the handshake. The local developer
(development mode, no token) has nothing to check.

Time comes from ``clock`` (seconds since the epoch; the service passes its injected clock).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Callable, Mapping
from typing import Any, Final

import structlog
from starlette.websockets import WebSocket
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.async_base_view import AsyncBaseHTTPView

from omnigraph.runtime.periodic import PeriodicTask
from omnigraph.security.backend import BearerBackend, bearer_token
from omnigraph.security.principal import Principal

__all__ = ["FORBIDDEN_CLOSE_CODE", "GuardedWebSocketAdapter", "SocketGuard", "WatchedSocket"]

log = structlog.get_logger(__name__)

FORBIDDEN_CLOSE_CODE: Final = 4403
# messages that start an operation, and those that carry its results, in both protocols
_STARTS: Final = frozenset({"subscribe", "start"})
_RESULTS: Final = frozenset({"next", "data"})


class WatchedSocket:
    """One open WebSocket, its credential and what it was authenticated as."""

    __slots__ = ("closed", "principal", "token", "websocket")

    def __init__(self, websocket: WebSocket, token: str, principal: Principal) -> None:
        self.websocket = websocket
        self.token = token
        self.principal = principal
        self.closed = False

    async def close(self, reason: str) -> None:
        """Close with 4403 and ``reason``, once; nothing is sent after."""
        if self.closed:
            return
        self.closed = True
        log.info("websocket_closed_forbidden", subject=self.principal.identity, reason=reason)
        # the client may have gone already: then there is nothing left to close
        with contextlib.suppress(RuntimeError, OSError):
            await self.websocket.close(code=FORBIDDEN_CLOSE_CODE, reason=f"Forbidden: {reason}")


class SocketGuard:
    """The open sockets of this process and the checks of their principals."""

    def __init__(
        self,
        backend: BearerBackend,
        *,
        clock: Callable[[], float],
        recheck_seconds: float,
    ) -> None:
        self.backend = backend
        self.clock = clock
        self.recheck_seconds = max(recheck_seconds, 1.0)
        self._open: set[WatchedSocket] = set()

    @property
    def open_sockets(self) -> int:
        return len(self._open)

    def watch(self, websocket: WebSocket) -> WatchedSocket | None:
        """A watch over ``websocket``, or None when there is no credential to check."""
        user = websocket.scope.get("user")
        token = bearer_token(websocket)
        if not isinstance(user, Principal) or token is None:
            return None
        return WatchedSocket(websocket, token, user)

    def opened(self, socket: WatchedSocket) -> None:
        self._open.add(socket)

    def ended(self, socket: WatchedSocket) -> None:
        self._open.discard(socket)

    async def refusal(self, socket: WatchedSocket, *, fresh: bool = False) -> str | None:
        """Why ``socket`` may no longer be served, or None while its credential holds."""
        valid_until = socket.principal.valid_until
        if valid_until is not None and self.clock() >= valid_until:
            return "the token has expired"
        if socket.principal.via == "jwt":
            return None  # a JWT is what it says until it expires
        current = await self.backend.resolve(socket.token, fresh=fresh)
        if current is None or current.identity != socket.principal.identity:
            return "the API key is no longer valid"
        return None

    async def allowed(self, socket: WatchedSocket) -> bool:
        """Check ``socket`` as HTTP checks a request; close it when refused."""
        if socket.closed:
            return False
        reason = await self.refusal(socket)
        if reason is None:
            return True
        await socket.close(reason)
        return False

    async def sweep(self) -> int:
        """Read every open socket's key afresh and close those no longer valid; how many."""
        closed = 0
        refreshed: set[str] = set()
        for socket in list(self._open):
            if socket.closed:
                continue
            reason = await self.refusal(socket, fresh=socket.token not in refreshed)
            refreshed.add(socket.token)
            if reason is not None:
                await socket.close(reason)
                closed += 1
        return closed

    def periodic(self, *, jitter: float = 0.0) -> PeriodicTask:
        """:meth:`sweep` every ``recheck_seconds``: each replica checks its own sockets."""

        async def step() -> bool:
            await self.sweep()
            return False

        return PeriodicTask("websocket_recheck", step, interval=self.recheck_seconds, jitter=jitter)


class GuardedWebSocketAdapter(ASGIWebSocketAdapter):
    """strawberry's WebSocket adapter, checking the principal before each operation starts and
    each result goes out (the view's ``socket_guard``; none: nothing checked)."""

    def __init__(
        self,
        view: AsyncBaseHTTPView[Any, Any, Any, Any, Any, Any, Any],
        request: Any,
        response: Any,
    ) -> None:
        super().__init__(view, request, response)
        guard = getattr(view, "socket_guard", None)
        self._guard: SocketGuard | None = guard if isinstance(guard, SocketGuard) else None
        self._socket = self._guard.watch(response) if self._guard is not None else None

    async def iter_json(
        self, *, ignore_parsing_errors: bool = False
    ) -> AsyncGenerator[object, None]:
        guard, socket = self._guard, self._socket
        if guard is None or socket is None:
            async for message in super().iter_json(ignore_parsing_errors=ignore_parsing_errors):
                yield message
            return
        guard.opened(socket)
        try:
            async for message in super().iter_json(ignore_parsing_errors=ignore_parsing_errors):
                if _kind(message) in _STARTS and not await guard.allowed(socket):
                    return
                if socket.closed:
                    return
                yield message
        finally:
            guard.ended(socket)

    async def send_json(self, message: Mapping[str, object]) -> None:
        guard, socket = self._guard, self._socket
        if guard is not None and socket is not None:
            if socket.closed:
                return
            if _kind(message) in _RESULTS and not await guard.allowed(socket):
                return
        await super().send_json(message)

    async def close(self, code: int, reason: str) -> None:
        if self._socket is not None and self._socket.closed:
            return
        await super().close(code, reason)


def _kind(message: object) -> object:
    return message.get("type") if isinstance(message, Mapping) else None
