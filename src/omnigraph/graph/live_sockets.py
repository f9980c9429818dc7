"""Subscriptions over WebSocket: signed in at the handshake or by ``connection_init``, and
stopped when their credential is.

A WebSocket is authenticated once: by the handshake's ``Authorization: Bearer`` header, or, as a
browser cannot set that header, by its ``connection_init`` message's payload
(``{"authorization": "Bearer <api key or JWT>"}``), resolved exactly as the header would be, to
the same roles and field permissions. In production a socket with neither is closed with 4401
(``Unauthorized``) at its ``connection_init``, before it is acknowledged, and one whose payload
token is not live with 4403 (``Forbidden``); a wrong header is still refused at the handshake.
In development a payload token replaces the local developer, and a wrong one is refused too. A
payload token that differs from the handshake's header is refused (4403).

A subscription may then live for hours.
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
from starlette.authentication import AuthCredentials
from starlette.websockets import WebSocket
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.async_base_view import AsyncBaseHTTPView

from omnigraph.runtime.periodic import PeriodicTask
from omnigraph.security.backend import BearerBackend, bearer_token, token_of
from omnigraph.security.principal import AWAITING_CONNECTION_INIT, Principal

__all__ = [
    "FORBIDDEN_CLOSE_CODE",
    "UNAUTHORIZED_CLOSE_CODE",
    "GuardedWebSocketAdapter",
    "SocketGuard",
    "WatchedSocket",
]

log = structlog.get_logger(__name__)

FORBIDDEN_CLOSE_CODE: Final = 4403
UNAUTHORIZED_CLOSE_CODE: Final = 4401
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

    async def sign_in(
        self, websocket: WebSocket, payload: object, watched: WatchedSocket | None
    ) -> tuple[WatchedSocket | None, tuple[int, str] | None]:
        """Sign ``websocket`` in from its ``connection_init`` payload: the socket's watch (new
        when the payload brought the token), or the close code and reason refusing it."""
        found = _credential(payload)
        if found is None:
            if websocket.scope.get("user") is AWAITING_CONNECTION_INIT:
                # a close frame's reason holds at most 123 bytes
                return None, (
                    UNAUTHORIZED_CLOSE_CODE,
                    'Unauthorized: send {"authorization": "Bearer <token>"} in connection_init',
                )
            return watched, None
        token = token_of(found)
        if token is None:
            return None, (FORBIDDEN_CLOSE_CODE, "Forbidden: expected 'Bearer <token>'")
        if watched is not None:
            if token != watched.token:
                return None, (
                    FORBIDDEN_CLOSE_CODE,
                    "Forbidden: connection_init's token is not the handshake's",
                )
            return watched, None
        principal = await self.backend.resolve(token)
        if principal is None:
            return None, (FORBIDDEN_CLOSE_CODE, "Forbidden: the token is not a live API key")
        websocket.scope["user"] = principal
        websocket.scope["auth"] = AuthCredentials(sorted(principal.roles))
        return WatchedSocket(websocket, token, principal), None

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
        guard = self._guard
        if guard is None:
            async for message in super().iter_json(ignore_parsing_errors=ignore_parsing_errors):
                yield message
            return
        if self._socket is not None:
            guard.opened(self._socket)
        try:
            async for message in super().iter_json(ignore_parsing_errors=ignore_parsing_errors):
                kind = _kind(message)
                if kind == "connection_init" and not await self._sign_in(guard, message):
                    return
                socket = self._socket
                if socket is not None:
                    if kind in _STARTS and not await guard.allowed(socket):
                        return
                    if socket.closed:
                        return
                yield message
        finally:
            if self._socket is not None:
                guard.ended(self._socket)

    async def _sign_in(self, guard: SocketGuard, message: object) -> bool:
        """Whether the socket may go on after ``message`` (its ``connection_init``)."""
        payload = message.get("payload") if isinstance(message, Mapping) else None
        socket, refusal = await guard.sign_in(self.ws, payload, self._socket)
        if refusal is not None:
            code, reason = refusal
            log.info("websocket_refused", code=code, reason=reason)
            with contextlib.suppress(RuntimeError, OSError):
                await super().close(code, reason)
            return False
        if socket is not None and socket is not self._socket:
            self._socket = socket
            guard.opened(socket)
        return True

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


def _credential(payload: object) -> str | None:
    """The credential a ``connection_init`` payload carries (``authorization``, any case)."""
    if not isinstance(payload, Mapping):
        return None
    for key, value in payload.items():
        if isinstance(key, str) and key.lower() == "authorization":
            return value if isinstance(value, str) else ""
    return None


def _kind(message: object) -> object:
    return message.get("type") if isinstance(message, Mapping) else None
