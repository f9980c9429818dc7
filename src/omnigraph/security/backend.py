"""Bearer authentication for starlette's ``AuthenticationMiddleware``.

Runs before the GraphQL app sees the body, so in production a request without a valid token
costs no parsing or validation work. Development mode lets a request without a token act as
the local developer (every role); a token that is present but wrong is refused in every mode,
so a misconfigured client finds out before it reaches production.

A WebSocket may instead bring its token in its ``connection_init`` message (a browser cannot set
a header on the handshake): one opened without a header in production is let through with no
role (:data:`AWAITING_CONNECTION_INIT`), and the socket adapter (``omnigraph.graph.live_sockets``)
signs it in from that message or closes it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
)
from starlette.requests import HTTPConnection
from starlette.responses import Response

from omnigraph.core.http_errors import error_json
from omnigraph.security.api_keys import principal_for_key
from omnigraph.security.jwt_tokens import JwtVerifier
from omnigraph.security.principal import AWAITING_CONNECTION_INIT, DEVELOPER, Principal

__all__ = ["BearerBackend", "bearer_token", "token_of", "unauthenticated"]


def bearer_token(conn: HTTPConnection) -> str | None:
    """The token of ``Authorization: Bearer <token>``, or None when there is none."""
    return token_of(conn.headers.get("authorization"))


def token_of(credential: str | None) -> str | None:
    """The token of a ``Bearer <token>`` credential, or None when it is not one."""
    if not credential:
        return None
    scheme, _, token = credential.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class BearerBackend(AuthenticationBackend):
    """Resolve ``Authorization: Bearer <api key or JWT>`` to a :class:`Principal`.

    Resolved keys are remembered for ``cache_seconds`` so a busy client costs one lookup per
    window; a revoked key therefore stops working within that window, not instantly. The
    lookup is single flight: requests arriving with a token while it is being looked up wait
    for that lookup instead of each reading the database (16 clients starting together on a
    new window cost one read, not 16). ``clock`` reads seconds (the service passes its
    injected clock, so tests move time by hand).
    """

    def __init__(
        self,
        sessions: Callable[[], async_sessionmaker[AsyncSession]],
        *,
        require_token: bool,
        cache_seconds: float,
        jwt: JwtVerifier | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._jwt = jwt
        self._require_token = require_token
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._looking_up: dict[str, asyncio.Future[tuple[Principal | None] | None]] = {}

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, Principal]:
        header = conn.headers.get("authorization")
        if not header:
            if self._require_token and conn.scope["type"] == "websocket":
                return AuthCredentials([]), AWAITING_CONNECTION_INIT
            if self._require_token:
                raise AuthenticationError("a bearer token is required")
            return AuthCredentials(sorted(DEVELOPER.roles)), DEVELOPER
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError("expected 'Authorization: Bearer <token>'")
        principal = await self.resolve(token.strip())
        if principal is None:
            raise AuthenticationError("the token is not a live API key")
        return AuthCredentials(sorted(principal.roles)), principal

    async def resolve(self, token: str, *, fresh: bool = False) -> Principal | None:
        """The principal of ``token`` now, or None when it is not live (unknown, revoked,
        expired): remembered for the cache window, or read again when ``fresh``."""
        now = self._clock()
        cached = self._cache.get(token)
        if not fresh and cached is not None and 0 <= now - cached[0] < self._cache_seconds:
            return cached[1]
        under_way = self._looking_up.get(token)
        if under_way is not None:
            # begun after this window's answer expired (or a fresh one was asked): as fresh
            theirs = await asyncio.shield(under_way)
            if theirs is not None:
                return theirs[0]
            # that lookup failed or was cancelled: this request looks for itself
        future: asyncio.Future[tuple[Principal | None] | None] = (
            asyncio.get_running_loop().create_future()
        )
        self._looking_up[token] = future
        looked_up: tuple[Principal | None] | None = None
        try:
            principal = await self._look_up(token)
            looked_up = (principal,)
        finally:
            if self._looking_up.get(token) is future:
                del self._looking_up[token]
            # on failure or cancellation the waiters get None and look for themselves
            future.set_result(looked_up)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[token] = (now, principal)
        return principal

    async def _look_up(self, token: str) -> Principal | None:
        if token.startswith("og_") or self._jwt is None or not self._jwt.enabled:
            return await principal_for_key(self._sessions(), token)
        return await self._jwt.principal(token)


def unauthenticated(_conn: HTTPConnection, error: AuthenticationError) -> Response:
    """401 in the shape GraphQL clients already read errors from."""
    return error_json(
        401,
        "UNAUTHENTICATED",
        str(error),
        headers={"WWW-Authenticate": 'Bearer realm="omnigraph"'},
    )
