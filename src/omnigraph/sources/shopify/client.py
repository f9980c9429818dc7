"""HTTP to one Shopify shop's Admin GraphQL API, within its calculated-cost rate limit.

Every query is sent to ``/admin/api/<version>/graphql.json`` with ``X-Shopify-Access-Token``
(fixed, or obtained and renewed before it expires and once on a 401: :mod:`.access`).
Shopify's leaky bucket is read from each answer (``extensions.cost.throttleStatus``); before a
query the client waits until the bucket holds its requested cost, and a ``THROTTLED`` answer or
an HTTP 429 is retried (tenacity) after the bucket refills or ``Retry-After`` passes. A throttled
query was never run, so retrying it is safe for mutations too; nothing else is retried.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Unpack

import httpx
import structlog
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from omnigraph.core.errors import SourceContractViolation, UpstreamUnavailable
from omnigraph.core.sources import SourceKind
from omnigraph.settings import ShopifyOptions, SourceConfig
from omnigraph.sources.contract import CommandReceipt, FeedPage, JsonRecord
from omnigraph.sources.shopify.access import ShopifyAccess
from omnigraph.sources.shopify.queries import SHOP
from omnigraph.sources.upstream import Upstream, UpstreamOptions

__all__ = ["DEFAULT_API_VERSION", "CostBucket", "QueryTooCostly", "ShopifyClient", "Sleep"]

# Shopify supports each stable version for twelve months; pin a source's own with api_version.
DEFAULT_API_VERSION: Final = "2026-10"

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]
log = structlog.get_logger(__name__)

MAX_WAIT_SECONDS = 60.0  # never sleep longer than this on one answer's word
THROTTLED = "THROTTLED"
ACCESS_DENIED = "ACCESS_DENIED"
MAX_COST_EXCEEDED = "MAX_COST_EXCEEDED"


class QueryTooCostly(SourceContractViolation):
    """Shopify refused to run a query whose requested cost is over its single-query limit
    (``MAX_COST_EXCEEDED``); ``cost`` is Shopify's count of it, when it said."""

    def __init__(self, source: str, message: str, cost: float | None) -> None:
        super().__init__(source, f"{MAX_COST_EXCEEDED}: {message}")
        self.cost = cost


class _RetryLater(Exception):
    """Shopify did not run the query (throttled); try again after ``seconds``."""

    def __init__(self, seconds: float, reason: str) -> None:
        super().__init__(reason)
        self.seconds = min(max(seconds, 0.0), MAX_WAIT_SECONDS)
        self.reason = reason


@dataclass
class CostBucket:
    """What this client last heard of the shop's query-cost bucket, refilled as time passes."""

    clock: Clock
    maximum: float | None = None
    available: float | None = None
    restore_rate: float | None = None
    seen_at: float = 0.0

    def observe(self, extensions: Any) -> None:
        status = (
            extensions.get("cost", {}).get("throttleStatus")
            if isinstance(extensions, dict) and isinstance(extensions.get("cost"), dict)
            else None
        )
        if not isinstance(status, dict):
            return
        try:
            self.maximum = float(status["maximumAvailable"])
            self.available = float(status["currentlyAvailable"])
            self.restore_rate = float(status["restoreRate"])
        except (KeyError, TypeError, ValueError):
            return
        self.seen_at = self.clock()

    def available_now(self) -> float | None:
        if self.available is None or self.maximum is None or not self.restore_rate:
            return None
        refilled = self.available + self.restore_rate * (self.clock() - self.seen_at)
        return min(self.maximum, refilled)

    def seconds_until(self, cost: float) -> float:
        """How long until the bucket holds ``cost`` points (0 when it does, or is unknown)."""
        available = self.available_now()
        if available is None or self.maximum is None or not self.restore_rate:
            return 0.0
        missing = min(cost, self.maximum) - available
        # below a millisecond is rounding, not a reason to sleep
        return missing / self.restore_rate if missing > self.restore_rate / 1000 else 0.0


def _wait(state: RetryCallState) -> float:
    error = state.outcome.exception() if state.outcome else None
    return error.seconds if isinstance(error, _RetryLater) else 1.0


