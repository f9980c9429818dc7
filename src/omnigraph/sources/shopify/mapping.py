"""Shopify's Admin GraphQL orders as the storefront contract's order records.

:func:`order_record` turns one ``Order`` (as :data:`~.queries.ORDER_FRAGMENT` asks for it, with
its returns read apart) into the JSON a contract storefront would have answered, so everything
downstream (truth rules, provenance, the detector, reconciliation) reads it unchanged. Every
choice where the two models differ is in docs/sources/shopify.md; money stays exact decimals.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from omnigraph.settings import ShopifyOptions
from omnigraph.sources.contract import JsonRecord

__all__ = [
    "ShopifyMappingError",
    "canonical_order_id",
    "gateway_ref",
    "legacy_id",
    "order_gid",
    "order_record",
]

# displayFulfillmentStatus -> the contract's fulfilmentStatus. Shopify reports progress only
# through fulfillments, so every status before the first one is "unfulfilled".
FULFILMENT_STATUS = {
    "UNFULFILLED": "unfulfilled",
    "PARTIALLY_FULFILLED": "partial",
    "FULFILLED": "fulfilled",
    "RESTOCKED": "unfulfilled",
    "PENDING_FULFILLMENT": "unfulfilled",
    "OPEN": "unfulfilled",
    "IN_PROGRESS": "unfulfilled",
    "ON_HOLD": "unfulfilled",
    "SCHEDULED": "unfulfilled",
    "REQUEST_DECLINED": "unfulfilled",
}
# Return.status -> the contract's return status; CANCELED and DECLINED returns never happened,
# so they are left out.
RETURN_STATUS = {"OPEN": "open", "REQUESTED": "requested", "CLOSED": "received"}
# OrderTransaction.kind -> the contract's transaction kind (authorizations and voids move no
# money; a SALE is an authorization and a capture at once).
TRANSACTION_KIND = {"SALE": "capture", "CAPTURE": "capture", "REFUND": "refund"}
# The processor's own ids a receipt may carry, by the contract's transaction kind: Stripe's
# charge (``ch_``, ``py_`` for other payment methods) and refund (``re_``, ``pyr_``) ids.
PROCESSOR_ID_PREFIXES = {"capture": ("ch_", "py_"), "refund": ("re_", "pyr_")}
# Where a Stripe receipt names them, best first: the object itself, the charge or refund it is
# about, a PaymentIntent's latest charge, the first of an expanded list.
_RECEIPT_KEYS = ("id", "charge", "latest_charge", "refund", "charges", "refunds")


class ShopifyMappingError(ValueError):
    """An order Shopify answered lacks what the mapping needs (a broken or unexpected shape)."""


def legacy_id(gid: str) -> str:
    """``"gid://shopify/Order/450789469"`` -> ``"450789469"``."""
    return gid.rsplit("/", 1)[-1]


def canonical_order_id(legacy: str, options: ShopifyOptions) -> str:
    return f"{options.order_id_prefix}{legacy}"


def order_gid(order_id: str, options: ShopifyOptions) -> str | None:
    """The Shopify GID of a canonical order id, or None when the id cannot be one of ours."""
    prefix = options.order_id_prefix
    if not order_id.startswith(prefix):
        return None
    legacy = order_id[len(prefix) :]
    return f"gid://shopify/Order/{legacy}" if legacy.isdigit() else None


def order_record(
    node: Mapping[str, Any], returns: Mapping[str, Mapping[str, Any]], options: ShopifyOptions
) -> JsonRecord:
    """The storefront contract's order for a Shopify ``Order``; ``returns`` by Return GID."""
    try:
        return _order_record(node, returns, options)
    except (KeyError, TypeError, InvalidOperation, AttributeError) as error:
        raise ShopifyMappingError(
            f"order {node.get('id')!r} lacks what omnigraph reads ({type(error).__name__}: {error})"
        ) from None


