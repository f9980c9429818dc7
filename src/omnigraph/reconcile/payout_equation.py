"""The payout equation: charges - refunds - fees +/- adjustments = net paid out, exactly."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from omnigraph.sources.records import BalanceTransaction, Payout

__all__ = ["PayoutBalance", "balance_payout"]


@dataclass(frozen=True, slots=True)
class PayoutBalance:
    status: str
    expected: Decimal
    variance: Decimal
    transaction_count: int


def balance_payout(payout: Payout, transactions: Sequence[BalanceTransaction]) -> PayoutBalance:
    """Compare the payout with the net of what it settles (the payout's own txn excluded)."""
    settled = [t for t in transactions if t.type != "payout"]
    expected_minor = sum(t.net for t in settled)
    variance_minor = payout.amount - expected_minor
    if not settled:
        status = "UNRECONCILED"
    elif variance_minor == 0:
        status = "RECONCILED"
    else:
        status = "VARIANCE"
    return PayoutBalance(
        status=status,
        expected=Decimal(expected_minor).scaleb(-2),
        variance=Decimal(variance_minor).scaleb(-2),
        transaction_count=len(settled),
    )
