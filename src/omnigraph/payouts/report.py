"""Reporting: the reconciliation of a period, as the graph's summary and as CSV lines.

Payouts belong to the period they were created in; lines to the period their transaction (or
return receipt) occurred in. Both read only omnigraph's own tables, so a finance tool asking
for a quarter does not send a single call upstream.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnigraph.core.money import from_minor_units
from omnigraph.db.models import PaymentPayoutRow, PayoutReconciliationRow, ReconciliationLineRow

__all__ = ["CSV_COLUMNS", "PeriodSummary", "csv_lines", "summarise"]


@dataclass(frozen=True, slots=True)
class StatusCount:
    status: str
    currency: str
    count: int
    amount_minor: int
    variance_minor: int


@dataclass(frozen=True, slots=True)
class CategoryTotal:
    category: str
    currency: str
    amount_minor: int


@dataclass(frozen=True, slots=True)
class LineCount:
    status: str
    count: int


@dataclass(frozen=True, slots=True)
class ArrivalToReconciliation:
    """Seconds from each reconciled payout's arrival to its reconciliation, smallest first (a
    payout reconciled before it arrived counts 0)."""

    seconds: list[float]

    def percentile(self, fraction: float) -> float | None:
        """Nearest rank: a time that really occurred."""
        if not self.seconds:
            return None
        return self.seconds[max(1, math.ceil(fraction * len(self.seconds))) - 1]


@dataclass(frozen=True, slots=True)
class PeriodSummary:
    start: datetime
    end: datetime
    payouts: list[StatusCount]
    totals: list[CategoryTotal]
    unmatched: list[LineCount]
    arrival_to_reconciliation: ArrivalToReconciliation


async def summarise(
    sessions: async_sessionmaker[AsyncSession], start: datetime, end: datetime
) -> PeriodSummary:
    verdict = PayoutReconciliationRow
    in_period = (verdict.payout_created_at >= start, verdict.payout_created_at < end)
    async with sessions() as session:
        by_status = await session.execute(
            select(
                verdict.status,
                verdict.currency,
                func.count(),
                func.sum(verdict.amount_minor),
                func.sum(verdict.variance_minor),
            )
            .where(*in_period)
            .group_by(verdict.status, verdict.currency)
            .order_by(verdict.status, verdict.currency)
        )
        payouts = [
            StatusCount(status, currency, count, int(amount or 0), int(variance or 0))
            for status, currency, count, amount, variance in by_status
        ]
        sums = await session.execute(
            select(
                verdict.currency,
                func.sum(verdict.gross_minor),
                func.sum(verdict.refunds_minor),
                func.sum(verdict.fees_minor),
                func.sum(verdict.disputes_minor),
                func.sum(verdict.adjustments_minor),
                func.sum(verdict.amount_minor),
            )
            .where(*in_period)
            .group_by(verdict.currency)
            .order_by(verdict.currency)
        )
        totals = []
        for currency, gross, refunds, fees, disputes, adjustments, paid in sums:
            for category, minor in (
                ("sales", gross),
                ("refunds", -int(refunds or 0)),
                ("fees", -int(fees or 0)),
                ("disputes", disputes),
                ("adjustments", adjustments),
                ("paid_out", paid),
            ):
                totals.append(CategoryTotal(category, currency, int(minor or 0)))
        line = ReconciliationLineRow
        unmatched = await session.execute(
            select(line.status, func.count())
            .where(line.occurred_at >= start, line.occurred_at < end, line.status != "MATCHED")
            .group_by(line.status)
            .order_by(line.status)
        )
        counts = [LineCount(status, count) for status, count in unmatched]
        payout = PaymentPayoutRow
        arrived = await session.execute(
            select(payout.arrival_at, verdict.reconciled_at)
            .join(
                payout,
                (payout.source == verdict.source) & (payout.payout_id == verdict.payout_id),
            )
            .where(*in_period, verdict.status == "RECONCILED", payout.arrival_at.is_not(None))
        )
        waits = sorted(
            max(0.0, (reconciled - arrival).total_seconds())
            for arrival, reconciled in arrived
            if arrival is not None
        )
    return PeriodSummary(start, end, payouts, totals, counts, ArrivalToReconciliation(waits))


CSV_COLUMNS = (
    "payout_id",
    "payout_status",
    "occurred_at",
    "transaction_id",
    "type",
    "category",
    "currency",
    "amount",
    "fee",
    "net",
    "status",
    "reason",
    "order_ref",
    "counterpart",
    "difference",
)


def _major(minor: int | None, currency: str) -> str:
    return "" if minor is None else str(from_minor_units(minor, currency))


async def csv_lines(
    sessions: async_sessionmaker[AsyncSession],
    start: datetime,
    end: datetime,
    *,
    batch: int = 2_000,
) -> AsyncIterator[str]:
    """The period's lines as CSV text, header first, streamed a batch of rows at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    line, verdict = ReconciliationLineRow, PayoutReconciliationRow
    query = (
        select(line, verdict.status)
        .outerjoin(verdict, (verdict.source == line.source) & (verdict.payout_id == line.payout_id))
        .where(line.occurred_at >= start, line.occurred_at < end)
        .order_by(line.occurred_at, line.key)
        .execution_options(yield_per=batch)
    )
    async with sessions() as session:
        result = await session.stream(query)
        async for row, payout_status in result:
            writer.writerow(
                (
                    row.payout_id or "",
                    payout_status or "",
                    row.occurred_at.isoformat(),
                    row.txn_id or "",
                    row.type,
                    row.category,
                    row.currency,
                    _major(row.amount_minor, row.currency),
                    _major(row.fee_minor, row.currency),
                    _major(row.net_minor, row.currency),
                    row.status,
                    row.reason,
                    row.order_ref or "",
                    row.counterpart or "",
                    _major(row.difference_minor, row.currency),
                )
            )
            if buffer.tell() > 64_000:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
    yield buffer.getvalue()