def _order_record(
    node: Mapping[str, Any], returns: Mapping[str, Mapping[str, Any]], options: ShopifyOptions
) -> JsonRecord:
    order_id = canonical_order_id(
        str(node.get("legacyResourceId") or legacy_id(node["id"])), options
    )
    pickup_location = _pickup_location(node)
    pickup = pickup_location is not None
    channel = _channel(node, pickup, options)
    lines = [
        {
            "id": f"{order_id}-{position}",
            "sku": item.get("sku") or f"shopify-line-{legacy_id(item['id'])}",
            "title": item.get("name"),
            "quantity": int(item["quantity"]),
            "unitPrice": _amount(item["originalUnitPriceSet"]),
        }
        for position, item in enumerate(node["lineItems"]["nodes"], start=1)
    ]
    subtotal = sum(
        (Decimal(line["unitPrice"]) * line["quantity"] for line in lines), Decimal("0.00")
    )
    fulfilment_status = FULFILMENT_STATUS.get(
        str(node.get("displayFulfillmentStatus")), "unfulfilled"
    )
    if pickup and fulfilment_status == "fulfilled":
        fulfilment_status = "picked_up"  # a pickup order is fulfilled when it is collected
    customer = node.get("customer")
    financial = node.get("displayFinancialStatus")
    cancel_reason = node.get("cancelReason")
    status = (
        "cancelled" if node.get("cancelledAt") else "closed" if node.get("closedAt") else "open"
    )
    return {
        "id": order_id,
        "name": node.get("name"),
        "channel": channel,
        "customer": (
            {
                "id": str(customer.get("legacyResourceId") or ""),
                "name": customer.get("displayName") or "",
                "email": node.get("email"),
            }
            if customer
            else None
        ),
        "fulfilmentMethod": (
            "pickup" if pickup else "wholesale" if channel == "wholesale" else "ship"
        ),
        "pickupLocationId": (
            options.location_map.get(pickup_location, pickup_location) if pickup_location else None
        ),
        "currency": node["currencyCode"],
        "status": status,
        "fulfilmentStatus": fulfilment_status,
        "financialStatus": str(financial).lower() if financial else None,
        "cancelRequestedAt": None,  # Shopify cancels at once; there is no pending request
        "cancelledAt": node.get("cancelledAt"),
        "cancelReason": str(cancel_reason).lower() if cancel_reason else None,
        "placedAt": node.get("processedAt") or node["createdAt"],
        "updatedAt": node["updatedAt"],
        "lines": lines,
        "totals": {
            "subtotal": f"{subtotal:.2f}",
            # nullable in Shopify's schema: an order without discounts or tax may say nothing
            "discount": _amount_or_zero(node.get("totalDiscountsSet")),
            "shipping": _amount(node["totalShippingPriceSet"]),
            "tax": _amount_or_zero(node.get("totalTaxSet")),
            "total": _amount(node["totalPriceSet"]),
        },
        "returns": _returns(node, returns),
        "transactions": _transactions(node),
        # Shopify keeps no free-text messages to the customer on the order (docs: notify)
        "notifications": [],
    }


def _amount(money_bag: Mapping[str, Any]) -> str:
    """The shop-currency amount of a ``MoneyBag``, as the exact decimal string Shopify sent."""
    return str(Decimal(str(money_bag["shopMoney"]["amount"])))


def _amount_or_zero(money_bag: Mapping[str, Any] | None) -> str:
    """A nullable ``MoneyBag``'s amount; null (or no shop amount) is none: ``0.00``."""
    if not money_bag or not (money_bag.get("shopMoney") or {}).get("amount"):
        return "0.00"
    return _amount(money_bag)


def _pickup_location(node: Mapping[str, Any]) -> str | None:
    """The numeric id of the location a local-pickup order is collected from, else None."""
    for fulfilment_order in (node.get("fulfillmentOrders") or {}).get("nodes") or ():
        method = (fulfilment_order.get("deliveryMethod") or {}).get("methodType")
        if method == "PICK_UP":
            location = (fulfilment_order.get("assignedLocation") or {}).get("location") or {}
            return str(location.get("legacyResourceId") or "") or "unknown"
    return None


