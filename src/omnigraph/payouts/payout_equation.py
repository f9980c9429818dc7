"""The payout equation: gross charges - refunds - fees +/- adjustments (and disputes) = net paid.

Checked in integer minor units, so "to the cent" is exact; amounts become ``Decimal`` only at
the edge. The status also says whether every line behind the payout matched its counterpart:
a payout whose sums agree but which carries a duplicate charge is not reconciled.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from omnigraph.payouts.categories import ReportingCategory, category_of
from omnigraph.payouts.matching import LineResult, SettledTransaction
from omnigraph.sources.records import Payout

__all__ = ["PayoutBalance", "ReconciliationStatus", "balance_payout", "category_totals"]


class ReconciliationStatus(enum.StrEnum):
    RECONCILED = "RECONCILED"
    UNRECONCILED = "UNRECONCILED"
    VARIANCE = "VARIANCE"


@dataclass(frozen=True, slots=True)
class PayoutBalance:
    status: ReconciliationStatus
    gross_minor: int
    refunds_minor: int
    fees_minor: int
    disputes_minor: int
    adjustments_minor: int
    expected_minor: int
    variance_minor: int
    transaction_count: int
    unmatched_count: int


def category_totals(transactions: Iterable[SettledTransaction]) -> dict[ReportingCategory, int]:
    """Signed totals per category, with every processing fee counted under ``fees``."""
    totals = dict.fromkeys(ReportingCategory, 0)
    for txn in transactions:
        category = category_of(txn.type)
        if category is ReportingCategory.FEES:
            totals[category] += -txn.amount + txn.fee
        else:
            totals[category] += txn.amount
            totals[ReportingCategory.FEES] += txn.fee
    return totals


def balance_payout(
    payout: Payout,
    transactions: Sequence[SettledTransaction],
    lines: Sequence[LineResult] = (),
) -> PayoutBalance:
    """Compare the payout with what it settles (its own payout transaction excluded)."""
    settled = [t for t in transactions if category_of(t.type) is not ReportingCategory.PAYOUTS]
    totals = category_totals(settled)
    expected = (
        totals[ReportingCategory.SALES]
        + totals[ReportingCategory.REFUNDS]  # refunds are negative amounts already
        - totals[ReportingCategory.FEES]
        + totals[ReportingCategory.DISPUTES]
        + totals[ReportingCategory.ADJUSTMENTS]
    )
    variance = payout.amount - expected
    unmatched = sum(1 for line in lines if not line.matched)
    if variance:
        status = ReconciliationStatus.VARIANCE
    elif not settled or unmatched or payout.status != "paid":
        status = ReconciliationStatus.UNRECONCILED
    else:
        status = ReconciliationStatus.RECONCILED
    return PayoutBalance(
        status=status,
        gross_minor=totals[ReportingCategory.SALES],
        refunds_minor=-totals[ReportingCategory.REFUNDS],
        fees_minor=totals[ReportingCategory.FEES],
        disputes_minor=totals[ReportingCategory.DISPUTES],
        adjustments_minor=totals[ReportingCategory.ADJUSTMENTS],
        expected_minor=expected,
        variance_minor=variance,
        transaction_count=len(settled),
        unmatched_count=unmatched,
    )
