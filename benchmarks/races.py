"""``races``: deliveries and mutations that race each other are taken in once (issue 18, 10-11).

    PYTHONPATH=src .venv/bin/python benchmarks/races.py [--copies 20] [--calls 200]

Everything runs in this process over loopback: the demo ERP and WMS over HTTP, the fake Stripe
and Shopify APIs (``tests/fakes``) through ``httpx.ASGITransport``, the service through
``create_app`` on a temporary SQLite database (``OMNIGRAPH_BENCH_DATABASE_URL`` names another,
e.g. a PostgreSQL database of your own; its rows are left there). Printed, one line each:

- ``stripe``: ``--copies`` concurrent copies of one genuine ``payout.paid`` event; how many
  answers were not duplicates, and the Stripe API calls they made against one delivery's;
- ``shopify``: one signed body delivered, then again with another ``X-Shopify-Webhook-Id``, then
  again to a new app instance on the same database (no Redis): each answer's status;
- ``resolveException``: ``--calls`` concurrent calls with one idempotency key, through the
  ASGI app; the answers by code (``ok`` for the exception), and the commands written.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select
from starlette.applications import Starlette

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import ANCHOR, make_settings  # noqa: E402
from tests.fakes.shopify import FakeShopify, shopify_options  # noqa: E402
from tests.fakes.stripe import FakeStripe  # noqa: E402
from tests.helpers import wms_short_pick  # noqa: E402

from omnigraph.app import create_app  # noqa: E402
from omnigraph.core.ids import encode_global_id  # noqa: E402
from omnigraph.db.models import OutboxCommandRow  # noqa: E402
from omnigraph.demo import DemoSystems, build_world  # noqa: E402
from omnigraph.exceptions.catalogue import ExceptionCatalogue  # noqa: E402
from omnigraph.exceptions.intake import take_in  # noqa: E402
from omnigraph.runtime.services import Services  # noqa: E402
from omnigraph.settings import SourcesConfig  # noqa: E402
from omnigraph.sources.stripe.webhooks import signature_header  # noqa: E402

SHOP_DOMAIN = "races.myshopify.com"
ENV = {
    "OMNIGRAPH_BENCH_SHOP_TOKEN": "shpat_races",
    "OMNIGRAPH_BENCH_SHOP_SECRET": "shopify-secret-races",
    "OMNIGRAPH_BENCH_STRIPE_KEY": "sk_test_races",
    "OMNIGRAPH_BENCH_STRIPE_SECRET": "whsec_races",
}
RESOLVE = """mutation($input: ResolveExceptionInput!) { resolveException(input: $input) {
  exception { id status commands { id } } userErrors { code } } }"""


def sources(erp: str, wms: str) -> SourcesConfig:
    return SourcesConfig.model_validate(
        {
            "sources": [
                {
                    "name": "races-shop",
                    "kind": "storefront",
                    "type": "shopify",
                    "base_url": f"https://{SHOP_DOMAIN}",
                    "token_env": "OMNIGRAPH_BENCH_SHOP_TOKEN",
                    "webhook_secret_env": "OMNIGRAPH_BENCH_SHOP_SECRET",
                    "options": shopify_options(),
                },
                {"name": "erp", "kind": "erp", "base_url": erp},
                {"name": "wms", "kind": "wms", "base_url": wms},
                {
                    "name": "races-stripe",
                    "kind": "payments",
                    "type": "stripe",
                    "base_url": "https://api.stripe.test",
                    "token_env": "OMNIGRAPH_BENCH_STRIPE_KEY",
                    "webhook_secret_env": "OMNIGRAPH_BENCH_STRIPE_SECRET",
                },
            ]
        }
    )


@asynccontextmanager
async def serve(
    url: str, config: SourcesConfig, shop: FakeShopify, stripe: FakeStripe
) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
    app = create_app(
        make_settings(url),
        sources=config,
        transports={
            "races-shop": httpx.ASGITransport(app=shop.app),
            "races-stripe": httpx.ASGITransport(app=stripe.app),
        },
    )
    async with app.router.lifespan_context(app):
        # a crash is an HTTP 500 to count, as a client over the network would see it
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://omnigraph") as client:
            yield app, client


def shopify_headers(body: bytes, webhook_id: str) -> dict[str, str]:
    secret = ENV["OMNIGRAPH_BENCH_SHOP_SECRET"].encode()
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": "orders/updated",
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-Shop-Domain": SHOP_DOMAIN,
        "X-Shopify-Hmac-Sha256": base64.b64encode(
            hmac.new(secret, body, hashlib.sha256).digest()
        ).decode(),
    }


async def stripe_race(client: httpx.AsyncClient, stripe: FakeStripe, copies: int) -> str:
    payout = next(p["id"] for p in stripe.payouts.values() if p["status"] == "paid")

    def signed(event: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        event = {**event, "id": f"evt_races_{time.time_ns()}"}  # new on every run
        body = json.dumps(event).encode()
        secret = ENV["OMNIGRAPH_BENCH_STRIPE_SECRET"]
        return body, {
            "Stripe-Signature": signature_header(body, secret, timestamp=int(time.time()))
        }

    created = max(e["created"] for e in stripe.events) + 1
    body, headers = signed(stripe.emit("payout.paid", payout, created))
    before = sum(stripe.calls.values())
    assert (await client.post("/webhooks/stripe", content=body, headers=headers)).is_success
    one = sum(stripe.calls.values()) - before
    body, headers = signed(stripe.emit("payout.paid", payout, created + 1))
    before = sum(stripe.calls.values())
    answers = await asyncio.gather(
        *(client.post("/webhooks/stripe", content=body, headers=headers) for _ in range(copies))
    )
    calls = sum(stripe.calls.values()) - before
    processed = sum(1 for a in answers if a.is_success and not a.json().get("duplicate"))
    statuses = Counter(a.status_code for a in answers)
    return (
        f"stripe: {copies} concurrent copies of one event -> {processed} processed,"
        f" {calls} Stripe calls (one delivery makes {one}); HTTP {dict(statuses)}"
    )


async def resolve_race(app: Starlette, client: httpx.AsyncClient, world: Any, calls: int) -> str:
    services: Services = app.state.services
    order = next(o for o in world.wms_fulfilment_orders if o["status"] == "released")
    line = order["lines"][0]
    report = wms_short_pick(order, line, dedupe_key=f"races:{time.time_ns()}")
    row, _ = await take_in(services.sessions, services.get(ExceptionCatalogue), report)
    variables = {
        "input": {
            "id": encode_global_id("Exception", row.id),
            "resolution": "BACKORDER",
            "idempotencyKey": f"races-{time.time_ns()}",
        }
    }
    answers = await asyncio.gather(
        *(
            client.post("/graphql", json={"query": RESOLVE, "variables": variables})
            for _ in range(calls)
        )
    )
    codes: Counter[str] = Counter()
    distinct = {answer.text for answer in answers}
    for answer in answers:
        if answer.status_code != 200:
            codes[f"HTTP {answer.status_code}"] += 1
            continue
        body = answer.json()
        if body.get("errors"):
            codes[str(body["errors"][0].get("extensions", {}).get("code"))] += 1
            continue
        payload = body["data"]["resolveException"]
        codes[payload["userErrors"][0]["code"] if payload["userErrors"] else "ok"] += 1
    async with services.sessions() as session:
        commands = await session.scalar(
            select(func.count()).where(OutboxCommandRow.exception_id == row.id)
        )
    return (
        f"resolveException: {calls} concurrent calls, one key -> {dict(codes)},"
        f" {len(distinct)} distinct answer(s); {commands} command(s) written"
    )


async def main(copies: int, calls: int) -> None:
    os.environ.update(ENV)
    world = build_world(seed=7, orders=160, anchor=ANCHOR)
    shop = FakeShopify(world, access_token=ENV["OMNIGRAPH_BENCH_SHOP_TOKEN"])
    stripe = FakeStripe(world, secret_key=ENV["OMNIGRAPH_BENCH_STRIPE_KEY"])
    with tempfile.TemporaryDirectory() as folder:
        url = os.environ.get(
            "OMNIGRAPH_BENCH_DATABASE_URL", f"sqlite+aiosqlite:///{folder}/races.sqlite3"
        )
        async with DemoSystems(world) as demo:
            config = sources(demo.urls["erp"], demo.urls["wms"])
            order = next(iter(shop.orders))
            body = json.dumps(  # a body of its own on every run (a note Shopify would carry)
                {"id": order, "updated_at": "2026-11-21T16:45:00Z", "note": str(time.time_ns())}
            ).encode()
            async with serve(url, config, shop, stripe) as (app, client):
                print(await stripe_race(client, stripe, copies))
                first = await client.post(
                    "/webhooks/shopify", content=body, headers=shopify_headers(body, "w-1")
                )
                other_id = await client.post(
                    "/webhooks/shopify", content=body, headers=shopify_headers(body, "w-2")
                )
                print(await resolve_race(app, client, world, calls))
            async with serve(url, config, shop, stripe) as (app, client):
                restarted = await client.post(
                    "/webhooks/shopify", content=body, headers=shopify_headers(body, "w-3")
                )
            print(
                "shopify: one body -> "
                + ", ".join(
                    f"{label}: {r.status_code} {r.json().get('status')}"
                    for label, r in (
                        ("first", first),
                        ("another webhook id", other_id),
                        ("after a restart", restarted),
                    )
                )
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--calls", type=int, default=200)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.copies, arguments.calls))
