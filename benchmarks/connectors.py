"""``connectors``: what the Shopify and Stripe connectors get right against the fakes (issue 24).

    PYTHONPATH=src:. .venv/bin/python benchmarks/connectors.py

Everything runs in this process: the fake Shopify and Stripe APIs of ``tests/fakes`` through
``httpx.ASGITransport`` or ``httpx.MockTransport`` over the demo world (seed 7, 160 orders), the
clock simulated (nothing waits). Counts are bounded and small. Printed, one line per point; a
point the code under test cannot do prints ``n/a`` with the reason, so the same command measures
an older checkout of ``src`` (``PYTHONPATH=<old src>:.``):

- ``a tokens``: 48 hourly reads of one order across two days, the shop issuing 24-hour tokens:
  reads answered, with a token taken once by hand (``token_env``) and with the client-credentials
  grant (``client_id``);
- ``b partial``: 20 pickup orders read without ``read_locations``: orders read;
- ``c cost``: 60 orders read from a shop that counts 200 points an order: orders read, queries
  refused with ``MAX_COST_EXCEEDED``;
- ``d lists``: one order with 14 captures and 8 returns: captures and returns read;
- ``e key``: every demo order's captures read from a shop answering no ``authorizationCode``:
  captures whose ``gatewayRef`` is the Stripe charge id;
- ``f feed / sku``: a change indexed late in the same second as the last one read: changes found
  by the next read; a SKU holding a quote: orders found;
- ``g refund``: a refund command replayed after Stripe forgot its key: refunds made; a payout
  paid before Stripe linked its transactions: its transactions counted at once / in all.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import tenacity
from tests.fakes.shopify import FakeShopify, shopify_options
from tests.fakes.stripe import FakeStripe

from omnigraph.demo import DemoWorld, build_world
from omnigraph.settings import SourceConfig
from omnigraph.sources.contract import OrderListFilter
from omnigraph.sources.shopify.adapter import ShopifyStorefrontAdapter
from omnigraph.sources.shopify.client import ShopifyClient
from omnigraph.sources.stripe import StripeClient, StripePaymentsAdapter

TOKEN = "shpat_bench"
UPSTREAM: dict[str, Any] = {
    "timeout_seconds": 5,
    "cache_ttl_seconds": 0,
    "cache_max_entries": 0,
    "redis_key_prefix": "bench",
}


class Clock:
    now = 1_000.0

    def __call__(self) -> float:
        return self.now


def shop_client(
    upstream: FakeShopify | httpx.AsyncBaseTransport,
    clock: Clock | None = None,
    token: str = TOKEN,
    **config: Any,
) -> ShopifyClient:
    """A client of the shop ``upstream`` (a fake, or a transport answering for one) holding
    ``token`` in ``BENCH_SHOP_TOKEN``; ``config`` overrides the source's settings."""
    os.environ["BENCH_SHOP_TOKEN"] = token
    os.environ["BENCH_SHOP_SECRET"] = "secret"
    source = SourceConfig.model_validate(
        {
            "name": "shop",
            "kind": "storefront",
            "type": "shopify",
            "base_url": "https://omni-retail.myshopify.com",
            "options": shopify_options(),
            **({"token_env": "BENCH_SHOP_TOKEN"} | config),
        }
    )
    extra = {"clock": clock} if clock is not None else {}
    if isinstance(upstream, FakeShopify):
        upstream = httpx.ASGITransport(app=upstream.app)
    return ShopifyClient(source, transport=upstream, **UPSTREAM, **extra)


async def point(name: str, measure: Callable[[], Awaitable[str]]) -> None:
    try:
        print(f"{name}: {await measure()}")
    except Exception as error:
        print(f"{name}: n/a ({type(error).__name__}: {str(error).splitlines()[0][:100]})")


async def tokens(world: DemoWorld) -> str:
    order = world.storefront_orders[0]["id"]
    results = []
    for mode in ("token_env", "client_id"):
        clock = Clock()
        fake = FakeShopify(
            world, client_id="cid", client_secret="secret", token_ttl=86_400, clock=clock
        )
        if mode == "token_env":  # a token taken once from the grant, by hand
            grant = await httpx.AsyncClient(
                transport=httpx.ASGITransport(app=fake.app), base_url="https://shop"
            ).post(
                "/admin/oauth/access_token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": "cid",
                    "client_secret": "secret",
                },
            )
            fake.access_token = None
            client = shop_client(fake, token=grant.json()["access_token"])
        else:
            try:
                client = shop_client(
                    fake,
                    clock,
                    token_env=None,
                    client_id="cid",
                    client_secret_env="BENCH_SHOP_SECRET",
                )
            except Exception as error:
                results.append(f"client_id n/a ({type(error).__name__})")
                continue
        adapter = ShopifyStorefrontAdapter(client)
        answered = 0
        for _ in range(48):
            with contextlib.suppress(Exception):
                answered += order in await adapter.orders_by_id([order])
            clock.now += 3600
        results.append(f"{mode} {answered}/48 answered")
        await client.upstream.aclose()
    return ", ".join(results)


