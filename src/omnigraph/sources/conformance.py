"""Does a source system speak the source contract? The checks behind `omnigraph check-source`.

A retailer connects its ERP or WMS by writing a shim that speaks the contract
(docs/sources/README.md). These checks tell its author whether it does, and what to fix where it
does not:

- the schema checks run schemathesis (the optional extra ``omnigraph[conformance]``) against the
  shim with the kind's OpenAPI file: generated valid and invalid requests per operation, each
  answer checked against the documented status codes and schemas (:func:`schema_checks`);
- the semantic checks test the conventions a schema cannot state: batch get and ``missing``,
  stable list cursors, change feed order and ``hasMore``, the error shape, authentication, and,
  only when asked, the ``Idempotency-Key`` rules of ``POST /commands`` (:data:`CHECKS`).

Every check returns a :class:`CheckResult`: its name, its outcome and, when it failed, one
sentence saying what to fix. Only checks marked ``sends_commands`` (and the schema cases of
``POST /commands``) change anything, and they run only with ``commands=True``; the command they
send is ``record.resync`` (every kind has it: a record is put on the feed again, unchanged).

Plain httpx; nothing here imports the graph, the API or a domain room.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import EllipsisType
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from schemathesis import Case

__all__ = [
    "CHECKS",
    "KINDS",
    "Check",
    "CheckResult",
    "Collection",
    "Kind",
    "Outcome",
    "SchemathesisMissing",
    "Shim",
    "openapi_path",
    "run_checks",
    "schema_checks",
    "semantic_checks",
]

JsonObject = dict[str, Any]

MAX_IDS = 500  # the contract's ceiling for batch get and by-order-ref
FEED_PAGE = 500  # the change feed's largest page
MAX_FEED_PAGES = 40  # read at most this many feed pages (20,000 events) from the beginning
LIST_PAGE = 500
MAX_LIST_PAGES = 40
SAMPLES = 5  # records kept per collection to ask for by id

_PACKAGED = Path(__file__).resolve().parent / "openapi"
_REPOSITORY = Path(__file__).resolve().parents[3] / "docs" / "sources"


def openapi_path(kind: str) -> Path:
    """The OpenAPI file of `kind`: the copy a wheel carries, else the repository's docs/sources
    (an editable install or a checkout, where the wheel's force-include has not run)."""
    if kind not in KINDS:
        raise ValueError(f"unknown source kind {kind!r}; expected one of {', '.join(KINDS)}")
    for folder in (_PACKAGED, _REPOSITORY):
        candidate = folder / f"{kind}.yaml"
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"{kind}.yaml is neither in {_PACKAGED} (a built wheel) nor in {_REPOSITORY} (a checkout)"
    )


# -- what each kind serves ----------------------------------------------------------------------


@dataclass(frozen=True)
class Collection:
    """One collection of a kind, as far as the checks need to know it."""

    path: str  # `/{path}/batch`, `/{path}/by-order-ref`, `GET /{path}`
    feed_type: str | None = None  # its events' `recordType` on the change feed
    batch: bool = True
    by_order_ref: bool = False
    listed: bool = False
    id_field: str = "id"
    order_ref: tuple[str, ...] = ("orderRef",)  # where a record carries the order it is for
    # (parent collection, list field, id field): ids read from the parent's records
    nested_in: tuple[str, str, str] | None = None


@dataclass(frozen=True)
class Kind:
    name: str
    collections: tuple[Collection, ...]
    resync: tuple[str, ...]  # collections whose ids `record.resync` takes, first choice first

    def collection(self, path: str) -> Collection:
        return next(c for c in self.collections if c.path == path)

    def serving(self, route: str) -> list[Collection]:
        """The collections with a `route` ("by-order-ref" or "list"); where none has it, the
        check of that route is skipped."""
        serves = _ROUTES[route]
        found = [c for c in self.collections if serves(c)]
        if not found:
            raise Skipped(f"the {self.name} kind has no {route} route")
        return found


_ROUTES: Mapping[str, Callable[[Collection], bool]] = {
    "by-order-ref": lambda collection: collection.by_order_ref,
    "list": lambda collection: collection.listed,
}


