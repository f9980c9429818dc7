"""``reconciliationSummary``: a period's payouts by status and its money by reporting category."""

from __future__ import annotations

from datetime import datetime

import strawberry

from omnigraph.graph.types import Money
from omnigraph.payouts.report import PeriodSummary

__all__ = ["ReconciliationSummary"]


@strawberry.type(description="Payouts of one reconciliation status (and currency) in the period.")
class PayoutStatusCount:
    status: str
    count: int
    amount: Money
    variance: Money


@strawberry.type(
    description="Money of one reporting category in the period: sales, refunds (negative),"
    " fees (negative), disputes, adjustments, and paid_out (what reached the bank)."
)
class CategoryTotal:
    category: str
    amount: Money


@strawberry.type(description="Lines of one non-matching status in the period.")
class UnmatchedCount:
    status: str
    count: int


@strawberry.type(
    description="The reconciliation of [from, to): payouts by the day they were created,"
    " unmatched lines by the day their transaction or return receipt occurred."
)
class ReconciliationSummary:
    start: datetime = strawberry.field(name="from")
    end: datetime = strawberry.field(name="to")
    payouts: list[PayoutStatusCount]
    totals: list[CategoryTotal]
    unmatched: list[UnmatchedCount]

    @classmethod
    def of(cls, summary: PeriodSummary) -> ReconciliationSummary:
        return cls(
            start=summary.start,
            end=summary.end,
            payouts=[
                PayoutStatusCount(
                    status=item.status,
                    count=item.count,
                    amount=Money.from_minor_units(item.amount_minor, item.currency),
                    variance=Money.from_minor_units(item.variance_minor, item.currency),
                )
                for item in summary.payouts
            ],
            totals=[
                CategoryTotal(
                    category=item.category,
                    amount=Money.from_minor_units(item.amount_minor, item.currency),
                )
                for item in summary.totals
            ],
            unmatched=[UnmatchedCount(status=i.status, count=i.count) for i in summary.unmatched],
        )
