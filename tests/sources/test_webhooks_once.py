"""Webhooks are taken in once, even when deliveries race (issue 18, point 10): through
``create_app`` with the fake Shopify and Stripe APIs, on SQLite and PostgreSQL, the database
shared with the session (these sources' own names keep their rows apart).

What is counted is what a delivery makes happen, against the reference of one delivery: the
events a Shopify delivery puts on the shop's change feed, the Stripe API calls a payout event's
reconciliation makes. The deliveries carry genuine signatures; what an attacker changes is only
what the signature does not cover (Shopify's webhook id and topic headers).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import itertools
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import delete
from starlette.applications import Starlette
from tests.conftest import make_settings, services_of, serving
from tests.databases import scratch_databases
from tests.fakes.shopify import FakeShopify, shopify_options
from tests.fakes.stripe import FakeStripe

from omnigraph.app import create_app
from omnigraph.db.models import IdempotencyKeyRow
from omnigraph.demo import DemoSystems, DemoWorld
from omnigraph.payouts.webhook import WEBHOOK_SCOPE as STRIPE_SCOPE
from omnigraph.runtime.services import Services
from omnigraph.settings import SourcesConfig
from omnigraph.sources.shopify.client import ShopifyClient
from omnigraph.sources.stripe.webhooks import signature_header

COPIES = 20  # concurrent copies of one delivery: bounded, loopback only
SHOP, STRIPE = "once-shop", "once-stripe"
SHOP_DOMAIN = "once.myshopify.com"
ENV = {
    "OMNIGRAPH_TEST_ONCE_SHOP_TOKEN": "shpat_once_0123456789",
    "OMNIGRAPH_TEST_ONCE_SHOP_SECRET": "shopify-client-secret-once",
    "OMNIGRAPH_TEST_ONCE_STRIPE_KEY": "sk_test_once_0123456789",
    "OMNIGRAPH_TEST_ONCE_STRIPE_SECRET": "whsec_once_0123456789",
}


def sources(erp: str, wms: str) -> SourcesConfig:
    return SourcesConfig.model_validate(
        {
            "sources": [
                {
                    "name": SHOP,
                    "kind": "storefront",
                    "type": "shopify",
                    "base_url": f"https://{SHOP_DOMAIN}",
                    "token_env": "OMNIGRAPH_TEST_ONCE_SHOP_TOKEN",
                    "webhook_secret_env": "OMNIGRAPH_TEST_ONCE_SHOP_SECRET",
                    "options": shopify_options(),
                },
                {"name": "erp", "kind": "erp", "base_url": erp},
                {"name": "wms", "kind": "wms", "base_url": wms},
                {
                    "name": STRIPE,
                    "kind": "payments",
                    "type": "stripe",
                    "base_url": "https://api.stripe.test",
                    "token_env": "OMNIGRAPH_TEST_ONCE_STRIPE_KEY",
                    "webhook_secret_env": "OMNIGRAPH_TEST_ONCE_STRIPE_SECRET",
                },
            ]
        }
    )


@dataclass
class Running:
    """One app instance (a process, as far as omnigraph can tell) and a client for it."""

    app: Starlette
    http: httpx.AsyncClient

    @property
    def services(self) -> Services:
        return services_of(self.app)

    async def shopify(
        self, body: bytes, webhook_id: str, topic: str = "orders/updated"
    ) -> httpx.Response:
        secret = ENV["OMNIGRAPH_TEST_ONCE_SHOP_SECRET"].encode()
        digest = hmac.new(secret, body, hashlib.sha256).digest()
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Webhook-Id": webhook_id,
            "X-Shopify-Shop-Domain": SHOP_DOMAIN,
            "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
        }
        return await self.http.post("/webhooks/shopify", content=body, headers=headers)

    async def stripe(self, event: dict[str, Any]) -> httpx.Response:
        """The event as Stripe sends it now (each delivery is signed afresh)."""
        body = json.dumps(event).encode()
        secret = ENV["OMNIGRAPH_TEST_ONCE_STRIPE_SECRET"]
        header = signature_header(body, secret, timestamp=int(time.time()))
        return await self.http.post(
            "/webhooks/stripe", content=body, headers={"Stripe-Signature": header}
        )

    async def taken_in(self, order_id: str) -> int:
        """Webhook events about ``order_id`` on this instance's change feed of the shop."""
        client = self.services.registry.clients[SHOP]
        assert isinstance(client, ShopifyClient)
        events, _, _ = await client.changes(None, 1000)
        return sum(1 for e in events if e["recordId"] == order_id and "webhookId" in e["data"])


