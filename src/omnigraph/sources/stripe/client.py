"""HTTP access to Stripe's API (``/v1``), in place of the source contract for a ``type: stripe``
source: the secret key as Bearer auth, a pinned ``Stripe-Version``, list pagination
(``limit``, ``starting_after``, ``has_more``), form-encoded writes carrying an
``Idempotency-Key``, retries with tenacity, and Stripe's errors translated into
:mod:`omnigraph.core.errors`.

Like every source's client it has an :class:`~omnigraph.sources.upstream.Upstream` (the pooled
HTTP client, metrics and tracing, the record cache) and answers the change feed, commands and
health (:class:`~omnigraph.sources.contract.SourceClient`), so the payments sync, the outbox
dispatcher and ``/healthz`` treat it like any other source.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Unpack, cast
from urllib.parse import urlencode

import httpx
import structlog
import tenacity

from omnigraph.core.errors import SourceContractViolation, UpstreamUnavailable
from omnigraph.core.sources import SourceKind
from omnigraph.settings import SourceConfig
from omnigraph.sources.contract import CommandReceipt, FeedPage, JsonRecord
from omnigraph.sources.record_cache import CacheKey
from omnigraph.sources.stripe.commands import KEY_METADATA, StripeCall, stripe_call
from omnigraph.sources.stripe.mapping import payout_event
from omnigraph.sources.upstream import Upstream, UpstreamOptions

__all__ = [
    "DEFAULT_API_VERSION",
    "PAGE_LIMIT",
    "OutcomeUnknown",
    "Params",
    "StripeClient",
    "StripeRefused",
]

# The API version every request pins, whatever the account's default: the shapes mapped in
# mapping.py are this version's. A source's `api_version` overrides it.
DEFAULT_API_VERSION = "2025-03-31.basil"
PAGE_LIMIT = 100  # Stripe's lists take `limit` 1..100
PAYOUT_EVENTS = "payout.*"
_RETRY_AFTER_MAX = 30.0

Params = Sequence[tuple[str, str | int]]

log = structlog.get_logger(__name__)


class StripeRefused(SourceContractViolation):
    """Stripe refused a request: a 4xx other than auth and rate limits, with its error object
    ``{"error": {"type", "code", "message"}}``."""

    def __init__(
        self, source: str, status: int, error_type: str, code: str | None, detail: str
    ) -> None:
        super().__init__(source, f"HTTP {status} {error_type}/{code or '-'}: {detail}")
        self.status = status
        self.error_type = error_type
        self.error_code = code
        self.detail = detail


class OutcomeUnknown(UpstreamUnavailable):
    """Stripe replayed a server error for this idempotency key: the first request failed
    inside Stripe, and whether it took effect is not known from the answer."""


class _Retry(Exception):
    """A failure worth another attempt (429, 409 lock timeout, 5xx, transport)."""

    def __init__(self, error: UpstreamUnavailable, retry_after: float | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    body: Any
    replayed: bool


def _error_of(response: httpx.Response) -> tuple[str, str | None, str]:
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "api_error", None, response.text[:200]
    code = error.get("code")
    return (
        str(error.get("type") or "api_error"),
        code if isinstance(code, str) else None,
        str(error.get("message") or ""),
    )


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("Retry-After")
    try:
        return min(float(raw), _RETRY_AFTER_MAX) if raw is not None else None
    except ValueError:
        return None


class StripeClient:
    """One Stripe account's API, pooled, as configured by a ``type: stripe`` source."""

    def __init__(
        self,
        config: SourceConfig,
        *,
        max_attempts: int = 4,
        retry_wait: tenacity.wait.WaitBaseT | None = None,
        concurrency: int = 8,
        **options: Unpack[UpstreamOptions],
    ) -> None:
        """``max_attempts`` and ``retry_wait`` (tenacity) govern retries of 429, 409 and 5xx
        answers and transport failures; a ``Retry-After`` header is honoured as a floor."""
        version = config.api_version or DEFAULT_API_VERSION
        self.upstream = Upstream(config, headers={"Stripe-Version": version}, **options)
        self.name = config.name
        self.kind: SourceKind = config.kind
        self.max_attempts = max_attempts
        self.retry_wait = retry_wait or tenacity.wait_random_exponential(multiplier=0.5, max=8)
        self._limit = asyncio.Semaphore(min(concurrency, config.max_connections))

    # -- transport ---------------------------------------------------------------------------

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: Params = (),
        form: Params | None = None,
        idempotency_key: str | None = None,
    ) -> _Answer:
        """One logical request, retried on what Stripe says may succeed later.

        Raises :class:`UpstreamUnavailable` (down, auth refused, still rate-limited after the
        retries) or :class:`StripeRefused` (the request itself was refused).
        """
        retrying = tenacity.AsyncRetrying(
            stop=tenacity.stop_after_attempt(self.max_attempts),
            wait=self._wait,
            retry=tenacity.retry_if_exception_type(_Retry),
            reraise=True,
        )
        try:
            return await retrying(self._once, method, path, params, form, idempotency_key)
        except _Retry as final:
            raise final.error from None

    def _wait(self, state: tenacity.RetryCallState) -> float:
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        floor = error.retry_after if isinstance(error, _Retry) and error.retry_after else 0.0
        return max(floor, float(self.retry_wait(state)))

    async def _once(
        self,
        method: str,
        path: str,
        params: Params,
        form: Params | None,
        idempotency_key: str | None,
    ) -> _Answer:
        headers: dict[str, str] = {}
        content: str | None = None
        if form is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            content = urlencode([(k, str(v)) for k, v in form])
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        async with self._limit:
            try:
                response = await self.upstream.send(
                    method, path, params=list(params), content=content, headers=headers
                )
            except UpstreamUnavailable as error:  # no answer at all: worth another attempt
                raise _Retry(error) from None
        status = response.status_code
        if response.is_success:
            return _Answer(
                status,
                self.upstream.decode(response, path),
                response.headers.get("Idempotent-Replayed") == "true",
            )
        error_type, code, message = _error_of(response)
        detail = f"HTTP {status} on {method} {path}: {error_type} {message}".strip()
        if status >= 500 and response.headers.get("Idempotent-Replayed") == "true":
            # the same answer would come back for this key for 24 hours: find out instead
            log.warning("stripe_replayed_server_error", source=self.name, path=path)
            raise OutcomeUnknown(self.name, f"{detail} (replayed for this idempotency key)")
        if status in (409, 429) or status >= 500:
            log.warning("stripe_retryable", source=self.name, path=path, status=status, code=code)
            unavailable = UpstreamUnavailable(self.name, detail)
            if response.headers.get("Stripe-Should-Retry") == "false":
                raise unavailable
            raise _Retry(unavailable, _retry_after(response))
        if status in (401, 403):
            log.warning("stripe_auth_refused", source=self.name, path=path, status=status)
            raise UpstreamUnavailable(self.name, detail)
        raise StripeRefused(self.name, status, error_type, code, message)

    # -- reading -----------------------------------------------------------------------------

    async def get_object(self, path: str, params: Params = ()) -> JsonRecord | None:
        """One object, or ``None`` where Stripe says ``resource_missing``."""
        try:
            answer = await self.send("GET", path, params=params)
        except StripeRefused as refused:
            if refused.status == 404:
                return None
            raise
        if not isinstance(answer.body, dict):
            raise SourceContractViolation(self.name, f"{path} answered without an object")
        return cast(JsonRecord, answer.body)

    async def list_objects(
        self, path: str, params: Params = (), *, starting_after: str | None = None
    ) -> tuple[list[JsonRecord], bool]:
        """One page of a list object: its ``data`` and ``has_more``."""
        query = [*params]
        if not any(key == "limit" for key, _ in query):
            query.append(("limit", PAGE_LIMIT))
        if starting_after:
            query.append(("starting_after", starting_after))
        body = (await self.send("GET", path, params=query)).body
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list) or body.get("object") not in ("list", "search_result"):
            raise SourceContractViolation(self.name, f"{path} answered without a list object")
        return cast(list[JsonRecord], data), bool(body.get("has_more"))

    async def list_all(self, path: str, params: Params = ()) -> list[JsonRecord]:
        """Every object of a list, a page of 100 at a time (``starting_after`` the last id)."""
        found: list[JsonRecord] = []
        after: str | None = None
        while True:
            page, more = await self.list_objects(path, params, starting_after=after)
            found.extend(page)
            if not more or not page:
                return found
            after = str(page[-1].get("id"))

    async def search(self, path: str, query: str, params: Params = ()) -> list[JsonRecord]:
        """Every result of a Search API query (its pages follow ``next_page``, not ids)."""
        found: list[JsonRecord] = []
        page: str | None = None
        while True:
            query_params: list[tuple[str, str | int]] = [
                ("query", query),
                ("limit", PAGE_LIMIT),
                *params,
            ]
            if page:
                query_params.append(("page", page))
            body = (await self.send("GET", path, params=query_params)).body
            data = body.get("data") if isinstance(body, dict) else None
            if not isinstance(data, list):
                raise SourceContractViolation(self.name, f"{path} answered without results")
            found.extend(cast(list[JsonRecord], data))
            next_page = body.get("next_page")
            if not body.get("has_more") or not isinstance(next_page, str) or not data:
                return found
            page = next_page

    async def retrieve_many(
        self, collection: str, ids: Sequence[str], params: Params = ()
    ) -> dict[str, JsonRecord]:
        """Objects by id (Stripe has no batch read): one ``GET /v1/{collection}/{id}`` per id
        not in the record cache, several at once."""

        async def fetch(keys: list[CacheKey]) -> list[Any]:
            found = await asyncio.gather(
                *(self.get_object(f"/v1/{collection}/{key[2]}", params) for key in keys)
            )
            return [record or {} for record in found]  # {}: Stripe's own "no such object"

        unique = [i for i in dict.fromkeys(ids) if i]
        keys = [(collection, "id", record_id) for record_id in unique]
        records = await self.upstream.read(keys, fetch)
        return {
            record_id: record for record_id, record in zip(unique, records, strict=True) if record
        }

    async def keep(self, collection: str, records: Sequence[JsonRecord]) -> None:
        """Cache objects Stripe sent expanded elsewhere, so a later read by id needs no call."""
        await self.upstream.cache_put(
            [((collection, "id", str(r["id"])), r) for r in records if isinstance(r.get("id"), str)]
        )

    # -- the payments feed -------------------------------------------------------------------

    async def changes(self, after: str | None, limit: int = 200) -> FeedPage:
        """The payments feed the sync follows, made of Stripe's payouts and ``payout.*`` events.

        Stripe keeps events 30 days, so a reader starting afresh first notes the newest payout
        event, then lists every payout (cursor ``backfill:<event>:<last payout>``), then reads
        the events after the noted one, oldest first (cursor ``events:<event id>``). A cursor
        whose event Stripe no longer has starts the backfill again.
        """
        page = max(1, min(limit, PAGE_LIMIT))
        if after is None:
            newest, _ = await self.list_objects(
                "/v1/events", [("type", PAYOUT_EVENTS), ("limit", 1)]
            )
            anchor = str(newest[0].get("id")) if newest else ""
            return await self._backfill(anchor, None, page)
        if after.startswith("backfill:"):
            _, anchor, last = after.split(":", 2)
            return await self._backfill(anchor, last or None, page)
        if after.startswith("events:"):
            try:
                return await self._follow(after.removeprefix("events:"), page)
            except StripeRefused as refused:
                if refused.status != 404 and refused.error_code != "resource_missing":
                    raise
                log.warning("stripe_events_cursor_expired", source=self.name, cursor=after)
                return await self.changes(None, limit)
        raise SourceContractViolation(self.name, f"feed cursor {after!r} is not a Stripe cursor")

    async def _backfill(self, anchor: str, last: str | None, page: int) -> FeedPage:
        payouts, more = await self.list_objects(
            "/v1/payouts", [("limit", page)], starting_after=last
        )
        events = [
            payout_event(f"backfill_{p.get('id')}", "payout.updated", p.get("created"), p)
            for p in payouts
        ]
        if more and payouts:
            return events, f"backfill:{anchor}:{payouts[-1].get('id')}", True
        # done listing: follow the events after the anchor (the next call usually finds none)
        return events, f"events:{anchor}", bool(events)

    async def _follow(self, anchor: str, page: int) -> FeedPage:
        params: list[tuple[str, str | int]] = [("type", PAYOUT_EVENTS), ("limit", page)]
        if anchor:
            # `ending_before` gives the page just newer than the anchor, newest first
            body = (
                await self.send("GET", "/v1/events", params=[*params, ("ending_before", anchor)])
            ).body
            data = body.get("data") if isinstance(body, dict) else None
            if not isinstance(data, list):
                raise SourceContractViolation(self.name, "/v1/events answered without a list")
            raw, more = cast(list[JsonRecord], data), bool(body.get("has_more"))
        else:  # no payout event existed at backfill: every event now is new, and few
            raw, more = await self.list_all("/v1/events", params), False
        chronological = list(reversed(raw))
        events = [
            payout_event(str(e.get("id")), str(e.get("type")), e.get("created"), _object_of(e))
            for e in chronological
        ]
        newest = str(chronological[-1].get("id")) if chronological else anchor
        return events, f"events:{newest}", more

    # -- commands and health -----------------------------------------------------------------

    async def command(
        self, command_type: str, payload: dict[str, Any], idempotency_key: str
    ) -> CommandReceipt:
        """A resolution command as the Stripe call it stands for, with the outbox's key as
        Stripe's ``Idempotency-Key``: a redelivery is replayed by Stripe, not applied again."""
        call = stripe_call(command_type, payload, idempotency_key)
        if isinstance(call, str):
            return CommandReceipt(accepted=False, detail=call, command_id="", replayed=False)
        return await self._perform(call, idempotency_key)

    async def _made(self, call: StripeCall, idempotency_key: str) -> JsonRecord | None:
        """The object this call made already, found by the key in its metadata, or None."""
        if call.existing is None:
            return None
        path, filters = call.existing
        for found in await self.list_all(path, filters):
            metadata = found.get("metadata")
            if isinstance(metadata, dict) and metadata.get(KEY_METADATA) == idempotency_key:
                return found
        return None

    def _replayed(self, call: StripeCall, made: JsonRecord, why: str) -> CommandReceipt:
        accepted, detail = call.outcome(made)
        return CommandReceipt(
            accepted=accepted,
            detail=f"{detail} ({why})",
            command_id=str(made.get("id") or ""),
            replayed=True,
        )

    async def _perform(self, call: StripeCall, idempotency_key: str) -> CommandReceipt:
        # Stripe keeps an idempotency key at least 24 hours, not for ever: a command retried
        # later (an operator replaying a dead letter) finds what it made by its metadata
        made = await self._made(call, idempotency_key)
        if made is not None:
            return self._replayed(call, made, "found by its key in Stripe's metadata")
        try:
            answer = await self.send(
                "POST", call.path, form=call.form, idempotency_key=idempotency_key
            )
        except OutcomeUnknown as unknown:
            made = await self._made(call, idempotency_key)
            if made is not None:
                return self._replayed(call, made, "found after Stripe replayed a server error")
            raise UpstreamUnavailable(
                self.name,
                f"{unknown.message}; nothing carries the key yet, so the command is retried"
                " later and looks again first",
            ) from None
        except StripeRefused as refused:
            if refused.error_type == "idempotency_error":
                raise  # the key was used for another request: a bug, never retried
            # a well-formed command Stripe will not apply (already refunded, too much ...)
            return CommandReceipt(
                accepted=False,
                detail=f"Stripe refused: {refused.detail}"
                f" ({refused.error_code or refused.error_type})",
                command_id="",
                replayed=False,
            )
        body = answer.body if isinstance(answer.body, dict) else {}
        accepted, detail = call.outcome(body)
        return CommandReceipt(
            accepted=accepted,
            detail=detail,
            command_id=str(body.get("id") or ""),
            replayed=answer.replayed,
        )

    async def health(self) -> dict[str, Any]:
        """Reachability for ``/healthz`` (``GET /v1/balance``); never raises."""
        return await self.upstream.health(self.send("GET", "/v1/balance"))


def _object_of(event: Mapping[str, Any]) -> Any:
    data = event.get("data")
    return data.get("object") if isinstance(data, dict) else None
