"""POST /webhooks/shopify: a signed delivery drops the cached order and is on the change feed
at once, without asking Shopify; unsigned, wrongly signed or malformed ones take nothing in."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from types import SimpleNamespace

import httpx
import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.routing import Route

from omnigraph.db.engine import create_engine, create_session_factory, upgrade_database
from omnigraph.db.models import IdempotencyKeyRow
from omnigraph.sources.shopify.adapter import ShopifyStorefrontAdapter
from omnigraph.sources.shopify.webhooks import (
    WEBHOOK_SCOPE,
    receive_shopify_webhook,
    signature_valid,
)

from .conftest import SECRET, FakeShop

ORDER = "SF-5012345678901"
UPDATED = {
    "id": 5012345678901,
    "admin_graphql_api_id": "gid://shopify/Order/5012345678901",
    "name": "#1042",
    "updated_at": "2026-11-21T16:45:00-00:00",
    "financial_status": "refunded",
}


def sign(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def headers(
    body: bytes,
    *,
    topic: str = "orders/updated",
    webhook_id: str = "wh-1",
    signature: str | None = "sign",
) -> dict[str, str]:
    sent = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-Shop-Domain": "omni-test.myshopify.com",
        "X-Shopify-API-Version": "2026-10",
    }
    if signature is not None:
        sent["X-Shopify-Hmac-Sha256"] = sign(body) if signature == "sign" else signature
    return sent


@pytest.fixture(scope="module")
async def sessions(clean_database: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """The deliveries taken in are claimed in the database (the session's, migrated)."""
    engine = create_engine(clean_database)
    await upgrade_database(engine)
    try:
        yield create_session_factory(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def http(
    adapter: ShopifyStorefrontAdapter, sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[httpx.AsyncClient]:
    # each test starts with a shop that has taken nothing in (only this shop's claims go)
    async with sessions() as session, session.begin():
        await session.execute(
            delete(IdempotencyKeyRow).where(
                IdempotencyKeyRow.scope == WEBHOOK_SCOPE,
                IdempotencyKeyRow.key.startswith(f"{adapter.client.name}:"),
            )
        )
    app = Starlette(routes=[Route("/webhooks/shopify", receive_shopify_webhook, methods=["POST"])])
    app.state.services = SimpleNamespace(
        registry=SimpleNamespace(clients={adapter.client.name: adapter.client}),
        sessions=sessions,
        now=lambda: datetime.now(UTC),
        find=lambda kind: None,
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://omnigraph"
    ) as client:
        yield client


@pytest.fixture
def no_changes(shop: FakeShop) -> FakeShop:
    shop.routes["OmnigraphChangedOrders"] = lambda call: {
        "data": {"orders": {"nodes": [], "pageInfo": {"hasNextPage": False}}}
    }
    return shop


def test_the_signature_is_base64_hmac_sha256_of_the_raw_body() -> None:
    body = b'{"id":1}'
    digest = hmac.new(b"s3cret", body, hashlib.sha256).digest()
    assert signature_valid("s3cret", body, base64.b64encode(digest).decode())
    assert not signature_valid("s3cret", body + b" ", base64.b64encode(digest).decode())
    assert not signature_valid("other", body, base64.b64encode(digest).decode())
    assert not signature_valid("s3cret", body, None)


async def test_a_signed_update_refreshes_the_order_and_feeds_the_change_feed(
    adapter: ShopifyStorefrontAdapter, shop: FakeShop, http: httpx.AsyncClient
) -> None:
    await adapter.orders_by_id([ORDER])
    calls = len(shop.calls)
    body = json.dumps(UPDATED).encode()

    response = await http.post("/webhooks/shopify", content=body, headers=headers(body))

    assert response.status_code == 200
    assert response.json()["status"] == "accepted"
    assert len(shop.calls) == calls  # taking it in asked Shopify nothing
    events, _, more = await adapter.client.changes(None, 50)
    assert len(shop.calls) == calls  # nor did reading the feed: the webhook is on it
    assert [(e["type"], e["recordType"], e["recordId"], e["occurredAt"]) for e in events] == [
        ("order.updated", "order", ORDER, "2026-11-21T16:45:00-00:00")
    ]
    assert events[0]["data"] == {"topic": "orders/updated", "webhookId": "wh-1"}
    assert more is True  # the reader goes on to Shopify's own search next
    # the cached order was dropped: the next read asks Shopify again
    await adapter.orders_by_id([ORDER])
    assert shop.calls[calls].operation == "OmnigraphOrdersByIds"


async def test_a_refund_webhook_names_its_order(
    adapter: ShopifyStorefrontAdapter, http: httpx.AsyncClient
) -> None:
    body = json.dumps(
        {
            "id": 890088186047892319,
            "order_id": 5012345678901,
            "created_at": "2026-11-21T16:40:02-00:00",
            "transactions": [],
        }
    ).encode()

    response = await http.post(
        "/webhooks/shopify", content=body, headers=headers(body, topic="refunds/create")
    )

    assert response.status_code == 200
    events, _, _ = await adapter.client.changes(None, 50)
    assert [(e["type"], e["recordId"]) for e in events] == [("order.updated", ORDER)]


async def test_a_delivery_seen_before_is_taken_in_once(
    adapter: ShopifyStorefrontAdapter, http: httpx.AsyncClient
) -> None:
    body = json.dumps(UPDATED).encode()
    first = await http.post("/webhooks/shopify", content=body, headers=headers(body))
    again = await http.post("/webhooks/shopify", content=body, headers=headers(body))

    assert first.json()["status"] == "accepted"
    assert again.status_code == 200
    assert again.json() == {"status": "duplicate"}
    events, _, _ = await adapter.client.changes(None, 50)
    assert len(events) == 1


@pytest.mark.parametrize(
    ("signature", "code"),
    [
        (None, "INVALID_SIGNATURE"),  # unsigned
        ("", "INVALID_SIGNATURE"),
        (base64.b64encode(b"x" * 32).decode(), "INVALID_SIGNATURE"),  # wrong
        ("not base64 at all", "INVALID_SIGNATURE"),
    ],
)
async def test_an_unverified_delivery_is_401_and_takes_nothing_in(
    adapter: ShopifyStorefrontAdapter,
    no_changes: FakeShop,
    http: httpx.AsyncClient,
    signature: str | None,
    code: str,
) -> None:
    await adapter.orders_by_id([ORDER])
    calls = len(no_changes.calls)
    body = json.dumps(UPDATED).encode()

    response = await http.post(
        "/webhooks/shopify", content=body, headers=headers(body, signature=signature)
    )

    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == code
    await adapter.orders_by_id([ORDER])
    assert len(no_changes.calls) == calls  # the cached order still stands
    events, _, _ = await adapter.client.changes(None, 50)
    assert events == []  # nothing on the feed (Shopify's own search has nothing either)


async def test_a_body_signed_with_another_secret_is_refused(
    adapter: ShopifyStorefrontAdapter, http: httpx.AsyncClient
) -> None:
    body = json.dumps(UPDATED).encode()
    response = await http.post(
        "/webhooks/shopify", content=body, headers=headers(body, signature=sign(body, "other"))
    )
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("body", "topic"),
    [
        (b"{not json", "orders/updated"),
        (b"[1, 2]", "orders/updated"),
        (
            json.dumps({"name": "#1042", "updated_at": "2026-11-21T16:45:00Z"}).encode(),
            "orders/updated",
        ),  # no id
        (
            json.dumps({"id": "12; DROP", "updated_at": "2026-11-21T16:45:00Z"}).encode(),
            "orders/create",
        ),
        (json.dumps({"id": 5012345678901}).encode(), "orders/updated"),  # no timestamp
        (
            json.dumps({"id": 1, "created_at": "2026-11-21T16:40:02Z"}).encode(),
            "refunds/create",
        ),  # no order_id
    ],
)
async def test_a_signed_but_malformed_delivery_is_400_and_takes_nothing_in(
    adapter: ShopifyStorefrontAdapter,
    no_changes: FakeShop,
    http: httpx.AsyncClient,
    body: bytes,
    topic: str,
) -> None:
    response = await http.post(
        "/webhooks/shopify", content=body, headers=headers(body, topic=topic)
    )

    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "MALFORMED_WEBHOOK"
    events, _, _ = await adapter.client.changes(None, 50)
    assert events == []


async def test_missing_headers_and_other_topics(
    adapter: ShopifyStorefrontAdapter, no_changes: FakeShop, http: httpx.AsyncClient
) -> None:
    body = json.dumps(UPDATED).encode()
    no_id = headers(body)
    del no_id["X-Shopify-Webhook-Id"]
    assert (await http.post("/webhooks/shopify", content=body, headers=no_id)).status_code == 400

    other = await http.post(
        "/webhooks/shopify", content=body, headers=headers(body, topic="products/update")
    )
    assert other.status_code == 200
    assert other.json()["status"] == "ignored"
    events, _, _ = await adapter.client.changes(None, 50)
    assert events == []


async def test_webhooks_are_refused_where_no_shop_takes_them(
    adapter: ShopifyStorefrontAdapter, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SHOPIFY_TEST_SECRET")
    body = json.dumps(UPDATED).encode()
    response = await http.post("/webhooks/shopify", content=body, headers=headers(body))
    assert response.status_code == 503
    assert response.json()["errors"][0]["extensions"]["code"] == "NOT_CONFIGURED"