@dataclass
class Once:
    database_url: str
    world: DemoWorld
    shop: FakeShopify
    stripe: FakeStripe
    config: SourcesConfig
    orders: Iterator[int]

    @contextlib.asynccontextmanager
    async def started(self) -> AsyncIterator[Running]:
        """A new app instance on the same database; no Redis (nothing shared but the DB)."""
        app = create_app(
            make_settings(self.database_url),
            sources=self.config,
            transports={
                SHOP: httpx.ASGITransport(app=self.shop.app),
                STRIPE: httpx.ASGITransport(app=self.stripe.app),
            },
        )
        # a crash is an HTTP 500 to count, as a client over the network would see it
        async with serving(app, raise_app_exceptions=False) as http:
            yield Running(app, http)

    def order_change(self) -> tuple[str, bytes]:
        """A new order's ``orders/updated`` body, as Shopify signs it, and the order's id."""
        number = next(self.orders)
        order = self.shop.orders[number]
        body = {"id": number, "updated_at": order["updatedAt"], "name": f"#{number}"}
        return f"SF-{number}", json.dumps(body).encode()

    @property
    def payout(self) -> str:
        """A paid payout that reconciles cleanly (raises no exception)."""
        varied = {d.record_ref for d in self.world.planted_of("payout_variance")}
        return next(
            p["id"] for p in self.world.payouts if p["status"] == "paid" and p["id"] not in varied
        )

    def payout_event(self) -> dict[str, Any]:
        created = max(e["created"] for e in self.stripe.events) + 1
        return self.stripe.emit("payout.paid", self.payout, created)

    @property
    def stripe_calls(self) -> int:
        return sum(self.stripe.calls.values())


@pytest.fixture(scope="module")
async def once(
    world: DemoWorld,
    demo: DemoSystems,
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Once]:
    # a database of the module's own: the payouts its events reconcile would otherwise be
    # counted by every later module that reports on the shared one
    own = scratch_databases(database_url, tmp_path_factory.mktemp("once"), prefix="omnigraph_once")
    async with own as (database,):
        with pytest.MonkeyPatch.context() as env:
            for name, value in ENV.items():
                env.setenv(name, value)
            shop = FakeShopify(
                world,
                access_token=ENV["OMNIGRAPH_TEST_ONCE_SHOP_TOKEN"],
                bucket_size=10**7,
                restore_rate=10**6,
            )
            yield Once(
                database,
                world,
                shop,
                FakeStripe(world, secret_key=ENV["OMNIGRAPH_TEST_ONCE_STRIPE_KEY"]),
                sources(demo.urls["erp"], demo.urls["wms"]),
                itertools.cycle(sorted(shop.orders)),
            )


def outcomes(answers: list[httpx.Response], field: str) -> Counter[Any]:
    return Counter(
        (a.status_code, a.json().get(field) if a.status_code == 200 else None) for a in answers
    )


async def test_concurrent_copies_of_a_stripe_event_are_processed_once(once: Once) -> None:
    async with once.started() as running:
        before = once.stripe_calls
        reference = await running.stripe(once.payout_event())
        one_delivery = once.stripe_calls - before
        assert reference.status_code == 200, reference.text
        assert one_delivery > 0

        event = once.payout_event()
        before = once.stripe_calls
        answers = await asyncio.gather(*(running.stripe(event) for _ in range(COPIES)))

    assert outcomes(answers, "duplicate") == {(200, None): 1, (200, True): COPIES - 1}
    (processed,) = [a.json() for a in answers if not a.json().get("duplicate")]
    assert processed["status"] == "RECONCILED"
    assert once.stripe_calls - before == one_delivery  # what one delivery asks of Stripe


async def test_concurrent_copies_of_a_shopify_body_under_other_webhook_ids_are_taken_in_once(
    once: Once,
) -> None:
    order_id, body = once.order_change()
    async with once.started() as running:
        answers = await asyncio.gather(
            *(running.shopify(body, f"forged-{n}") for n in range(COPIES))
        )
        taken_in = await running.taken_in(order_id)

    assert outcomes(answers, "status") == {(200, "accepted"): 1, (200, "duplicate"): COPIES - 1}
    assert taken_in == 1


