"""Mixing sources (issue 10): Shopify as the storefront, the demo ERP and WMS, Stripe as the
payments provider, end to end through ``create_app``, answer as the all-demo configuration does
over the same demo world.

Two services run side by side, each on a database and source systems of its own, built from
the one demo world: *demo* (the four demo systems, the reference) and *mixed* (the fake Shopify
Admin GraphQL API and the fake Stripe API over the world's storefront orders and payments, the
demo ERP and WMS over real loopback HTTP). Both do the same background work (the WMS's
exception reports, the ledger, the disagreement detector, payments sync, payout reconciliation
and the returns sweep, on the world's clock), then the contract's queries are asked of both
and the canonical answers compared whole, after translating what names a source and the
documented differences below (:func:`as_demo`).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from tests.conftest import ANCHOR, Graph, make_settings, services_of, serving
from tests.databases import scratch_databases
from tests.fakes.shopify import FakeShopify, shopify_options
from tests.fakes.stripe import FakeStripe
from tests.helpers import LINE_KINDS, reconcile_payouts

from omnigraph.app import create_app, demo_sources_config
from omnigraph.core.ids import decode_global_id, encode_global_id
from omnigraph.demo import DemoSystems, DemoWorld
from omnigraph.exceptions.catalogue import ExceptionCatalogue
from omnigraph.exceptions.source_reports import SourceReportReader
from omnigraph.inventory.ledger import LedgerReader
from omnigraph.orders.authority import AuthorityRules
from omnigraph.orders.detector import DisagreementDetector
from omnigraph.runtime.services import Services
from omnigraph.settings import QueryLimits, SourcesConfig
from omnigraph.sources.stripe.webhooks import signature_header

SHOP_TOKEN = "shpat_mixed_0123456789"
SHOP_SECRET = "shopify-client-secret-mixed"
STRIPE_KEY = "sk_test_mixed_0123456789"
STRIPE_SECRET = "whsec_mixed_0123456789"
ENV = {
    "OMNIGRAPH_TEST_MIXED_SHOP_TOKEN": SHOP_TOKEN,
    "OMNIGRAPH_TEST_MIXED_SHOP_SECRET": SHOP_SECRET,
    "OMNIGRAPH_TEST_MIXED_STRIPE_KEY": STRIPE_KEY,
    "OMNIGRAPH_TEST_MIXED_STRIPE_SECRET": STRIPE_SECRET,
}
SHOP_DOMAIN = "omni-retail.myshopify.com"

# The mixed configuration's source names, and the demo configuration's for the same systems.
SOURCE_NAMES = {"shop": "web-store", "erp": "erp", "wms": "wms", "stripe": "psp"}

# ---------------------------------------------------------------------------------------------
# The documented differences: what the mixed configuration answers otherwise, and why. Each is
# applied to the demo configuration's answer by ``as_demo`` below; nothing else may differ.
# ---------------------------------------------------------------------------------------------
DIFFERENCES = {
    "source names": "provenance, claims, external refs, payments, payouts and exception owners"
    " name the source as configured ('shop', 'stripe' instead of 'web-store', 'psp'), and"
    " so do Order and Payout global ids and an exception's subject ('shop:SF-100067')",
    "storefront transaction ids": "a storefront transaction's id is Shopify's numeric"
    " OrderTransaction id ('123' for the demo's 'TX-000123'); reconciliation names it as the"
    " counterpart of a charge or refund",
    "customer ids": "a customer's id is Shopify's numeric customer id ('82' for 'CUS-0082')",
    "adjustment category": "Stripe reports a plain adjustment's reporting category as"
    " 'other_adjustment' (the demo says 'adjustment'; the reconciler's type is the same)",
    "disagreement detectedAt": "when the graph computed a disagreement: the time of each query,"
    " not data, so it is left out of both answers",
    "cursors": "opaque: they carry each storefront's own page cursors, so they are left out",
}
# What the mixed configuration keeps the same although the models differ, checked by these
# tests rather than assumed: the demo storefront's 'ready_for_pickup' (Shopify: IN_PROGRESS ->
# 'unfulfilled'), 'invoiced' (Shopify: PENDING) and cancelRequestedAt (Shopify: none) are
# storefront claims the graph never serves where the WMS or the ERP owns the field, and a charge's
# disputes (empty from Stripe) are read by the reconciler from the disputes themselves.

_TX = re.compile(r"\bTX-0*(\d+)\b")
_CUSTOMER = re.compile(r"^CUS-0*(\d+)$")
_GLOBAL_ID_TYPES = ("Order", "Payout")


def as_demo(value: Any) -> Any:
    """A mixed configuration's answer in the demo configuration's source names."""
    if isinstance(value, dict):
        return {key: as_demo(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_demo(item) for item in value]
    if isinstance(value, str):
        if value in SOURCE_NAMES:
            return SOURCE_NAMES[value]
        source, colon, ref = value.partition(":")
        if colon and source in SOURCE_NAMES:  # an exception's subject: "shop:SF-100067"
            return f"{SOURCE_NAMES[source]}:{ref}"
        return _rename_global_id(value)
    return value


def _rename_global_id(value: str) -> str:
    try:
        type_name, parts = decode_global_id(value)
    except Exception:
        return value
    if type_name not in _GLOBAL_ID_TYPES or parts[0] not in SOURCE_NAMES:
        return value
    return encode_global_id(type_name, SOURCE_NAMES[parts[0]], *parts[1:])


def with_documented_differences(value: Any, key: str = "") -> Any:
    """The demo configuration's answer as the mixed one differs from it by design
    (:data:`DIFFERENCES`), and without what is not data (detectedAt of a disagreement, cursors)."""
    if isinstance(value, dict):
        return {
            k: with_documented_differences(v, k)
            for k, v in value.items()
            if k not in ("cursor", "endCursor", "startCursor")
            and not (k == "detectedAt" and "authoritative" in value)
        }
    if isinstance(value, list):
        return [with_documented_differences(item, key) for item in value]
    if isinstance(value, str):
        if key == "reportingCategory" and value == "adjustment":
            return "other_adjustment"
        value = _TX.sub(r"\1", value)
        return _CUSTOMER.sub(r"\1", value) if key == "id" else value
    return value


def differences(expected: Any, got: Any, path: str = "") -> list[str]:
    """Where two answers differ, as ``path: expected != got`` (a readable failure)."""
    if isinstance(expected, dict) and isinstance(got, dict):
        return [
            line
            for key in dict.fromkeys([*expected, *got])
            for line in differences(expected.get(key), got.get(key), f"{path}.{key}")
        ]
    if isinstance(expected, list) and isinstance(got, list) and len(expected) == len(got):
        return [
            line
            for n, (a, b) in enumerate(zip(expected, got, strict=True))
            for line in differences(a, b, f"{path}[{n}]")
        ]
    return [] if expected == got else [f"{path}: {expected!r} != {got!r}"]


def comparable(answer: Any, *, mixed: bool) -> Any:
    translated = as_demo(answer) if mixed else answer
    # both sides through the same filter: only the demo side has the demo's ids to rewrite
    return with_documented_differences(translated)


# ---------------------------------------------------------------------------------------------
# The two services
# ---------------------------------------------------------------------------------------------


@dataclass
class Service:
    app: Starlette
    graph: Graph
    storefront: str
    payments: str

    @property
    def services(self) -> Services:
        return services_of(self.app)

    async def query(self, document: str, **variables: Any) -> dict[str, Any]:
        body = await self.graph.query(document, **variables)
        assert "errors" not in body, body["errors"]
        data: dict[str, Any] = body["data"]
        return data


@dataclass
class Pair:
    demo: Service
    mixed: Service
    shop: FakeShopify
    stripe: FakeStripe
    demo_systems: DemoSystems
    world: DemoWorld

    async def both(self, document: str, **variables: Any) -> tuple[Any, Any]:
        """The same query asked of both, each answer made comparable."""
        demo = await self.demo.query(document, **variables)
        mixed = await self.mixed.query(document, **variables)
        return comparable(demo, mixed=False), comparable(mixed, mixed=True)


def mixed_config(erp_url: str, wms_url: str) -> SourcesConfig:
    return SourcesConfig.model_validate(
        {
            "sources": [
                {
                    "name": "shop",
                    "kind": "storefront",
                    "type": "shopify",
                    "base_url": f"https://{SHOP_DOMAIN}",
                    "token_env": "OMNIGRAPH_TEST_MIXED_SHOP_TOKEN",
                    "webhook_secret_env": "OMNIGRAPH_TEST_MIXED_SHOP_SECRET",
                    # the record cache on, so a webhook's effect (dropping it) is visible
                    "cache_ttl_seconds": 600,
                    "options": shopify_options(),
                },
                {"name": "erp", "kind": "erp", "base_url": erp_url},
                {"name": "wms", "kind": "wms", "base_url": wms_url},
                {
                    "name": "stripe",
                    "kind": "payments",
                    "type": "stripe",
                    "base_url": "https://api.stripe.test",
                    "token_env": "OMNIGRAPH_TEST_MIXED_STRIPE_KEY",
                    "webhook_secret_env": "OMNIGRAPH_TEST_MIXED_STRIPE_SECRET",
                },
            ]
        }
    )


@contextlib.asynccontextmanager
async def serve(app: Starlette, storefront: str, payments: str) -> AsyncIterator[Service]:
    async with serving(app) as client:
        yield Service(app, Graph(client), storefront, payments)


async def settle(services: Services) -> None:
    """The background work of a running service, once, on the demo world's clock."""
    await SourceReportReader(
        services.sessions, services.registry, services.get(ExceptionCatalogue)
    ).sync_once()
    await LedgerReader(services.sessions, services.registry).sync_once()
    await DisagreementDetector(
        services.sessions,
        services.registry,
        services.get(AuthorityRules),
        services.get(ExceptionCatalogue),
    ).scan(now=ANCHOR)
    await reconcile_payouts(services)


