"""What every demo source system shares: the contract's routes, its error shape and commands.

docs/sources/README.md is the contract; each `create_<kind>_app` only says which collections it
serves and which commands it understands, and this module answers every request the same way in
all four systems. The test-only switches (`/_stats`, `/_control/outage`, `/_control/latency`,
`/_control/fail-next`, `/_commands`) live here (an outage may be given a window:
`{"down": true, "seconds": 60}` comes back on its own); a system may add its own under
`/_control`, and its change feed can skip a sequence number or redeliver events on a
switch's say-so.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import bisect
import copy
import hashlib
import hmac
import itertools
import json
import re
from collections import Counter
from collections.abc import Callable, Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.types import ASGIApp, Receive, Scope, Send

    from omnigraph.demo.world import DemoWorld

__all__ = [
    "MAX_IDS",
    "ChangeFeed",
    "CommandDesk",
    "CommandHandler",
    "CommandRejectedError",
    "ContractError",
    "JsonRecord",
    "ListFilter",
    "SourceAppFactory",
    "SourceControls",
    "SourceParts",
    "SourceSystem",
    "batch_route",
    "by_order_ref_route",
    "error_response",
    "list_route",
    "parse_timestamp",
    "positive_int",
    "read_object",
    "require_positive_int",
    "require_record",
    "require_str",
    "single_param",
    "source_app",
    "string_list",
    "wall_clock",
]

JsonRecord = dict[str, Any]
SortKey = tuple[int | str, ...]
MAX_IDS = 500
MAX_LIMIT = 500
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DIGITS = re.compile(r"[0-9]{1,18}")
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)


class ContractError(Exception):
    """A request the contract refuses; becomes `{"error": {"code", "message"}}`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The contract's error body: a stable `code` callers branch on, a `message` for people."""
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


# -- reading requests ---------------------------------------------------------------------------