async def partial(world: DemoWorld) -> str:
    fake = FakeShopify(world, access_token=TOKEN, denied_scopes=("read_locations",))
    client = shop_client(fake)
    pickups = [o["id"] for o in world.storefront_orders if o["fulfilmentMethod"] == "pickup"][:20]
    try:
        found = await ShopifyStorefrontAdapter(client).orders_by_id(pickups)
    except Exception as error:
        return f"0/{len(pickups)} orders read ({type(error).__name__})"
    finally:
        await client.upstream.aclose()
    return f"{len(found)}/{len(pickups)} orders read"


async def cost(world: DemoWorld) -> str:
    template = None
    refused = 0

    def answer(request: httpx.Request) -> httpx.Response:
        nonlocal refused
        import json

        body = json.loads(request.content)
        ids = body["variables"].get("ids") or []
        if "OmnigraphOrdersByIds" not in body["query"]:
            return httpx.Response(200, json={"data": {"nodes": []}})
        if len(ids) * 200 > 1000:
            refused += 1
            return httpx.Response(
                200,
                json={
                    "errors": [
                        {
                            "message": f"Query cost is {len(ids) * 200}",
                            "extensions": {"code": "MAX_COST_EXCEEDED", "cost": len(ids) * 200},
                        }
                    ]
                },
            )
        nodes = []
        for gid in ids:
            node = copy.deepcopy(template)
            node["id"], node["legacyResourceId"] = gid, gid.rsplit("/", 1)[-1]
            nodes.append(node)
        return httpx.Response(
            200,
            json={
                "data": {"nodes": nodes},
                "extensions": {"cost": {"requestedQueryCost": len(ids) * 200}},
            },
        )

    fake = FakeShopify(world, access_token=TOKEN)
    order = world.storefront_orders[0]
    template = fake._order(fake.order(order["id"]))
    template = {k: v for k, v in template.items() if not callable(v)} | {
        "lineItems": {"nodes": [], "pageInfo": {"hasNextPage": False}},
        "transactions": [],
        "refunds": [],
        "returns": {"nodes": [], "pageInfo": {"hasNextPage": False}},
        "fulfillmentOrders": {"nodes": [], "pageInfo": {"hasNextPage": False}},
    }
    client = shop_client(httpx.MockTransport(answer))
    wanted = [f"SF-{900000 + n}" for n in range(60)]
    try:
        found = await ShopifyStorefrontAdapter(client).orders_by_id(wanted)
        read = len(found)
    except Exception as error:
        read = 0
        return f"0/60 orders read ({type(error).__name__}), {refused} queries refused"
    finally:
        await client.upstream.aclose()
    return f"{read}/60 orders read, {refused} queries refused"


async def lists(world: DemoWorld) -> str:
    fake = FakeShopify(world, access_token=TOKEN)
    source = next(o for o in world.storefront_orders if o["returns"])
    order = fake.order(source["id"])
    capture = next(t for t in order["transactions"] if t["kind"] == "capture")
    for n in range(13):
        order["transactions"].append(
            copy.deepcopy(capture) | {"id": f"TX-9{n:05d}", "gatewayRef": f"ch_b{n}"}
        )
    for n in range(7):
        order["returns"].append(copy.deepcopy(order["returns"][0]) | {"id": f"RMA-9{n:05d}"})
    client = shop_client(fake)
    try:
        found = (await ShopifyStorefrontAdapter(client).orders_by_id([order["id"]]))[order["id"]]
    finally:
        await client.upstream.aclose()
    captures = sum(t.kind == "capture" for t in found.transactions)
    return f"{captures}/14 captures, {len(found.returns)}/8 returns read"