@pytest.fixture(scope="module")
async def pair(
    world: DemoWorld, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Pair]:
    settings = {"limits": QueryLimits(max_cost=10_000_000, max_tokens=10_000)}
    # a bucket no test run empties: waiting for it is tested in tests/sources/shopify
    shop = FakeShopify(world, access_token=SHOP_TOKEN, bucket_size=10**7, restore_rate=10**6)
    stripe = FakeStripe(world, secret_key=STRIPE_KEY)
    with pytest.MonkeyPatch.context() as env:
        for name, value in ENV.items():
            env.setenv(name, value)
        async with (
            DemoSystems(world) as reference,
            DemoSystems(world) as back_office,
            scratch_databases(
                database_url, tmp_path_factory.mktemp("mixed"), 2, prefix="omnigraph_mixed"
            ) as (first, second),
        ):
            demo_app = create_app(
                make_settings(first, **settings), sources=demo_sources_config(reference.urls)
            )
            mixed_app = create_app(
                make_settings(second, **settings),
                sources=mixed_config(back_office.urls["erp"], back_office.urls["wms"]),
                transports={
                    "shop": httpx.ASGITransport(app=shop.app),
                    "stripe": httpx.ASGITransport(app=stripe.app),
                },
            )
            async with (
                serve(demo_app, "web-store", "psp") as demo,
                serve(mixed_app, "shop", "stripe") as mixed,
            ):
                await settle(demo.services)
                await settle(mixed.services)
                yield Pair(demo, mixed, shop, stripe, reference, world)


