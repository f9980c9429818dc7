"""``POST /webhooks/stripe``: Stripe's payout events reconcile the payout they name at once,
instead of at the reconciliation loop's next pass.

A request is checked before anything is read: its ``Stripe-Signature`` must match the body
under the source's signing secret (``webhook_secret_env``) within 300 seconds. Then
``payout.paid`` and ``payout.reconciliation_completed`` fetch that payout and the balance
transactions it swept from Stripe, store them as the payments sync does, and reconcile that
payout alone. Each event id (inside the signed body) is processed once, however many copies
arrive at once on however many replicas: the delivery is claimed in the database before
anything is read (``omnigraph.db.idempotency``), a copy that finds it claimed is a duplicate,
and a delivery whose processing fails gives its claim back, so Stripe's retry is processed.
Claims are kept 24 hours, as idempotency keys are (a later re-delivery re-runs an idempotent
sync and reconciliation); processing is bounded by the execution timeout.

| answer | when |
| --- | --- |
| 200 ``{"received": true, "payout", "status"}`` | reconciled (``status`` is the verdict) |
| 200 ``{... "deferred": true}`` | Stripe's ``reconciliation_status`` is still |
| | ``in_progress``: reconciled once it is ``completed`` |
| 200 ``{"received": true, "duplicate": true}`` | an event already processed, or being |
| | processed by another delivery of it |
| 200 ``{"received": true, "ignored": "<type>"}`` | an event type omnigraph does not act on |
| 400 ``SIGNATURE_MISSING``, ``SIGNATURE_MALFORMED``, | not a genuine, fresh Stripe request |
| ``SIGNATURE_INVALID``, ``TIMESTAMP_OUT_OF_TOLERANCE`` | (Stripe's docs ask for 400) |
| 400 ``MALFORMED_EVENT`` | signed, but not a Stripe event about a payout |
| 404 ``NOT_FOUND`` | no Stripe source with a webhook secret by that name |
| 413 ``REQUEST_TOO_LARGE`` | a body over 512 KiB |
| 503 ``UPSTREAM_UNAVAILABLE``, ``TIMEOUT`` | Stripe or a counterpart could not be read (in |
| | time): nothing is recorded, and Stripe's retry is processed |
| 503 ``WEBHOOK_NOT_CONFIGURED`` | the secret's environment variable is unset |
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from omnigraph.core.errors import ConfigurationError, OmnigraphError
from omnigraph.core.http_errors import error_json
from omnigraph.db.idempotency import Answered, Claim, ClaimLost, KeyClaims
from omnigraph.db.models import PayoutReconciliationRow
from omnigraph.exceptions.catalogue import ExceptionCatalogue
from omnigraph.payouts.reconciler import ReconcileProgress, Reconciler
from omnigraph.payouts.sync import PaymentsReader
from omnigraph.runtime.services import Services
from omnigraph.sources.contract import PaymentsSource
from omnigraph.sources.stripe import StripePaymentsAdapter
from omnigraph.sources.stripe.webhooks import (
    PAYOUT_EVENT_TYPES,
    WebhookRejected,
    parse_event,
    verify_signature,
)

__all__ = ["MAX_WEBHOOK_BYTES", "WEBHOOK_SCOPE", "reconcile_payouts", "stripe_webhook"]

MAX_WEBHOOK_BYTES = 512 * 1024
WEBHOOK_SCOPE = "webhook:stripe"

log = structlog.get_logger(__name__)


def _stripe_source(services: Services, name: str | None) -> StripePaymentsAdapter | None:
    adapters = [
        adapter
        for adapter in services.registry.payments
        if isinstance(adapter, StripePaymentsAdapter)
        and (name is None or adapter.name == name)
        and any(
            s.name == adapter.name and s.webhook_secret_env
            for s in services.registry.config.sources
        )
    ]
    # without a name in the path, only a single Stripe source is unambiguous
    return adapters[0] if len(adapters) == 1 else None


async def _read_body(request: Request) -> bytes | None:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_WEBHOOK_BYTES:
            return None
    return bytes(body)


async def reconcile_payouts(
    reconciler: Reconciler, payments: PaymentsSource, payout_ids: Sequence[str]
) -> ReconcileProgress:
    """Reconcile these synced payouts now, marked or not; the others wait for the loop."""
    return await reconciler.reconcile_payouts(payments, payout_ids)


async def stripe_webhook(request: Request) -> Response:
    services: Services = request.app.state.services
    adapter = _stripe_source(services, request.path_params.get("source"))
    if adapter is None:
        return error_json(
            404,
            "NOT_FOUND",
            "no Stripe source takes webhooks here (set webhook_secret_env; with several Stripe"
            " sources, post to /webhooks/stripe/<source name>)",
        )
    config = next(s for s in services.registry.config.sources if s.name == adapter.name)
    try:
        secrets = config.webhook_secrets()
    except ConfigurationError as error:
        log.error("stripe_webhook_secret_missing", source=adapter.name, error=str(error))
        return error_json(503, "WEBHOOK_NOT_CONFIGURED", str(error))
    body = await _read_body(request)
    if body is None:
        return error_json(
            413, "REQUEST_TOO_LARGE", f"webhook bodies are at most {MAX_WEBHOOK_BYTES}"
        )
    now = services.now()
    try:
        verify_signature(
            body, request.headers.get("Stripe-Signature"), secrets, now=now.timestamp()
        )
        event = parse_event(body)
    except WebhookRejected as rejected:
        log.warning("stripe_webhook_rejected", source=adapter.name, code=rejected.code)
        return error_json(400, rejected.code, rejected.message)
    if event.type not in PAYOUT_EVENT_TYPES:
        return JSONResponse({"received": True, "ignored": event.type})
    payout_id = event.object_id
    if event.object.get("object") != "payout" or payout_id is None:
        return error_json(400, "MALFORMED_EVENT", f"{event.type} does not carry a payout")
    key = f"{adapter.name}:{event.id}"
    claims = services.find(KeyClaims) or KeyClaims(services.sessions)
    claim = await claims.claim(WEBHOOK_SCOPE, key, hashlib.sha256(body).hexdigest(), now)
    if not isinstance(claim, Claim):
        # the same event id again (Stripe re-delivers, and its envelope's counters may differ),
        # answered or still being processed by the copy that claimed it
        previous = claim.response if isinstance(claim, Answered) else {}
        return JSONResponse({**previous, "received": True, "duplicate": True})
    async with claims.holding(claim):
        try:
            async with asyncio.timeout(claims.lease.total_seconds()):
                await PaymentsReader(
                    services.sessions, services.registry, clock=services.now
                ).sync_payouts(adapter, [payout_id])
                progress = await reconcile_payouts(
                    Reconciler(
                        services.sessions,
                        services.registry,
                        services.get(ExceptionCatalogue),
                        clock=services.now,
                    ),
                    adapter,
                    [payout_id],
                )
        except OmnigraphError as error:  # the claim is given back: Stripe's retry is processed
            log.warning("stripe_webhook_deferred", source=adapter.name, error=error.message)
            return error_json(503, str(error.extensions["code"]), error.message)
        except TimeoutError:
            log.warning("stripe_webhook_deferred", source=adapter.name, error="timeout")
            return error_json(503, "TIMEOUT", "the payout could not be reconciled in time")
        async with services.sessions() as session:
            verdict = await session.get(PayoutReconciliationRow, (adapter.name, payout_id))
        result: dict[str, object] = {
            "received": True,
            "event": event.id,
            "payout": payout_id,
            "status": verdict.status if verdict is not None else None,
        }
        if payout_id in progress.deferred:
            # Stripe is still linking its transactions: reconciled on payout.reconciliation_
            # completed, or by the reconciliation loop, not now (no false variance)
            result["deferred"] = True
        try:
            async with services.sessions() as session, session.begin():
                await claims.finish(session, claim, result)
        except ClaimLost:
            pass  # it outlived its lease and a retry took it over: that one answers Stripe too
    log.info("stripe_webhook_reconciled", source=adapter.name, event_id=event.id, payout=payout_id)
    return JSONResponse(result)
