"""Returns with no money back: goods the warehouse received that nobody refunded.

No balance transaction points at such a return, so the payout pass cannot see it; this sweep
walks the storefront's orders a page at a time, asks the warehouses about the ones with returns
(one batched call per page), and flags each receipt with no refund once ``grace`` has passed
since it arrived (refunds lag receipts by design: someone inspects first).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import KW_ONLY, dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnigraph.core.money import minor_units, rounded
from omnigraph.db.models import ReconciliationLineRow
from omnigraph.exceptions.catalogue import ExceptionCatalogue, ExceptionKind
from omnigraph.exceptions.intake import Reporter, take_in
from omnigraph.payouts.categories import ReportingCategory
from omnigraph.payouts.matching import LineResult, MatchStatus
from omnigraph.payouts.reconciler import line_row
from omnigraph.runtime.services import utc_now
from omnigraph.sources.contract import OrderListFilter
from omnigraph.sources.records import (
    FulfilmentOrder,
    ReturnReceipt,
    ReturnReceiptLine,
    StorefrontOrder,
)
from omnigraph.sources.registry import SourceRegistry

__all__ = ["ReturnSweep", "refund_due", "unrefunded_returns"]

RETURN_LINE_PREFIX = "return:"


def refund_due(order: StorefrontOrder, receipt: ReturnReceipt) -> Decimal:
    """What the customer paid for the returned units: their share of the order after its
    discount, or the whole total (shipping included) when everything came back."""
    ordered = {line.sku: line.quantity for line in order.lines}
    returned = {line.sku: line.quantity for line in receipt.lines}
    if returned == ordered:
        return order.totals.total
    prices = {line.sku: line.unit_price for line in order.lines}
    gross = sum((prices.get(sku, Decimal(0)) * qty for sku, qty in returned.items()), Decimal(0))
    subtotal = order.totals.subtotal
    if subtotal > 0:
        gross = gross * (subtotal - order.totals.discount) / subtotal
    return rounded(gross, order.currency)


def unrefunded_returns(
    order: StorefrontOrder,
    fulfilments: Sequence[FulfilmentOrder],
    *,
    now: datetime,
    grace: timedelta,
) -> list[ReturnReceipt]:
    """The order's returns the warehouse received at least ``grace`` ago and nobody refunded,
    one per return: parcels received under one RMA (by any fulfilment order) are one return,
    their lines added up."""
    refunded = {t.return_id for t in order.transactions if t.kind == "refund"}
    parcels: dict[str, list[ReturnReceipt]] = {}
    for fulfilment in fulfilments:
        for receipt in fulfilment.return_receipts:
            if receipt.rma_ref in refunded or now - receipt.received_at < grace:
                continue
            parcels.setdefault(receipt.rma_ref or receipt.id, []).append(receipt)
    return [_one_return(receipts) for receipts in parcels.values()]


def _one_return(receipts: list[ReturnReceipt]) -> ReturnReceipt:
    if len(receipts) == 1:
        return receipts[0]
    quantities: dict[str, int] = {}
    for receipt in receipts:
        for line in receipt.lines:
            quantities[line.sku] = quantities.get(line.sku, 0) + line.quantity
    return receipts[0].model_copy(
        update={
            "received_at": max(r.received_at for r in receipts),
            "lines": [ReturnReceiptLine(sku=sku, quantity=n) for sku, n in quantities.items()],
        }
    )


@dataclass(frozen=True, slots=True)
class _Found:
    order: StorefrontOrder
    receipt: ReturnReceipt
    amount: Decimal


@dataclass(eq=False)
class ReturnSweep:
    """Flags received returns nobody refunded once ``grace`` has passed."""

    sessions: async_sessionmaker[AsyncSession]
    registry: SourceRegistry
    catalogue: ExceptionCatalogue
    _: KW_ONLY
    grace: timedelta = timedelta(days=2)
    page_size: int = 100
    clock: Callable[[], datetime] = utc_now

    async def sweep(self) -> list[str]:
        """Flag every unrefunded return; return their storefront return ids."""
        now = self.clock()
        found: list[_Found] = []
        for storefront in self.registry.storefronts:
            cursor: str | None = None
            while True:
                page = await storefront.list_orders(
                    limit=self.page_size, cursor=cursor, filter=OrderListFilter()
                )
                found += await self._unrefunded(page.orders, now)
                cursor = page.next_cursor
                if not cursor or not page.orders:
                    break
        await self._record(found, now)
        return [item.receipt.rma_ref or item.receipt.id for item in found]

    async def _unrefunded(self, orders: list[StorefrontOrder], now: datetime) -> list[_Found]:
        with_returns = {order.id: order for order in orders if order.returns}
        if not with_returns:
            return []
        refs = sorted(with_returns)
        fulfilments: dict[str, list[FulfilmentOrder]] = {}
        for wms in self.registry.warehouses:
            grouped = await wms.fulfilment_orders_by_order_ref(refs)
            for ref, records in grouped.items():
                fulfilments.setdefault(ref, []).extend(records)
        found: list[_Found] = []
        for ref, records in fulfilments.items():
            order = with_returns[ref]
            for receipt in unrefunded_returns(order, records, now=now, grace=self.grace):
                found.append(_Found(order, receipt, refund_due(order, receipt)))
        return found

    async def _record(self, found: list[_Found], now: datetime) -> None:
        payments = self.registry.payments[0] if self.registry.payments else None
        source = payments.name if payments else "payments"
        charges = (
            await payments.charges_by_order_ref(sorted({item.order.id for item in found}))
            if payments and found
            else {}
        )
        lines = [
            LineResult(
                key=f"{RETURN_LINE_PREFIX}{item.receipt.rma_ref or item.receipt.id}",
                txn_id=None,
                payout_id=None,
                type="return",
                category=ReportingCategory.REFUNDS,
                currency=item.order.currency.upper(),
                amount_minor=0,
                fee_minor=0,
                net_minor=0,
                status=MatchStatus.RETURN_WITHOUT_REFUND,
                reason=f"the warehouse received return {item.receipt.rma_ref} of order"
                f" {item.order.id} ({item.receipt.id}) but nothing was refunded;"
                f" {item.amount} is due",
                order_ref=item.order.id,
                counterpart=item.receipt.id,
                difference_minor=minor_units(item.amount, item.order.currency),
                details={"returnId": item.receipt.rma_ref or "", "receiptId": item.receipt.id},
            )
            for item in found
        ]
        async with self.sessions() as session, session.begin():
            await session.execute(
                delete(ReconciliationLineRow).where(
                    ReconciliationLineRow.source == source,
                    ReconciliationLineRow.key.startswith(RETURN_LINE_PREFIX),
                )
            )
            session.add_all(
                line_row(source, line, item.receipt.received_at, now)
                for line, item in zip(lines, found, strict=True)
            )
        if not found:
            return
        # every return found is of a storefront's order
        storefront = self.registry.storefronts[0].name
        reporter = Reporter("reconciler", detected_at=now)
        for item in found:
            order_charges = charges.get(item.order.id, [])
            due_minor = minor_units(item.amount, item.order.currency)
            if order_charges:  # never ask for more than the charge has left to refund
                charge = order_charges[0]
                due_minor = min(due_minor, charge.amount_captured - charge.amount_refunded)
            await take_in(
                self.sessions,
                self.catalogue,
                reporter.about_order(
                    ExceptionKind.RETURN_WITHOUT_REFUND,
                    f"RETURN_WITHOUT_REFUND:{item.receipt.rma_ref or item.receipt.id}",
                    storefront,
                    item.order.id,
                    summary=f"return {item.receipt.rma_ref} of order {item.order.id} was"
                    f" received {item.receipt.received_at:%Y-%m-%d} and not refunded"
                    f" ({item.amount} due)",
                    owner_source=source,
                    details={
                        "returnId": item.receipt.rma_ref or "",
                        "receiptId": item.receipt.id,
                        "chargeId": order_charges[0].id if order_charges else "",
                        "amountMinor": due_minor,
                        "amount": str(item.amount),
                    },
                ),
            )