# ---------------------------------------------------------------------------------------------
# The contract's queries
# ---------------------------------------------------------------------------------------------

PROVENANCE = "field source sourceKind recordRef asOf authoritative"
CLAIM = "source sourceKind value asOf recordRef"
MONEY = "amount currency"
ORDER = f"""
  id name channel fulfilmentMethod placedAt state channelState currency financialStatus
  externalRefs {{ source sourceKind ref }}
  customer {{ id name email }}
  totals {{ subtotal {{ {MONEY} }} discount {{ {MONEY} }} shipping {{ {MONEY} }}
            tax {{ {MONEY} }} total {{ {MONEY} }} }}
  lines {{ sku title quantity unitPrice {{ {MONEY} }} allocated cancelled backordered picked
           packed shipped short damaged returned provenance {{ {PROVENANCE} }} }}
  shipments {{ id carrier trackingNumber shippedAt deliveredAt locationId
               lines {{ sku quantity }} }}
  payments {{ id source status amount {{ {MONEY} }} captured {{ {MONEY} }}
              refunded {{ {MONEY} }} createdAt }}
  provenance {{ {PROVENANCE} }}
  disagreements {{ field detectedAt authoritative {{ {CLAIM} }} others {{ {CLAIM} }} }}
  exceptions {{ kind status severity ownerSource ownerKind subject summary detectedAt
                allowedResolutions details }}
"""
ORDERS_PAGE = f"""query($after: String, $filter: OrderFilter) {{
  orders(first: 100, after: $after, filter: $filter) {{
    edges {{ node {{ {ORDER} }} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}"""
