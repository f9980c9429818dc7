"""A fake Stripe API over the demo payments system's records, for tests that point the Stripe
adapter at something without the internet (never a substitute for Stripe's test mode).

It serves the demo world's charges, refunds, disputes, payouts, balance transactions and
payout events in Stripe's own ``/v1`` shapes: list objects paged newest first with ``limit``,
``starting_after`` and ``ending_before``; ``expand[]``; the charges Search API for
``metadata['order_ref']`` clauses; Stripe's error objects; form-encoded ``POST /v1/refunds``
and ``POST /v1/payouts/{id}`` honouring ``Idempotency-Key``. Where the demo's contract differs
from Stripe (a dispute's balance transaction is Stripe's ``type: adjustment``, reporting
category ``dispute``; a plain adjustment is ``other_adjustment``; a balance transaction does
not name its payout), it answers as Stripe does. Example::

    fake = FakeStripe(world, secret_key="sk_test_fake")
    transport = httpx.ASGITransport(app=fake.app)   # or serve fake.app with uvicorn
"""

from __future__ import annotations

import copy
import fnmatch
import hashlib
import json
import operator
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from omnigraph.demo.world import DemoWorld

__all__ = ["FakeStripe"]

JsonRecord = dict[str, Any]

_CLAUSE = re.compile(r"""metadata\[(['"])order_ref\1\]:(['"])((?:\\.|(?!\2).)*)\2""")
_MAX_CLAUSES = 10
_TYPE_OF = {"dispute": "adjustment", "dispute_reversal": "adjustment", "adjustment": "adjustment"}
_CATEGORY_OF = {"stripe_fee": "fee", "adjustment": "other_adjustment"}


