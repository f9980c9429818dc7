"""Contract servers for generated worlds: a storefront, an ERP, a WMS and a payments provider
speaking the source contract (docs/sources/README.md and the OpenAPI files) over real HTTP.

Written from the contract, not from omnigraph's demo systems. One set of four servers runs on
loopback ports for a whole test; ``load`` swaps the world they serve. Where the contract leaves
a choice, these servers take the one the demo does not: ``data`` of a batch comes back in
reverse order, cursors are random tokens (a cursor not handed out is 400), and a WMS or
payments feed may start each page after a cursor with a few events it already delivered
(at-least-once delivery), ``nextCursor`` and ``hasMore`` as without them.
"""

from __future__ import annotations

import contextlib
import json
import random
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Self

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from omnigraph.core.closing import AsyncClosing
from tests.helpers import on_loopback

from .generator import World

Json = dict[str, Any]
KINDS = ("storefront", "erp", "wms", "payments")
BATCH_MAX = 500


class Refused(Exception):
    """A request the server answers with an error (400 unless ``status`` says otherwise)."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


# A listing's filters: query parameter -> whether a record passes it with the parameter's value.
Filters = dict[str, Callable[[Json, str], bool]]
ORDER_FILTERS: Filters = {
    "channel": lambda o, v: o["channel"] == v,
    "status": lambda o, v: o["status"] == v,
    # a half-open window: placedFrom <= placedAt < placedTo
    "placedFrom": lambda o, v: _moment(o["placedAt"]) >= _moment(v),
    "placedTo": lambda o, v: _moment(o["placedAt"]) < _moment(v),
    "sku": lambda o, v: any(x["sku"] == v for x in o["lines"]),
}
PAYOUT_FILTERS: Filters = {
    "status": lambda p, v: p["status"] == v,
    "arrivalFrom": lambda p, v: p["arrival_date"] >= int(v),
    "arrivalTo": lambda p, v: p["arrival_date"] < int(v),
}


def _filtered(records: list[Json], request: Request, filters: Filters) -> list[Json]:
    """The records that pass every filter the request names."""
    named = [
        (keep, request.query_params[name])
        for name, keep in filters.items()
        if name in request.query_params
    ]
    return [r for r in records if all(keep(r, value) for keep, value in named)]


class _Tokens:
    """Opaque cursors: random tokens handed out for a position; anything else is unknown."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.positions: dict[str, Any] = {}

    def issue(self, position: Any) -> str:
        token = f"{self.rng.getrandbits(64):016x}"
        self.positions[token] = position
        return token

    def read(self, token: str) -> Any:
        if token not in self.positions:
            raise Refused("BAD_CURSOR", f"cursor {token!r} was not handed out")
        return self.positions[token]


