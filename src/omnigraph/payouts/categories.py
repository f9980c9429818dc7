"""Reporting categories: how finance groups balance transactions, whatever the provider calls them.

The provider's ``reporting_category`` is kept on every line; these five buckets are what the
summary and the payout equation add up, so a new provider type needs one entry here, not code.
"""

from __future__ import annotations

import enum

__all__ = ["ReportingCategory", "category_of"]


class ReportingCategory(enum.StrEnum):
    SALES = "sales"
    REFUNDS = "refunds"
    FEES = "fees"
    DISPUTES = "disputes"
    ADJUSTMENTS = "adjustments"
    PAYOUTS = "payouts"


_BY_TYPE = {
    "charge": ReportingCategory.SALES,
    "payment": ReportingCategory.SALES,
    "refund": ReportingCategory.REFUNDS,
    "payment_refund": ReportingCategory.REFUNDS,
    "stripe_fee": ReportingCategory.FEES,
    "application_fee": ReportingCategory.FEES,
    "fee": ReportingCategory.FEES,
    "dispute": ReportingCategory.DISPUTES,
    "dispute_reversal": ReportingCategory.DISPUTES,
    "adjustment": ReportingCategory.ADJUSTMENTS,
    "payout": ReportingCategory.PAYOUTS,
}


def category_of(txn_type: str) -> ReportingCategory:
    """Unknown types are adjustments: they still count in the equation and are visible."""
    return _BY_TYPE.get(txn_type, ReportingCategory.ADJUSTMENTS)
