"""The only place omnigraph speaks HTTP to a source system.

One pooled ``httpx.AsyncClient`` per configured source, with timeouts, bearer auth, record-level
TTL caching (so a batch only asks for what it does not hold; in Redis when replicas share one)
and the contract's error shape translated into :mod:`omnigraph.core.errors`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import httpx
import orjson
import structlog
from redis.asyncio import Redis

from omnigraph.core.errors import SourceContractViolation, UpstreamUnavailable
from omnigraph.core.sources import SourceKind
from omnigraph.settings import SourceConfig
from omnigraph.sources.observers import RequestRecorder, UpstreamObserver, UpstreamOutcome
from omnigraph.sources.record_cache import (
    CacheKey,
    LocalRecordCache,
    RecordCache,
    RedisRecordCache,
)
from omnigraph.sources.stale import LastGood

__all__ = ["BATCH_LIMIT", "CommandReceipt", "JsonRecord", "SourceClient"]

JsonRecord = dict[str, Any]
BATCH_LIMIT = 500
_MISSING: JsonRecord = {}

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class CommandReceipt:
    """The owner's answer to a command: it applied it, or it refused and said why."""

    accepted: bool
    detail: str
    command_id: str
    replayed: bool


class SourceClient:
    """HTTP access to one source system, following docs/sources/README.md."""

    def __init__(
        self,
        config: SourceConfig,
        *,
        timeout_seconds: float,
        cache_ttl_seconds: float,
        cache_max_entries: int,
        stale_if_error_seconds: float = 0,
        transport: httpx.AsyncBaseTransport | None = None,
        redis: Redis | None = None,
        redis_key_prefix: str,
        observers: Sequence[UpstreamObserver] = (),
    ) -> None:
        """``observers`` (metrics, tracing) are told of every request this client sends."""
        self.name = config.name
        self.kind: SourceKind = config.kind
        self.base_url = str(config.base_url).rstrip("/")
        headers = {"Accept": "application/json", "User-Agent": "omnigraph"}
        token = config.token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        timeout = config.timeout_seconds or timeout_seconds
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 2.0)),
            limits=httpx.Limits(max_connections=config.max_connections),
            transport=transport,
        )
        ttl = (
            config.cache_ttl_seconds if config.cache_ttl_seconds is not None else cache_ttl_seconds
        )
        self._cache: RecordCache | None = None
        if ttl > 0 and cache_max_entries:
            self._cache = (
                RedisRecordCache(
                    redis, prefix=f"{redis_key_prefix}:cache:{self.name}", ttl_seconds=ttl
                )
                if redis is not None
                else LocalRecordCache(ttl_seconds=ttl, max_entries=cache_max_entries)
            )
        self.calls = 0
        # plain counts, read by the metrics when scraped: cheaper than a counter per lookup
        self.cache_hits = 0
        self.cache_misses = 0
        self._recorders: list[RequestRecorder] = [
            recorder
            for observer in observers
            if (recorder := observer.attach(self.name, self._http)) is not None
        ]
        self.last_good = LastGood(
            self.name, window_seconds=stale_if_error_seconds, max_entries=cache_max_entries
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def clear_cache(self) -> None:
        """Forget every cached record of this source (in Redis: for every replica)."""
        if self._cache is not None:
            await self._cache.clear()

    async def forget(self, keys: Sequence[CacheKey]) -> None:
        """Forget these cached records (the source said they changed), for every replica."""
        if self._cache is not None:
            await self._cache.forget_many(keys)

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        accept_statuses: Iterable[int] = (),
    ) -> httpx.Response:
        """Send one request; raise coded errors for transport failures and contract breaches."""
        self.calls += 1
        started = time.perf_counter()
        try:
            response = await self._http.request(
                method, path, json=json, params=params, headers=headers
            )
        except httpx.TimeoutException:
            self._record("timeout", started)
            raise UpstreamUnavailable(self.name, "timed out") from None
        except httpx.TransportError as error:
            self._record("transport_error", started)
            raise UpstreamUnavailable(self.name, type(error).__name__) from None
        if response.is_success or response.status_code in set(accept_statuses):
            self._record("ok", started)
            return response
        self._record("server_error" if response.status_code >= 500 else "client_error", started)
        if response.status_code >= 500 or response.status_code in (401, 403, 429):
            log.warning("source_error", source=self.name, path=path, status=response.status_code)
            raise UpstreamUnavailable(self.name, f"HTTP {response.status_code} on {path}")
        raise SourceContractViolation(
            self.name, f"HTTP {response.status_code} on {method} {path}: {response.text[:200]}"
        )

    async def get_json(self, path: str, params: Mapping[str, str | int] | None = None) -> Any:
        return self._decode(await self.request("GET", path, params=params), path)

    async def post_json(self, path: str, body: Any) -> Any:
        return self._decode(await self.request("POST", path, json=body), path)

    def _decode(self, response: httpx.Response, path: str) -> Any:
        # orjson: a page of a hundred orders decodes several times faster than with json
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            pass
        try:  # what orjson refuses (NaN, integers past 64 bits) json may still read
            return response.json()
        except ValueError:
            raise SourceContractViolation(self.name, f"{path} did not answer JSON") from None

    def _data(self, payload: Any, path: str) -> list[JsonRecord]:
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
            raise SourceContractViolation(self.name, f"{path} answered without a data list")
        return cast(list[JsonRecord], payload["data"])

    async def batch_get(
        self, collection: str, ids: Sequence[str], *, id_field: str = "id"
    ) -> dict[str, JsonRecord]:
        """Records by id, one call per :data:`BATCH_LIMIT` ids not already cached."""
        found: dict[str, JsonRecord] = {}
        wanted: list[str] = []
        unique = list(dict.fromkeys(ids))
        hits = await self._cache_get_many([(collection, "id", record_id) for record_id in unique])
        for record_id, cached in zip(unique, hits, strict=True):
            if cached is None:
                wanted.append(record_id)
            elif cached:  # an empty record is the source's own "no such record"
                found[record_id] = cached
        for chunk in _chunks(wanted):
            path = f"/{collection}/batch"
            keys = [(collection, "id", record_id) for record_id in chunk]
            try:
                payload = await self.post_json(path, {"ids": chunk})
            except UpstreamUnavailable as error:
                for record_id, record in zip(chunk, self.last_good.serve(keys, error), strict=True):
                    if record:
                        found[record_id] = record
                continue
            fetched = {r[id_field]: r for r in self._data(payload, path)}
            answers = [
                (key, fetched.get(record_id) or _MISSING)
                for record_id, key in zip(chunk, keys, strict=True)
            ]
            await self._cache_put_many(answers)
            keeping = self.last_good.keeping
            for record_id, (key, record) in zip(chunk, answers, strict=True):
                if keeping:
                    self.last_good.keep(key, record)
                if record:
                    found[record_id] = record
        return found

    async def by_order_ref(
        self, collection: str, order_refs: Sequence[str], *, ref_of: Any = None
    ) -> dict[str, list[JsonRecord]]:
        """Records grouped by the storefront order ref they carry (zero, one or many each)."""
        get_ref = ref_of or (lambda record: record.get("orderRef"))
        grouped: dict[str, list[JsonRecord]] = {}
        wanted: list[str] = []
        unique = list(dict.fromkeys(order_refs))
        hits = await self._cache_get_many([(collection, "ref", ref) for ref in unique])
        for ref, cached in zip(unique, hits, strict=True):
            if cached is None:
                wanted.append(ref)
            else:
                grouped[ref] = cached
        for chunk in _chunks(wanted):
            path = f"/{collection}/by-order-ref"
            keys = [(collection, "ref", ref) for ref in chunk]
            try:
                payload = await self.post_json(path, {"orderRefs": chunk})
            except UpstreamUnavailable as error:
                grouped.update(zip(chunk, self.last_good.serve(keys, error), strict=True))
                continue
            fetched: dict[str, list[JsonRecord]] = {ref: [] for ref in chunk}
            for record in self._data(payload, path):
                ref = get_ref(record)
                if ref in fetched:
                    fetched[ref].append(record)
            await self._cache_put_many([((collection, "ref", r), v) for r, v in fetched.items()])
            keeping = self.last_good.keeping
            for ref, records in fetched.items():
                if keeping:
                    self.last_good.keep((collection, "ref", ref), records)
                grouped[ref] = records
        return grouped

    async def list_page(
        self, collection: str, *, limit: int, cursor: str | None, filters: Mapping[str, str | int]
    ) -> tuple[list[JsonRecord], str | None]:
        params: dict[str, str | int] = {"limit": limit, **filters}
        if cursor:
            params["cursor"] = cursor
        path = f"/{collection}"
        payload = await self.get_json(path, params)
        next_cursor = payload.get("nextCursor") if isinstance(payload, dict) else None
        return self._data(payload, path), next_cursor

    async def changes(
        self, after: str | None, limit: int = 200
    ) -> tuple[list[JsonRecord], str | None, bool]:
        """One page of the change feed after ``after``: events, the next cursor, more to read."""
        params: dict[str, str | int] = {"limit": limit}
        if after:
            params["after"] = after
        payload = await self.get_json("/changes", params)
        if not isinstance(payload, dict) or not isinstance(payload.get("events"), list):
            raise SourceContractViolation(self.name, "/changes answered without an events list")
        next_cursor = payload.get("nextCursor")
        return (
            cast(list[JsonRecord], payload["events"]),
            str(next_cursor) if next_cursor else after,
            bool(payload.get("hasMore")),
        )

    async def command(
        self, command_type: str, payload: dict[str, Any], idempotency_key: str
    ) -> CommandReceipt:
        """Send a command to the owner; the same key always means the same command to it."""
        response = await self.request(
            "POST",
            "/commands",
            json={"type": command_type, "payload": payload},
            headers={"Idempotency-Key": idempotency_key},
        )
        body = self._decode(response, "/commands")
        status = body.get("status") if isinstance(body, dict) else None
        if status not in ("accepted", "rejected"):
            raise SourceContractViolation(self.name, "/commands answered without a status")
        return CommandReceipt(
            accepted=status == "accepted",
            detail=str(body.get("detail") or ""),
            command_id=str(body.get("commandId") or ""),
            replayed=response.headers.get("Idempotent-Replayed") == "true",
        )

    async def health(self) -> dict[str, Any]:
        """Reachability for ``/healthz``; never raises."""
        try:
            await self.request("GET", "/health")
        except (UpstreamUnavailable, SourceContractViolation) as error:
            return {"status": "unavailable", "detail": error.message}
        return {"status": "ok"}

    async def cached(self, key: CacheKey, fetch: Callable[[], Awaitable[Any]]) -> Any:
        """``fetch()``'s answer, kept for the source's TTL (reference data such as locations).

        The answer must be JSON (the source's own records, not parsed models): a shared cache
        stores it as such."""
        (value,) = await self._cache_get_many([key])
        if value is None:
            value = await fetch()
            await self._cache_put_many([(key, value)])
        return value

    @property
    def caching(self) -> bool:
        """Whether this source's records are cached (its TTL is above 0)."""
        return self._cache is not None

    def _record(self, outcome: UpstreamOutcome, started: float) -> None:
        if self._recorders:
            seconds = time.perf_counter() - started
            for recorder in self._recorders:
                recorder(outcome, seconds)

    async def _cache_get_many(self, keys: Sequence[CacheKey]) -> list[Any]:
        if self._cache is None:
            return [None] * len(keys)
        values = await self._cache.get_many(keys)
        hits = sum(value is not None for value in values)
        self.cache_hits += hits
        self.cache_misses += len(values) - hits
        return values

    async def _cache_put_many(self, items: Sequence[tuple[CacheKey, Any]]) -> None:
        if self._cache is not None:
            await self._cache.put_many(items)


def _chunks(items: Sequence[str]) -> Iterable[list[str]]:
    for start in range(0, len(items), BATCH_LIMIT):
        yield list(items[start : start + BATCH_LIMIT])