class System:
    """One source system of a kind, serving the loaded world's records of that kind."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.world: World | None = None
        self.requests: Counter[str] = Counter()
        self.commands: dict[str, tuple[str, Json, int]] = {}
        self.tokens = _Tokens(random.Random(kind))
        self.extra_events: list[Json] = []

    def load(self, world: World) -> None:
        self.world = world
        self.requests.clear()
        self.commands.clear()
        self.tokens = _Tokens(random.Random(f"{self.kind}:{world.seed}"))
        self.extra_events = []

    @property
    def w(self) -> World:
        if self.world is None:
            raise RuntimeError("no world loaded")
        return self.world

    # -- what each kind serves -------------------------------------------------------------

    def collections(self) -> dict[str, tuple[list[Json], str]]:
        """collection -> (records, id field) for batch gets."""
        w = self.w
        return {
            "storefront": {"orders": (w.orders, "id")},
            "erp": {"sales-orders": (w.sales_orders, "id"), "items": (w.items, "sku")},
            "wms": {"fulfilment-orders": (w.fulfilment_orders, "id")},
            "payments": {
                "charges": (w.charges, "id"),
                "refunds": (w.refunds, "id"),
                "disputes": (w.disputes, "id"),
                "payouts": (w.payouts, "id"),
            },
        }[self.kind]

    def by_ref(self) -> dict[str, Callable[[Json], str | None]]:
        return {
            "storefront": {},
            "erp": {"sales-orders": lambda r: r["orderRef"]},
            "wms": {"fulfilment-orders": lambda r: r["orderRef"]},
            "payments": {"charges": lambda r: r["metadata"].get("order_ref")},
        }[self.kind]

    def events(self) -> list[Json]:
        w = self.w
        base = {
            "storefront": w.storefront_events,
            "erp": w.erp_events,
            "wms": w.wms_events,
            "payments": w.payments_events,
        }[self.kind]
        return base + self.extra_events

    def overlap(self) -> int:
        return self.w.feed_overlap if self.kind in ("wms", "payments") else 0

    # -- the routes ------------------------------------------------------------------------

    def app(self) -> Starlette:
        routes = [
            Route("/health", self.health, methods=["GET"]),
            Route("/changes", self.changes, methods=["GET"]),
            Route("/commands", self.command, methods=["POST"]),
            Route("/{collection}/batch", self.batch, methods=["POST"]),
            Route("/{collection}/by-order-ref", self.by_order_ref, methods=["POST"]),
        ]
        if self.kind == "storefront":
            routes.append(Route("/orders", self.list_orders, methods=["GET"]))
        if self.kind == "wms":
            routes += [
                Route("/locations", self.list_locations, methods=["GET"]),
                Route("/stock/query", self.stock_query, methods=["POST"]),
            ]
        if self.kind == "payments":
            routes += [
                Route("/payouts", self.list_payouts, methods=["GET"]),
                Route("/balance-transactions/by-payout", self.txns_by_payout, methods=["POST"]),
                Route("/balance-transactions", self.list_txns, methods=["GET"]),
            ]
        return Starlette(routes=routes, exception_handlers={Refused: self._refused})

    async def _refused(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Refused)
        return _error(exc.status, exc.code, exc.message)

    def _collection(self, request: Request, known: Mapping[str, object]) -> str:
        """The collection the path names, if it is one of ``known``."""
        collection: str = request.path_params["collection"]
        if collection not in known:
            raise Refused("NOT_FOUND", f"no collection {collection}", status=404)
        return collection

    def _count(self, request: Request) -> None:
        route = request.scope.get("route")
        self.requests[getattr(route, "path", request.url.path)] += 1

    async def _body(self, request: Request) -> Json:
        try:
            body = json.loads(await request.body())
        except ValueError:
            raise Refused("BAD_JSON", "the body is not JSON") from None
        if not isinstance(body, dict):
            raise Refused("BAD_JSON", "the body is not an object")
        return body

    async def _list_field(self, request: Request, name: str) -> list[str]:
        body = await self._body(request)
        values = body.get(name)
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise Refused("MISSING_FIELD", f"{name} must be a list of strings")
        if len(values) > BATCH_MAX:
            raise Refused("TOO_MANY_IDS", f"at most {BATCH_MAX} {name} per call")
        return values

    @staticmethod
    def _limit(request: Request, default: int, maximum: int) -> int:
        raw = request.query_params.get("limit", str(default))
        try:
            limit = int(raw)
        except ValueError:
            raise Refused("BAD_LIMIT", f"limit {raw!r} is not an integer") from None
        if not 1 <= limit <= maximum:
            raise Refused("BAD_LIMIT", f"limit must be 1..{maximum}")
        return limit

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "kind": self.kind, "name": f"generated-{self.kind}"})

    async def batch(self, request: Request) -> Response:
        self._count(request)
        known = self.collections()
        records, id_field = known[self._collection(request, known)]
        ids = await self._list_field(request, "ids")
        index = {r[id_field]: r for r in records}
        found = [index[i] for i in dict.fromkeys(ids) if i in index]
        missing = [i for i in dict.fromkeys(ids) if i not in index]
        return JSONResponse({"data": found[::-1], "missing": missing})

    async def by_order_ref(self, request: Request) -> Response:
        self._count(request)
        refs_of = self.by_ref()
        collection = self._collection(request, refs_of)
        refs = set(await self._list_field(request, "orderRefs"))
        records, _ = self.collections()[collection]
        ref_of = refs_of[collection]
        return JSONResponse({"data": [r for r in records if ref_of(r) in refs][::-1]})

    def _page(self, request: Request, records: list[Json], listing: str) -> Response:
        """A page of ``records``; its cursor holds only for the same listing and filters."""
        limit = self._limit(request, 50, 500)
        query = request.query_params
        signature = f"{listing}?" + "&".join(
            f"{k}={v}" for k, v in sorted(query.items()) if k not in ("limit", "cursor")
        )
        cursor = query.get("cursor")
        start = 0
        if cursor:
            position = self.tokens.read(cursor)
            if position[0] != signature:
                raise Refused("BAD_CURSOR", "the cursor belongs to another listing")
            start = position[1]
        page = records[start : start + limit]
        more = start + limit < len(records)
        next_cursor = self.tokens.issue((signature, start + limit)) if more else None
        return JSONResponse({"data": page, "nextCursor": next_cursor})

    async def list_orders(self, request: Request) -> Response:
        self._count(request)
        orders = _filtered(self.w.orders, request, ORDER_FILTERS)
        # newest placedAt first, then by id
        orders.sort(key=lambda o: o["id"])
        orders.sort(key=lambda o: _moment(o["placedAt"]), reverse=True)
        return self._page(request, orders, "orders")

    async def list_locations(self, request: Request) -> Response:
        self._count(request)
        return self._page(request, sorted(self.w.locations, key=lambda x: x["id"]), "locations")

    async def list_payouts(self, request: Request) -> Response:
        self._count(request)
        payouts = _filtered(self.w.payouts, request, PAYOUT_FILTERS)
        payouts.sort(key=lambda p: p["id"])
        payouts.sort(key=lambda p: p["created"], reverse=True)
        return self._page(request, payouts, "payouts")

    async def stock_query(self, request: Request) -> Response:
        self._count(request)
        body = await self._body(request)
        skus = body.get("skus")
        locations = body.get("locationIds")
        if not isinstance(skus, list) or len(skus) > BATCH_MAX:
            raise Refused("MISSING_FIELD", f"skus must be a list of at most {BATCH_MAX}")
        if locations is not None and (
            not isinstance(locations, list) or len(locations) > BATCH_MAX
        ):
            raise Refused("MISSING_FIELD", "locationIds must be null or a list")
        wanted = set(skus)
        rows = [
            r
            for r in self.w.stock
            if r["sku"] in wanted and (locations is None or r["locationId"] in locations)
        ]
        as_of = self.w.stock[0]["asOf"] if self.w.stock else "1970-01-01T00:00:00Z"
        return JSONResponse({"data": rows, "asOf": as_of})

    async def txns_by_payout(self, request: Request) -> Response:
        self._count(request)
        wanted = set(await self._list_field(request, "payoutIds"))
        txns = [t for t in self.w.balance_transactions if t["payout"] in wanted]
        return JSONResponse({"data": txns[::-1]})

    async def list_txns(self, request: Request) -> Response:
        self._count(request)
        limit = self._limit(request, 100, 1000)
        txns = sorted(self.w.balance_transactions, key=lambda t: t["id"])
        payout = request.query_params.get("payout")
        if payout:
            txns = [t for t in txns if t["payout"] == payout]
        after = request.query_params.get("starting_after")
        start = 0
        if after:
            ids = [t["id"] for t in txns]
            if after not in ids:
                raise Refused("BAD_CURSOR", f"no balance transaction {after}")
            start = ids.index(after) + 1
        page = txns[start : start + limit]
        return JSONResponse(
            {
                "object": "list",
                "data": page,
                "has_more": start + limit < len(txns),
                "url": "/balance-transactions",
            }
        )

    async def changes(self, request: Request) -> Response:
        self._count(request)
        limit = self._limit(request, 100, 500)
        events = self.events()
        after = request.query_params.get("after")
        start = self.tokens.read(after)[1] if after else 0
        page = events[start : start + limit]
        end = start + len(page)
        redelivered = events[max(0, start - self.overlap()) : start] if after else []
        next_cursor = after if (after and not page) else self.tokens.issue(("changes", end))
        return JSONResponse(
            {"events": redelivered + page, "nextCursor": next_cursor, "hasMore": end < len(events)}
        )

    async def command(self, request: Request) -> Response:
        self._count(request)
        key = request.headers.get("Idempotency-Key", "")
        if not 1 <= len(key) <= 255 or not all(0x21 <= ord(c) <= 0x7E for c in key):
            raise Refused("MISSING_FIELD", "Idempotency-Key is required (1..255 visible chars)")
        raw = (await request.body()).decode()
        body = await self._body(request)
        if key in self.commands:
            first_raw, answer, _ = self.commands[key]
            if json.loads(first_raw) != body:
                return _error(422, "IDEMPOTENCY_KEY_REUSED", "the key was used with another body")
            return JSONResponse(answer, status_code=202, headers={"Idempotent-Replayed": "true"})
        kind, payload = body.get("type"), body.get("payload")
        if not isinstance(kind, str) or not isinstance(payload, dict):
            raise Refused("MISSING_FIELD", "type and payload are required")
        status, detail = self._apply(kind, payload)
        answer = {"commandId": str(uuid.uuid4()), "type": kind, "status": status, "detail": detail}
        self.commands[key] = (raw, answer, 1)
        return JSONResponse(answer, status_code=202)

    def _apply(self, kind: str, payload: Json) -> tuple[str, str]:
        """``record.resync`` puts a record on the feed again; other commands are refused."""
        if kind != "record.resync":
            return "rejected", f"{kind} is not carried out by this generated {self.kind}"
        record_id = payload.get("recordId")
        for collection, (records, id_field) in self.collections().items():
            for record in records:
                if record[id_field] == record_id:
                    events = self.events()
                    last = events[-1]["sequence"] if events else 0
                    record_type = {
                        "orders": "order",
                        "sales-orders": "sales_order",
                        "items": "item",
                        "fulfilment-orders": "fulfilment_order",
                        "charges": "charge",
                        "payouts": "payout",
                    }.get(collection)
                    if record_type is None:
                        return "rejected", f"{collection} are not put on the feed"
                    self.extra_events.append(
                        {
                            "id": f"evt_resync_{len(self.extra_events) + 1}",
                            "sequence": last + 1,
                            "type": f"{record_type}.updated",
                            "recordType": record_type,
                            "recordId": record_id,
                            "occurredAt": datetime.now().astimezone().isoformat(),
                            "data": record,
                        }
                    )
                    return "accepted", f"{record_id} put on the feed again"
        return "rejected", f"no record {record_id}"


class ContractServers(AsyncClosing):
    """A storefront, an ERP, a WMS and a payments provider on loopback ports."""

    def __init__(self) -> None:
        self.systems = {kind: System(kind) for kind in KINDS}
        self.urls: dict[str, str] = {}
        self._running = contextlib.AsyncExitStack()

    def load(self, world: World) -> None:
        for system in self.systems.values():
            system.load(world)

    def requests(self) -> dict[str, Counter[str]]:
        return {kind: Counter(s.requests) for kind, s in self.systems.items()}

    async def __aenter__(self) -> Self:
        async with contextlib.AsyncExitStack() as starting:
            for kind, system in self.systems.items():
                port = await starting.enter_async_context(
                    on_loopback(
                        system.app(), access_log=False, ws="none", timeout_graceful_shutdown=1
                    )
                )
                self.urls[kind] = f"http://127.0.0.1:{port}"
            self._running = starting.pop_all()  # all four listen: they stop on exit
        return self

    async def aclose(self) -> None:
        await self._running.aclose()
