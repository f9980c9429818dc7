"""Fetch what a chunk of balance transactions is matched against: a few batched calls per source.

However many transactions a chunk holds, the cost is one call per source per step (charges,
refunds and disputes by id, then orders, sales orders and fulfilments by order ref), never one
per transaction. Only refunds are matched against credit memos and return receipts, so the ERP
and the WMS are asked about the orders refunds point at, not every order a charge paid for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from omnigraph.payouts.categories import ReportingCategory, category_of
from omnigraph.payouts.matching import Counterparts, SettledTransaction
from omnigraph.sources.contract import PaymentsSource
from omnigraph.sources.records import FulfilmentOrder, OrderPayments, SalesOrder
from omnigraph.sources.registry import SourceRegistry

__all__ = ["fetch_counterparts", "orders_with_context"]


async def fetch_counterparts(
    registry: SourceRegistry, payments: PaymentsSource, transactions: Sequence[SettledTransaction]
) -> Counterparts:
    wanted: dict[ReportingCategory, set[str]] = {
        ReportingCategory.SALES: set(),
        ReportingCategory.REFUNDS: set(),
        ReportingCategory.DISPUTES: set(),
    }
    for txn in transactions:
        category = category_of(txn.type)
        if category in wanted and txn.source:
            wanted[category].add(txn.source)
    charges_by_id, refunds, disputes = await asyncio.gather(
        payments.charges_by_id(sorted(wanted[ReportingCategory.SALES])),
        payments.refunds_by_id(sorted(wanted[ReportingCategory.REFUNDS])),
        payments.disputes_by_id(sorted(wanted[ReportingCategory.DISPUTES])),
    )
    refund_charges = {rid: r.charge for rid, r in refunds.items() if r.charge}
    dispute_charges = {did: d.charge for did, d in disputes.items() if d.charge}
    missing = (set(refund_charges.values()) | set(dispute_charges.values())) - set(charges_by_id)
    charges = dict(charges_by_id)
    if missing:
        charges |= await payments.charges_by_id(sorted(missing))
    refs = sorted({c.order_ref for c in charges.values() if c.order_ref})
    refunded = sorted(
        {
            ref
            for charge_id in refund_charges.values()
            if charge_id in charges and (ref := charges[charge_id].order_ref)
        }
    )
    orders, sales_orders, fulfilments = await orders_with_context(
        registry, refs, context_refs=refunded
    )
    return Counterparts(
        charges=charges,
        refund_charges=refund_charges,
        dispute_charges=dispute_charges,
        orders=orders,
        sales_orders=sales_orders,
        fulfilments=fulfilments,
        refund_amounts={rid: r.amount for rid, r in refunds.items()},
    )


async def orders_with_context(
    registry: SourceRegistry, refs: Sequence[str], *, context_refs: Sequence[str] | None = None
) -> tuple[dict[str, OrderPayments], dict[str, list[SalesOrder]], dict[str, list[FulfilmentOrder]]]:
    """The money storefront orders ``refs`` recorded (not the whole orders: matching reads
    nothing else of them), and ERP sales orders and WMS fulfilment orders for
    ``context_refs`` (default: ``refs``), each source asked once (several storefronts, ERPs or
    warehouses are all asked)."""
    context = refs if context_refs is None else context_refs
    storefront_pages, erp_pages, wms_pages = await asyncio.gather(
        asyncio.gather(*(s.order_payments_by_id(refs) for s in registry.storefronts if refs)),
        asyncio.gather(*(e.sales_orders_by_order_ref(context) for e in registry.erps if context)),
        asyncio.gather(
            *(w.fulfilment_orders_by_order_ref(context) for w in registry.warehouses if context)
        ),
    )
    orders: dict[str, OrderPayments] = {}
    for page in storefront_pages:
        orders |= page
    sales_orders: dict[str, list[SalesOrder]] = {}
    for grouped in erp_pages:
        for ref, found in grouped.items():
            sales_orders.setdefault(ref, []).extend(found)
    fulfilments: dict[str, list[FulfilmentOrder]] = {}
    for grouped_fulfilments in wms_pages:
        for ref, found_fulfilments in grouped_fulfilments.items():
            fulfilments.setdefault(ref, []).extend(found_fulfilments)
    return orders, sales_orders, fulfilments