def _channel(node: Mapping[str, Any], pickup: bool, options: ShopifyOptions) -> str:
    # attribution (2026-07 on), else channelInformation (the older versions' documents)
    handle = (node.get("attribution") or {}).get("handle")
    if handle is None and "channelInformation" in node:
        information = node.get("channelInformation") or {}
        handle = (information.get("channelDefinition") or {}).get("handle")
    for key in (handle, node.get("sourceName")):
        if key is not None and str(key) in options.channel_map:
            return options.channel_map[str(key)]
    return options.pickup_channel if pickup else options.default_channel


def _returns(node: Mapping[str, Any], returns: Mapping[str, Mapping[str, Any]]) -> list[JsonRecord]:
    mapped = []
    for ref in (node.get("returns") or {}).get("nodes") or ():
        found = returns.get(ref["id"])
        if found is None or found.get("status") not in RETURN_STATUS:
            continue
        items = (found.get("returnLineItems") or {}).get("nodes") or ()
        lines = []
        for item in items:
            line_item = (item.get("fulfillmentLineItem") or {}).get("lineItem") or {}
            sku = line_item.get("sku") or (
                f"shopify-line-{legacy_id(line_item['id'])}" if line_item.get("id") else None
            )
            if sku is not None:
                lines.append({"sku": sku, "quantity": int(item["quantity"])})
        reason = next((i["returnReasonNote"] for i in items if i.get("returnReasonNote")), None)
        mapped.append(
            {
                "id": found["name"],
                "status": RETURN_STATUS[found["status"]],
                "reason": reason,
                "openedAt": found.get("createdAt"),
                "lines": lines,
            }
        )
    return mapped


def gateway_ref(txn: Mapping[str, Any], kind: str) -> str:
    """The id reconciliation matches a transaction to the processor by: the processor's charge
    or refund id in the transaction's receipt (``receiptJson``), else Shopify's ``paymentId``,
    else the transaction's GID (which matches nothing, so it is reported unmatched rather than
    guessed). ``authorizationCode`` is not read: it is deprecated since 2026-01, and its
    replacement ``paymentId`` is Shopify's id, not the processor's."""
    for value in _receipt_ids(_receipt(txn.get("receiptJson"))):
        if value.startswith(PROCESSOR_ID_PREFIXES.get(kind, ())):
            return value
    payment_id = txn.get("paymentId")
    return str(payment_id) if payment_id else str(txn["id"])


def _receipt(raw: Any) -> Any:
    """``receiptJson`` as Shopify sends it (a JSON document in a string), decoded."""
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return None
    return raw


def _receipt_ids(receipt: Any, depth: int = 0) -> Iterator[str]:
    """The string ids a gateway's receipt holds under the keys a Stripe receipt uses."""
    if depth > 3 or not isinstance(receipt, dict):
        return
    for key in _RECEIPT_KEYS:
        value = receipt.get(key)
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            if isinstance(value.get("data"), list):  # a list object: its items
                for item in value["data"]:
                    yield from _receipt_ids(item, depth + 1)
            else:  # an expanded object
                yield from _receipt_ids(value, depth + 1)


def _transactions(node: Mapping[str, Any]) -> list[JsonRecord]:
    # A refund transaction names the return it paid for through its refund.
    return_of: dict[str, str] = {}
    for refund in node.get("refunds") or ():
        name = (refund.get("return") or {}).get("name")
        if name:
            for txn in (refund.get("transactions") or {}).get("nodes") or ():
                return_of[txn["id"]] = name
    mapped = []
    for txn in node.get("transactions") or ():
        kind = TRANSACTION_KIND.get(str(txn.get("kind")))
        if kind is None or txn.get("status") != "SUCCESS":
            continue
        money = txn["amountSet"]["shopMoney"]
        mapped.append(
            {
                "id": legacy_id(txn["id"]),
                "kind": kind,
                "amount": str(Decimal(str(money["amount"]))),
                "currency": money["currencyCode"],
                "gatewayRef": gateway_ref(txn, kind),
                "processedAt": txn.get("processedAt") or txn["createdAt"],
                "returnId": return_of.get(txn["id"]) if kind == "refund" else None,
            }
        )
    mapped.sort(key=lambda t: str(t["processedAt"]))
    return mapped