def _requested_cost(extensions: Any) -> float | None:
    cost = extensions.get("cost") if isinstance(extensions, dict) else None
    value = cost.get("requestedQueryCost") if isinstance(cost, dict) else None
    return float(value) if isinstance(value, int | float) else None


def _nulled_field(data: Any, path: list[Any]) -> bool:
    """Whether ``path`` leads, through objects and lists that are there, to a field of an
    object that is null (not to a list item or a root field that vanished)."""
    node = data
    for position, step in enumerate(path):
        if isinstance(step, int):
            if not isinstance(node, list) or not 0 <= step < len(node) or node[step] is None:
                return False  # a whole item is gone: the record itself was denied
            node = node[step]
        else:
            if not isinstance(node, dict) or step not in node:
                return False
            if node[step] is None:
                return position > 0  # a root field that is null: the record was denied
            node = node[step]
    return False  # the field has a value: the error is not about it


def _retry_after(headers: httpx.Headers) -> float:
    try:
        return float(headers.get("Retry-After", "1"))
    except ValueError:
        return 1.0


def _access_token(token: str) -> dict[str, str]:
    """Shopify reads the Admin API access token from its own header."""
    return {"X-Shopify-Access-Token": token}


def _per_request(_token: str) -> dict[str, str]:
    """The token is put on each request (:class:`ShopifyAccess`), not on the pool."""
    return {}