async def read_object(request: Request) -> dict[str, Any]:
    """The JSON object body, or a 400 that says what was wrong with it."""
    raw = await request.body()
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise ContractError(400, "BAD_JSON", "the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ContractError(400, "BAD_REQUEST", "the request body must be a JSON object")
    return body


def string_list(body: Mapping[str, Any], name: str, *, required: bool = True) -> list[str] | None:
    """A list of at most 500 strings under `name`; `None` when optional and absent or null."""
    if name not in body or (body[name] is None and not required):
        if required:
            raise ContractError(400, "MISSING_FIELD", f"`{name}` is required")
        return None
    value = body[name]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ContractError(400, "BAD_REQUEST", f"`{name}` must be a list of strings")
    if len(value) > MAX_IDS:
        raise ContractError(400, "TOO_MANY_IDS", f"`{name}` holds at most {MAX_IDS} entries")
    return list(dict.fromkeys(value))


def single_param(request: Request, name: str) -> str | None:
    """A query parameter given at most once (twice is a 400); None when absent."""
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise ContractError(400, "BAD_QUERY", f"`{name}` may be given once")
    return values[0] if values else None


def _limit(request: Request, default: int) -> int:
    raw = single_param(request, "limit")
    if raw is None:
        return default
    if not _DIGITS.fullmatch(raw) or not 1 <= int(raw) <= MAX_LIMIT:
        raise ContractError(400, "BAD_LIMIT", f"`limit` must be an integer from 1 to {MAX_LIMIT}")
    return int(raw)


def parse_timestamp(raw: str) -> float:
    """Seconds since the epoch of an RFC 3339 date-time (the contract's filter spelling).

    Raises ValueError for anything else. A leap second reads as :59, and the offset is applied
    as a duration so extreme dates cannot overflow.
    """
    match = _RFC3339.fullmatch(raw)
    if match is None:
        raise ValueError(f"{raw!r} is not an RFC 3339 date-time")
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    fraction, zulu, sign, offset_hours, offset_minutes = match.groups()[6:]
    moment = datetime(
        max(year, 1), month, day, hour, minute, min(second, 59), tzinfo=UTC
    )  # year 0000 is valid RFC 3339 but not a Python date; it sorts first either way
    seconds = (moment - _EPOCH) / timedelta(seconds=1)
    if fraction:
        seconds += float(f"0.{fraction}")
    if not zulu:
        if int(offset_hours) > 23 or int(offset_minutes) > 59:
            raise ValueError(f"{raw!r} has an impossible offset")
        offset = int(offset_hours) * 3600 + int(offset_minutes) * 60
        seconds -= offset if sign == "+" else -offset
    return seconds


def positive_int(raw: str) -> int:
    """A non-negative integer query value (Unix seconds and the like); ValueError otherwise."""
    if not re.fullmatch(r"[0-9]+", raw):
        raise ValueError(f"{raw!r} is not a non-negative integer")
    return int(raw)


# -- contract routes ----------------------------------------------------------------------------


def batch_route(collection: str, lookup: Callable[[str], JsonRecord | None]) -> Route:
    """`POST /{collection}/batch {"ids"}` -> `{"data", "missing"}`."""

    async def endpoint(request: Request) -> Response:
        ids = string_list(await read_object(request), "ids") or []
        data, missing = [], []
        for record_id in ids:
            record = lookup(record_id)
            if record is None:
                missing.append(record_id)
            else:
                data.append(record)
        return JSONResponse({"data": data, "missing": missing})

    return Route(f"/{collection}/batch", endpoint, methods=["POST"])


def by_order_ref_route(collection: str, find: Callable[[Sequence[str]], list[JsonRecord]]) -> Route:
    """`POST /{collection}/by-order-ref {"orderRefs"}` -> `{"data"}` (0..n records per ref)."""

    async def endpoint(request: Request) -> Response:
        refs = string_list(await read_object(request), "orderRefs") or []
        return JSONResponse({"data": find(refs)})

    return Route(f"/{collection}/by-order-ref", endpoint, methods=["POST"])


class RefIndex:
    """A system's records by the order they belong to, as its index on that column would keep
    them, for ``by-order-ref``: made at the first look and again whenever the number of records
    changes (no record of the demo systems changes the order it belongs to, and none is
    removed); each record found is checked against its ref as it is now, and they come back in
    the collection's order, as a scan of it would give them. A scan per request cost the
    100,000-order benchmarks' demo systems most of their CPU."""

    def __init__(
        self, records: Callable[[], Collection[JsonRecord]], ref: Callable[[JsonRecord], Any]
    ) -> None:
        self._records, self._ref = records, ref
        self._count = -1
        self._by_ref: dict[Any, list[tuple[int, JsonRecord]]] = {}

    def find(self, refs: Sequence[str]) -> list[JsonRecord]:
        records = self._records()
        if len(records) != self._count:
            self._by_ref = {}
            for position, record in enumerate(records):
                self._by_ref.setdefault(self._ref(record), []).append((position, record))
            self._count = len(records)
        found = [
            entry
            for ref in set(refs)
            for entry in self._by_ref.get(ref, ())
            if self._ref(entry[1]) == ref
        ]
        return [record for _, record in sorted(found, key=_position)]


def _position(entry: tuple[int, JsonRecord]) -> int:
    return entry[0]


@dataclass(frozen=True)
class ListFilter:
    """One list filter: how to read its query value and whether a record passes it."""

    name: str
    parse: Callable[[str], Any]
    keep: Callable[[JsonRecord, Any], bool]


def _encode_cursor(key: SortKey) -> str:
    raw = json.dumps(list(key), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(raw: str, like: SortKey) -> SortKey:
    """The sort key a list cursor carries, checked against the shape of the list's keys."""
    try:
        decoded = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError, RecursionError):
        decoded = None
    if (
        not isinstance(decoded, list)
        or len(decoded) != len(like)
        or any(type(part) is not type(model) for part, model in zip(decoded, like, strict=True))
    ):
        raise ContractError(400, "BAD_CURSOR", "`cursor` is not one this list handed out")
    return tuple(decoded)


def _first(pair: tuple[SortKey, JsonRecord]) -> SortKey:
    return pair[0]


def list_route(
    collection: str,
    records: Callable[[], Iterable[JsonRecord]],
    sort_key: Callable[[JsonRecord], SortKey],
    filters: Sequence[ListFilter] = (),
    default_limit: int = 50,
    keys_stand_while: Callable[[], Hashable] | None = None,
) -> Route:
    """`GET /{collection}?limit&cursor&<filters>` -> `{"data", "nextCursor"}`.

    The cursor carries the sort key of the last record served (keyset paging), so records
    added or changed between pages never shift what the next page holds. The records are
    sorted for every request, unless ``keys_stand_while`` says until when their order holds
    (for records whose sort keys never change, their count): then the order is kept, as a
    system's index would be, and the records are read from it as they are now.
    """
    kept: list[tuple[Hashable, list[tuple[SortKey, JsonRecord]]]] = []

    def ordered() -> list[tuple[SortKey, JsonRecord]]:
        if keys_stand_while is None:
            return sorted(((sort_key(record), record) for record in records()), key=_first)
        stands = keys_stand_while()
        if not kept or kept[0][0] != stands:
            keyed = sorted(((sort_key(record), record) for record in records()), key=_first)
            kept[:] = [(stands, keyed)]
        return kept[0][1]

    async def endpoint(request: Request) -> Response:
        limit = _limit(request, default_limit)
        chosen = []
        for spec in filters:
            raw = single_param(request, spec.name)
            if raw is None:
                continue
            try:
                chosen.append((spec, spec.parse(raw)))
            except ValueError as error:
                raise ContractError(400, "BAD_FILTER", f"`{spec.name}`: {error}") from None
        # each record's key computed once, and the cursor found by bisection: a list of
        # 100,000 records is paged through a thousand times in a bulk export's benchmark
        keyed = ordered()
        start = 0
        cursor = single_param(request, "cursor")
        if cursor is not None and keyed:
            after = _decode_cursor(cursor, keyed[0][0])
            start = bisect.bisect_right(keyed, after, key=_first)
        page: list[JsonRecord] = []
        more = False
        for _, record in itertools.islice(keyed, start, None):
            if not all(spec.keep(record, value) for spec, value in chosen):
                continue
            if len(page) == limit:
                more = True
                break
            page.append(record)
        next_cursor = _encode_cursor(sort_key(page[-1])) if more else None
        return JSONResponse({"data": page, "nextCursor": next_cursor})

    return Route(f"/{collection}", endpoint, methods=["GET"])


# -- change feed --------------------------------------------------------------------------------


class ChangeFeed:
    """One system's ordered change events; the cursor is the last sequence number seen.

    For tests, the feed can misbehave as real ones do (see `skip_sequence` and `redeliver`).
    """

    def __init__(
        self,
        kind: str,
        events: Iterable[JsonRecord],
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.kind = kind
        # Recorded events never change (a re-send is a new event), so they can be shared.
        self._events = list(events)
        self.now = now or (lambda: datetime.now(UTC))
        self._skip = 0
        self._redeliver = 0

    def moment(self) -> str:
        """When an event appended now occurs: the clock, but never before the last event."""
        moment = self.now().astimezone(UTC).replace(microsecond=0).isoformat()
        if self._events:
            moment = max(moment, self._events[-1]["occurredAt"])
        return moment

    def skip_sequence(self) -> None:
        """The next appended event skips a sequence number, leaving a gap in the feed."""
        self._skip += 1

    def redeliver(self, count: int) -> None:
        """The next page read after a cursor starts with the `count` events before it again,
        as an at-least-once feed re-sends what a consumer may have missed."""
        self._redeliver = count

    def append(
        self, event_type: str, record_type: str, record_id: str, record: JsonRecord
    ) -> JsonRecord:
        """Record a change made while the system runs (a command's effect, or a re-send)."""
        last = self._events[-1]["sequence"] if self._events else 0
        sequence = last + 1 + self._skip
        self._skip = 0
        moment = self.moment()
        event = {
            "id": f"evt_{self.kind}_{sequence}",
            "sequence": sequence,
            "type": event_type,
            "recordType": record_type,
            "recordId": record_id,
            "occurredAt": moment,
            "data": copy.deepcopy(record),
        }
        self._events.append(event)
        return event

    def route(self) -> Route:
        """`GET /changes?after&limit` -> `{"events", "nextCursor", "hasMore"}`."""

        async def endpoint(request: Request) -> Response:
            limit = _limit(request, 100)
            raw = single_param(request, "after")
            if raw is not None and not _DIGITS.fullmatch(raw):
                raise ContractError(400, "BAD_CURSOR", "`after` is not a cursor this feed gave")
            after = int(raw) if raw is not None else 0
            start = bisect.bisect_right(self._events, after, key=lambda event: event["sequence"])
            page = self._events[start : start + limit]
            next_cursor = str(page[-1]["sequence"]) if page else str(after)
            has_more = start + len(page) < len(self._events)
            if self._redeliver and start:
                page = self._events[max(0, start - self._redeliver) : start] + page
                self._redeliver = 0
            return JSONResponse({"events": page, "nextCursor": next_cursor, "hasMore": has_more})

        return Route("/changes", endpoint, methods=["GET"])


# -- commands -----------------------------------------------------------------------------------


class CommandRejectedError(Exception):
    """Raised by a command handler: the command is well formed but cannot be carried out.

    Handlers check everything before they change anything, so a rejection leaves no trace.
    """

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


# A handler applies its payload and returns the accepted detail, or raises CommandRejectedError.
CommandHandler = Callable[[dict[str, Any]], str]


def require_str(payload: Mapping[str, Any], name: str) -> str:
    """A non-empty string field of a command payload (else the command is rejected)."""
    value = payload.get(name)
    if not isinstance(value, str) or not value:
        raise CommandRejectedError(f"payload.{name} must be a non-empty string")
    return value


def require_record(
    payload: Mapping[str, Any], name: str, records: Mapping[str, JsonRecord], what: str
) -> JsonRecord:
    """The record a command payload names by its id in field `name` (else the command is
    rejected: "no <what> <id>")."""
    record_id = require_str(payload, name)
    record = records.get(record_id)
    if record is None:
        raise CommandRejectedError(f"no {what} {record_id}")
    return record


def resync_command(
    feed: ChangeFeed, what: str, *records: tuple[str, str, Mapping[str, JsonRecord]]
) -> CommandHandler:
    """``record.resync``: put a record on the change feed again, unchanged. ``records`` are
    ``(event type, record type, records by id)``, looked in in turn; ``what`` names them all
    for the refusal ("no <what> <id>")."""

    def resync(payload: dict[str, Any]) -> str:
        record_id = require_str(payload, "recordId")
        for event_type, record_type, by_id in records:
            if record_id in by_id:
                feed.append(event_type, record_type, record_id, by_id[record_id])
                return f"{record_id} re-sent on the change feed"
        raise CommandRejectedError(f"no {what} {record_id}")

    return resync


def require_positive_int(payload: Mapping[str, Any], name: str) -> int:
    """A positive integer field of a command payload (booleans are not numbers here)."""
    value = payload.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise CommandRejectedError(f"payload.{name} must be a positive integer")
    return value


def wall_clock(
    anchor: datetime, clock: Callable[[], datetime] | None = None
) -> Callable[[], datetime]:
    """Now on `clock` (default: the wall clock) in whole seconds, but never before `anchor`: a
    command cannot act before the world it changes (a world anchored in the future would
    otherwise see effects before causes)."""

    def now() -> datetime:
        moment = clock() if clock is not None else datetime.now(UTC)
        return max(moment, anchor).replace(microsecond=0)

    return now


@dataclass
class _Delivered:
    """What the desk knows about one Idempotency-Key: counted on receipt, answered once."""

    command_id: str
    command_type: str
    payload: JsonRecord
    fingerprint: str
    received_at: str
    deliveries: int = 0
    applications: int = 0
    answer: JsonRecord | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def as_log_entry(self, key: str) -> JsonRecord:
        answer = self.answer or {}
        return {
            "idempotencyKey": key,
            "commandId": self.command_id,
            "type": self.command_type,
            "payload": self.payload,
            # "pending" while the first delivery is still being applied.
            "status": answer.get("status", "pending"),
            "detail": answer.get("detail"),
            "receivedAt": self.received_at,
            "deliveries": self.deliveries,
            "applications": self.applications,
        }


@dataclass
class CommandDesk:
    """`POST /commands`: validates, applies each command once per Idempotency-Key, counts both.

    A delivery is counted the moment it is received. Deliveries of one key then queue on that
    key's lock: the first applies the command, every later one (concurrent or not) replays
    the first answer, so a retry that overlaps a slow first attempt never applies it twice.
    """

    kind: str
    handlers: Mapping[str, CommandHandler]
    controls: SourceControls
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    _seen: dict[str, _Delivered] = field(default_factory=dict)

    def route(self) -> Route:
        return Route("/commands", self._endpoint, methods=["POST"])

    def log(self) -> list[JsonRecord]:
        """One entry per Idempotency-Key, in the order the keys were first received."""
        return [delivered.as_log_entry(key) for key, delivered in self._seen.items()]

    async def _endpoint(self, request: Request) -> Response:
        key = request.headers.get("idempotency-key")
        if key is None:
            raise ContractError(400, "IDEMPOTENCY_KEY_REQUIRED", "send an Idempotency-Key header")
        if not _IDEMPOTENCY_KEY.fullmatch(key):
            raise ContractError(
                400,
                "BAD_IDEMPOTENCY_KEY",
                "Idempotency-Key must be 1..255 visible ASCII characters",
            )
        body = await read_object(request)
        command_type, payload = body.get("type"), body.get("payload")
        if not isinstance(command_type, str):
            raise ContractError(400, "BAD_REQUEST", "`type` must be a string")
        if command_type not in self.handlers:
            known = ", ".join(sorted(self.handlers))
            raise ContractError(
                400, "UNKNOWN_COMMAND_TYPE", f"{self.kind} accepts these commands: {known}"
            )
        if not isinstance(payload, dict):
            raise ContractError(400, "BAD_REQUEST", "`payload` must be a JSON object")
        fingerprint = hashlib.sha256(
            json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()
        delivered = self._seen.get(key)
        if delivered is None:
            delivered = self._seen[key] = _Delivered(
                command_id=f"cmd_{self.kind}_{len(self._seen) + 1:06d}",
                command_type=command_type,
                payload=copy.deepcopy(payload),
                fingerprint=fingerprint,
                received_at=self.now().astimezone(UTC).replace(microsecond=0).isoformat(),
            )
        elif delivered.fingerprint != fingerprint:
            raise ContractError(
                422,
                "IDEMPOTENCY_KEY_REUSED",
                "this Idempotency-Key was already used with another request body",
            )
        delivered.deliveries += 1
        async with delivered.lock:
            if delivered.answer is not None:
                return JSONResponse(
                    delivered.answer, status_code=202, headers={"Idempotent-Replayed": "true"}
                )
            # A slow system is slow between receiving a command and applying it: that is
            # where a retried delivery overlaps the first one.
            if self.controls.latency:
                await asyncio.sleep(self.controls.latency)
            try:
                detail, status = self.handlers[command_type](payload), "accepted"
                delivered.applications += 1
            except CommandRejectedError as rejection:
                detail, status = rejection.detail, "rejected"
            delivered.answer = {
                "commandId": delivered.command_id,
                "type": command_type,
                "status": status,
                "detail": detail,
            }
            return JSONResponse(delivered.answer, status_code=202)


# -- the test-only switches around a system -------------------------------------------------------

_FAILURE_CODES = {
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    502: "BAD_GATEWAY",
    503: "UNAVAILABLE",
    504: "GATEWAY_TIMEOUT",
}
MAX_LATENCY = 30.0
MAX_OUTAGE = 3600.0


@dataclass
class SourceControls:
    """Request counts, the outage, latency and fail-next switches, and the optional token."""

    kind: str
    token: str | None
    contract_routes: frozenset[str] = frozenset()
    down: bool = False
    latency: float = 0.0
    fail_next: int = 0
    fail_status: int = 503
    requests: Counter[str] = field(default_factory=Counter)
    recovery: asyncio.TimerHandle | None = None

    def recover(self) -> None:
        """The end of an outage window: the system answers again."""
        self.down = False
        self.recovery = None

    def stats(self) -> JsonRecord:
        """Counts per contract route; `/health` is listed but left out of the total."""
        total = sum(n for route, n in self.requests.items() if route != "GET /health")
        return {"requests": dict(sorted(self.requests.items())), "total": total}

    def injected_failure(self) -> Response | None:
        """The answer for a request the fail-next switch swallows, or None to serve it."""
        if self.fail_next < 1:
            return None
        self.fail_next -= 1
        status = self.fail_status
        code = _FAILURE_CODES.get(status, "INJECTED_FAILURE")
        retry = {"Retry-After": "1"} if status in {429, 503} else None
        return error_response(status, code, f"{self.kind} failed this request on purpose", retry)


class SourceGuard:
    """ASGI middleware: counts contract requests, plays dead or slow, checks the token.

    Paths under `/_` are the test switches: never counted, never down, never authenticated.
    The latency switch delays every contract route here except `POST /commands`, which the
    command desk delays itself, between receipt and effect.
    """

    def __init__(self, app: ASGIApp, controls: SourceControls) -> None:
        self.app = app
        self.controls = controls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_"):
            await self.app(scope, receive, send)
            return
        controls = self.controls
        route = f"{scope['method']} {scope['path']}"
        contract = route in controls.contract_routes
        if contract:
            controls.requests[route] += 1
        response: Response | None = None
        if controls.down:
            response = error_response(
                503, "UNAVAILABLE", f"{controls.kind} is down", {"Retry-After": "1"}
            )
        elif contract and (failure := controls.injected_failure()) is not None:
            response = failure
        elif controls.token is not None and not self._authorised(scope, controls.token):
            response = error_response(
                401,
                "UNAUTHORIZED",
                "send Authorization: Bearer <token>",
                {"WWW-Authenticate": "Bearer"},
            )
        if response is not None:
            await response(scope, receive, send)
            return
        if contract and controls.latency and route != "POST /commands":
            await asyncio.sleep(controls.latency)
        await self.app(scope, receive, send)

    @staticmethod
    def _authorised(scope: Scope, token: str) -> bool:
        for name, value in scope["headers"]:
            if name == b"authorization":
                return hmac.compare_digest(value, f"Bearer {token}".encode())
        return False


def _control_routes(controls: SourceControls, desk: CommandDesk) -> list[Route]:
    async def stats(request: Request) -> Response:
        return JSONResponse(controls.stats())

    async def reset(request: Request) -> Response:
        controls.requests.clear()
        return JSONResponse(controls.stats())

    async def outage(request: Request) -> Response:
        body = await read_object(request)
        down, seconds = body.get("down"), body.get("seconds")
        if not isinstance(down, bool):
            raise ContractError(400, "BAD_REQUEST", "`down` must be true or false")
        if seconds is not None and (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not 0 < seconds <= MAX_OUTAGE
            or not down
        ):
            raise ContractError(
                400,
                "BAD_REQUEST",
                f"`seconds` (an outage window) must be a number from 0 to {MAX_OUTAGE:g}"
                " with `down` true",
            )
        if controls.recovery is not None:
            controls.recovery.cancel()
            controls.recovery = None
        controls.down = down
        if seconds is not None:
            # an outage by window: the system comes back on its own after `seconds`
            controls.recovery = asyncio.get_running_loop().call_later(
                float(seconds), controls.recover
            )
        return JSONResponse(
            {"down": down} if seconds is None else {"down": down, "seconds": seconds}
        )

    async def latency(request: Request) -> Response:
        seconds = (await read_object(request)).get("seconds")
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not 0 <= seconds <= MAX_LATENCY
        ):
            raise ContractError(
                400, "BAD_REQUEST", f"`seconds` must be a number from 0 to {MAX_LATENCY:g}"
            )
        controls.latency = float(seconds)
        return JSONResponse({"seconds": controls.latency})

    async def fail_next(request: Request) -> Response:
        body = await read_object(request)
        count, status = body.get("count"), body.get("status", 503)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ContractError(400, "BAD_REQUEST", "`count` must be a non-negative integer")
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise ContractError(400, "BAD_REQUEST", "`status` must be an HTTP status 400..599")
        controls.fail_next, controls.fail_status = count, status
        return JSONResponse({"count": count, "status": status})

    async def commands(request: Request) -> Response:
        return JSONResponse({"data": desk.log()})

    return [
        Route("/_stats", stats, methods=["GET"]),
        Route("/_stats/reset", reset, methods=["POST"]),
        Route("/_control/outage", outage, methods=["POST"]),
        Route("/_control/latency", latency, methods=["POST"]),
        Route("/_control/fail-next", fail_next, methods=["POST"]),
        Route("/_commands", commands, methods=["GET"]),
    ]


async def _contract_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ContractError)
    return error_response(exc.status, exc.code, exc.message)


_HTTP_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "HTTP_ERROR")
    return error_response(exc.status_code, code, str(exc.detail), exc.headers)


