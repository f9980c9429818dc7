"""Three-way matching: each balance transaction against the operational event it represents.

A charge matches the storefront order's capture (same processor id, amount and currency); a
refund matches the storefront refund and, where goods came back, the WMS return receipt and
the ERP credit memo; a dispute matches the charge it disputes. Fees and adjustments are the
provider's own account activity and have no counterpart. What does not match is a result with
a reason, never silence. Matching is a pure function of the records so it can be tested as a
table and run over any number of payouts a chunk at a time.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Protocol

from omnigraph.core.money import from_minor_units, minor_units
from omnigraph.payouts.categories import ReportingCategory, category_of
from omnigraph.sources.records import (
    Charge,
    FulfilmentOrder,
    SalesOrder,
    StorefrontTransaction,
)

__all__ = [
    "Counterparts",
    "LineResult",
    "MatchStatus",
    "RecordedMoney",
    "SettledTransaction",
    "match_transactions",
]


class MatchStatus(enum.StrEnum):
    MATCHED = "MATCHED"
    UNMATCHED = "UNMATCHED"
    AMOUNT_MISMATCH = "AMOUNT_MISMATCH"
    CURRENCY_MISMATCH = "CURRENCY_MISMATCH"
    DUPLICATE = "DUPLICATE"
    REFUND_WITHOUT_RETURN = "REFUND_WITHOUT_RETURN"
    MISSING_CREDIT_MEMO = "MISSING_CREDIT_MEMO"
    RETURN_WITHOUT_REFUND = "RETURN_WITHOUT_REFUND"


class SettledTransaction(Protocol):
    """What matching and the payout equation read of a balance transaction: a parsed
    ``BalanceTransaction``, or a plain tuple of a stored row (the reconciler's, a million at a
    time)."""

    @property
    def id(self) -> str: ...
    @property
    def amount(self) -> int: ...
    @property
    def fee(self) -> int: ...
    @property
    def net(self) -> int: ...
    @property
    def currency(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def source(self) -> str | None: ...
    @property
    def payout(self) -> str | None: ...


class RecordedMoney(Protocol):
    """What matching reads of a storefront order: its id and the money it recorded (an
    ``OrderPayments``, as the reconciler reads it, or a whole ``StorefrontOrder``)."""

    @property
    def id(self) -> str: ...
    @property
    def transactions(self) -> Sequence[StorefrontTransaction]: ...


@dataclass(frozen=True, slots=True)
class Counterparts:
    """The operational records a chunk of transactions is matched against, fetched in batches."""

    charges: Mapping[str, Charge]
    refund_charges: Mapping[str, str]  # refund id -> charge id
    dispute_charges: Mapping[str, str]  # dispute id -> charge id
    orders: Mapping[str, RecordedMoney]  # by order ref
    sales_orders: Mapping[str, Sequence[SalesOrder]]  # by order ref
    fulfilments: Mapping[str, Sequence[FulfilmentOrder]]  # by order ref
    # refund id -> what it returned, in minor units of its charge's currency (the provider's
    # refund object; its balance transaction is in the settlement currency)
    refund_amounts: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LineResult:
    """One reconciliation line: a balance transaction (or a return with no money) and verdict."""

    key: str
    txn_id: str | None
    payout_id: str | None
    type: str
    category: ReportingCategory
    currency: str
    amount_minor: int
    fee_minor: int
    net_minor: int
    status: MatchStatus
    reason: str
    order_ref: str | None = None
    counterpart: str | None = None
    difference_minor: int | None = None
    details: dict[str, str] = field(default_factory=dict)

    @property
    def matched(self) -> bool:
        return self.status is MatchStatus.MATCHED


def _line(txn: SettledTransaction, status: MatchStatus, reason: str, **extra: object) -> LineResult:
    return LineResult(
        key=f"txn:{txn.id}",
        txn_id=txn.id,
        payout_id=txn.payout,
        type=txn.type,
        category=category_of(txn.type),
        currency=txn.currency.upper(),
        amount_minor=txn.amount,
        fee_minor=txn.fee,
        net_minor=txn.net,
        status=status,
        reason=reason,
        **extra,  # type: ignore[arg-type]
    )


def _storefront_money(
    order: RecordedMoney, kind: str, gateway_ref: str
) -> StorefrontTransaction | None:
    for entry in order.transactions:
        if entry.kind == kind and entry.gateway_ref == gateway_ref:
            return entry
    return None


def _match_charge(txn: SettledTransaction, found: Counterparts) -> LineResult:
    charge = found.charges.get(txn.source or "")
    if charge is None:
        return _line(txn, MatchStatus.UNMATCHED, f"the provider has no charge {txn.source}")
    order_ref = charge.order_ref
    order = found.orders.get(order_ref or "")
    if order is None:
        return _line(
            txn,
            MatchStatus.UNMATCHED,
            f"charge {charge.id} names order {order_ref}, which the storefront does not have",
            order_ref=order_ref,
            details={"chargeId": charge.id},
        )
    capture = _storefront_money(order, "capture", charge.id)
    if capture is None:
        others = [t.gateway_ref for t in order.transactions if t.kind == "capture"]
        if others:
            return _line(
                txn,
                MatchStatus.DUPLICATE,
                f"order {order.id} was captured once, by {', '.join(map(str, others))};"
                f" charge {charge.id} charged it again",
                order_ref=order.id,
                counterpart=others[0],
                difference_minor=charge.amount,
                details={"chargeId": charge.id},
            )
        return _line(
            txn,
            MatchStatus.UNMATCHED,
            f"order {order.id} records no capture for charge {charge.id}",
            order_ref=order.id,
            details={"chargeId": charge.id},
        )
    # every verdict from here names the order and the capture it recorded
    verdict = partial(_line, txn, order_ref=order.id, counterpart=capture.id)
    if capture.currency.upper() != charge.currency.upper():
        return verdict(
            MatchStatus.CURRENCY_MISMATCH,
            f"charge {charge.id} is in {charge.currency.upper()}; order {order.id} captured"
            f" {capture.amount} {capture.currency.upper()}",
            details={"chargeId": charge.id},
        )
    # what the charge took is what it captured: a partial capture takes less than the amount
    # authorized
    taken = charge.amount_captured if charge.captured else charge.amount
    difference = taken - minor_units(capture.amount, charge.currency)
    if difference:
        return verdict(
            MatchStatus.AMOUNT_MISMATCH,
            f"charge {charge.id} took {from_minor_units(taken, charge.currency)};"
            f" order {order.id}"
            f" captured {capture.amount}",
            difference_minor=difference,
            # the difference is in the charge's currency, not the settlement's
            details={"chargeId": charge.id, "currency": charge.currency.upper()},
        )
    return verdict(
        MatchStatus.MATCHED,
        f"capture {capture.id} of order {order.id}",
        details={"chargeId": charge.id},
    )


def _credit_memo_for(
    sales_orders: Sequence[SalesOrder], return_id: str | None, amount: Decimal
) -> tuple[SalesOrder | None, str | None]:
    """The sales order and its credit memo for this refund (by return, else by amount)."""
    for sales_order in sales_orders:
        for memo in sales_order.credit_memos:
            if return_id is not None and memo.return_ref == return_id:
                return sales_order, memo.id
            if return_id is None and memo.return_ref is None and memo.amount == amount:
                return sales_order, memo.id
    return (sales_orders[0] if sales_orders else None), None


def _match_refund(txn: SettledTransaction, found: Counterparts) -> LineResult:
    refund_id = txn.source or ""
    charge = found.charges.get(found.refund_charges.get(refund_id, ""))
    if charge is None:
        return _line(txn, MatchStatus.UNMATCHED, f"no charge is known for refund {refund_id}")
    order = found.orders.get(charge.order_ref or "")
    details = {"chargeId": charge.id, "refundId": refund_id}
    if order is None:
        return _line(
            txn,
            MatchStatus.UNMATCHED,
            f"refund {refund_id} is for order {charge.order_ref}, which the storefront does not"
            " have",
            order_ref=charge.order_ref,
            details=details,
        )
    recorded = _storefront_money(order, "refund", refund_id)
    if recorded is None:
        return _line(
            txn,
            MatchStatus.UNMATCHED,
            f"order {order.id} records no refund {refund_id}",
            order_ref=order.id,
            details=details,
        )
    # compared in the charge's currency, as the storefront recorded it: the balance
    # transaction is in the settlement currency, another one for a charge presented abroad
    returned = found.refund_amounts.get(refund_id)
    if returned is None:
        returned = next((r.amount for r in charge.refunds if r.id == refund_id), -txn.amount)
    difference = returned - minor_units(recorded.amount, charge.currency)
    # every verdict from here names the order and the refund it recorded
    verdict = partial(_line, txn, order_ref=order.id, counterpart=recorded.id, details=details)
    if difference:
        return verdict(
            MatchStatus.AMOUNT_MISMATCH,
            f"refund {refund_id} returned {from_minor_units(returned, charge.currency)};"
            f" order {order.id}"
            f" recorded {recorded.amount}",
            difference_minor=difference,
        )
    sales_order, memo = _credit_memo_for(
        found.sales_orders.get(order.id, ()), recorded.return_id, recorded.amount
    )
    if sales_order is not None:
        details["salesOrderId"] = sales_order.id
    details["amount"] = str(recorded.amount)
    if recorded.return_id is not None:
        details["returnId"] = recorded.return_id
        receipts = [
            receipt.id
            for fulfilment in found.fulfilments.get(order.id, ())
            for receipt in fulfilment.return_receipts
            if receipt.rma_ref == recorded.return_id
        ]
        if not receipts:
            return verdict(
                MatchStatus.REFUND_WITHOUT_RETURN,
                f"refund {refund_id} is for return {recorded.return_id} of order {order.id},"
                " which the warehouse never received",
            )
        details["receiptId"] = receipts[0]
    if memo is None:
        return verdict(
            MatchStatus.MISSING_CREDIT_MEMO,
            f"refund {refund_id} of order {order.id} has no ERP credit memo",
        )
    details["creditMemoId"] = memo
    return verdict(
        MatchStatus.MATCHED, f"refund {recorded.id} of order {order.id}, credit memo {memo}"
    )


def _match_dispute(txn: SettledTransaction, found: Counterparts) -> LineResult:
    dispute_id = txn.source or ""
    charge = found.charges.get(found.dispute_charges.get(dispute_id, ""))
    if charge is None:
        return _line(txn, MatchStatus.UNMATCHED, f"no charge is known for dispute {dispute_id}")
    return _line(
        txn,
        MatchStatus.MATCHED,
        f"{txn.type.replace('_', ' ')} {dispute_id} on charge {charge.id}",
        order_ref=charge.order_ref,
        counterpart=charge.id,
        details={"chargeId": charge.id, "disputeId": dispute_id},
    )


def match_transactions(
    transactions: Sequence[SettledTransaction], found: Counterparts
) -> list[LineResult]:
    """A verdict for every transaction except the payouts' own (the equation covers those)."""
    results = []
    for txn in transactions:
        category = category_of(txn.type)
        if category is ReportingCategory.PAYOUTS:
            continue
        if category is ReportingCategory.SALES:
            results.append(_match_charge(txn, found))
        elif category is ReportingCategory.REFUNDS:
            results.append(_match_refund(txn, found))
        elif category is ReportingCategory.DISPUTES:
            results.append(_match_dispute(txn, found))
        else:
            results.append(_line(txn, MatchStatus.MATCHED, "provider account activity"))
    return results