class ShopifyClient:
    """One shop: its Admin GraphQL endpoint and cost bucket, its change feed, over its
    :class:`Upstream`."""

    def __init__(
        self,
        config: SourceConfig,
        *,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
        max_attempts: int = 5,
        **options: Unpack[UpstreamOptions],
    ) -> None:
        """``sleep`` and ``clock`` are injected so tests can throttle without waiting."""
        from omnigraph.sources.shopify.feed import ShopifyChangeFeed  # feed needs the client

        self.upstream = Upstream(config, auth=_per_request, **options)
        self.config = config
        self.name = config.name
        self.kind: SourceKind = config.kind
        self.options: ShopifyOptions = config.shopify_options()
        version = config.api_version or DEFAULT_API_VERSION
        self.api_version = version
        self.graphql_path = f"/admin/api/{version}/graphql.json"
        self.sleep = sleep
        self.bucket = CostBucket(clock)
        self.access = ShopifyAccess(config, self.upstream, clock)
        self.max_attempts = max_attempts
        self.throttled = 0  # answers that said THROTTLED or 429, for tests and logs
        # fields Shopify denied (a scope not granted), by path, with its message: reported once
        self.denied: dict[str, str] = {}
        self.feed = ShopifyChangeFeed(self)

    @property
    def shop_domain(self) -> str:
        return self.options.shop_domain or (httpx.URL(self.upstream.base_url).host or "")

    async def graphql(
        self, document: str, variables: Mapping[str, Any], *, requested_cost: float
    ) -> JsonRecord:
        """``data`` of one query or mutation, waiting for the bucket and retrying throttles."""
        data, _ = await self.query(document, variables, requested_cost=requested_cost)
        return data

    async def query(
        self, document: str, variables: Mapping[str, Any], *, requested_cost: float
    ) -> tuple[JsonRecord, float | None]:
        """:meth:`graphql`, with the requested cost Shopify counted for it (``None`` when its
        answer did not say); raises :class:`QueryTooCostly` for a query over the limit."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=_wait,
            retry=retry_if_exception_type(_RetryLater),
            sleep=self.sleep,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    wait = self.bucket.seconds_until(requested_cost)
                    if wait > 0:
                        log.info("shopify_bucket_low", source=self.name, wait_seconds=wait)
                        await self.sleep(min(wait, MAX_WAIT_SECONDS))
                    return await self._send(document, variables, requested_cost)
        except _RetryLater as error:
            raise UpstreamUnavailable(
                self.name, f"{error.reason} after {self.max_attempts} attempts"
            ) from None
        raise AssertionError("unreachable: tenacity either returns or re-raises")

    async def _send(
        self, document: str, variables: Mapping[str, Any], requested_cost: float
    ) -> tuple[JsonRecord, float | None]:
        payload = {"query": document, "variables": dict(variables)}

        async def post(token: str) -> httpx.Response:
            return await self.upstream.request(
                "POST",
                self.graphql_path,
                json=payload,
                headers=_access_token(token),
                accept_statuses=(429, 401),
            )

        token = await self.access.token()
        response = await post(token)
        if response.status_code == 401 and self.access.renewable:
            # expired early or revoked: one new token, one more try
            log.info("shopify_token_rejected", source=self.name)
            response = await post(await self.access.renew(token))
        if response.status_code == 401:
            raise UpstreamUnavailable(
                self.name, f"HTTP 401 on {self.graphql_path}: Shopify refused the access token"
            )
        if response.status_code == 429:
            self.throttled += 1
            raise _RetryLater(_retry_after(response.headers), "HTTP 429")
        body = self.upstream.decode(response, self.graphql_path)
        if not isinstance(body, dict):
            raise SourceContractViolation(self.name, "the GraphQL answer is not an object")
        self.bucket.observe(body.get("extensions"))
        errors = body.get("errors")
        data = body.get("data")
        counted = _requested_cost(body.get("extensions"))
        if errors and isinstance(data, dict) and self._partial(errors, data):
            return data, counted  # fields the app may not read are null; the rest is here
        if errors:
            first = errors[0] if isinstance(errors, list) and errors else {}
            codes = {
                (e.get("extensions") or {}).get("code")
                for e in (errors if isinstance(errors, list) else [])
                if isinstance(e, dict)
            }
            if THROTTLED in codes:
                self.throttled += 1
                # Shopify's own count of what the query needs beats our estimate
                cost = _requested_cost(body.get("extensions")) or requested_cost
                raise _RetryLater(self.bucket.seconds_until(cost) or 1.0, THROTTLED)
            message = first.get("message") if isinstance(first, dict) else str(errors)
            if MAX_COST_EXCEEDED in codes:
                refused = next(
                    (
                        e
                        for e in errors
                        if isinstance(e, dict)
                        and (e.get("extensions") or {}).get("code") == MAX_COST_EXCEEDED
                    ),
                    {},
                )
                said = (refused.get("extensions") or {}).get("cost")
                raise QueryTooCostly(
                    self.name,
                    str(refused.get("message") or message),
                    float(said) if isinstance(said, int | float) else counted,
                )
            code = next((c for c in codes if c), "GRAPHQL_ERROR")
            raise SourceContractViolation(self.name, f"{code}: {message}")
        if not isinstance(data, dict):
            raise SourceContractViolation(self.name, "the GraphQL answer has no data")
        return data, counted

    def _partial(self, errors: Any, data: dict[str, Any]) -> bool:
        """Whether ``errors`` only deny fields that are null in ``data`` (a scope the app was
        not granted): then the data stands, and each denied field is reported once. A denial
        that reached a whole record (an item of a list, a root field) is not partial."""
        if not isinstance(errors, list):
            return False
        denied: list[tuple[list[str | int], str]] = []
        for error in errors:
            if not isinstance(error, dict):
                return False
            code = (error.get("extensions") or {}).get("code")
            path = error.get("path")
            if code != ACCESS_DENIED or not isinstance(path, list) or len(path) < 2:
                return False
            if not _nulled_field(data, path):
                return False
            denied.append((path, str(error.get("message") or "")))
        for path, message in denied:
            where = ".".join("[]" if isinstance(step, int) else str(step) for step in path)
            if where not in self.denied:
                self.denied[where] = message
                log.warning("shopify_access_denied", source=self.name, path=where, detail=message)
        return True

    async def health(self) -> dict[str, Any]:
        """Reachability for ``/healthz``: the shop answers a one-point query."""
        return await self.upstream.health(self.graphql(SHOP, {}, requested_cost=1))

    async def changes(self, after: str | None, limit: int = 200) -> FeedPage:
        """The storefront change feed: webhook deliveries first, then orders Shopify says
        changed since the cursor (``updated_at`` search), as contract events."""
        return await self.feed.page(after, limit)

    async def command(
        self, command_type: str, payload: dict[str, Any], idempotency_key: str
    ) -> CommandReceipt:
        """A storefront contract command done with Shopify's mutations, or refused."""
        from omnigraph.sources.shopify.commands import run_command

        return await run_command(self, command_type, payload, idempotency_key)
