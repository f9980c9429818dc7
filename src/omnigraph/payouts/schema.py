"""``Payout``: money the payments provider paid out, with the balance transactions it settles."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from omnigraph.core.errors import InvalidInput
from omnigraph.core.ids import encode_global_id
from omnigraph.db.models import PayoutReconciliationRow, ReconciliationLineRow
from omnigraph.graph.context import RequestContext
from omnigraph.graph.pagination import scan_connection
from omnigraph.graph.types import Connection, Entity, Money, Node
from omnigraph.payouts.payout_equation import PayoutBalance, ReconciliationStatus, balance_payout
from omnigraph.payouts.report import PeriodSummary, summarise
from omnigraph.payouts.resolvers import (
    PAYOUT_CURSOR,
    PayoutLoaders,
    PayoutQueryFilter,
    list_payouts,
    payout_by_id,
)
from omnigraph.sources.records import Payout as PayoutRecord

__all__ = [
    "BalanceTransaction",
    "Payout",
    "PayoutReconciliation",
    "ReconciliationItem",
    "ReconciliationSummary",
]


Ctx = Info[RequestContext, None]


@strawberry.type(description="One movement of money in the provider's balance.")
class BalanceTransaction:
    id: strawberry.ID
    type: str
    reporting_category: str
    amount: Money
    fee: Money
    net: Money
    source_ref: str | None = strawberry.field(description="The charge or refund it settles.")
    created_at: datetime


@strawberry.type(description="One item behind a payout that did not match its counterpart.")
class ReconciliationItem:
    key: str = strawberry.field(description="`txn:<id>` for a balance transaction.")
    transaction_id: str | None
    type: str
    category: str = strawberry.field(description="sales, refunds, fees, disputes or adjustments.")
    amount: Money
    status: str = strawberry.field(
        description="UNMATCHED, AMOUNT_MISMATCH, CURRENCY_MISMATCH, DUPLICATE,"
        " REFUND_WITHOUT_RETURN, MISSING_CREDIT_MEMO or RETURN_WITHOUT_REFUND."
    )
    reason: str
    order_ref: str | None
    counterpart: str | None = strawberry.field(
        description="The record it was matched against, where one was found."
    )
    difference: Money | None = strawberry.field(
        description="How far the amount is from the counterpart's."
    )
    occurred_at: datetime

    @classmethod
    def of(cls, row: ReconciliationLineRow) -> ReconciliationItem:
        return cls(
            key=row.key,
            transaction_id=row.txn_id,
            type=row.type,
            category=row.category,
            amount=Money.from_minor_units(row.amount_minor, row.currency),
            status=row.status,
            reason=row.reason,
            order_ref=row.order_ref,
            counterpart=row.counterpart,
            difference=(
                None
                if row.difference_minor is None
                else Money.from_minor_units(row.difference_minor, row.currency)
            ),
            occurred_at=row.occurred_at,
        )


@strawberry.type(
    description="The payout equation, checked to the cent: gross - refunds - fees + disputes"
    " + adjustments = expected; variance = amount paid - expected. RECONCILED needs no variance,"
    " every line matched and the payout paid; VARIANCE means the sums disagree; UNRECONCILED"
    " means the sums agree but something behind them did not match, the payout is not paid yet,"
    " or it has not been reconciled yet (`reconciledAt` null)."
)
class PayoutReconciliation:
    status: str = strawberry.field(description="RECONCILED, UNRECONCILED or VARIANCE.")
    variance: Money
    expected: Money = strawberry.field(description="Net of the settled transactions.")
    gross: Money
    refunds: Money
    fees: Money
    disputes: Money
    adjustments: Money
    transaction_count: int
    unmatched_count: int
    reconciled_at: datetime | None
    _key: strawberry.Private[tuple[str, str] | None] = None

    @strawberry.field(description="What did not match, with the reason for each.")
    async def unmatched_items(self, info: Ctx) -> list[ReconciliationItem]:
        if self._key is None:
            return []
        rows = await info.context.loaders(PayoutLoaders).unmatched_lines.load(self._key)
        return [ReconciliationItem.of(row) for row in rows]

    @classmethod
    def stored(cls, row: PayoutReconciliationRow) -> PayoutReconciliation:
        return cls(
            status=row.status,
            **_sums(row, row.currency),
            transaction_count=row.transaction_count,
            unmatched_count=row.unmatched_count,
            reconciled_at=row.reconciled_at,
            _key=(row.source, row.payout_id),
        )

    @classmethod
    def provisional(cls, balance: PayoutBalance, currency: str) -> PayoutReconciliation:
        """Before the reconciler has seen the payout: the sums only, never RECONCILED."""
        status = (
            balance.status
            if balance.status is ReconciliationStatus.VARIANCE
            else ReconciliationStatus.UNRECONCILED
        )
        return cls(
            status=status.value,
            **_sums(balance, currency),
            transaction_count=balance.transaction_count,
            unmatched_count=0,
            reconciled_at=None,
            _key=None,
        )


_SUMS = ("variance", "expected", "gross", "refunds", "fees", "disputes", "adjustments")


def _sums(sums: PayoutBalance | PayoutReconciliationRow, currency: str) -> dict[str, Money]:
    """The payout equation's terms, each ``<term>_minor`` of a balance or a stored verdict."""
    return {
        term: Money.from_minor_units(getattr(sums, f"{term}_minor"), currency) for term in _SUMS
    }


