"""The storefront contract's commands, done with Shopify's mutations or refused with a reason.

Shopify's order mutations take no idempotency key (``@idempotent`` covers refunds and inventory
adjustments only), so exactly-once comes from the order's own state, read just before acting:
a command whose effect is already there is answered ``accepted`` and ``replayed`` without
calling the mutation again (an order already cancelled, a return already open, the note already
tagged with this command's key). A mutation that Shopify throttled was never run and is retried;
one whose answer was lost is retried by the dispatcher and finds its effect on the order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from omnigraph.sources.contract import CommandReceipt
from omnigraph.sources.shopify.feed import order_event
from omnigraph.sources.shopify.mapping import canonical_order_id, legacy_id, order_gid
from omnigraph.sources.shopify.queries import (
    CANCEL_ORDER,
    CREATE_RETURN,
    ORDER_NOTE_AND_TAGS,
    RETURNABLE_FULFILLMENTS,
    document_cost,
)

if TYPE_CHECKING:
    from omnigraph.sources.shopify.client import ShopifyClient

__all__ = ["CANCEL_REASONS", "SUPPORTED", "UNSUPPORTED", "run_command"]

CANCEL_REASONS = frozenset({"CUSTOMER", "DECLINED", "FRAUD", "INVENTORY", "STAFF", "OTHER"})
MUTATION_COST = 20  # a mutation is 10 points, plus what its answer selects
RETURNABLE_COST = document_cost(RETURNABLE_FULFILLMENTS)
ORDER_STATE = """
query OmnigraphOrderState($id: ID!) {
  order(id: $id) { id legacyResourceId updatedAt cancelledAt note tags }
}
"""
ORDER_STATE_COST = 1

# Contract commands with no Shopify equivalent, and why.
UNSUPPORTED = {
    "order.reinstate": "Shopify cannot reinstate a cancelled order: orderCancel is irreversible",
    "order.sync_fulfilment": "Shopify derives an order's fulfilment status from the fulfillments"
    " its fulfilling location or app creates; omnigraph does not create fulfillments",
}

Handler = Callable[["ShopifyClient", str, dict[str, Any], str], Awaitable[CommandReceipt]]


class _Refused(Exception):
    """Raised by a handler that cannot do the command: answered ``rejected`` with the reason."""


def _rejected(detail: str) -> CommandReceipt:
    return CommandReceipt(accepted=False, detail=detail, command_id="", replayed=False)


def _accepted(detail: str, command_id: str = "", *, replayed: bool = False) -> CommandReceipt:
    return CommandReceipt(accepted=True, detail=detail, command_id=command_id, replayed=replayed)


def _errors(errors: Any) -> str | None:
    if not errors:
        return None
    return "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors)


async def run_command(
    client: ShopifyClient, command_type: str, payload: dict[str, Any], idempotency_key: str
) -> CommandReceipt:
    if command_type in UNSUPPORTED:
        return _rejected(UNSUPPORTED[command_type])
    handler = SUPPORTED.get(command_type)
    if handler is None:
        return _rejected(f"unknown command type {command_type!r} for a Shopify storefront")
    order_id = payload.get("orderId") or payload.get("recordId")
    gid = order_gid(str(order_id), client.options) if isinstance(order_id, str) else None
    if gid is None:
        return _rejected(f"{order_id!r} is not an order of this Shopify shop")
    try:
        receipt = await handler(client, gid, payload, idempotency_key)
    except _Refused as refused:
        return _rejected(str(refused))
    if receipt.accepted and not receipt.replayed:
        # the next read sees the effect
        await client.upstream.forget([("orders", "id", str(order_id))])
    return receipt


async def _state(client: ShopifyClient, gid: str) -> dict[str, Any]:
    """The order as Shopify holds it now; a command on an order it does not hold is refused."""
    data = await client.graphql(ORDER_STATE, {"id": gid}, requested_cost=ORDER_STATE_COST)
    order = data.get("order")
    if not isinstance(order, dict):
        raise _Refused(f"Shopify has no order {legacy_id(gid)}")
    return order


async def _cancel(
    client: ShopifyClient, gid: str, payload: dict[str, Any], key: str
) -> CommandReceipt:
    order = await _state(client, gid)
    if order.get("cancelledAt"):
        return _accepted(f"already cancelled at {order['cancelledAt']}", replayed=True)
    reason = str(payload.get("reason") or "")
    data = await client.graphql(
        CANCEL_ORDER,
        {
            "orderId": gid,
            "reason": reason.upper() if reason.upper() in CANCEL_REASONS else "OTHER",
            "staffNote": f"omnigraph {key}: {reason}"[:255],
        },
        requested_cost=MUTATION_COST,
    )
    result = data.get("orderCancel") or {}
    problem = _errors(result.get("orderCancelUserErrors"))
    if problem:
        return _rejected(problem)
    job = (result.get("job") or {}).get("id") or ""
    return _accepted(
        "cancellation started (restocked, nothing refunded: money moves through the payments"
        f" provider's commands); Shopify job {job}",
        job,
    )


async def _notify(
    client: ShopifyClient, gid: str, payload: dict[str, Any], key: str
) -> CommandReceipt:
    order = await _state(client, gid)
    marker = "omnigraph-" + hashlib.sha256(key.encode()).hexdigest()[:12]
    tags = [str(t) for t in order.get("tags") or ()]
    detail = (
        "the message is on the order's note, tagged omnigraph-notify for a Shopify Flow or"
        " staff to send (Shopify sends no free-text message itself)"
    )
    if marker in tags:
        return _accepted(detail, marker, replayed=True)
    message = str(payload.get("message") or "").strip()
    if not message:
        return _rejected("customer.notify needs a message")
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    note = str(order.get("note") or "")
    data = await client.graphql(
        ORDER_NOTE_AND_TAGS,
        {
            "input": {
                "id": gid,
                "note": f"{note}\n[omnigraph {stamp}] {message}".strip(),
                "tags": [*tags, "omnigraph-notify", marker],
            }
        },
        requested_cost=MUTATION_COST,
    )
    problem = _errors((data.get("orderUpdate") or {}).get("userErrors"))
    return _rejected(problem) if problem else _accepted(detail, marker)


async def _open_return(
    client: ShopifyClient, gid: str, payload: dict[str, Any], key: str
) -> CommandReceipt:
    data = await client.graphql(
        RETURNABLE_FULFILLMENTS, {"orderId": gid}, requested_cost=RETURNABLE_COST
    )
    order = data.get("order")
    if not isinstance(order, dict):
        return _rejected(f"Shopify has no order {legacy_id(gid)}")
    if order.get("cancelledAt"):
        return _rejected("the order is cancelled")
    for existing in (order.get("returns") or {}).get("nodes") or ():
        if existing.get("status") in ("OPEN", "REQUESTED"):
            # one open return at a time, as the contract says: a retry finds its own here
            return _accepted(f"return {existing.get('name')} is open", replayed=True)
    lines = [
        {
            "fulfillmentLineItemId": item["fulfillmentLineItem"]["id"],
            "quantity": item["quantity"],
            "returnReasonNote": str(payload.get("reason") or "")[:255],
        }
        for fulfillment in (data.get("returnableFulfillments") or {}).get("nodes") or ()
        for item in (fulfillment.get("returnableFulfillmentLineItems") or {}).get("nodes") or ()
        if item.get("quantity")
    ]
    if not lines:
        return _rejected("nothing fulfilled is left to return")
    created = await client.graphql(
        CREATE_RETURN,
        {"input": {"orderId": gid, "returnLineItems": lines}},
        requested_cost=MUTATION_COST,
    )
    result = created.get("returnCreate") or {}
    problem = _errors(result.get("userErrors"))
    if problem:
        return _rejected(problem)
    opened = result.get("return") or {}
    return _accepted(f"return {opened.get('name')} opened", str(opened.get("id") or ""))


async def _resync(
    client: ShopifyClient, gid: str, payload: dict[str, Any], key: str
) -> CommandReceipt:
    order = await _state(client, gid)
    order_id = canonical_order_id(
        str(order.get("legacyResourceId") or legacy_id(gid)), client.options
    )
    await client.feed.push(
        order_event("order.updated", order_id, str(order["updatedAt"]), {"resync": True})
    )
    return _accepted("the order is read from Shopify again and is on the change feed")


SUPPORTED: dict[str, Handler] = {
    "order.cancel": _cancel,
    "customer.notify": _notify,
    "return.open": _open_return,
    "record.resync": _resync,
}