def source_app(
    kind: str,
    routes: Sequence[Route],
    *,
    feed: ChangeFeed,
    commands: Mapping[str, CommandHandler],
    token: str | None,
    switches: Sequence[Route] = (),
) -> Starlette:
    """Assemble one system: its collection routes plus health, changes, commands and switches
    (`switches` adds a system's own, under `/_control`)."""

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "kind": kind, "name": kind})

    controls = SourceControls(kind=kind, token=token)
    desk = CommandDesk(kind, commands, controls, now=feed.now)
    contract = [Route("/health", health, methods=["GET"]), *routes, feed.route(), desk.route()]
    controls.contract_routes = frozenset(
        f"{method} {route.path}"
        for route in contract
        for method in route.methods or ()
        if method != "HEAD"
    )
    app = Starlette(
        routes=[*contract, *_control_routes(controls, desk), *switches],
        middleware=[Middleware(SourceGuard, controls=controls)],
        exception_handlers={ContractError: _contract_error, HTTPException: _http_error},
    )
    app.state.controls = controls
    app.state.commands = desk
    app.state.feed = feed
    return app


@dataclass(frozen=True)
class SourceSystem:
    """One demo system while its app is assembled: its kind, its time (never before the world's
    anchor, see `wall_clock`) and its change feed."""

    kind: str
    now: Callable[[], datetime]
    feed: ChangeFeed


