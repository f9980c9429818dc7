"""The Stripe connector against Stripe's published definitions for its pinned API version
(``tests/definitions/stripe/``, from stripe-python 12.0.0, generated from Stripe's OpenAPI spec
for 2025-03-31.basil), not against anything written here: every request it sends is an
endpoint there with parameters there; every field the mapping reads is a field of that object,
and a field the definition lets be null does not break it; and every object the fake Stripe
serves has only fields the definition has, of the types it says."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from tests.fakes.stripe import FakeStripe
from tests.sources.stripe.conftest import SECRET_KEY

from omnigraph.demo import DemoWorld
from omnigraph.sources.parsing import parse_record
from omnigraph.sources.records import BalanceTransaction, Charge, Dispute, Payout, Refund
from omnigraph.sources.stripe import StripeClient, StripePaymentsAdapter
from omnigraph.sources.stripe.client import DEFAULT_API_VERSION
from omnigraph.sources.stripe.mapping import (
    balance_transaction_record,
    charge_record,
    dispute_record,
    payout_event,
    payout_record,
    refund_record,
)

ROOT = Path(__file__).resolve().parents[3]
PINNED = ROOT / "tests" / "definitions" / "stripe" / f"stripe-{DEFAULT_API_VERSION}.json"


@cache
def published() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(PINNED.read_text())
    return loaded


def test_the_pinned_definition_is_the_pinned_api_version() -> None:
    assert published()["api_version"] == DEFAULT_API_VERSION


# -- every request, against the endpoints ------------------------------------------------------


class Recording(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []
        self.answers: list[tuple[httpx.Request, Any]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.requests.append(request)
        response = await self.inner.handle_async_request(request)
        body = await response.aread()
        with contextlib.suppress(ValueError):
            self.answers.append((request, json.loads(body)))
        return httpx.Response(
            response.status_code, headers=response.headers, content=body, request=request
        )


@pytest.fixture
async def exercised(world: DemoWorld, stripe_client: Any) -> tuple[FakeStripe, Recording]:
    """Every kind of call the connector makes, against the fake Stripe, recorded."""
    fake = FakeStripe(world, secret_key=SECRET_KEY)
    recording = Recording(httpx.ASGITransport(app=fake.app))
    client: StripeClient = stripe_client(recording)
    adapter = StripePaymentsAdapter(client)
    charge = next(c for c in world.charges if c["refunds"])
    refund = charge["refunds"][0]
    payout = next(p for p in world.payouts if p["status"] == "paid")
    dispute = next((d for c in world.charges for d in c.get("disputes") or ()), None)

    await adapter.charges_by_order_ref([charge["metadata"]["order_ref"]])
    await adapter.charges_by_id([charge["id"]])
    await adapter.refunds_by_id([refund["id"]])
    if dispute is not None:
        await adapter.disputes_by_id([dispute["id"]])
    await adapter.payouts_by_id([payout["id"]])
    await adapter.list_payouts(
        limit=5, cursor=None, filters={"status": "paid", "arrivalFrom": 1, "arrivalTo": 2**31}
    )
    await adapter.balance_transactions_by_payout([payout["id"]])
    await adapter.reconciliation_statuses([payout["id"]])
    cursor: str | None = None
    for _ in range(3):  # backfill, then the events after it
        _, cursor, _ = await client.changes(cursor, 100)
    await client.health()
    fresh = next(c for c in world.charges if c["amount_refunded"] == 0)
    await client.command("refund.create", {"charge": fresh["id"], "amount": "100"}, "key-1")
    await client.command("payout.investigate", {"payoutId": payout["id"]}, "key-2")
    return fake, recording


def _endpoint(method: str, path: str) -> tuple[str, dict[str, str]] | None:
    for key, spec in published()["endpoints"].items():
        spec_method, template = key.split(" ", 1)
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if spec_method == method and re.match(pattern, path):
            return key, spec["params"]
    return None


def _known(name: str, params: Mapping[str, str]) -> bool:
    if name in params:
        return True
    bracket = re.match(r"^(\w+)\[[^\]]+\]$", name)  # metadata[key]
    return bracket is not None and f"{bracket.group(1)}[*]" in params


async def test_every_request_is_an_endpoint_with_its_parameters(
    exercised: tuple[FakeStripe, Recording],
) -> None:
    _, recording = exercised
    problems = []
    seen = set()
    for request in recording.requests:
        found = _endpoint(request.method, request.url.path)
        if found is None:
            problems.append(f"{request.method} {request.url.path}: no such endpoint")
            continue
        key, params = found
        seen.add(key)
        sent = list(request.url.params.multi_items())
        if request.method == "POST":
            sent += parse_qsl(request.content.decode())
        # limit, starting_after, ending_before and expand[] are on every list; page on search
        for name, _ in sent:
            if not _known(name, params):
                problems.append(f"{key}: no parameter {name}")
    assert problems == []
    assert seen >= {
        "GET /v1/charges/search",
        "GET /v1/charges/{charge}",
        "GET /v1/refunds/{refund}",
        "GET /v1/refunds",
        "POST /v1/refunds",
        "GET /v1/payouts",
        "GET /v1/payouts/{payout}",
        "POST /v1/payouts/{payout}",
        "GET /v1/balance_transactions",
        "GET /v1/events",
        "GET /v1/balance",
    }


# -- every field read, against the objects -----------------------------------------------------


class Reads(dict[str, Any]):
    """A JSON object that records the keys read from it (top level)."""

    def __init__(self, value: Mapping[str, Any], log: set[str]) -> None:
        super().__init__(value)
        self.log = log

    def __getitem__(self, key: str) -> Any:
        self.log.add(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.log.add(key)
        return super().get(key, default)


MAPPINGS: dict[str, tuple[Any, Any]] = {
    "payout": (payout_record, Payout),
    "charge": (charge_record, Charge),
    "refund": (refund_record, Refund),
    "dispute": (dispute_record, Dispute),
    "balance_transaction": (
        lambda raw: balance_transaction_record(raw, "po_1"),
        BalanceTransaction,
    ),
}


@pytest.fixture
def served(exercised: tuple[FakeStripe, Recording]) -> dict[str, list[dict[str, Any]]]:
    """Every object the fake answered, by its ``object``, expanded ones included."""
    _, recording = exercised
    found: dict[str, list[dict[str, Any]]] = {}

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            kind = value.get("object")
            if isinstance(kind, str):
                found.setdefault(kind, []).append(value)
            for inner in value.values():
                walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    for _, body in recording.answers:
        walk(body)
    return found


async def test_every_field_the_mapping_reads_is_a_field_of_the_object(
    served: dict[str, list[dict[str, Any]]],
) -> None:
    problems = []
    for kind, (mapping, _) in MAPPINGS.items():
        assert served.get(kind), f"the fake served no {kind}"
        log: set[str] = set()
        for raw in served[kind]:
            mapping(Reads(raw, log))
        fields = published()["objects"][kind]
        problems += [f"{kind}.{name}" for name in sorted(log) if name not in fields]
    # the feed and the commands read payout events and reconciliation status, refund metadata
    for kind, names in {
        "event": ("id", "type", "created", "data"),
        "payout": ("reconciliation_status",),
        "refund": ("metadata", "status", "failure_reason"),
        "list": ("object", "data", "has_more"),
        "search_result": ("data", "has_more", "next_page"),
    }.items():
        problems += [f"{kind}.{n}" for n in names if n not in published()["objects"][kind]]
    assert problems == []


async def test_a_field_the_definition_lets_be_null_does_not_break_the_mapping(
    served: dict[str, list[dict[str, Any]]],
) -> None:
    """Each field the mapping reads that Stripe may send as null, null: the record is still
    made (a null Stripe may send is no breach of anything)."""
    crashes = []
    for kind, (mapping, record) in MAPPINGS.items():
        fields = published()["objects"][kind]
        raw = served[kind][0]
        log: set[str] = set()
        mapping(Reads(raw, log))
        for name in sorted(log):
            if not fields.get(name, {}).get("nullable"):
                continue
            try:
                parse_record("stripe", record, mapping({**raw, name: None}))
            except Exception as error:
                crashes.append(f"{kind}.{name}: {type(error).__name__}: {error}")
    payout_event("evt_1", "payout.paid", None, None)  # an event without a payout object
    assert crashes == []


# -- the fake serves what the definition describes -----------------------------------------


def _conforms(value: Any, annotation: str, nullable: bool) -> bool:
    if value is None:
        return nullable
    base = annotation.removeprefix("Optional[").removesuffix("]") if nullable else annotation
    if base.startswith("Literal["):
        allowed = re.findall(r"'([^']*)'", base)
        return value in allowed
    if base == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if base == "float":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if base == "bool":
        return isinstance(value, bool)
    if base == "str":
        return isinstance(value, str)
    if base.startswith(("Dict[", "StripeObject", "UntypedStripeObject")):
        return isinstance(value, dict)
    if base.startswith("List["):
        return isinstance(value, list)
    if base.startswith("ExpandableField[") or "ListObject" in base or "Union[" in base:
        return isinstance(value, str | dict)
    return isinstance(value, dict)  # a nested object (``Charge.Outcome``, ...)


async def test_the_fakes_objects_have_only_the_definitions_fields_and_types(
    served: dict[str, list[dict[str, Any]]],
) -> None:
    drift = []
    for kind, objects in sorted(served.items()):
        fields = published()["objects"].get(kind)
        if fields is None:
            continue  # an object the connector never reads
        for raw in objects:
            for name, value in raw.items():
                spec = fields.get(name)
                if spec is None:
                    drift.append(f"{kind}.{name}: no such field")
                elif not _conforms(value, spec["type"], spec["nullable"]):
                    drift.append(f"{kind}.{name}: {value!r} is not {spec['type']}")
    assert sorted(set(drift)) == []
