"""The raw baseline: hand-written starlette endpoints, no GraphQL.

Each answers one benchmark operation with exactly the JSON omnigraph answers for it
(``{"data": ...}``), from the same source adapters, per-request loaders, record caches, database
and truth rules as the service, but with every field written out by hand in one pass: the most a
hand-written REST endpoint over the same systems could do. Field-level permissions are not
checked (the benchmark's keys may see every field these operations ask for).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from omnigraph.core.ids import encode_global_id
from omnigraph.core.provenance import Claim
from omnigraph.core.sources import SourceKind
from omnigraph.exceptions.catalogue import ExceptionCatalogue
from omnigraph.exceptions.resolvers import ExceptionLoaders
from omnigraph.graph.context import RequestContext
from omnigraph.inventory.availability import Promise, read_availability
from omnigraph.orders.authority import AuthorityRules
from omnigraph.orders.resolvers import (
    ORDER_CURSOR,
    OrderQueryFilter,
    list_orders,
    load_evidence,
    order_by_source_ref,
)
from omnigraph.orders.truth import OrderEvidence, OrderTruth, OrderTruths, channel_state
from omnigraph.runtime.services import Services
from omnigraph.sources.records import Sourced, StorefrontOrder

__all__ = ["raw_availability", "raw_order_lookup", "raw_orders_page"]

CENT = Decimal("0.01")
ALL_KINDS = frozenset({SourceKind.ERP, SourceKind.WMS, SourceKind.PAYMENTS})


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _money(amount: Decimal, currency: str) -> dict[str, str]:
    return {"amount": str(amount.quantize(CENT)), "currency": currency.upper()}


def _order_id(order: Sourced[StorefrontOrder]) -> str:
    return encode_global_id("Order", order.source, order.record.id)


async def raw_availability(request: Request) -> Response:
    """``StorefrontAvailability``: body ``{"skus": [...], "channel": "..."}``."""
    body = await request.json()
    answers = await read_availability(
        _services(request),
        skus=body["skus"],
        channel=body["channel"],
        promise=Promise.SAME_DAY_PICKUP,
        at=None,
        location_ids=None,
    )
    return JSONResponse(
        {
            "data": {
                "availability": [
                    {
                        "sku": a.sku,
                        "locationId": a.location_id,
                        "availableQuantity": a.available,
                        "onHand": a.figures.on_hand,
                        "buckets": [{"name": k, "quantity": v} for k, v in a.buckets.items()],
                        "asOf": a.as_of.isoformat(),
                        "explanation": a.explanation,
                    }
                    for a in answers
                ]
            }
        }
    )


def _claim(claim: Claim, *fields: str) -> dict[str, Any]:
    values = {
        "source": claim.source,
        "sourceKind": claim.source_kind.name,
        "value": claim.value,
        "asOf": claim.as_of.isoformat(),
        "recordRef": claim.record_ref,
    }
    return {name: values[name] for name in fields}


_ERP_WMS = frozenset({SourceKind.ERP, SourceKind.WMS})


def _truth(
    services: Services, evidence: OrderEvidence, kinds: frozenset[SourceKind], now: datetime
) -> OrderTruth:
    """The same truth core as omnigraph's: decided once per order while its claims stand."""
    rules = services.get(AuthorityRules)
    return services.get(OrderTruths).truths(evidence, kinds, (kinds,), rules, now)[kinds]


