"""``POST /webhooks/shopify``: Shopify's order webhooks, verified, onto the storefront feed.

A delivery is believed only when ``X-Shopify-Hmac-Sha256`` is the base64 HMAC-SHA256 of the raw
body under the app's client secret (``webhook_secret_env``; several, comma-separated, while one
is rotated), compared in constant time. ``orders/create``, ``orders/updated`` and
``refunds/create`` then drop the order's cached record and put an event on the shop's change
feed (:class:`~.feed.ShopifyChangeFeed`).

A body is taken in once. The signature covers the body and nothing else (the webhook id and the
topic are unsigned headers anyone replaying a captured body may change), so a delivery is known
by the SHA-256 of its signed body, per shop, claimed in the database before it is taken in
(``omnigraph.db.idempotency``): a body seen before, on any replica and across restarts, is
acknowledged ``{"status": "duplicate"}`` for 48 hours (Shopify's retry window). A body Shopify
sends again for a new change differs (its ``updated_at``). Nothing is taken in from a delivery
that is unsigned, wrongly signed (401) or malformed (400). Answers: ``{"status": ..}`` or
``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta
from typing import Any

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from omnigraph.core.errors import ConfigurationError
from omnigraph.core.http_errors import error_json
from omnigraph.db.idempotency import Claim, ClaimLost, KeyClaims
from omnigraph.sources.shopify.client import ShopifyClient
from omnigraph.sources.shopify.feed import order_event
from omnigraph.sources.shopify.mapping import canonical_order_id

__all__ = [
    "MAX_WEBHOOK_BYTES",
    "SEEN_FOR",
    "TOPICS",
    "WEBHOOK_SCOPE",
    "receive_shopify_webhook",
    "signature_valid",
]

# topic -> the feed event it becomes
TOPICS = {
    "orders/create": "order.created",
    "orders/updated": "order.updated",
    "refunds/create": "order.updated",
}
MAX_WEBHOOK_BYTES = 2 * 1024 * 1024
WEBHOOK_SCOPE = "webhook:shopify"
SEEN_FOR = timedelta(hours=48)  # Shopify retries a failed delivery for up to 48 hours
log = structlog.get_logger(__name__)


def signature_valid(secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is Shopify's signature of exactly ``body`` under ``secret``."""
    if not header:
        return False
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return hmac.compare_digest(base64.b64encode(digest), header.strip().encode())


def _shop_for(request: Request, clients: list[ShopifyClient]) -> ShopifyClient | None:
    domain = request.headers.get("X-Shopify-Shop-Domain", "").lower()
    named = [c for c in clients if domain and c.shop_domain.lower() == domain]
    if named:
        return named[0]
    return clients[0] if len(clients) == 1 else None


def _change(topic: str, payload: Any, client: ShopifyClient) -> tuple[str, str] | None:
    """The canonical order id and when it changed, or None when the body is not the topic's."""
    if not isinstance(payload, dict):
        return None
    if topic == "refunds/create":
        legacy, when = payload.get("order_id"), payload.get("created_at")
    else:
        legacy, when = payload.get("id"), payload.get("updated_at") or payload.get("created_at")
    if isinstance(legacy, bool) or not isinstance(legacy, int | str) or not str(legacy).isdigit():
        return None
    if not isinstance(when, str) or not when:
        return None
    return canonical_order_id(str(legacy), client.options), when


async def receive_shopify_webhook(request: Request) -> Response:
    """The endpoint; the shops are the configured ``type = "shopify"`` sources."""
    registry = request.app.state.services.registry
    clients = [
        c
        for c in registry.clients.values()
        if isinstance(c, ShopifyClient) and c.config.webhook_secret_env is not None
    ]
    if not clients:
        return error_json(404, "NOT_CONFIGURED", "no Shopify source takes webhooks")
    length = request.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > MAX_WEBHOOK_BYTES:
        return error_json(413, "REQUEST_TOO_LARGE", f"at most {MAX_WEBHOOK_BYTES} bytes")
    body = await request.body()
    if len(body) > MAX_WEBHOOK_BYTES:
        return error_json(413, "REQUEST_TOO_LARGE", f"at most {MAX_WEBHOOK_BYTES} bytes")
    client = _shop_for(request, clients)
    if client is None:
        return error_json(401, "UNKNOWN_SHOP", "X-Shopify-Shop-Domain names no configured shop")
    try:
        secrets = client.config.webhook_secrets()
    except ConfigurationError as error:
        log.error("shopify_webhook_secret_missing", source=client.name, error=str(error))
        return error_json(503, "NOT_CONFIGURED", "the webhook secret is not set")
    signature = request.headers.get("X-Shopify-Hmac-Sha256")
    if not any(signature_valid(secret, body, signature) for secret in secrets):
        log.warning("shopify_webhook_unverified", source=client.name, signed=bool(signature))
        return error_json(401, "INVALID_SIGNATURE", "X-Shopify-Hmac-Sha256 does not match the body")
    topic = request.headers.get("X-Shopify-Topic", "")
    webhook_id = request.headers.get("X-Shopify-Webhook-Id", "").strip()
    if not webhook_id or not topic:
        return error_json(
            400, "MALFORMED_WEBHOOK", "X-Shopify-Topic and X-Shopify-Webhook-Id needed"
        )
    if topic not in TOPICS:
        return JSONResponse({"status": "ignored", "topic": topic})  # not retried by Shopify
    try:
        payload = json.loads(body)
    except ValueError:
        return error_json(400, "MALFORMED_WEBHOOK", "the body is not JSON")
    change = _change(topic, payload, client)
    if change is None:
        return error_json(400, "MALFORMED_WEBHOOK", f"the body is not a {topic} payload")
    services = request.app.state.services
    claims = services.find(KeyClaims) or KeyClaims(services.sessions)
    digest = hashlib.sha256(body).hexdigest()
    claim = await claims.claim(
        WEBHOOK_SCOPE, f"{client.name}:{digest}", digest, services.now(), ttl=SEEN_FOR
    )
    if not isinstance(claim, Claim):
        return JSONResponse({"status": "duplicate"})
    order_id, occurred_at = change
    event = order_event(
        TOPICS[topic], order_id, occurred_at, {"topic": topic, "webhookId": webhook_id}
    )
    async with claims.holding(claim):  # given back if taking it in fails: Shopify retries
        await client.feed.push(event)
        try:
            async with services.sessions() as session, session.begin():
                await claims.finish(session, claim, {"event": event["id"]})
        except ClaimLost:
            pass  # it outlived its lease and a retry took it over
    log.info("shopify_webhook", source=client.name, topic=topic, order=order_id)
    return JSONResponse({"status": "accepted", "event": event["id"]})