async def key(world: DemoWorld) -> str:
    fake = FakeShopify(world, access_token=TOKEN)
    client = shop_client(fake)
    ids = [o["id"] for o in world.storefront_orders]
    try:
        found = await ShopifyStorefrontAdapter(client).orders_by_id(ids)
    finally:
        await client.upstream.aclose()
    captures = [t for o in found.values() for t in o.transactions if t.kind == "capture"]
    stripe = sum(str(t.gateway_ref).startswith("ch_") for t in captures)
    return f"{stripe}/{len(captures)} captures carry the Stripe charge id"


async def feed_and_sku(world: DemoWorld) -> str:
    index = [(7, "2026-11-21T10:00:00Z")]

    def answer(request: httpx.Request) -> httpx.Response:
        import json

        query = json.loads(request.content)["variables"].get("query")
        rows = index
        if query:
            bound = query.split(":", 1)[1].lstrip(">=").strip("\"'")
            inclusive = ">=" in query
            rows = [
                (n, at)
                for n, at in index
                if (at.replace("Z", "+00:00") >= bound if inclusive else at > bound)
            ]
        nodes = [{"legacyResourceId": str(n), "updatedAt": at} for n, at in rows]
        return httpx.Response(
            200, json={"data": {"orders": {"nodes": nodes, "pageInfo": {"hasNextPage": False}}}}
        )

    client = shop_client(httpx.MockTransport(answer), options={"order_id_prefix": "SF-"})
    _, cursor, _ = await client.changes(None, 50)
    index.append((8, "2026-11-21T10:00:00Z"))
    late, _, _ = await client.changes(cursor, 50)
    await client.upstream.aclose()

    fake = FakeShopify(world, access_token=TOKEN)
    target = world.storefront_orders[3]["id"]
    fake.order(target)["lines"][0]["sku"] = "O'NEIL-001"
    shop = shop_client(fake)
    try:
        page = await ShopifyStorefrontAdapter(shop).list_orders(
            limit=50, cursor=None, filter=OrderListFilter(sku="O'NEIL-001")
        )
        sku = f"{len(page.orders)}/1 orders found by a SKU holding a quote"
    except Exception as error:
        sku = f"0/1 orders found by a SKU holding a quote ({type(error).__name__})"
    finally:
        await shop.upstream.aclose()
    found = [e["recordId"] for e in late]
    return f"{found.count('SF-8')}/1 late change found ({len(found)} events), {sku}"


async def refunds(world: DemoWorld) -> str:
    fake = FakeStripe(world, secret_key="sk_bench")
    os.environ["BENCH_STRIPE_KEY"] = "sk_bench"
    client = StripeClient(
        SourceConfig.model_validate(
            {
                "name": "stripe",
                "kind": "payments",
                "type": "stripe",
                "base_url": "https://api.stripe.com",
                "token_env": "BENCH_STRIPE_KEY",
            }
        ),
        transport=httpx.ASGITransport(app=fake.app),
        retry_wait=tenacity.wait_none(),
        **UPSTREAM,
    )
    charge = next(c for c in world.charges if c["amount_refunded"] == 0)
    payload = {"charge": charge["id"], "amount": "100"}
    await client.command("refund.create", payload, "cmd-bench-1")
    fake.forget_idempotency_keys()
    await client.command("refund.create", payload, "cmd-bench-1")
    made = len(fake.charges[charge["id"]]["refunds"])
    payout = next(p for p in world.payouts if p["status"] == "paid")
    total = sum(t["payout"] == payout["id"] for t in fake.transactions)
    fake.reconciling.add(payout["id"])
    adapter = StripePaymentsAdapter(client)
    statuses = getattr(adapter, "reconciliation_statuses", None)
    waits = statuses is not None and (await statuses([payout["id"]]))[payout["id"]] == "in_progress"
    listed = len((await adapter.balance_transactions_by_payout([payout["id"]]))[payout["id"]])
    await client.upstream.aclose()
    counted = 0 if waits else listed
    return (
        f"{made} refund(s) made for one command; a payout being linked: {counted}/{total}"
        f" transactions reconciled at once ({'deferred' if waits else 'reconciled'})"
    )


async def main() -> None:
    world = build_world(seed=7, orders=160, anchor=datetime(2026, 11, 20, tzinfo=UTC))
    await point("a tokens", lambda: tokens(world))
    await point("b partial", lambda: partial(world))
    await point("c cost", lambda: cost(world))
    await point("d lists", lambda: lists(world))
    await point("e key", lambda: key(world))
    await point("f feed / sku", lambda: feed_and_sku(world))
    await point("g refund / payout", lambda: refunds(world))


if __name__ == "__main__":
    asyncio.run(main())