class _StripeError(Exception):
    def __init__(
        self, status: int, error_type: str, message: str, code: str | None = None, param: str = ""
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: JsonRecord = {"error": {"type": error_type, "message": message}}
        if code:
            self.body["error"]["code"] = code
        if param:
            self.body["error"]["param"] = param


def _unix(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp())


def _newest_first(record: JsonRecord) -> tuple[int, str]:
    """Stripe lists newest first; ties (same second) by id, descending."""
    return -int(record["created"]), _desc(record["id"])


class FakeStripe:
    """The fake API (``.app``, an ASGI app), its request counts and a failure switch."""

    def __init__(
        self, world: DemoWorld, *, secret_key: str | None = None, api_version: str | None = None
    ) -> None:
        self.secret_key = secret_key
        self.api_version = api_version or "2025-03-31.basil"
        self.charges: dict[str, JsonRecord] = {c["id"]: c for c in copy.deepcopy(world.charges)}
        self.payouts: dict[str, JsonRecord] = {p["id"]: p for p in copy.deepcopy(world.payouts)}
        self.transactions: list[JsonRecord] = copy.deepcopy(world.balance_transactions)
        # payouts whose transactions Stripe is still linking (reconciliation_status in_progress)
        self.reconciling: set[str] = set()
        self.events: list[JsonRecord] = [  # oldest first, as recorded
            self._event(f"evt_{e['sequence']:06d}", e["type"], _unix(e["occurredAt"]), e)
            for e in world.events["payments"]
        ]
        self.calls: Counter[str] = Counter()
        self.stripe_versions: Counter[str] = Counter()
        self.idempotency_keys: dict[str, tuple[str, int, JsonRecord]] = {}
        self.deliveries: Counter[str] = Counter()
        self._failures: list[tuple[int, str, dict[str, str]]] = []
        self._fail_after_apply = False
        self.app = Starlette(routes=self._routes())

    # -- switches for tests ------------------------------------------------------------------

    def fail_next(
        self,
        count: int = 1,
        *,
        status: int = 429,
        error_type: str = "rate_limit_error",
        headers: dict[str, str] | None = None,
    ) -> None:
        """The next ``count`` requests answer ``status`` with a Stripe error, doing nothing."""
        self._failures.extend([(status, error_type, headers or {})] * count)

    def forget_idempotency_keys(self) -> None:
        """Stripe prunes keys once they are at least 24 hours old: a repeat is applied again."""
        self.idempotency_keys.clear()

    def fail_after_applying_next(self) -> None:
        """The next idempotent POST is applied, then answered with a 500 (an error inside
        Stripe after the change), which Stripe then replays for that key."""
        self._fail_after_apply = True

    def emit(self, event_type: str, payout_id: str, created: int) -> JsonRecord:
        """Record a payout event now (what a webhook would carry), as the fake's feed shows."""
        sequence = len(self.events) + 1
        event = {
            "id": f"evt_{sequence:06d}",
            "object": "event",
            "api_version": self.api_version,
            "created": created,
            "type": event_type,
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "data": {"object": self._payout(self.payouts[payout_id])},
        }
        self.events.append(event)
        return event

    # -- Stripe's shapes ---------------------------------------------------------------------

    def _event(self, event_id: str, event_type: str, created: int, demo: JsonRecord) -> JsonRecord:
        data = demo["data"]
        served = self._payout(data) if demo["recordType"] == "payout" else self._charge(data, ())
        return {
            "id": event_id,
            "object": "event",
            "api_version": self.api_version,
            "created": created,
            "type": event_type,
            "livemode": False,
            "pending_webhooks": 0,
            "request": {"id": None, "idempotency_key": None},
            "data": {"object": served},
        }

    def _payout(self, payout: JsonRecord) -> JsonRecord:
        own = next(
            (
                t["id"]
                for t in self.transactions
                if t["type"] == "payout" and t["source"] == payout["id"]
            ),
            None,
        )
        return {
            **copy.deepcopy(payout),
            "automatic": True,
            "balance_transaction": own,
            "livemode": False,
            "type": "bank_account",
            # Stripe links a payout's transactions soon after creating it; a test can hold one
            "reconciliation_status": (
                "in_progress" if payout["id"] in self.reconciling else "completed"
            ),
        }

    def _refund(self, refund: JsonRecord, charge: JsonRecord) -> JsonRecord:
        return _of_charge("refund", refund, charge) | {
            "metadata": copy.deepcopy(refund.get("metadata", {})),
            "payment_intent": None,
            "reason": None,
        }

    def _charge(self, charge: JsonRecord, expand: Iterable[str]) -> JsonRecord:
        served = {
            k: copy.deepcopy(v) for k, v in charge.items() if k not in ("refunds", "disputes")
        }
        served |= {
            "livemode": False,
            "payment_intent": None,
            "refunded": charge["amount_refunded"] >= charge["amount_captured"] > 0,
        }
        if "refunds" in expand:  # not included unless expanded, since API version 2022-11-15
            served["refunds"] = {
                "object": "list",
                "data": [self._refund(r, charge) for r in reversed(charge["refunds"])],
                "has_more": False,
                "url": f"/v1/charges/{charge['id']}/refunds",
            }
        return served

    def _dispute(self, dispute: JsonRecord, charge: JsonRecord) -> JsonRecord:
        return _of_charge("dispute", dispute, charge) | {
            "reason": "general",
            "livemode": False,
            "metadata": {},
        }

    def _find_refund(self, refund_id: str) -> JsonRecord | None:
        return self._find_of_charge("refunds", refund_id, self._refund)

    def _find_dispute(self, dispute_id: str) -> JsonRecord | None:
        return self._find_of_charge("disputes", dispute_id, self._dispute)

    def _find_of_charge(
        self,
        key: str,
        object_id: str,
        serve: Callable[[JsonRecord, JsonRecord], JsonRecord],
    ) -> JsonRecord | None:
        """A charge's refund or dispute (its ``key`` list) by id, as Stripe serves it."""
        for charge in self.charges.values():
            for record in charge[key]:
                if record["id"] == object_id:
                    return serve(record, charge)
        return None

    def _source(self, source_id: str | None) -> JsonRecord | str | None:
        if source_id is None:
            return None
        if source_id in self.charges:
            return self._charge(self.charges[source_id], ())
        if source_id in self.payouts:
            return self._payout(self.payouts[source_id])
        return self._find_refund(source_id) or self._find_dispute(source_id) or source_id

    def _transaction(self, txn: JsonRecord, expand: Sequence[str]) -> JsonRecord:
        served = {k: v for k, v in txn.items() if k != "payout"}
        served |= {
            "type": _TYPE_OF.get(txn["type"], txn["type"]),
            "reporting_category": _CATEGORY_OF.get(txn["type"], txn["reporting_category"]),
            "available_on": txn["created"],
            "description": None,
            "fee_details": (
                [{"amount": txn["fee"], "currency": txn["currency"], "type": "stripe_fee"}]
                if txn["fee"]
                else []
            ),
            "status": "available",
        }
        if "data.source" in expand:
            served["source"] = self._source(txn["source"])
        return served

    # -- HTTP --------------------------------------------------------------------------------

    def _routes(self) -> list[Route]:
        get, post = ["GET"], ["POST"]
        return [
            Route("/v1/balance", self._wrap(self._balance), methods=get),
            Route("/v1/charges/search", self._wrap(self._search), methods=get),
            Route("/v1/charges/{id}", self._wrap(self._get_charge), methods=get),
            Route("/v1/refunds/{id}", self._wrap(self._get_refund), methods=get),
            Route("/v1/refunds", self._wrap(self._create_refund), methods=post),
            Route("/v1/refunds", self._wrap(self._list_refunds), methods=get),
            Route("/v1/disputes/{id}", self._wrap(self._get_dispute), methods=get),
            Route("/v1/payouts", self._wrap(self._list_payouts), methods=get),
            Route("/v1/payouts/{id}", self._wrap(self._get_payout), methods=get),
            Route("/v1/payouts/{id}", self._wrap(self._update_payout), methods=post),
            Route("/v1/balance_transactions", self._wrap(self._list_transactions), methods=get),
            Route("/v1/events", self._wrap(self._list_events), methods=get),
        ]

    def _wrap(self, handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            route = request.scope.get("route")
            self.calls[f"{request.method} {getattr(route, 'path', request.url.path)}"] += 1
            self.stripe_versions[request.headers.get("Stripe-Version", "")] += 1
            try:
                self._check_key(request)
                if self._failures:
                    status, error_type, headers = self._failures.pop(0)
                    raise _StripeFailure(status, error_type, headers)
                result = await handler(request)
            except _StripeFailure as failure:
                return JSONResponse(
                    {"error": {"type": failure.error_type, "message": "injected failure"}},
                    status_code=failure.status,
                    headers=failure.headers,
                )
            except _StripeError as error:
                return JSONResponse(error.body, status_code=error.status)
            if isinstance(result, Response):
                return result
            return JSONResponse(result)

        return endpoint

    def _check_key(self, request: Request) -> None:
        if self.secret_key is None:
            return
        if request.headers.get("Authorization") != f"Bearer {self.secret_key}":
            raise _StripeError(
                401, "invalid_request_error", "Invalid API Key provided", code="api_key_invalid"
            )

    @staticmethod
    def _expand(request: Request) -> list[str]:
        return request.query_params.getlist("expand[]")

    @staticmethod
    def _limit(request: Request) -> int:
        raw = request.query_params.get("limit", "10")
        if not raw.isdigit() or not 1 <= int(raw) <= 100:
            raise _StripeError(
                400,
                "invalid_request_error",
                "Invalid integer: limit must be between 1 and 100",
                param="limit",
            )
        return int(raw)

    def _page(
        self,
        request: Request,
        records: list[JsonRecord],
        url: str,
        serve: Callable[[JsonRecord], JsonRecord],
    ) -> JsonRecord:
        """A list object over ``records`` (newest first) after ``starting_after`` or before
        ``ending_before``."""
        limit = self._limit(request)
        after = request.query_params.get("starting_after")
        before = request.query_params.get("ending_before")
        ids = [r["id"] for r in records]
        if after is not None:
            if after not in ids:
                raise _missing("object", after, param="starting_after")
            start = ids.index(after) + 1
            page, more = records[start : start + limit], start + limit < len(records)
        elif before is not None:
            if before not in ids:
                raise _missing("object", before, param="ending_before")
            end = ids.index(before)
            page, more = records[max(0, end - limit) : end], end - limit > 0
        else:
            page, more = records[:limit], limit < len(records)
        return {"object": "list", "data": [serve(r) for r in page], "has_more": more, "url": url}

    async def _balance(self, _request: Request) -> JsonRecord:
        return {"object": "balance", "available": [], "pending": [], "livemode": False}

    async def _get_charge(self, request: Request) -> JsonRecord:
        return self._charge(_found("charge", self.charges.get, request), self._expand(request))

    async def _get_refund(self, request: Request) -> JsonRecord:
        return _found("refund", self._find_refund, request)

    async def _list_refunds(self, request: Request) -> JsonRecord:
        """``GET /v1/refunds`` with ``charge`` (or ``payment_intent``, which the demo's charges
        do not carry: nothing matches), newest first."""
        charge_id = request.query_params.get("charge")
        found = [
            (refund, charge)
            for charge in self.charges.values()
            if charge_id is None or charge["id"] == charge_id
            for refund in charge["refunds"]
        ]
        if request.query_params.get("payment_intent") is not None:
            found = []
        served = {r["id"]: self._refund(r, c) for r, c in found}
        records = sorted(served.values(), key=_newest_first)
        return self._page(request, records, "/v1/refunds", lambda r: r)

    async def _get_dispute(self, request: Request) -> JsonRecord:
        return _found("dispute", self._find_dispute, request)

    async def _get_payout(self, request: Request) -> JsonRecord:
        return self._payout(_found("payout", self.payouts.get, request))

    async def _search(self, request: Request) -> JsonRecord:
        query = request.query_params.get("query", "")
        clauses = [part.strip() for part in re.split(r"\s+OR\s+", query) if part.strip()]
        if not clauses or len(clauses) > _MAX_CLAUSES:
            raise _StripeError(
                400,
                "invalid_request_error",
                f"A search query takes 1 to {_MAX_CLAUSES} clauses",
                param="query",
            )
        refs = set()
        for clause in clauses:
            match = _CLAUSE.fullmatch(clause)
            if match is None:
                raise _StripeError(
                    400, "invalid_request_error", f"Unsupported query: {clause}", param="query"
                )
            refs.add(re.sub(r"\\(.)", r"\1", match.group(3)))
        found = sorted(
            (c for c in self.charges.values() if c["metadata"].get("order_ref") in refs),
            key=_newest_first,
        )
        limit = self._limit(request)
        offset = int(request.query_params.get("page") or 0)
        page = found[offset : offset + limit]
        more = offset + limit < len(found)
        expand = [e.removeprefix("data.") for e in self._expand(request)]
        return {
            "object": "search_result",
            "data": [self._charge(c, expand) for c in page],
            "has_more": more,
            "next_page": str(offset + limit) if more else None,
            "url": "/v1/charges/search",
        }

    async def _list_payouts(self, request: Request) -> JsonRecord:
        payouts = sorted(self.payouts.values(), key=_newest_first)
        params = request.query_params
        if "status" in params:
            payouts = [p for p in payouts if p["status"] == params["status"]]
        bounds: dict[str, Callable[[int, int], bool]] = {
            "gte": operator.ge,
            "gt": operator.gt,
            "lte": operator.le,
            "lt": operator.lt,
        }
        for name, test in bounds.items():
            raw = params.get(f"arrival_date[{name}]")
            if raw is not None:
                payouts = [p for p in payouts if test(p["arrival_date"], int(raw))]
        return self._page(request, payouts, "/v1/payouts", self._payout)

    async def _list_transactions(self, request: Request) -> JsonRecord:
        txns = sorted(self.transactions, key=_newest_first)
        payout_id = request.query_params.get("payout")
        if payout_id is not None:
            if payout_id not in self.payouts:
                raise _missing("payout", payout_id)
            txns = [t for t in txns if t["payout"] == payout_id]
            if payout_id in self.reconciling:  # not every transaction is linked yet
                txns = txns[: len(txns) // 2]
        expand = self._expand(request)
        return self._page(
            request, txns, "/v1/balance_transactions", lambda t: self._transaction(t, expand)
        )

    async def _list_events(self, request: Request) -> JsonRecord:
        events = sorted(self.events, key=_newest_first)
        wanted = request.query_params.get("type")
        if wanted:
            events = [e for e in events if fnmatch.fnmatchcase(e["type"], wanted)]
        return self._page(request, events, "/v1/events", copy.deepcopy)

    async def _form(self, request: Request) -> list[tuple[str, str]]:
        if request.headers.get("content-type", "").split(";")[0] not in (
            "application/x-www-form-urlencoded",
            "",
        ):
            raise _StripeError(400, "invalid_request_error", "Send a form-encoded body")
        return parse_qsl((await request.body()).decode(), keep_blank_values=True)

    async def _idempotent(
        self, request: Request, apply: Callable[[list[tuple[str, str]]], JsonRecord]
    ) -> Response:
        form = await self._form(request)
        key = request.headers.get("Idempotency-Key")
        fingerprint = hashlib.sha256(
            json.dumps([request.url.path, sorted(form)]).encode()
        ).hexdigest()
        if key is not None:
            self.deliveries[key] += 1
            known = self.idempotency_keys.get(key)
            if known is not None:
                if known[0] != fingerprint:
                    raise _StripeError(
                        400,
                        "idempotency_error",
                        "Keys for idempotent requests can only be used with the same parameters"
                        " they were first used with.",
                    )
                return JSONResponse(
                    known[2], status_code=known[1], headers={"Idempotent-Replayed": "true"}
                )
        try:
            status, body = 200, apply(form)
        except _StripeError as error:
            status, body = error.status, error.body
        if self._fail_after_apply:
            self._fail_after_apply = False
            status, body = (
                500,
                {"error": {"type": "api_error", "message": "An unknown error occurred"}},
            )
        if key is not None:
            self.idempotency_keys[key] = (fingerprint, status, body)
        return JSONResponse(body, status_code=status)

    async def _create_refund(self, request: Request) -> Response:
        return await self._idempotent(request, self._refund_now)

    def _refund_now(self, form: list[tuple[str, str]]) -> JsonRecord:
        fields = dict(form)
        charge_id = fields.get("charge")
        if charge_id is None:
            raise _StripeError(
                400,
                "invalid_request_error",
                "Must provide a charge or payment_intent",
                param="charge",
            )
        charge = self.charges.get(charge_id)
        if charge is None:
            raise _missing("charge", charge_id)
        left = charge["amount_captured"] - charge["amount_refunded"]
        amount = int(fields.get("amount") or left)
        if left <= 0:
            raise _StripeError(
                400,
                "invalid_request_error",
                f"Charge {charge_id} has already been refunded.",
                code="charge_already_refunded",
            )
        if amount > left:
            raise _StripeError(
                400,
                "invalid_request_error",
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})",
                code="amount_too_large",
                param="amount",
            )
        created = max((e["created"] for e in self.events), default=0)
        refund_id = f"re_{sum(len(c['refunds']) for c in self.charges.values()) + 1:06d}"
        metadata = {k[9:-1]: v for k, v in form if k.startswith("metadata[") and k.endswith("]")}
        refund = {
            "id": refund_id,
            "object": "refund",
            "amount": amount,
            "created": created,
            "status": "succeeded",
            "metadata": metadata,
        }
        charge["refunds"].append(refund)
        charge["amount_refunded"] += amount
        self.transactions.append(
            {
                "id": f"txn_{len(self.transactions) + 1:06d}",
                "object": "balance_transaction",
                "amount": -amount,
                "fee": 0,
                "net": -amount,
                "currency": charge["currency"],
                "exchange_rate": None,
                "type": "refund",
                "reporting_category": "refund",
                "source": refund_id,
                "payout": None,
                "created": created,
            }
        )
        return self._refund(refund, charge)

    async def _update_payout(self, request: Request) -> Response:
        payout_id = request.path_params["id"]

        def update(form: list[tuple[str, str]]) -> JsonRecord:
            payout = self.payouts.get(payout_id)
            if payout is None:
                raise _missing("payout", payout_id)
            for key, value in form:
                if key.startswith("metadata[") and key.endswith("]"):
                    payout["metadata"][key[9:-1]] = value
            self.emit("payout.updated", payout_id, max(e["created"] for e in self.events))
            return self._payout(payout)

        return await self._idempotent(request, update)


class _StripeFailure(Exception):
    def __init__(self, status: int, error_type: str, headers: dict[str, str]) -> None:
        super().__init__(error_type)
        self.status = status
        self.error_type = error_type
        self.headers = headers


def _missing(kind: str, object_id: str, *, param: str = "id") -> _StripeError:
    return _StripeError(
        404,
        "invalid_request_error",
        f"No such {kind}: '{object_id}'",
        code="resource_missing",
        param=param,
    )


def _of_charge(kind: str, record: JsonRecord, charge: JsonRecord) -> JsonRecord:
    """The fields a refund and a dispute share: their own, and their charge's."""
    return {
        "id": record["id"],
        "object": kind,
        "amount": record["amount"],
        "charge": charge["id"],
        "created": record["created"],
        "currency": charge["currency"],
        "status": record["status"],
    }


def _found(kind: str, find: Callable[[str], JsonRecord | None], request: Request) -> JsonRecord:
    """The object the path's id names, or Stripe's 404 for it."""
    object_id = request.path_params["id"]
    record = find(object_id)
    if record is None:
        raise _missing(kind, object_id)
    return record


def _desc(text: str) -> str:
    return "".join(chr(0x10FFFF - ord(c)) for c in text)
