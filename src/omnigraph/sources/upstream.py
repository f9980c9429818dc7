"""What every client of a source system shares, whatever API it speaks over HTTP.

An :class:`Upstream` is one source's pooled ``httpx.AsyncClient`` (base URL, auth header,
timeouts, connection limit, transport), the observers told of each request it sends (metrics,
tracing), its record cache (in this process, or in Redis shared by the replicas) and its last
good copies (stale-if-error). The contract client, the Shopify client and the Stripe client
each have one and speak their own API through it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Required, TypedDict, Unpack

import httpx
import orjson
import structlog
from redis.asyncio import Redis

from omnigraph.core.errors import (
    InvalidInput,
    SourceContractViolation,
    SourceFailure,
    UpstreamUnavailable,
)
from omnigraph.settings import SourceConfig
from omnigraph.sources.bulk import reading_in_bulk
from omnigraph.sources.observers import RequestRecorder, UpstreamObserver, UpstreamOutcome
from omnigraph.sources.record_cache import CacheKey, LocalRecordCache, RecordCache, RedisRecordCache
from omnigraph.sources.stale import LastGood

__all__ = ["MAX_URL_LENGTH", "Auth", "Query", "Upstream", "UpstreamOptions", "bearer"]

# the longest URL sent to a source: common servers and proxies refuse longer request lines
# (8 KiB by default in nginx, uvicorn's h11 and most load balancers)
MAX_URL_LENGTH = 8192

# A read sent on a pooled connection the server closed meanwhile (its keep-alive timeout, a
# restart) fails before any answer: reset, or closed without a response. A safe method is sent
# once more, on a fresh connection; anything else is left to its caller (commands go through
# the outbox, whose retries carry the idempotency key).
_SAFE_METHODS = frozenset({"GET", "HEAD"})
_DROPPED = (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)

Auth = Callable[[str], Mapping[str, str]]
Query = Mapping[str, str | int] | list[tuple[str, str | int | float | bool | None]]
Fetch = Callable[[list[CacheKey]], Awaitable[list[Any]]]

log = structlog.get_logger(__name__)


class UpstreamOptions(TypedDict, total=False):
    """How this process reaches its sources, besides each source's own configuration: what the
    registry hands every client, and the client its upstream.

    ``timeout_seconds`` and ``cache_ttl_seconds`` apply where the source sets none; a TTL of 0
    turns the record cache off. ``stale_if_error_seconds`` (default 0: never stale) is how long
    a last good copy may answer for a source that is down. ``transport`` replaces the network
    (tests, the demo), ``redis`` holds the record caches for every replica (keys under
    ``redis_key_prefix``), ``observers`` watch every request."""

    timeout_seconds: Required[float]
    cache_ttl_seconds: Required[float]
    cache_max_entries: Required[int]
    redis_key_prefix: Required[str]
    stale_if_error_seconds: float
    transport: httpx.AsyncBaseTransport | None
    redis: Redis | None
    observers: Sequence[UpstreamObserver]


def bearer(token: str) -> Mapping[str, str]:
    """``Authorization: Bearer <token>``: the contract's auth, and Stripe's."""
    return {"Authorization": f"Bearer {token}"}


class Upstream:
    """One source system's HTTP connection pool, record cache and last good copies."""

    def __init__(
        self,
        config: SourceConfig,
        *,
        auth: Auth = bearer,
        headers: Mapping[str, str] | None = None,
        **options: Unpack[UpstreamOptions],
    ) -> None:
        """``auth`` makes the headers that carry the source's token (when it has one);
        ``headers`` are sent on every request besides (an API version, say)."""
        self.name = config.name
        self.base_url = str(config.base_url).rstrip("/")
        self.redis = options.get("redis")
        self.redis_key_prefix = options["redis_key_prefix"]
        sent = {"Accept": "application/json", "User-Agent": "omnigraph"}
        token = config.token()
        if token:
            sent.update(auth(token))
        sent.update(headers or {})
        timeout = config.timeout_seconds or options["timeout_seconds"]
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=sent,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 2.0)),
            limits=httpx.Limits(max_connections=config.max_connections),
            transport=options.get("transport"),
        )
        ttl = config.cache_ttl_seconds
        if ttl is None:
            ttl = options["cache_ttl_seconds"]
        max_entries = options["cache_max_entries"]
        self._cache: RecordCache | None = None
        if ttl > 0 and max_entries:
            self._cache = (
                RedisRecordCache(
                    self.redis, prefix=f"{self.redis_key_prefix}:cache:{self.name}", ttl_seconds=ttl
                )
                if self.redis is not None
                else LocalRecordCache(ttl_seconds=ttl, max_entries=max_entries)
            )
        self.last_good = LastGood(
            self.name,
            window_seconds=options.get("stale_if_error_seconds", 0),
            max_entries=max_entries,
        )
        self._recorders: list[RequestRecorder] = [
            recorder
            for observer in options.get("observers", ())
            if (recorder := observer.attach(self.name, self._http)) is not None
        ]
        self.calls = 0
        # plain counts, read by the metrics when scraped: cheaper than a counter per lookup
        self.cache_hits = 0
        self.cache_misses = 0

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- HTTP --------------------------------------------------------------------------------

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: Query | None = None,
        json: Any = None,
        content: str | None = None,
        headers: Mapping[str, str] | None = None,
        accept_statuses: Iterable[int] = (),
    ) -> httpx.Response:
        """Send one request, counted, timed and told to the observers, and return the answer
        whatever its status (``accept_statuses`` are recorded as ``ok`` too); raise
        :class:`UpstreamUnavailable` when there is no answer at all (timeout, transport)."""
        try:
            request = self._http.build_request(
                method, path, params=params, json=json, content=content, headers=headers
            )
        except httpx.InvalidURL:  # httpx's own cap on a URL component (64 KiB)
            raise self._too_long() from None
        if len(str(request.url)) > MAX_URL_LENGTH:
            raise self._too_long()
        attempts = 2 if request.method in _SAFE_METHODS else 1
        while True:
            attempts -= 1
            self.calls += 1
            started = time.perf_counter()
            try:
                response = await self._http.send(request)
                break
            except httpx.TimeoutException:
                self._record("timeout", started)
                raise UpstreamUnavailable(self.name, f"timed out on {path}") from None
            except httpx.TransportError as error:
                self._record("transport_error", started)
                if not (attempts and isinstance(error, _DROPPED)):
                    raise UpstreamUnavailable(self.name, type(error).__name__) from None
                log.info("source_connection_dropped", source=self.name, error=type(error).__name__)
        status = response.status_code
        if response.is_success or status in set(accept_statuses):
            self._record("ok", started)
        else:
            self._record("server_error" if status >= 500 else "client_error", started)
        return response

    def _too_long(self) -> InvalidInput:
        """Only a client's value (an id, a filter) makes a URL this long: its mistake, refused
        before the source is asked."""
        return InvalidInput(
            f"a value of the request is too long for source {self.name!r}: its URL would be"
            f" longer than {MAX_URL_LENGTH} characters",
            source=self.name,
            maxUrlLength=MAX_URL_LENGTH,
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Query | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        accept_statuses: Iterable[int] = (),
    ) -> httpx.Response:
        """:meth:`send`, raising for a status that is neither a success nor accepted: a 5xx,
        401, 403 or 429 is :class:`UpstreamUnavailable`, any other a contract breach."""
        accepted = set(accept_statuses)
        response = await self.send(
            method, path, params=params, json=json, headers=headers, accept_statuses=accepted
        )
        status = response.status_code
        if response.is_success or status in accepted:
            return response
        if status >= 500 or status in (401, 403, 429):
            log.warning("source_error", source=self.name, path=path, status=status)
            raise UpstreamUnavailable(self.name, f"HTTP {status} on {path}")
        raise SourceContractViolation(
            self.name, f"HTTP {status} on {method} {path}: {response.text[:200]}"
        )

    def decode(self, response: httpx.Response, path: str) -> Any:
        """The answer's JSON; a body that is not JSON is a contract breach."""
        # orjson: a page of a hundred orders decodes several times faster than with json
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            pass
        try:  # what orjson refuses (NaN, integers past 64 bits) json may still read
            return response.json()
        except ValueError:
            raise SourceContractViolation(self.name, f"{path} did not answer JSON") from None

    async def health(self, probe: Awaitable[object]) -> dict[str, Any]:
        """Reachability for ``/healthz``: whether ``probe`` (one cheap call) succeeds; never
        raises."""
        try:
            await probe
        except SourceFailure as error:
            return {"status": "unavailable", "detail": error.message}
        return {"status": "ok"}

    def _record(self, outcome: UpstreamOutcome, started: float) -> None:
        if self._recorders:
            seconds = time.perf_counter() - started
            for recorder in self._recorders:
                recorder(outcome, seconds)

    # -- the record cache and the last good copies -------------------------------------------

    @property
    def caching(self) -> bool:
        """Whether this source's records are cached (its TTL is above 0)."""
        return self._cache is not None

    async def read(
        self, keys: Sequence[CacheKey], fetch: Fetch, *, chunk: int | None = None
    ) -> list[Any]:
        """The value of each key: the cached one, else what ``fetch`` answers for it.

        ``fetch`` is given the keys not cached (``chunk`` at a time; all at once without it)
        and answers one value for each, in order: the source's JSON, ``{}`` or ``[]`` where it
        has nothing (cached too, so a missing record is not asked for again). Each answer is
        kept as the last good copy; a chunk the source cannot answer is served from those
        copies where stale answers are allowed, or raises :class:`UpstreamUnavailable`.
        A bulk read (:func:`omnigraph.sources.bulk.bulk_reads`) caches none of the answers.
        """
        bulk = reading_in_bulk()
        values = await self.cache_get(keys)
        wanted = [i for i, value in enumerate(values) if value is None]
        size = chunk or len(wanted) or 1
        for start in range(0, len(wanted), size):
            positions = wanted[start : start + size]
            asked = [keys[i] for i in positions]
            try:
                answers = await fetch(asked)
            except UpstreamUnavailable as error:
                answers = self.last_good.serve(asked, error)
            else:
                if not bulk:
                    await self.cache_put(list(zip(asked, answers, strict=True)))
                if self.last_good.keeping:  # only a GraphQL query may be served stale
                    for key, answer in zip(asked, answers, strict=True):
                        self.last_good.keep(key, answer)
            for i, answer in zip(positions, answers, strict=True):
                values[i] = answer
        return values

    async def cached(self, key: CacheKey, fetch: Callable[[], Awaitable[Any]]) -> Any:
        """``fetch()``'s answer, kept for the source's TTL (reference data such as locations).

        The answer must be JSON (the source's own records, not parsed models): a shared cache
        stores it as such."""
        (value,) = await self.cache_get([key])
        if value is None:
            value = await fetch()
            await self.cache_put([(key, value)])
        return value

    async def cache_get(self, keys: Sequence[CacheKey]) -> list[Any]:
        """What the record cache holds for ``keys`` (``None`` where it holds nothing)."""
        if self._cache is None:
            return [None] * len(keys)
        values = await self._cache.get_many(keys)
        hits = sum(value is not None for value in values)
        self.cache_hits += hits
        self.cache_misses += len(values) - hits
        return values

    async def cache_put(self, items: Sequence[tuple[CacheKey, Any]]) -> None:
        if self._cache is not None:
            await self._cache.put_many(items)

    async def forget(self, keys: Sequence[CacheKey]) -> None:
        """Forget these cached records (the source said they changed), for every replica."""
        if self._cache is not None:
            await self._cache.forget_many(keys)

    async def clear_cache(self) -> None:
        """Forget every cached record of this source (in Redis: for every replica)."""
        if self._cache is not None:
            await self._cache.clear()
