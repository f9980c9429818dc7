"""The Admin API access token a shop's requests carry: a fixed one, or one obtained and renewed.

Shopify gives an app its token in one of three ways (docs/sources/shopify.md, "Access tokens"):

- **fixed** (``token_env``): an admin-created custom app's ``shpat_`` token, or a non-expiring
  offline token; sent as it is, never renewed.
- **client credentials** (``client_id`` + ``client_secret_env``): an app of the store's own
  organization (Dev Dashboard) asks ``POST /admin/oauth/access_token`` with
  ``grant_type=client_credentials`` for a token that expires (``expires_in``, about a day).
- **refresh token** (``client_id`` + ``client_secret_env`` + ``refresh_token_env``): an expiring
  offline token (an hour), renewed with ``grant_type=refresh_token``; Shopify hands back a new
  refresh token each time, which replaces the old one in this process.

An obtained token is renewed before it expires (:data:`RENEW_MARGIN_SECONDS` early, by the
injected clock) and once when Shopify answers 401 to it. One renewal runs at a time: callers
that find it under way wait for its token instead of asking again. Tokens are never logged.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from enum import StrEnum
from typing import Any, Final
from urllib.parse import urlencode

import structlog

from omnigraph.core.errors import UpstreamUnavailable
from omnigraph.settings import SourceConfig
from omnigraph.sources.upstream import Upstream

__all__ = ["RENEW_MARGIN_SECONDS", "TOKEN_PATH", "AccessMode", "ShopifyAccess"]

TOKEN_PATH: Final = "/admin/oauth/access_token"
RENEW_MARGIN_SECONDS: Final = 300.0  # renew this long before expiry (a tenth of a short TTL)

log = structlog.get_logger(__name__)


class AccessMode(StrEnum):
    FIXED = "fixed"
    CLIENT_CREDENTIALS = "client_credentials"
    REFRESH_TOKEN = "refresh_token"


class ShopifyAccess:
    """The current access token of one shop, renewed as its grant allows."""

    def __init__(self, config: SourceConfig, upstream: Upstream, clock: Callable[[], float]):
        self.name = config.name
        self.upstream = upstream
        self.clock = clock
        self._client_id = config.client_id
        self._client_secret = config.client_secret() if config.client_id else None
        self._refresh_token = config.refresh_token() if config.refresh_token_env else None
        if self._client_id is None:
            self.mode = AccessMode.FIXED
        elif self._refresh_token is None:
            self.mode = AccessMode.CLIENT_CREDENTIALS
        else:
            self.mode = AccessMode.REFRESH_TOKEN
        self._token: str | None = config.token() if self.mode is AccessMode.FIXED else None
        self._renew_at = float("inf")
        self._lock = asyncio.Lock()
        self.obtained = 0  # tokens obtained from Shopify, for tests and logs

    @property
    def renewable(self) -> bool:
        return self.mode is not AccessMode.FIXED

    async def token(self) -> str:
        """The token to send now: renewed first when it is missing or about to expire."""
        token = self._token
        if token is not None and self.clock() < self._renew_at:
            return token
        return await self.renew(token)

    async def renew(self, rejected: str | None) -> str:
        """A new token in place of ``rejected`` (expired, refused or none yet). Another caller's
        renewal since ``rejected`` was handed out answers instead of a second request."""
        if not self.renewable:
            if self._token is None:  # pragma: no cover - a fixed token is read at start
                raise UpstreamUnavailable(self.name, "no access token is configured")
            return self._token
        async with self._lock:
            renewed = self._token is not None and self._token != rejected
            if renewed and self._token is not None and self.clock() < self._renew_at:
                return self._token
            return await self._obtain()

    async def _obtain(self) -> str:
        form: dict[str, str] = {
            "client_id": self._client_id or "",
            "client_secret": self._client_secret or "",
        }
        if self.mode is AccessMode.REFRESH_TOKEN:
            form |= {"grant_type": "refresh_token", "refresh_token": self._refresh_token or ""}
        else:
            form["grant_type"] = "client_credentials"
        response = await self.upstream.send(
            "POST",
            TOKEN_PATH,
            content=urlencode(form),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        body = _json(response.content)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not response.is_success or not isinstance(token, str) or not token:
            error = body.get("error") if isinstance(body, dict) else None
            log.warning(
                "shopify_token_refused", source=self.name, status=response.status_code, error=error
            )
            raise UpstreamUnavailable(
                self.name,
                f"Shopify refused the {self.mode.value} grant (HTTP {response.status_code}"
                f"{f', {error}' if error else ''}): check client_id, the client secret and that"
                " the app is installed on the shop",
            )
        expires_in = body.get("expires_in")
        now = self.clock()
        if isinstance(expires_in, int | float) and expires_in > 0:
            self._renew_at = now + expires_in - min(RENEW_MARGIN_SECONDS, expires_in / 10)
        else:
            self._renew_at = float("inf")  # a token that does not expire: renewed on 401 only
        refresh = body.get("refresh_token")
        if self.mode is AccessMode.REFRESH_TOKEN and isinstance(refresh, str) and refresh:
            self._refresh_token = refresh  # Shopify rotates it: the old one stops working
        self._token = token
        self.obtained += 1
        log.info(
            "shopify_token_obtained",
            source=self.name,
            grant=self.mode.value,
            expires_in=expires_in,
            scope=body.get("scope"),
        )
        return token


def _json(content: bytes) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return None