LISTED = """query($after: String, $filter: OrderFilter) {
  orders(first: 100, after: $after, filter: $filter) {
    edges { node { id name channel placedAt state disagreements { field } } }
    pageInfo { hasNextPage endCursor }
  }
}"""
ORDER_BY_REF = f"""query($source: String!, $ref: String!) {{
  orderByRef(source: $source, ref: $ref) {{ {ORDER} }}
}}"""
ORDER_BY_ID = f"""query($id: ID!) {{ order(id: $id) {{ {ORDER} }} }}"""


async def every_order(
    service: Service, filter: dict[str, Any] | None = None, document: str = ORDERS_PAGE
) -> list[Any]:
    """Every order the service lists, following its own cursors."""
    orders: list[Any] = []
    after = None
    while True:
        data = await service.query(document, after=after, filter=filter)
        orders += [edge["node"] for edge in data["orders"]["edges"]]
        if not data["orders"]["pageInfo"]["hasNextPage"]:
            return orders
        after = data["orders"]["pageInfo"]["endCursor"]


async def test_every_order_is_answered_the_same(pair: Pair) -> None:
    """Every field of every order, from all four systems: lines, money, shipments, payments,
    provenance, disagreements and the order's exceptions."""
    demo = comparable(await every_order(pair.demo), mixed=False)
    mixed = comparable(await every_order(pair.mixed), mixed=True)

    assert len(demo) == len(pair.world.storefront_orders)
    assert [o["id"] for o in mixed] == [o["id"] for o in demo]  # newest first, alike
    found = differences(demo, mixed)
    assert not found, "\n".join(found)


def refs_of(world: DemoWorld, order_id: str) -> dict[str, str]:
    """The order's id in each of the four systems (storefront, ERP, WMS, a charge)."""
    refs = {"storefront": order_id}
    refs["erp"] = next(s["id"] for s in world.erp_sales_orders if s["orderRef"] == order_id)
    refs["wms"] = next(f["id"] for f in world.wms_fulfilment_orders if f["orderRef"] == order_id)
    refs["payments"] = next(
        c["id"] for c in world.charges if c["metadata"].get("order_ref") == order_id
    )
    return refs


def a_partial_refund_with_a_return(world: DemoWorld) -> str:
    return next(
        o["id"]
        for o in world.storefront_orders
        if o["financialStatus"] == "partially_refunded" and o["returns"]
    )


