"""``POST /webhooks/stripe``: only genuine, fresh Stripe events are read, and a payout event
reconciles that payout (and nothing else) at once.

The service runs against the demo storefront, ERP and WMS and the fake Stripe server over the
same demo world, on a database of its own (these tests raise money exceptions).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette
from tests.conftest import make_settings, services_of, serving
from tests.fakes.stripe import FakeStripe
from tests.sources.stripe.conftest import SECRET_KEY, recorded

from omnigraph.app import create_app
from omnigraph.core.ids import encode_global_id
from omnigraph.db.models import PaymentPayoutRow, PayoutReconciliationRow
from omnigraph.demo import DemoSystems, DemoWorld
from omnigraph.runtime.services import Services
from omnigraph.settings import SourcesConfig
from omnigraph.sources.stripe.webhooks import (
    WebhookRejected,
    parse_event,
    signature_header,
    verify_signature,
)

WEBHOOK_SECRET = "whsec_test_9b1c7e0d4f2a"
KEY_ENV = "OMNIGRAPH_TEST_STRIPE_WEBHOOK_KEY"
SECRET_ENV = "OMNIGRAPH_TEST_STRIPE_WEBHOOK_SECRET"


@dataclass
class StripeService:
    app: Starlette
    http: httpx.AsyncClient
    fake: FakeStripe
    world: DemoWorld

    @property
    def services(self) -> Services:
        return services_of(self.app)

    async def post(
        self, event: Any, *, secret: str = WEBHOOK_SECRET, at: float | None = None, **headers: str
    ) -> httpx.Response:
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        if "Stripe-Signature" not in headers:
            stamp = int(at if at is not None else time.time())
            headers["Stripe-Signature"] = signature_header(body, secret, timestamp=stamp)
        headers = {k: v for k, v in headers.items() if v}
        return await self.http.post("/webhooks/stripe", content=body, headers=headers)

    async def payout_rows(self, payout_id: str) -> tuple[int, int]:
        """(payouts stored, verdicts stored) for ``payout_id`` of the Stripe source."""
        async with self.services.sessions() as session:
            payouts = await session.scalar(
                select(func.count()).where(
                    PaymentPayoutRow.source == "stripe", PaymentPayoutRow.payout_id == payout_id
                )
            )
            verdicts = await session.scalar(
                select(func.count()).where(
                    PayoutReconciliationRow.source == "stripe",
                    PayoutReconciliationRow.payout_id == payout_id,
                )
            )
        return int(payouts or 0), int(verdicts or 0)


def payout_event(fake: FakeStripe, event_type: str, payout_id: str) -> dict[str, Any]:
    created = max(e["created"] for e in fake.events) + 1
    return fake.emit(event_type, payout_id, created)


@pytest.fixture(scope="module")
async def stripe_service(
    world: DemoWorld, demo: DemoSystems, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[StripeService]:
    os.environ[KEY_ENV] = SECRET_KEY
    os.environ[SECRET_ENV] = WEBHOOK_SECRET
    fake = FakeStripe(world, secret_key=SECRET_KEY)
    names = {"storefront": "web-store", "erp": "erp", "wms": "wms"}
    config = SourcesConfig.model_validate(
        {
            "sources": [
                {"name": names[kind], "kind": kind, "base_url": demo.urls[kind]} for kind in names
            ]
            + [
                {
                    "name": "stripe",
                    "kind": "payments",
                    "type": "stripe",
                    "base_url": "https://api.stripe.test",
                    "token_env": KEY_ENV,
                    "webhook_secret_env": SECRET_ENV,
                }
            ]
        }
    )
    database = Path(tmp_path_factory.mktemp("stripe-webhooks")) / "omnigraph.sqlite3"
    app = create_app(
        make_settings(f"sqlite+aiosqlite:///{database}"),
        sources=config,
        transports={"stripe": httpx.ASGITransport(app=fake.app)},
    )
    try:
        async with serving(app) as http:
            yield StripeService(app, http, fake, world)
    finally:
        del os.environ[KEY_ENV], os.environ[SECRET_ENV]


@pytest.mark.parametrize(
    ("tamper", "code"),
    [
        ({"Stripe-Signature": ""}, "SIGNATURE_MISSING"),
        ({"Stripe-Signature": "t=abc,v1="}, "SIGNATURE_MALFORMED"),
        ({"secret": "whsec_someone_else"}, "SIGNATURE_INVALID"),
        ({"age": 301}, "TIMESTAMP_OUT_OF_TOLERANCE"),  # a replay of an old delivery
        ({"age": -301}, "TIMESTAMP_OUT_OF_TOLERANCE"),
    ],
)
async def test_unsigned_or_badly_signed_events_are_rejected_and_nothing_is_read(
    stripe_service: StripeService, tamper: dict[str, Any], code: str
) -> None:
    payout_id = stripe_service.world.payouts[0]["id"]
    event = payout_event(stripe_service.fake, "payout.paid", payout_id)
    before = sum(stripe_service.fake.calls.values())
    if "age" in tamper:
        tamper = {"at": time.time() - tamper["age"]}

    response = await stripe_service.post(event, **tamper)

    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == code
    assert sum(stripe_service.fake.calls.values()) == before  # Stripe was not even asked
    assert await stripe_service.payout_rows(payout_id) == (0, 0)


async def test_a_tampered_body_is_rejected(stripe_service: StripeService) -> None:
    payout_id = stripe_service.world.payouts[0]["id"]
    event = payout_event(stripe_service.fake, "payout.paid", payout_id)
    body = json.dumps(event).encode()
    header = signature_header(body, WEBHOOK_SECRET, timestamp=int(time.time()))
    forged = body.replace(payout_id.encode(), stripe_service.world.payouts[1]["id"].encode())

    response = await stripe_service.post(forged, **{"Stripe-Signature": header})

    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "SIGNATURE_INVALID"
    assert await stripe_service.payout_rows(stripe_service.world.payouts[1]["id"]) == (0, 0)


@pytest.mark.parametrize(
    "body",
    [b"{not json", b'{"object": "charge", "id": "ch_1"}', b'{"object": "event", "id": "evt_1"}'],
)
async def test_malformed_events_are_rejected(stripe_service: StripeService, body: bytes) -> None:
    response = await stripe_service.post(body)

    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "MALFORMED_EVENT"


async def test_other_event_types_are_acknowledged_and_ignored(
    stripe_service: StripeService,
) -> None:
    before = sum(stripe_service.fake.calls.values())
    event = recorded("event_payout_paid") | {"type": "charge.succeeded", "id": "evt_other"}

    response = await stripe_service.post(event)

    assert response.status_code == 200
    assert response.json() == {"received": True, "ignored": "charge.succeeded"}
    assert sum(stripe_service.fake.calls.values()) == before


async def test_payout_paid_reconciles_that_payout_and_only_it(
    stripe_service: StripeService,
) -> None:
    world = stripe_service.world
    varied = world.planted_of("payout_variance")[0].record_ref  # paid a penny off
    event = payout_event(stripe_service.fake, "payout.paid", varied)

    response = await stripe_service.post(event)

    assert response.status_code == 200, response.text
    assert response.json() == {
        "received": True,
        "event": event["id"],
        "payout": varied,
        "status": "VARIANCE",
    }
    body = (
        await stripe_service.http.post(
            "/graphql",
            json={
                "query": "query($id: ID!) { payout(id: $id) { ref reconciliation { status } } }",
                "variables": {"id": encode_global_id("Payout", "stripe", varied)},
            },
        )
    ).json()
    assert body["data"]["payout"] == {"ref": varied, "reconciliation": {"status": "VARIANCE"}}
    async with stripe_service.services.sessions() as session:
        reconciled = list(
            await session.scalars(
                select(PayoutReconciliationRow.payout_id).where(
                    PayoutReconciliationRow.source == "stripe"
                )
            )
        )
    assert reconciled == [varied]

    # Stripe delivers at least once: the same event again changes nothing, asks Stripe nothing
    before = sum(stripe_service.fake.calls.values())
    again = await stripe_service.post(event)
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    assert again.json()["status"] == "VARIANCE"
    assert sum(stripe_service.fake.calls.values()) == before


async def test_reconciliation_completed_during_a_secret_roll(
    stripe_service: StripeService,
) -> None:
    """While a secret is rolled Stripe signs with both: any matching v1 is enough."""
    world = stripe_service.world
    payout_id = next(
        p["id"]
        for p in world.payouts
        if p["status"] == "paid"
        and p["id"] not in {d.record_ref for d in world.planted_of("payout_variance")}
    )
    event = payout_event(stripe_service.fake, "payout.reconciliation_completed", payout_id)
    body = json.dumps(event).encode()
    stamp = int(time.time())
    good = signature_header(body, WEBHOOK_SECRET, timestamp=stamp).split(",v1=")[1]
    old = signature_header(body, "whsec_retired", timestamp=stamp).split(",v1=")[1]
    legacy = "6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39"
    header = f"t={stamp},v1={old},v1={good},v0={legacy}"

    response = await stripe_service.post(body, **{"Stripe-Signature": header})

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "RECONCILED"
    assert await stripe_service.payout_rows(payout_id) == (1, 1)


def test_signature_check_follows_stripes_scheme() -> None:
    body = json.dumps(recorded("event_payout_paid")).encode()
    header = signature_header(body, WEBHOOK_SECRET, timestamp=1721779260)

    verify_signature(body, header, [WEBHOOK_SECRET], now=1721779260 + 300)
    verify_signature(body, header, ["whsec_new", WEBHOOK_SECRET], now=1721779260)
    with pytest.raises(WebhookRejected, match="300 s"):
        verify_signature(body, header, [WEBHOOK_SECRET], now=1721779260 + 301)
    with pytest.raises(WebhookRejected) as rejected:
        verify_signature(body + b" ", header, [WEBHOOK_SECRET], now=1721779260)
    assert rejected.value.code == "SIGNATURE_INVALID"
    event = parse_event(body)
    assert (event.type, event.object_id) == ("payout.paid", "po_1PgXk2LkdIwHu7ixPayout01")