@dataclass(frozen=True)
class SourceParts:
    """What one system serves beyond what every system shares: its collection routes, the
    commands it understands, its own switches under `/_control`, and what it keeps on
    `app.state` for tests."""

    routes: Sequence[Route]
    commands: Mapping[str, CommandHandler]
    switches: Sequence[Route] = ()
    state: Mapping[str, object] = field(default_factory=dict)


class SourceAppFactory:
    """`factory(world, token=..., clock=...)`: one demo system's app over its own copy of the
    world's records. `build` says what the system serves (see `SourceParts`); `clock` is its time
    (default: the wall clock), and a `token` makes every contract route ask for it."""

    def __init__(self, kind: str, build: Callable[[DemoWorld, SourceSystem], SourceParts]) -> None:
        self.kind = kind
        self._build = build
        self.__doc__ = build.__doc__

    def __call__(
        self,
        world: DemoWorld,
        *,
        token: str | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> Starlette:
        now = wall_clock(world.anchor, clock)
        system = SourceSystem(self.kind, now, ChangeFeed(self.kind, world.events[self.kind], now))
        parts = self._build(world, system)
        app = source_app(
            self.kind,
            parts.routes,
            feed=system.feed,
            commands=parts.commands,
            token=token,
            switches=parts.switches,
        )
        for name, value in parts.state.items():
            setattr(app.state, name, value)
        return app