def a_cancelled_order(world: DemoWorld) -> str:
    return next(
        o["id"]
        for o in world.storefront_orders
        if o["status"] == "cancelled"
        and any(c["metadata"].get("order_ref") == o["id"] for c in world.charges)
        and any(f["orderRef"] == o["id"] for f in world.wms_fulfilment_orders)
    )


async def test_the_support_lookup_finds_an_order_by_its_id_in_any_of_the_four_systems(
    pair: Pair,
) -> None:
    world = pair.world
    for order_id in (a_partial_refund_with_a_return(world), a_cancelled_order(world)):
        refs = refs_of(world, order_id)
        demo_names = {"storefront": "web-store", "erp": "erp", "wms": "wms", "payments": "psp"}
        mixed_names = {"storefront": "shop", "erp": "erp", "wms": "wms", "payments": "stripe"}
        answers = []
        for kind, ref in refs.items():
            demo = await pair.demo.query(ORDER_BY_REF, source=demo_names[kind], ref=ref)
            mixed = await pair.mixed.query(ORDER_BY_REF, source=mixed_names[kind], ref=ref)
            assert demo["orderByRef"] is not None, (kind, ref)
            expected, got = comparable(demo, mixed=False), comparable(mixed, mixed=True)
            found = differences(expected, got)
            assert not found, "\n".join(found)
            answers.append(got)
        assert all(answer == answers[0] for answer in answers)  # one order, whichever ref
        by_id = await pair.mixed.query(ORDER_BY_ID, id=encode_global_id("Order", "shop", order_id))
        assert comparable(by_id["order"], mixed=True) == answers[0]["orderByRef"]


async def test_a_partial_refund_with_a_return_reads_from_shopify_and_stripe(pair: Pair) -> None:
    """What the comparison above stands on: the mixed answer did come from Shopify and Stripe."""
    order_id = a_partial_refund_with_a_return(pair.world)
    data = await pair.mixed.query(
        """query($id: ID!) { order(id: $id) {
             financialStatus externalRefs { source ref }
             payments { source refunded { amount } }
             provenance(field: "placedAt") { source sourceKind recordRef } } }""",
        id=encode_global_id("Order", "shop", order_id),
    )
    order = data["order"]
    assert {"source": "shop", "ref": order_id} in order["externalRefs"]
    assert order["provenance"] == [
        {"source": "shop", "sourceKind": "STOREFRONT", "recordRef": order_id}
    ]
    assert {p["source"] for p in order["payments"]} == {"stripe"}
    assert any(p["refunded"]["amount"] != "0.00" for p in order["payments"])
    assert order["financialStatus"] == "PARTIALLY_REFUNDED"
    assert pair.shop.calls["OmnigraphReturnsByIds"] > 0  # its return was read from Shopify


async def test_filtered_order_listings_are_the_same(pair: Pair) -> None:
    world = pair.world
    placed = sorted(o["placedAt"] for o in world.storefront_orders)
    filters: list[dict[str, Any]] = [
        {"hasDisagreement": True},
        {"channel": "marketplace"},
        {"states": ["CANCELLED", "RETURNED", "PARTIALLY_RETURNED"]},
        {"sku": world.storefront_orders[0]["lines"][0]["sku"]},
        # the window is half-open: an order placed exactly at placedTo is left out
        {"placedFrom": placed[40], "placedTo": placed[60]},
    ]
    for filter in filters:
        # every field of every order is compared above; here, which orders and in what order
        demo = comparable(await every_order(pair.demo, filter, LISTED), mixed=False)
        mixed = comparable(await every_order(pair.mixed, filter, LISTED), mixed=True)
        assert demo, filter
        found = differences(demo, mixed)
        assert not found, f"{filter}: " + "\n".join(found)
    window = await every_order(pair.mixed, filters[-1], LISTED)
    assert len(window) == 20