async def test_a_shopify_body_replayed_with_another_webhook_id_or_topic_is_a_duplicate(
    once: Once,
) -> None:
    order_id, body = once.order_change()
    async with once.started() as running:
        first = await running.shopify(body, "wh-genuine")
        other_id = await running.shopify(body, "wh-replayed")
        other_topic = await running.shopify(body, "wh-replayed-2", topic="orders/create")
        taken_in = await running.taken_in(order_id)
        # a genuine new change of the order is a new body: taken in
        changed = json.loads(body) | {"updated_at": "2026-11-21T17:00:00-00:00"}
        later = await running.shopify(json.dumps(changed).encode(), "wh-later")

    assert first.json()["status"] == "accepted"
    assert other_id.status_code == other_topic.status_code == 200
    assert other_id.json() == other_topic.json() == {"status": "duplicate"}
    assert taken_in == 1
    assert later.json()["status"] == "accepted"


async def test_a_restarted_app_without_redis_still_refuses_the_replays(once: Once) -> None:
    order_id, body = once.order_change()
    event = once.payout_event()
    async with once.started() as first:
        assert (await first.shopify(body, "wh-before-restart")).json()["status"] == "accepted"
        assert (await first.stripe(event)).json()["status"] == "RECONCILED"

    async with once.started() as restarted:  # a new process: nothing in memory, same database
        assert restarted.services.registry.clients[SHOP].upstream.redis is None
        before = once.stripe_calls
        shopify = await restarted.shopify(body, "wh-after-restart")
        stripe = await restarted.stripe(event)
        taken_in = await restarted.taken_in(order_id)

    assert shopify.json() == {"status": "duplicate"}
    assert stripe.json()["duplicate"] is True
    assert stripe.json()["status"] == "RECONCILED"  # the first answer, replayed
    assert once.stripe_calls == before
    assert taken_in == 0


async def test_a_delivery_whose_processing_failed_is_processed_when_retried(
    once: Once, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = once.payout_event()
    order_id, body = once.order_change()
    async with once.started() as running:
        once.stripe.fail_next(1, status=401, error_type="authentication_error")
        failed = await running.stripe(event)
        retried = await running.stripe(event)

        client = running.services.registry.clients[SHOP]
        assert isinstance(client, ShopifyClient)
        push = client.feed.push

        async def broken(_: dict[str, Any]) -> None:
            raise RuntimeError("the feed broke")

        monkeypatch.setattr(client.feed, "push", broken)
        crashed = await running.shopify(body, "wh-crashed")
        monkeypatch.setattr(client.feed, "push", push)
        redelivered = await running.shopify(body, "wh-crashed")
        taken_in = await running.taken_in(order_id)

    assert failed.status_code == 503
    assert failed.json()["errors"][0]["extensions"]["code"] == "UPSTREAM_UNAVAILABLE"
    assert retried.status_code == 200
    assert retried.json().get("duplicate") is None  # the claim was given back: processed
    assert retried.json()["status"] == "RECONCILED"
    assert crashed.status_code == 500
    assert redelivered.json()["status"] == "accepted"
    assert taken_in == 1


async def test_a_claim_left_by_a_dead_process_is_taken_over_after_its_lease(once: Once) -> None:
    """A replica that died while processing leaves its claim: a copy within the lease is a
    duplicate (the holder may still answer), Stripe's retry after it is processed."""
    async with once.started() as running:
        services = running.services
        lease = timedelta(seconds=services.settings.limits.execution_timeout_seconds)
        now = services.now()

        async def claimed(event: dict[str, Any], at: datetime) -> None:
            async with services.sessions() as session, session.begin():
                session.add(
                    IdempotencyKeyRow(
                        scope=STRIPE_SCOPE,
                        key=f"{STRIPE}:{event['id']}",
                        request_hash="?",
                        response={},
                        created_at=at,
                        expires_at=at + timedelta(hours=24),
                        claim_token="a-replica-that-died",
                    )
                )

        recent, abandoned = once.payout_event(), once.payout_event()
        await claimed(recent, now - timedelta(seconds=1))
        await claimed(abandoned, now - lease - timedelta(seconds=1))
        before = once.stripe_calls
        within = await running.stripe(recent)
        calls_within = once.stripe_calls - before
        after = await running.stripe(abandoned)
        async with services.sessions() as session, session.begin():  # the one left in flight
            await session.execute(
                delete(IdempotencyKeyRow).where(
                    IdempotencyKeyRow.scope == STRIPE_SCOPE,
                    IdempotencyKeyRow.key == f"{STRIPE}:{recent['id']}",
                )
            )

    assert within.json() == {"received": True, "duplicate": True}
    assert calls_within == 0
    assert after.json()["status"] == "RECONCILED"
    assert after.json().get("duplicate") is None