@strawberry.federation.type(keys=["id"], name="Payout", description=__doc__)
class Payout(Node, Entity):
    id: strawberry.ID
    source: str
    ref: str = strawberry.field(description="The provider's payout id.")
    amount: Money
    status: str
    arrival_date: datetime | None
    created_at: datetime
    _record: strawberry.Private[PayoutRecord]

    @classmethod
    def from_record(cls, source: str, record: PayoutRecord) -> Payout:
        return cls(
            id=strawberry.ID(encode_global_id("Payout", source, record.id)),
            source=source,
            ref=record.id,
            amount=Money.from_minor_units(record.amount, record.currency),
            status=record.status,
            arrival_date=record.arrival_at,
            created_at=record.created_at,
            _record=record,
        )

    @classmethod
    async def by_id(cls, ctx: RequestContext, global_id: str) -> Payout | None:
        found = await payout_by_id(ctx, global_id)
        return None if found is None else cls.from_record(found.source, found.record)

    @strawberry.field(description="The balance transactions this payout settles.")
    async def balance_transactions(self, info: Ctx) -> list[BalanceTransaction]:
        txns = (
            await info.context.loaders(PayoutLoaders).balance_transactions.load(
                (self.source, self.ref)
            )
            or []
        )
        # oldest first: providers list them in their own order (Stripe: newest first)
        txns = sorted(txns, key=lambda t: (t.created_at, t.id))
        return [
            BalanceTransaction(
                id=strawberry.ID(t.id),
                type=t.type,
                reporting_category=t.reporting_category,
                amount=Money.from_minor_units(t.amount, t.currency),
                fee=Money.from_minor_units(t.fee, t.currency),
                net=Money.from_minor_units(t.net, t.currency),
                source_ref=t.source,
                created_at=t.created_at,
            )
            for t in txns
        ]

    @strawberry.field(
        description="The payout equation, checked to the cent, and what did not match behind it."
    )
    async def reconciliation(self, info: Ctx) -> PayoutReconciliation:
        verdict = await info.context.loaders(PayoutLoaders).verdicts.load((self.source, self.ref))
        if verdict is not None:
            return PayoutReconciliation.stored(verdict)
        txns = (
            await info.context.loaders(PayoutLoaders).balance_transactions.load(
                (self.source, self.ref)
            )
            or []
        )
        return PayoutReconciliation.provisional(
            balance_payout(self._record, txns), self._record.currency
        )


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
    description="Time from a reconciled payout's arrival at the bank to its reconciliation,"
    " over the payouts of the period (nearest rank; one reconciled before it arrived counts 0)."
)
class ArrivalToReconciliationStats:
    count: int
    p50_seconds: float | None
    p90_seconds: float | None
    max_seconds: float | None


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
    arrival_to_reconciliation: ArrivalToReconciliationStats

    @classmethod
    def of(cls, summary: PeriodSummary) -> ReconciliationSummary:
        waits = summary.arrival_to_reconciliation
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
            arrival_to_reconciliation=ArrivalToReconciliationStats(
                count=len(waits.seconds),
                p50_seconds=waits.percentile(0.5),
                p90_seconds=waits.percentile(0.9),
                max_seconds=waits.seconds[-1] if waits.seconds else None,
            ),
        )


@strawberry.input
class PayoutFilter:
    status: str | None = None
    arrival_from: datetime | None = None
    arrival_to: datetime | None = None


@strawberry.type(name="Query")
class PayoutQueries:
    @strawberry.field(description="A payout by its global id.")
    async def payout(self, info: Ctx, id: strawberry.ID) -> Payout | None:
        return await Payout.by_id(info.context, id)

    @strawberry.field(
        description="The reconciliation of a period [from, to): payouts by status, money by"
        " reporting category, unmatched lines by status. Read from omnigraph's own tables."
    )
    async def reconciliation_summary(
        self,
        info: Ctx,
        start: Annotated[datetime, strawberry.argument(name="from")],
        end: Annotated[datetime, strawberry.argument(name="to")],
    ) -> ReconciliationSummary:
        if start.tzinfo is None or end.tzinfo is None or end <= start:
            raise InvalidInput(
                "`from` and `to` need offsets, and `to` must be after `from`", argument="from"
            )
        summary = await summarise(info.context.services.sessions, start, end)
        return ReconciliationSummary.of(summary)

    @strawberry.field(description="Payouts as the provider lists them (newest first).")
    async def payouts(
        self,
        info: Ctx,
        first: int = 50,
        after: str | None = None,
        filter: PayoutFilter | None = None,
    ) -> Connection[Payout]:
        f = filter or PayoutFilter()
        result = await list_payouts(
            info.context,
            first=first,
            after=after,
            filter=PayoutQueryFilter(f.status, f.arrival_from, f.arrival_to),
        )
        return scan_connection(
            result, PAYOUT_CURSOR, lambda item: Payout.from_record(item.source, item.record)
        )