KINDS: Mapping[str, Kind] = {
    "storefront": Kind(
        "storefront", (Collection("orders", feed_type="order", listed=True),), resync=("orders",)
    ),
    "erp": Kind(
        "erp",
        (
            Collection("sales-orders", feed_type="sales_order", by_order_ref=True),
            Collection(
                "items",
                feed_type="item",
                id_field="sku",
                nested_in=("sales-orders", "lines", "sku"),
            ),
        ),
        resync=("sales-orders", "items"),
    ),
    "wms": Kind(
        "wms",
        (
            Collection("fulfilment-orders", feed_type="fulfilment_order", by_order_ref=True),
            Collection("locations", batch=False, listed=True),
        ),
        resync=("fulfilment-orders",),
    ),
    "payments": Kind(
        "payments",
        (
            Collection(
                "charges",
                feed_type="charge",
                by_order_ref=True,
                order_ref=("metadata", "order_ref"),
            ),
            Collection("refunds", nested_in=("charges", "refunds", "id")),
            Collection("disputes", nested_in=("charges", "disputes", "id")),
            Collection("payouts", feed_type="payout", listed=True),
        ),
        resync=("charges", "payouts"),
    ),
}


# -- results ------------------------------------------------------------------------------------


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "FAIL"
    SKIP = "skip"


@dataclass(frozen=True)
class CheckResult:
    """One row of the report. `fix` says what to change when it failed, why when it was skipped."""

    name: str
    outcome: Outcome
    fix: str = ""

    @property
    def passed(self) -> bool:
        """Nothing wrong was found (a skipped check did not fail)."""
        return self.outcome is not Outcome.FAIL


class Broken(Exception):
    """Raised inside a check: the shim broke a rule; the message says what to fix."""


class Skipped(Exception):
    """Raised inside a check that does not apply to the shim; the message says why."""


class SchemathesisMissing(RuntimeError):
    """The schema checks need the optional extra `omnigraph[conformance]`."""


# -- the system under test ----------------------------------------------------------------------


@dataclass
class FeedPage:
    after: str | None
    events: list[JsonObject]
    next_cursor: object
    has_more: object


@dataclass
class FeedWalk:
    """The change feed read from the beginning, page after page (at most MAX_FEED_PAGES)."""

    pages: list[FeedPage] = field(default_factory=list)
    problem: str | None = None  # why the walk stopped before the end, if an answer was wrong

    @property
    def events(self) -> Iterator[JsonObject]:
        for page in self.pages:
            yield from page.events