PAYOUTS = f"""query($after: String) {{
  payouts(first: 100, after: $after) {{
    edges {{ node {{
      id source ref amount {{ {MONEY} }} status arrivalDate createdAt
      balanceTransactions {{ id type reportingCategory amount {{ {MONEY} }} fee {{ {MONEY} }}
                             net {{ {MONEY} }} sourceRef createdAt }}
      reconciliation {{
        status variance {{ {MONEY} }} expected {{ {MONEY} }} gross {{ {MONEY} }}
        refunds {{ {MONEY} }} fees {{ {MONEY} }} disputes {{ {MONEY} }}
        adjustments {{ {MONEY} }} transactionCount unmatchedCount reconciledAt
        unmatchedItems {{ key transactionId type category amount {{ {MONEY} }} status reason
                          orderRef counterpart difference {{ {MONEY} }} occurredAt }}
      }}
    }} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
  reconciliationSummary(from: "2026-09-01T00:00:00Z", to: "2026-12-01T00:00:00Z") {{
    payouts {{ status count amount {{ {MONEY} }} variance {{ {MONEY} }} }}
    totals {{ category amount {{ {MONEY} }} }}
    unmatched {{ status count }}
  }}
}}"""


async def test_payouts_reconcile_the_same_with_the_same_planted_mismatches(pair: Pair) -> None:
    demo, mixed = await pair.both(PAYOUTS)

    found = differences(demo, mixed)
    assert not found, "\n".join(found)
    payouts = [edge["node"] for edge in mixed["payouts"]["edges"]]
    assert len(payouts) == len(pair.world.payouts)
    assert {p["ref"] for p in payouts if p["reconciliation"]["status"] == "VARIANCE"} == {
        planted.record_ref for planted in pair.world.planted_of("payout_variance")
    }
    flagged = {
        item["key"]: item["status"]
        for payout in payouts
        for item in payout["reconciliation"]["unmatchedItems"]
    }
    expected = {
        f"return:{p.record_ref}" if kind == "return_without_refund" else f"txn:{p.record_ref}": s
        for kind, s in LINE_KINDS.items()
        for p in pair.world.planted_of(kind)
        if p.record_ref in flagged or kind != "return_without_refund"
    }
    assert {k: v for k, v in flagged.items() if k in expected} == expected


EXCEPTIONS = """query($after: String) {
  exceptions(first: 100, after: $after) {
    edges { node { kind status severity ownerSource ownerKind subject summary detectedAt
                   resolution lastError details allowedResolutions
                   history { at status actor note } } }
    pageInfo { hasNextPage endCursor }
  }
}"""


async def every_exception(service: Service) -> list[Any]:
    found: list[Any] = []
    after = None
    while True:
        data = await service.query(EXCEPTIONS, after=after)
        found += [edge["node"] for edge in data["exceptions"]["edges"]]
        if not data["exceptions"]["pageInfo"]["hasNextPage"]:
            break
        after = data["exceptions"]["pageInfo"]["endCursor"]
    # each service numbers its own exceptions: compare them in one order, by what they are
    return sorted(found, key=lambda e: (e["kind"], e["subject"], json.dumps(e["details"])))


async def test_the_exceptions_raised_are_the_same(pair: Pair) -> None:
    demo = comparable(await every_exception(pair.demo), mixed=False)
    mixed = comparable(await every_exception(pair.mixed), mixed=True)

    assert {e["kind"] for e in demo} >= {
        "LATE_CANCELLATION",
        "STATE_DISAGREEMENT",
        "PRICE_DISAGREEMENT",
        "PAYOUT_MISMATCH",
        "SHORT_PICK",
    }
    found = differences(demo, mixed)
    assert not found, "\n".join(found)


AVAILABILITY = """query($skus: [String!]!, $channel: String!, $promise: Promise!) {
  availability(skus: $skus, channel: $channel, promise: $promise) {
    id sku locationId channel promise availableQuantity onHand buckets { name quantity }
    asOf explanation
  }
}"""