async def raw_order_lookup(request: Request) -> Response:
    """``SupportOrderLookup``: body ``{"source": "web-store", "ref": "SF-100001"}``."""
    body = await request.json()
    services = _services(request)
    ctx = RequestContext.for_request(services, request)
    found = await order_by_source_ref(ctx, body["source"], body["ref"])
    if found is None:
        return JSONResponse({"data": {"orderByRef": None}})
    evidence, exception_rows = await asyncio.gather(
        load_evidence(ctx, found, ALL_KINDS),
        ctx.loaders(ExceptionLoaders).by_order.load((found.source, found.record.id)),
    )
    for error in evidence.unavailable.values():
        raise error  # the benchmark's sources are up; a partial answer is not measured here
    now = services.now()
    truth = _truth(services, evidence, ALL_KINDS, now)
    order = found.record
    currency = truth.currency.served.value
    totals = truth.served_totals
    financial = truth.financial_status
    lines = []
    for line in order.lines:
        price = truth.unit_price(line.sku)
        quantities = truth.line_quantities(line.sku)
        lines.append(
            {
                "sku": line.sku,
                "title": line.title,
                "quantity": line.quantity,
                "unitPrice": (
                    None if price is None else _money(Decimal(price.served.value), order.currency)
                ),
                "picked": quantities.picked,
                "shipped": quantities.shipped,
                "short": quantities.short,
                "returned": quantities.returned,
            }
        )
    refs = [{"source": found.source, "sourceKind": "STOREFRONT", "ref": order.id}]
    refs += [
        {"source": s.source, "sourceKind": "ERP", "ref": s.record.id} for s in evidence.sales_orders
    ]
    refs += [
        {"source": s.source, "sourceKind": "WMS", "ref": s.record.id}
        for s in evidence.fulfilment_orders
    ]
    refs += [
        {"source": s.source, "sourceKind": "PAYMENTS", "ref": s.record.id} for s in evidence.charges
    ]
    catalogue = services.get(ExceptionCatalogue)
    data = {
        "id": _order_id(found),
        "name": order.name,
        "channel": order.channel,
        "state": truth.state.served.value,
        "channelState": (
            channel_state(
                order,
                [f.record for f in evidence.fulfilment_orders],
                [s.record for s in evidence.sales_orders],
                now,
            )
            if order.fulfilment_method in ("pickup", "wholesale")
            else None
        ),
        "placedAt": order.placed_at.isoformat(),
        "customer": (
            None
            if order.customer is None
            else {"name": order.customer.name, "email": order.customer.email}
        ),
        "externalRefs": refs,
        "totals": {"total": _money(totals.total, currency)},
        "financialStatus": None if financial is None else financial.served.value.upper(),
        "lines": lines,
        "shipments": [
            {
                "id": shipment.id,
                "carrier": shipment.carrier,
                "trackingNumber": shipment.tracking_number,
                "shippedAt": shipment.shipped_at.isoformat(),
                "deliveredAt": (
                    None if shipment.delivered_at is None else shipment.delivered_at.isoformat()
                ),
            }
            for f in evidence.fulfilment_orders
            for shipment in f.record.shipments
        ],
        "payments": [
            {
                "id": c.record.id,
                "status": c.record.status,
                "captured": {
                    "amount": str(Decimal(c.record.amount_captured).scaleb(-2).quantize(CENT))
                },
                "refunded": {
                    "amount": str(Decimal(c.record.amount_refunded).scaleb(-2).quantize(CENT))
                },
            }
            for c in evidence.charges
        ],
        "provenance": [
            {
                "field": fact.field,
                **_claim(fact.served, "source", "sourceKind", "recordRef", "asOf"),
                "authoritative": fact.authoritative,
            }
            for fact in truth.served_facts()
        ],
        "disagreements": [
            {
                "field": fact.field,
                "authoritative": _claim(fact.served, "source", "value"),
                "others": [_claim(c, "source", "value", "asOf") for c in fact.conflicting],
            }
            for fact in truth.disagreements()
        ],
        "exceptions": [
            {
                "id": encode_global_id("Exception", row.id),
                "kind": row.kind,
                "status": row.status,
                "ownerSource": row.owner_source,
                "allowedResolutions": list(catalogue.rule(row.kind).applicable(row.details or {})),
            }
            for row in exception_rows
        ],
    }
    return JSONResponse({"data": {"orderByRef": data}})


async def raw_orders_page(request: Request) -> Response:
    """``ReportingOrdersPage``: body ``{"first": 100}`` (first page, every channel)."""
    body = await request.json()
    services = _services(request)
    ctx = RequestContext.for_request(services, request)
    result = await list_orders(
        ctx, first=int(body.get("first", 100)), after=None, filter=OrderQueryFilter()
    )
    orders = [order for order, _ in result.items]
    evidences = await asyncio.gather(
        *(load_evidence(ctx, o, {SourceKind.ERP, SourceKind.WMS}) for o in orders)
    )
    now = services.now()
    edges = []
    for found, evidence in zip(orders, evidences, strict=True):
        for error in evidence.unavailable.values():
            raise error
        truth = _truth(services, evidence, _ERP_WMS, now)
        order = found.record
        totals = truth.served_totals
        edges.append(
            {
                "node": {
                    "id": _order_id(found),
                    "name": order.name,
                    "channel": order.channel,
                    "placedAt": order.placed_at.isoformat(),
                    "state": truth.state.served.value,
                    "totals": {"total": _money(totals.total, truth.currency.served.value)},
                    "lines": [
                        {
                            "sku": line.sku,
                            "quantity": line.quantity,
                            "shipped": truth.line_quantities(line.sku).shipped,
                        }
                        for line in order.lines
                    ],
                }
            }
        )
    end = result.items[-1][1] if result.items else result.resume_at
    page_info = {
        "hasNextPage": result.has_next,
        "endCursor": None if end is None else end.encode(ORDER_CURSOR),
    }
    return JSONResponse({"data": {"orders": {"edges": edges, "pageInfo": page_info}}})