class Shim:
    """The system under test: its URL, kind and token, one HTTP client, and what it serves.

    What it serves (sample records, the change feed from the beginning) is read once, when a
    check first needs it, and shared by the checks.
    """

    def __init__(
        self,
        url: str,
        kind: str,
        token: str | None = None,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown source kind {kind!r}; expected one of {', '.join(KINDS)}")
        self.url = url.rstrip("/")
        self.kind = KINDS[kind]
        self.token = token
        self.timeout = timeout
        self.client = httpx.Client(base_url=self.url, timeout=timeout, transport=transport)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Shim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        bearer: str | EllipsisType | None = ...,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """One request; `bearer` is the configured token unless given (None: no header)."""
        token = self.token if bearer is ... else bearer
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        try:
            return self.client.request(method, path, headers=sent, **kwargs)
        except httpx.HTTPError as error:
            raise Broken(
                f"{method} {path} got no answer ({type(error).__name__}: {error})"
            ) from None

    def get_json(self, path: str, **kwargs: Any) -> JsonObject:
        return expect_json(self.request("GET", path, **kwargs), "GET", path)

    def post_json(self, path: str, body: object, **kwargs: Any) -> JsonObject:
        return expect_json(self.request("POST", path, json=body, **kwargs), "POST", path)

    @functools.cached_property
    def feed(self) -> FeedWalk:
        """The change feed from the beginning (`after` omitted), following `nextCursor`."""
        walk = FeedWalk()
        after: str | None = None
        for _ in range(MAX_FEED_PAGES):
            params: dict[str, str | int] = {"limit": FEED_PAGE}
            if after is not None:
                params["after"] = after
            try:
                body = self.get_json("/changes", params=params)
                page = feed_page(body, after)
            except Broken as broken:
                walk.problem = str(broken)
                break
            walk.pages.append(page)
            if page.has_more is not True or not page.events:
                break
            if not isinstance(page.next_cursor, str):
                walk.problem = "GET /changes gave no `nextCursor` string to continue from"
                break
            after = page.next_cursor
        return walk

    @functools.cached_property
    def samples(self) -> dict[str, list[JsonObject]]:
        """A few records per collection: first pages of lists, the latest snapshots on the feed,
        and ids found inside those records (a charge's refunds, a sales order line's SKU)."""
        found: dict[str, dict[str, JsonObject]] = {c.path: {} for c in self.kind.collections}

        def seen(collection: Collection, record: JsonObject, *, replace: bool = False) -> None:
            keep(found[collection.path], record, collection.id_field, replace=replace)
            for inner in self.kind.collections:
                if inner.nested_in is None or inner.nested_in[0] != collection.path:
                    continue
                _, field_name, id_field = inner.nested_in
                for item in records_of(record.get(field_name)):
                    keep(found[inner.path], {inner.id_field: item.get(id_field)}, inner.id_field)

        for collection in self.kind.collections:
            if collection.listed:
                try:
                    body = self.get_json(f"/{collection.path}", params={"limit": SAMPLES})
                except Broken:
                    continue
                for record in records_of(body.get("data")):
                    seen(collection, record)
        by_type = {c.feed_type: c for c in self.kind.collections if c.feed_type}
        for event in self.feed.events:
            record_type, data = event.get("recordType"), event.get("data")
            owner = by_type.get(record_type) if isinstance(record_type, str) else None
            if owner is not None and isinstance(data, dict):
                seen(owner, data, replace=True)
        return {path: list(records.values()) for path, records in found.items()}

    def sample_ids(self, collection: Collection) -> list[str]:
        return [r[collection.id_field] for r in self.samples[collection.path]]


def keep(
    found: dict[str, JsonObject], record: JsonObject, id_field: str, *, replace: bool = False
) -> None:
    """Keep `record` under its id: at most SAMPLES ids, a later snapshot replacing an earlier."""
    record_id = record.get(id_field)
    if not isinstance(record_id, str):
        return
    if (replace and record_id in found) or (record_id not in found and len(found) < SAMPLES):
        found[record_id] = record


def records_of(value: object) -> list[JsonObject]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def dig(record: JsonObject, path: Sequence[str]) -> object:
    value: object = record
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def feed_page(body: JsonObject, after: str | None) -> FeedPage:
    events, next_cursor, has_more = body.get("events"), body.get("nextCursor"), body.get("hasMore")
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise Broken('GET /changes must answer {"events": [event..], "nextCursor", "hasMore"}')
    if not isinstance(has_more, bool):
        raise Broken(f"GET /changes must give `hasMore` as true or false (got {has_more!r})")
    return FeedPage(after, events, next_cursor, has_more)


def at(page: FeedPage) -> str:
    return "on the first page" if page.after is None else f"after cursor {page.after!r}"


def brief(response: httpx.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return text if len(text) <= 160 else text[:157] + "..."


def expect_json(response: httpx.Response, method: str, path: str, status: int = 200) -> JsonObject:
    """The JSON object of a `status` answer, or Broken saying what came instead."""
    if response.status_code != status:
        raise Broken(
            f"{method} {path} must answer {status}; it answered {response.status_code}: "
            f"{brief(response)}"
        )
    try:
        body = response.json()
    except ValueError:
        raise Broken(f"{method} {path} must answer JSON; it sent: {brief(response)}") from None
    if not isinstance(body, dict):
        raise Broken(f"{method} {path} must answer a JSON object; it sent: {brief(response)}")
    return body


def expect_error(
    response: httpx.Response, what: str, statuses: range = range(400, 500)
) -> JsonObject:
    """The error object of a refusal in `statuses` shaped `{"error": {"code", "message"}}`."""
    if response.status_code not in statuses:
        wanted = str(statuses[0]) if len(statuses) == 1 else f"{statuses[0]}..{statuses[-1]}"
        raise Broken(f"{what} must be answered {wanted}; it was {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if (
        not isinstance(error, dict)
        or not isinstance(error.get("code"), str)
        or not isinstance(error.get("message"), str)
    ):
        raise Broken(
            f'{what} must be answered with {{"error": {{"code": "STABLE_CODE", "message": '
            f'".."}}}}; the {response.status_code} answer was: {brief(response)}'
        )
    return error


def made_up(what: str = "id") -> str:
    """An id no system holds (checks that refuse or report it need one)."""
    return f"conformance-unknown-{what}-{uuid.uuid4().hex[:12]}"


# -- the semantic checks ------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    name: str
    rule: str  # what the contract asks, in one sentence (docs/sources/README.md says more)
    # raises Broken; returns (or raises Skipped saying) why it was skipped, or None
    run: Callable[[Shim], str | None]
    sends_commands: bool = False

    def __call__(self, shim: Shim) -> CheckResult:
        try:
            skipped = self.run(shim)
        except Broken as broken:
            return CheckResult(self.name, Outcome.FAIL, str(broken))
        except Skipped as why:
            skipped = str(why)
        if skipped is not None:
            return CheckResult(self.name, Outcome.SKIP, skipped)
        return CheckResult(self.name, Outcome.PASS)


CHECKS: list[Check] = []


def check(
    name: str, rule: str, *, sends_commands: bool = False
) -> Callable[[Callable[[Shim], str | None]], Check]:
    def register(run: Callable[[Shim], str | None]) -> Check:
        made = Check(name, rule, run, sends_commands)
        CHECKS.append(made)
        return made

    return register


@check("health", 'GET /health answers 200 {"status": "ok", "kind": <the kind>}.')
def check_health(shim: Shim) -> None:
    body = shim.get_json("/health")
    kind = shim.kind.name
    if body.get("status") != "ok" or body.get("kind") != kind:
        raise Broken(
            f'GET /health must answer {{"status": "ok", "kind": "{kind}", "name": ..}}; '
            f"it answered {json.dumps(body)[:160]}"
        )


@check("auth", "With a token configured, a wrong or missing bearer token is answered 401.")
def check_auth(shim: Shim) -> str | None:
    if shim.token is None:
        return "no token given (--token-env): nothing to refuse"
    wrong = shim.request("GET", "/changes", params={"limit": 1}, bearer=shim.token + "-wrong")
    expect_error(wrong, "GET /changes with a wrong bearer token", range(401, 402))
    missing = shim.request("GET", "/changes", params={"limit": 1}, bearer=None)
    expect_error(missing, "GET /changes without an Authorization header", range(401, 402))
    return None


@check(
    "batch-missing",
    'POST /{collection}/batch {"ids"} answers {"data": [record..], "missing": [id..]}: known '
    "ids in `data`, unknown ones listed in `missing`.",
)
def check_batch_missing(shim: Shim) -> None:
    for collection in shim.kind.collections:
        if not collection.batch:
            continue
        path = f"/{collection.path}/batch"
        known, unknown = shim.sample_ids(collection)[:3], made_up()
        body = shim.post_json(path, {"ids": [*known, unknown]})
        data, missing = body.get("data"), body.get("missing")
        if not isinstance(data, list) or not isinstance(missing, list):
            raise Broken(f'POST {path} must answer {{"data": [..], "missing": [..]}}')
        if unknown not in missing:
            raise Broken(
                f"POST {path} must list an id it does not hold in `missing` "
                f"(asked for {unknown!r}, got missing={json.dumps(missing)[:120]})"
            )
        served = {r.get(collection.id_field) for r in records_of(data)}
        absent = [record_id for record_id in known if record_id not in served]
        if absent or unknown in served or set(missing) & set(known):
            raise Broken(
                f"POST {path} must return every id it holds in `data` and only unknown ones in "
                f"`missing` (asked for {[*known, unknown]}, {absent or 'none'} absent from data)"
            )


@check(
    "batch-limit",
    "Batch get and by-order-ref refuse more than 500 ids with a 4xx JSON error.",
)
def check_batch_limit(shim: Shim) -> None:
    too_many = [made_up() for _ in range(MAX_IDS + 1)]
    for collection in shim.kind.collections:
        routes = [("batch", "ids")] if collection.batch else []
        if collection.by_order_ref:
            routes.append(("by-order-ref", "orderRefs"))
        for route, name in routes:
            path = f"/{collection.path}/{route}"
            response = shim.request("POST", path, json={name: too_many})
            expect_error(response, f"POST {path} with {MAX_IDS + 1} {name}")


@check(
    "by-order-ref",
    'POST /{collection}/by-order-ref {"orderRefs"} answers {"data"}: the records of those orders '
    "and no others, each carrying its order ref; an unknown ref matches nothing.",
)
def check_by_order_ref(shim: Shim) -> str | None:
    for collection in shim.kind.serving("by-order-ref"):
        path = f"/{collection.path}/by-order-ref"
        field_name = ".".join(collection.order_ref)
        known = next(
            (
                (record[collection.id_field], ref)
                for record in shim.samples[collection.path]
                if isinstance(ref := dig(record, collection.order_ref), str)
            ),
            None,
        )
        unknown = made_up("order")
        asked = [known[1], unknown] if known else [unknown]
        data = shim.post_json(path, {"orderRefs": asked}).get("data")
        if not isinstance(data, list):
            raise Broken(f'POST {path} must answer {{"data": [record..]}}')
        for record in records_of(data):
            if dig(record, collection.order_ref) not in asked:
                raise Broken(
                    f"POST {path} must answer only records carrying an asked `{field_name}` "
                    f"(asked {asked}, got {record.get(collection.id_field)!r} with "
                    f"{field_name}={dig(record, collection.order_ref)!r})"
                )
        if known and known[0] not in {r.get(collection.id_field) for r in records_of(data)}:
            raise Broken(
                f"POST {path} must answer every record of an asked order ({known[0]!r} carries "
                f"{field_name}={known[1]!r} but was not in the answer)"
            )
        if known:
            alone = shim.post_json(path, {"orderRefs": [unknown]}).get("data")
            if alone != []:
                raise Broken(
                    f'POST {path} must answer {{"data": []}} for an order ref it does not know'
                )
    return None


@check(
    "list-pages",
    "GET /{collection}?limit&cursor pages are stable: the same cursor twice gives the same page, "
    "and the page after a cursor repeats nothing of the page before.",
)
def check_list_pages(shim: Shim) -> str | None:
    listed = shim.kind.serving("list")
    short = []
    for collection in listed:
        path = f"/{collection.path}"
        first = shim.get_json(path, params={"limit": 1})
        cursor = first.get("nextCursor")
        if cursor is None:
            short.append(path)
            continue
        if not isinstance(cursor, str):
            raise Broken(f"GET {path} must give `nextCursor` as a string or null (got {cursor!r})")
        params = {"limit": 1, "cursor": cursor}
        again = [shim.get_json(path, params=params) for _ in range(2)]
        if again[0] != again[1]:
            raise Broken(
                f"GET {path} must give the same page for the same cursor (asked twice with "
                f"cursor={cursor!r}: the records or nextCursor differed); page by a stable order"
            )
        before = {r.get(collection.id_field) for r in records_of(first.get("data"))}
        repeated = before & {r.get(collection.id_field) for r in records_of(again[0].get("data"))}
        if repeated:
            raise Broken(
                f"GET {path} with the first page's nextCursor must continue after it; it repeated "
                f"{sorted(map(str, repeated))}"
            )
    if short and len(short) == len(listed):
        return f"{', '.join(short)} held at most one record: no second page to compare"
    return None


@check(
    "list-end",
    "Following nextCursor through a list ends with a page whose nextCursor is null.",
)
def check_list_end(shim: Shim) -> str | None:
    for collection in shim.kind.serving("list"):
        path, cursor, seen = f"/{collection.path}", None, set()
        for _ in range(MAX_LIST_PAGES):
            params: dict[str, str | int] = {"limit": LIST_PAGE}
            if cursor is not None:
                params["cursor"] = cursor
            body = shim.get_json(path, params=params)
            following = body.get("nextCursor")
            if following is None:
                break
            if not records_of(body.get("data")) or following in seen:
                raise Broken(
                    f"GET {path} must give nextCursor null on the last page (the page after "
                    f"cursor {cursor!r} held {len(records_of(body.get('data')))} records and "
                    f"still gave nextCursor {following!r})"
                )
            if not isinstance(following, str):
                raise Broken(f"GET {path} must give `nextCursor` as a string or null")
            seen.add(following)
            cursor = following
        else:
            return f"{path} holds more than {MAX_LIST_PAGES * LIST_PAGE} records: end not reached"
    return None


@check(
    "changes-order",
    "GET /changes gives events in increasing `sequence` order, and a page read after a cursor "
    "holds only events after it (events seen before may come again).",
)
def check_changes_order(shim: Shim) -> None:
    walk = shim.feed
    if walk.problem and not walk.pages:
        raise Broken(walk.problem)
    seen: set[object] = set()
    highest: int | None = None
    for page in walk.pages:
        sequences = [event.get("sequence") for event in page.events]
        ints = [s for s in sequences if isinstance(s, int) and not isinstance(s, bool)]
        if len(ints) != len(sequences):
            raise Broken("every change feed event must carry an integer `sequence`")
        for earlier, later in itertools.pairwise(ints):
            if later <= earlier:
                raise Broken(
                    f"GET /changes must give events in increasing sequence order ({at(page)}: "
                    f"sequence {later} came after {earlier})"
                )
        for event, sequence in zip(page.events, ints, strict=True):
            if event.get("id") not in seen and highest is not None and sequence <= highest:
                raise Broken(
                    f"GET /changes after cursor {page.after!r} must give only events after it "
                    f"(new event {event.get('id')!r} has sequence {sequence}, not above {highest})"
                )
        seen.update(event.get("id") for event in page.events)
        if ints:
            highest = max(ints) if highest is None else max(highest, *ints)


@check(
    "changes-end",
    "The change feed's last page says hasMore false, and reading after its nextCursor gives no "
    "events.",
)
def check_changes_end(shim: Shim) -> str | None:
    walk = shim.feed
    if walk.problem:
        raise Broken(walk.problem)
    last = walk.pages[-1]
    if last.has_more:
        if last.events:
            return f"the feed holds more than {MAX_FEED_PAGES * FEED_PAGE} events: end not reached"
        raise Broken(
            f"GET /changes must say hasMore false on its last page (the page {at(last)} held no "
            "events and said hasMore true)"
        )
    if len(walk.pages) > 1 and not last.events:
        raise Broken(
            f"GET /changes must say hasMore false on its last page (the page before cursor "
            f"{last.after!r} said hasMore true, yet nothing came after it)"
        )
    if not isinstance(last.next_cursor, str):
        raise Broken("GET /changes must give a `nextCursor` string on every page, the last too")
    body = shim.get_json("/changes", params={"after": last.next_cursor, "limit": FEED_PAGE})
    after = feed_page(body, last.next_cursor)
    if after.events or after.has_more:
        raise Broken(
            f"GET /changes after the last page's nextCursor {last.next_cursor!r} must give no "
            f"events and hasMore false (got {len(after.events)} events, hasMore {after.has_more})"
        )
    return None


@check(
    "changes-start",
    "GET /changes without `after` reads from the beginning of the feed.",
)
def check_changes_start(shim: Shim) -> None:
    pages = [feed_page(shim.get_json("/changes", params={"limit": 1}), None) for _ in range(2)]
    firsts = [page.events[0].get("id") if page.events else None for page in pages]
    if firsts[0] != firsts[1]:
        raise Broken(
            "GET /changes without `after` must start at the beginning of the feed every time "
            f"(two reads started at {firsts[0]!r} and {firsts[1]!r})"
        )
    if pages[0].events:
        return
    for collection in shim.kind.collections:
        if collection.feed_type and collection.listed and shim.samples[collection.path]:
            raise Broken(
                "GET /changes without `after` must start at the beginning of the feed: it gave no "
                f"events, yet GET /{collection.path} serves records (their changes are "
                f"`{collection.feed_type}` events)"
            )


@check(
    "errors",
    'Errors are JSON {"error": {"code", "message"}}: an unknown route is 404, a malformed request '
    "4xx.",
)
def check_errors(shim: Shim) -> None:
    route = f"/conformance-no-such-route-{uuid.uuid4().hex[:8]}"
    expect_error(shim.request("GET", route), f"GET {route} (no such route)", range(404, 405))
    batch = next(c for c in shim.kind.collections if c.batch)
    path = f"/{batch.path}/batch"
    malformed = shim.request(
        "POST", path, content=b'{"ids": [', headers={"Content-Type": "application/json"}
    )
    expect_error(malformed, f"POST {path} with a body that is not JSON")
    limit = shim.request("GET", "/changes", params={"limit": 0})
    expect_error(limit, "GET /changes?limit=0")


def resync(record_id: str) -> JsonObject:
    return {"type": "record.resync", "payload": {"recordId": record_id}}


def resync_target(shim: Shim) -> str:
    """A record of the shim's own for `record.resync` (a made-up one if none was found: it is
    then rejected, which exercises the same rules)."""
    for path in shim.kind.resync:
        ids = shim.sample_ids(shim.kind.collection(path))
        if ids:
            return ids[0]
    return made_up()


# The contract's Idempotency-Key: 1..255 visible ASCII characters (docs/sources/*.yaml)
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")


def fresh_key() -> str:
    return f"omnigraph-conformance-{uuid.uuid4()}"


def expect_answer(response: httpx.Response, what: str) -> JsonObject:
    body = expect_json(response, "POST", "/commands", status=202)
    if body.get("status") not in {"accepted", "rejected"} or not isinstance(
        body.get("commandId"), str
    ):
        raise Broken(
            f'{what} must be answered 202 {{"commandId", "type", "status": "accepted" or '
            f'"rejected", "detail"}}; got {json.dumps(body)[:160]}'
        )
    return body


@check(
    "command-replay",
    "A command sent twice with the same Idempotency-Key and body is applied once: the second "
    "answer is the first one again, with the header Idempotent-Replayed: true.",
    sends_commands=True,
)
def check_command_replay(shim: Shim) -> None:
    key, body = fresh_key(), resync(resync_target(shim))
    first = shim.request("POST", "/commands", json=body, headers={"Idempotency-Key": key})
    answer = expect_answer(first, "POST /commands (record.resync)")
    if first.headers.get("Idempotent-Replayed") == "true":
        raise Broken("POST /commands must not say Idempotent-Replayed on a key's first delivery")
    second = shim.request("POST", "/commands", json=body, headers={"Idempotency-Key": key})
    replayed = expect_answer(second, "POST /commands sent again with the same key")
    if replayed != answer:
        raise Broken(
            "POST /commands sent again with the same Idempotency-Key and body must replay the "
            f"first answer (first {answer.get('commandId')!r}, then {replayed.get('commandId')!r})"
        )
    if second.headers.get("Idempotent-Replayed") != "true":
        raise Broken(
            "POST /commands must mark a replayed answer with the header Idempotent-Replayed: true"
        )


@check(
    "command-key-reuse",
    "The same Idempotency-Key with another body is refused 422 IDEMPOTENCY_KEY_REUSED.",
    sends_commands=True,
)
def check_command_key_reuse(shim: Shim) -> None:
    key = fresh_key()
    first = shim.request(
        "POST", "/commands", json=resync(resync_target(shim)), headers={"Idempotency-Key": key}
    )
    expect_answer(first, "POST /commands (record.resync)")
    other = shim.request(
        "POST", "/commands", json=resync(made_up()), headers={"Idempotency-Key": key}
    )
    error = expect_error(
        other, "POST /commands reusing an Idempotency-Key with another body", range(422, 423)
    )
    if error["code"] != "IDEMPOTENCY_KEY_REUSED":
        raise Broken(
            "POST /commands reusing an Idempotency-Key with another body must be refused with "
            f"the code IDEMPOTENCY_KEY_REUSED (got {error['code']!r})"
        )


@check(
    "command-key-required",
    "POST /commands without an Idempotency-Key is refused with a 4xx JSON error.",
    sends_commands=True,
)
def check_command_key_required(shim: Shim) -> None:
    response = shim.request("POST", "/commands", json=resync(resync_target(shim)))
    expect_error(response, "POST /commands without an Idempotency-Key header")


def semantic_checks(shim: Shim, *, commands: bool = False) -> list[CheckResult]:
    """Every semantic check in order; those that send commands are skipped unless `commands`."""
    return [
        chk(shim)
        if commands or not chk.sends_commands
        else CheckResult(chk.name, Outcome.SKIP, "sends a command: run with --commands")
        for chk in CHECKS
    ]


# -- schemathesis -------------------------------------------------------------------------------


def handed_out(shim: Shim) -> dict[str, dict[str, str]]:
    """Query values only the shim can hand out (opaque cursors), per path: a generated cursor is
    rightly refused, so valid cases carry real ones."""
    values: dict[str, dict[str, str]] = {}
    reads: list[tuple[str, str, str]] = [("/changes", "after", "nextCursor")]
    reads += [(f"/{c.path}", "cursor", "nextCursor") for c in shim.kind.collections if c.listed]
    for path, name, key in reads:
        try:
            value = shim.get_json(path, params={"limit": 1}).get(key)
        except Broken:
            continue
        if isinstance(value, str):
            values[path] = {name: value}
    if shim.kind.name == "payments":
        try:
            data = records_of(
                shim.get_json("/balance-transactions", params={"limit": 1}).get("data")
            )
        except Broken:
            data = []
        if data and isinstance(data[0].get("id"), str):
            values["/balance-transactions"] = {"starting_after": data[0]["id"]}
    return values


_HANDED_OUT_PARAMS = ("cursor", "after", "starting_after")


def schema_checks(
    shim: Shim,
    *,
    commands: bool = False,
    max_examples: int = 10,
    max_seconds: float = 120.0,
) -> list[CheckResult]:
    """schemathesis against the shim with its kind's OpenAPI file: one result per operation.

    Valid and invalid requests are generated (at most `max_examples` of each per operation,
    repeatable from run to run); every answer must be documented and match its schema, valid
    requests must be accepted and invalid ones refused with 4xx. `POST /commands` is left out
    unless `commands`. Operations not reached within `max_seconds` are skipped.
    """
    try:
        import schemathesis
        from hypothesis import HealthCheck, Phase, Verbosity, given, settings
        from schemathesis.core.failures import FailureGroup
        from schemathesis.core.result import Ok
    except ImportError as error:
        raise SchemathesisMissing(
            "the schema checks need schemathesis: pip install 'omnigraph[conformance]' "
            "(or run with --no-schema for the semantic checks alone)"
        ) from error

    auth = {"auth": {"openapi": {"bearerAuth": {"bearer": shim.token}}}} if shim.token else {}
    schema = schemathesis.openapi.from_path(
        openapi_path(shim.kind.name), config=schemathesis.Config.from_dict(auth)
    )
    real = handed_out(shim)
    deadline = time.monotonic() + max_seconds
    config = settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        verbosity=Verbosity.quiet,
        report_multiple_bugs=False,
    )
    results = []
    for loaded in schema.get_all_operations():
        if not isinstance(loaded, Ok):
            problem = f"the OpenAPI file has an operation schemathesis cannot read: {loaded.err()}"
            results.append(CheckResult("schema", Outcome.FAIL, problem))
            continue
        operation = loaded.ok()
        known = real.get(operation.path, {})
        name = f"schema {operation.label}"
        if operation.path == "/commands" and not commands:
            results.append(CheckResult(name, Outcome.SKIP, "sends commands: run with --commands"))
            continue
        if time.monotonic() > deadline:
            results.append(CheckResult(name, Outcome.SKIP, f"not reached within {max_seconds:g} s"))
            continue
        problems = []
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            which = "valid" if mode is schemathesis.GenerationMode.POSITIVE else "invalid"
            call = functools.partial(
                _call_case,
                shim=shim,
                real=known,
                positive=mode is schemathesis.GenerationMode.POSITIVE,
                deadline=deadline,
            )
            try:
                config(given(case=operation.as_strategy(generation_mode=mode))(_run(call)))()
            except FailureGroup as group:
                problems.append(_describe(group, which))
            except Exception as error:  # the shim hung up, timed out, or answered garbage
                problems.append(f"{which} requests: {_first_cause(error)}")
        if problems:
            results.append(CheckResult(name, Outcome.FAIL, "; ".join(problems)))
        else:
            results.append(CheckResult(name, Outcome.PASS))
    return results


def _run(call: Callable[[Case[Any]], None]) -> Callable[[Case[Any]], None]:
    """A plain function for hypothesis' @given (it takes no partials nor defaults)."""

    def case_test(case: Case[Any]) -> None:
        call(case)

    return case_test


def _call_case(
    case: Case[Any], *, shim: Shim, real: Mapping[str, str], positive: bool, deadline: float
) -> None:
    if time.monotonic() > deadline:
        return
    if positive and case.query:
        for name in _HANDED_OUT_PARAMS:
            if name in case.query:
                if name in real:
                    case.query[name] = real[name]
                else:
                    del case.query[name]
    if case.path == "/commands" and case.headers is not None:
        key = case.headers.get("Idempotency-Key")
        if isinstance(key, str) and _IDEMPOTENCY_KEY.fullmatch(key):
            # Every example its own key, valid or invalid alike: hypothesis repeats generated
            # values across examples, and a key seen before answers from the desk's memory
            # (a replay, or 422 with another body), so an example's verdict would depend on
            # the examples before it, and its replay would not reproduce it. A key the example
            # makes invalid on purpose is kept: the shim must refuse it.
            case.headers["Idempotency-Key"] = fresh_key()
    case.call_and_validate(base_url=shim.url, timeout=shim.timeout)


def _first_cause(error: BaseException) -> str:
    """What went wrong, down to the first failure an exception group holds: hypothesis' report
    that an example failed once and passed when repeated (the shim answered the same request
    two ways) says why it failed the first time."""
    text = f"{type(error).__name__}: {error}"
    if isinstance(error, BaseExceptionGroup) and error.exceptions:
        inner = error.exceptions[0]
        if isinstance(inner, BaseExceptionGroup):
            return f"{text}; first failure: {_failures(inner)}"
        return f"{text}; first failure: {_first_cause(inner)}"
    return text


def _failures(group: BaseExceptionGroup[Any]) -> str:
    """Each failure a group holds: its title and its message's first line."""
    found = []
    for failure in group.exceptions:
        title = getattr(failure, "title", type(failure).__name__)
        message = str(getattr(failure, "message", "")).strip().splitlines()
        found.append(f"{title}" + (f" ({message[0].strip()})" if message else ""))
    return "; ".join(found)


def _describe(group: BaseExceptionGroup[Any], mode: str) -> str:
    """One line: each distinct failure's title and first line, and how to reproduce it."""
    curl = next(
        (line.strip() for line in str(group).splitlines() if line.strip().startswith("curl ")),
        None,
    )
    text = f"{mode} requests: {_failures(group)}"
    return text + (f"; reproduce with: {curl}" if curl else "")


# -- everything -----------------------------------------------------------------------------------


def run_checks(
    url: str,
    kind: str,
    *,
    token: str | None = None,
    commands: bool = False,
    schema: bool = True,
    max_examples: int = 10,
    max_seconds: float = 120.0,
    timeout: float = 10.0,
) -> list[CheckResult]:
    """The schema checks (unless `schema` is false), then the semantic checks.

    Raises SchemathesisMissing when the schema checks are asked for without schemathesis.
    """
    with Shim(url, kind, token, timeout=timeout) as shim:
        results = []
        if schema:
            results += schema_checks(
                shim, commands=commands, max_examples=max_examples, max_seconds=max_seconds
            )
        return results + semantic_checks(shim, commands=commands)