async def test_availability_is_the_same(pair: Pair) -> None:
    skus = sorted({item["sku"] for item in pair.world.erp_items})[:20]
    for channel, promise in (("web", "SHIP"), ("store-pickup", "SAME_DAY_PICKUP")):
        demo, mixed = await pair.both(AVAILABILITY, skus=skus, channel=channel, promise=promise)
        assert demo["availability"]
        found = differences(demo, mixed)
        assert not found, "\n".join(found)


# ---------------------------------------------------------------------------------------------
# Webhooks through the whole service (these change the mixed world: they run last)
# ---------------------------------------------------------------------------------------------

STATE = """query($id: ID!) { order(id: $id) {
  state provenance(field: "state") { source sourceKind authoritative } } }"""


def shopify_headers(body: bytes, topic: str, webhook_id: str) -> dict[str, str]:
    digest = hmac.new(SHOP_SECRET.encode(), body, hashlib.sha256).digest()
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-Shop-Domain": SHOP_DOMAIN,
        "X-Shopify-API-Version": "2026-10",
        "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
    }


async def test_a_shopify_orders_updated_webhook_shows_the_change_in_the_graph(
    pair: Pair,
) -> None:
    in_the_warehouse = {f["orderRef"] for f in pair.world.wms_fulfilment_orders}
    order_id = next(
        o["id"]
        for o in pair.world.storefront_orders
        if o["status"] == "open" and o["id"] not in in_the_warehouse
    )
    global_id = encode_global_id("Order", "shop", order_id)
    before = await pair.mixed.query(STATE, id=global_id)
    assert before["order"]["state"] == "PLACED"

    # staff cancel the order in Shopify's admin
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=pair.shop.app), base_url=f"https://{SHOP_DOMAIN}"
    ) as admin:
        response = await admin.post(
            "/admin/api/2026-10/graphql.json",
            headers={"X-Shopify-Access-Token": SHOP_TOKEN},
            json={
                "query": """mutation($id: ID!) { orderCancel(orderId: $id, reason: CUSTOMER,
                    restock: true) { job { id } orderCancelUserErrors { message } } }""",
                "variables": {"id": f"gid://shopify/Order/{order_id.removeprefix('SF-')}"},
            },
        )
    assert response.json()["data"]["orderCancel"]["orderCancelUserErrors"] == []
    reads = pair.shop.calls["OmnigraphOrdersByIds"]
    cached = await pair.mixed.query(STATE, id=global_id)
    assert cached["order"]["state"] == "PLACED"  # the record cache has not heard yet
    assert pair.shop.calls["OmnigraphOrdersByIds"] == reads

    payload = {
        "id": int(order_id.removeprefix("SF-")),
        "admin_graphql_api_id": f"gid://shopify/Order/{order_id.removeprefix('SF-')}",
        "updated_at": pair.shop.order(order_id)["updatedAt"],
        "cancelled_at": pair.shop.order(order_id)["cancelledAt"],
        "cancel_reason": "customer",
    }
    body = json.dumps(payload).encode()
    answers_kept = pair.mixed.app.state.response_cache.generation
    webhook = await pair.mixed.graph.client.post(
        "/webhooks/shopify", content=body, headers=shopify_headers(body, "orders/updated", "w-1")
    )
    forged = await pair.mixed.graph.client.post(
        "/webhooks/shopify",
        content=body.replace(b"customer", b"fraud"),
        headers=shopify_headers(body, "orders/updated", "w-2"),
    )

    assert webhook.status_code == 200, webhook.text
    assert webhook.json()["status"] == "accepted"
    assert forged.status_code == 401
    # the accepted delivery forgot every kept answer; the forged one nothing
    assert pair.mixed.app.state.response_cache.generation == answers_kept + 1
    after = await pair.mixed.query(STATE, id=global_id)
    assert after["order"] == {
        "state": "CANCELLED",
        "provenance": [{"source": "shop", "sourceKind": "STOREFRONT", "authoritative": False}],
    }
    assert pair.shop.calls["OmnigraphOrdersByIds"] == reads + 1  # read again, once


