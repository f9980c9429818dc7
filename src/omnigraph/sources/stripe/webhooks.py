"""Stripe's webhook events: the ``Stripe-Signature`` check and the event's envelope.

Stripe signs ``"{t}.{raw body}"`` with HMAC-SHA256 under the endpoint's signing secret and sends
``Stripe-Signature: t=1712345678,v1=<hex>[,v1=<hex>...][,v0=...]``: one ``v1`` per active
secret while one is being rolled. A request is genuine when any ``v1`` equals the digest under
any configured secret (compared in constant time) and ``t`` is within the tolerance of now,
which bounds replays. Example::

    >>> body = b'{"id": "evt_1", "object": "event"}'
    >>> header = signature_header(body, "whsec_test", timestamp=1700000000)
    >>> verify_signature(body, header, ["whsec_test"], now=1700000100)
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "PAYOUT_EVENT_TYPES",
    "TOLERANCE_SECONDS",
    "StripeEvent",
    "WebhookRejected",
    "parse_event",
    "signature_header",
    "verify_signature",
]

TOLERANCE_SECONDS = 300
# the events that mean a payout's transactions are final and can be reconciled
PAYOUT_EVENT_TYPES = frozenset({"payout.paid", "payout.reconciliation_completed"})


class WebhookRejected(Exception):
    """A webhook request that is not a genuine, well-formed Stripe event; ``code`` is stable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class StripeEvent:
    id: str
    type: str
    object: dict[str, Any]  # `data.object`: the object the event is about

    @property
    def object_id(self) -> str | None:
        value = self.object.get("id")
        return value if isinstance(value, str) else None


def _digest(secret: str, timestamp: str, body: bytes) -> str:
    signed = timestamp.encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(body: bytes, secret: str, *, timestamp: int) -> str:
    """The header Stripe would send for ``body`` (for tests and the fake Stripe server)."""
    return f"t={timestamp},v1={_digest(secret, str(timestamp), body)}"


def verify_signature(
    body: bytes,
    header: str | None,
    secrets: Sequence[str],
    *,
    now: float,
    tolerance: int = TOLERANCE_SECONDS,
) -> None:
    """Return if the request is genuine; raise :class:`WebhookRejected` saying why not."""
    if not header:
        raise WebhookRejected("SIGNATURE_MISSING", "the Stripe-Signature header is missing")
    timestamp: str | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            timestamp = value
        elif key == "v1" and value:
            signatures.append(value)
    if timestamp is None or not timestamp.isdigit() or not signatures:
        raise WebhookRejected(
            "SIGNATURE_MALFORMED", "Stripe-Signature needs a timestamp t and a v1 signature"
        )
    matched = False
    for secret in secrets:
        expected = _digest(secret, timestamp, body)
        # every comparison runs, so the time taken says nothing about which one matched
        for signature in signatures:
            matched |= hmac.compare_digest(expected, signature)
    if not matched:
        raise WebhookRejected(
            "SIGNATURE_INVALID", "no v1 signature matches the body under the endpoint's secret"
        )
    if abs(now - int(timestamp)) > tolerance:
        raise WebhookRejected(
            "TIMESTAMP_OUT_OF_TOLERANCE",
            f"the signed timestamp is more than {tolerance} s from now (a replay, or a clock off)",
        )


def parse_event(body: bytes) -> StripeEvent:
    """The event envelope ``{"id", "object": "event", "type", "data": {"object": {..}}}``."""
    try:
        raw = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise WebhookRejected("MALFORMED_EVENT", "the body is not JSON") from None
    if not isinstance(raw, dict) or raw.get("object") != "event":
        raise WebhookRejected("MALFORMED_EVENT", "the body is not a Stripe event object")
    event_id, event_type, data = raw.get("id"), raw.get("type"), raw.get("data")
    inner = data.get("object") if isinstance(data, dict) else None
    if not isinstance(event_id, str) or not event_id or not isinstance(event_type, str):
        raise WebhookRejected("MALFORMED_EVENT", "the event has no id or type")
    if not isinstance(inner, dict):
        raise WebhookRejected("MALFORMED_EVENT", "the event has no data.object")
    return StripeEvent(id=event_id, type=event_type, object=inner)
