"""``Payout``: money the payments provider paid out, with the balance transactions it settles."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from omnigraph.context import RequestContext
from omnigraph.ids import encode_global_id
from omnigraph.reconcile.payout_equation import PayoutBalance, balance_payout
from omnigraph.schema.common import Money, Node
from omnigraph.sources.records import Payout as PayoutRecord

__all__ = ["BalanceTransaction", "Payout", "PayoutReconciliation"]

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


@strawberry.type(description="Whether the payout equals the sum of what it settles, to the cent.")
class PayoutReconciliation:
    status: str = strawberry.field(description="RECONCILED, UNRECONCILED or VARIANCE.")
    expected: Money = strawberry.field(description="Sum of the net of the settled transactions.")
    variance: Money = strawberry.field(description="Payout amount minus expected.")
    transaction_count: int

    @classmethod
    def of(cls, balance: PayoutBalance, currency: str) -> PayoutReconciliation:
        return cls(
            status=balance.status,
            expected=Money.of(balance.expected, currency),
            variance=Money.of(balance.variance, currency),
            transaction_count=balance.transaction_count,
        )


@strawberry.federation.type(keys=["id"], name="Payout", description=__doc__)
class Payout(Node):
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
    async def resolve_reference(cls, info: Ctx, id: strawberry.ID) -> Payout | None:
        from omnigraph.schema.nodes import resolve_payout_id

        return await resolve_payout_id(info.context, id)

    @strawberry.field(description="The balance transactions this payout settles.")
    async def balance_transactions(self, info: Ctx) -> list[BalanceTransaction]:
        txns = await info.context.loaders.balance_transactions.load((self.source, self.ref)) or []
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

    @strawberry.field(description="The payout equation, checked to the cent.")
    async def reconciliation(self, info: Ctx) -> PayoutReconciliation:
        txns = await info.context.loaders.balance_transactions.load((self.source, self.ref)) or []
        return PayoutReconciliation.of(balance_payout(self._record, txns), self._record.currency)