PAYOUT = """query($id: ID!) { payout(id: $id) {
  status reconciliation { status variance { amount } reconciledAt } } }"""


async def test_a_stripe_payout_paid_webhook_reconciles_the_payout_in_the_graph(
    pair: Pair,
) -> None:
    payout_id = next(p["id"] for p in pair.world.payouts if p["status"] != "paid")
    global_id = encode_global_id("Payout", "stripe", payout_id)
    before = await pair.mixed.query(PAYOUT, id=global_id)
    assert before["payout"]["status"] != "paid"
    assert before["payout"]["reconciliation"]["status"] == "UNRECONCILED"

    pair.stripe.payouts[payout_id]["status"] = "paid"  # the money reached the bank
    event = pair.stripe.emit(
        "payout.paid", payout_id, max(e["created"] for e in pair.stripe.events) + 1
    )
    body = json.dumps(event).encode()
    response = await pair.mixed.graph.client.post(
        "/webhooks/stripe",
        content=body,
        headers={
            "Stripe-Signature": signature_header(body, STRIPE_SECRET, timestamp=int(time.time()))
        },
    )
    unsigned = await pair.mixed.graph.client.post("/webhooks/stripe", content=body)

    assert response.status_code == 200, response.text
    assert response.json()["payout"] == payout_id
    assert unsigned.status_code == 400
    after = (await pair.mixed.query(PAYOUT, id=global_id))["payout"]
    assert after["status"] == "paid"
    assert after["reconciliation"]["status"] == response.json()["status"] == "RECONCILED"
    assert after["reconciliation"]["variance"]["amount"] == "0.00"
    assert after["reconciliation"]["reconciledAt"] is not None


async def _post_event(pair: Pair, event_type: str, payout_id: str) -> Any:
    event = pair.stripe.emit(
        event_type, payout_id, max(e["created"] for e in pair.stripe.events) + 1
    )
    body = json.dumps(event).encode()
    return await pair.mixed.graph.client.post(
        "/webhooks/stripe",
        content=body,
        headers={
            "Stripe-Signature": signature_header(body, STRIPE_SECRET, timestamp=int(time.time()))
        },
    )


async def test_a_payout_is_reconciled_only_once_stripe_has_linked_its_transactions(
    pair: Pair,
) -> None:
    """payout.paid can arrive before Stripe lists all of the payout's balance transactions
    (reconciliation_status in_progress): it is deferred, not reconciled into a false variance,
    and payout.reconciliation_completed reconciles it."""
    payout_id = [p["id"] for p in pair.world.payouts if p["status"] != "paid"][-1]
    global_id = encode_global_id("Payout", "stripe", payout_id)
    before = (await pair.mixed.query(PAYOUT, id=global_id))["payout"]["reconciliation"]
    pair.stripe.reconciling.add(payout_id)
    pair.stripe.payouts[payout_id]["status"] = "paid"

    early = await _post_event(pair, "payout.paid", payout_id)

    assert early.status_code == 200, early.text
    assert early.json()["deferred"] is True
    assert (await pair.mixed.query(PAYOUT, id=global_id))["payout"]["reconciliation"] == before

    pair.stripe.reconciling.discard(payout_id)  # every transaction is listable now
    done = await _post_event(pair, "payout.reconciliation_completed", payout_id)

    assert done.status_code == 200, done.text
    assert "deferred" not in done.json()
    after = (await pair.mixed.query(PAYOUT, id=global_id))["payout"]["reconciliation"]
    assert after["status"] == done.json()["status"] != "VARIANCE"  # every transaction counted
    assert after["variance"]["amount"] == "0.00"
    assert after["reconciledAt"] != before["reconciledAt"]
