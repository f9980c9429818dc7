"""Payments sync: follows each payments feed for payouts, then fetches what each payout swept.

The feed says which payouts changed; their balance transactions are fetched in one batched call
per page of events and stored keyed by the provider's transaction id, so a re-delivered event or
a re-run changes nothing twice. A page, its transactions and the cursor are one database
transaction: a crash re-reads the page. Every payout touched is marked for reconciliation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import KW_ONLY, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnigraph.core.errors import SourceContractViolation
from omnigraph.db.feed_positions import claim_feed_position, feed_position
from omnigraph.db.models import PaymentPayoutRow, PaymentTransactionRow
from omnigraph.db.upsert import insert_for
from omnigraph.runtime.services import utc_now
from omnigraph.sources.contract import PaymentsSource
from omnigraph.sources.parsing import parse_record
from omnigraph.sources.records import BalanceTransaction, Payout
from omnigraph.sources.registry import SourceRegistry

__all__ = ["FEED", "PaymentsReader", "PaymentsSyncProgress", "store_transactions"]

FEED = "payments"


@dataclass(slots=True)
class PaymentsSyncProgress:
    """What a read of the feeds did. Every event read is counted once: ``events_read ==
    payout_events + other_events``; a payout's events name it (``payouts_seen`` counts the
    payouts they named, once a page), other events (charges, refunds, disputes) are read
    through the transactions the payouts swept."""

    events_read: int = 0
    payout_events: int = 0
    other_events: int = 0
    payouts_seen: int = 0
    transactions_stored: int = 0
    transactions_unchanged: int = 0


def _payout_values(payout: Payout, now: datetime) -> dict[str, Any]:
    return {
        "amount_minor": payout.amount,
        "currency": payout.currency.upper(),
        "status": payout.status,
        "created_at": payout.created_at,
        "arrival_at": payout.arrival_at,
        "synced_at": now,
        "needs_reconciliation": True,
    }


def _transaction_values(txn: BalanceTransaction) -> dict[str, Any]:
    return {
        "payout_id": txn.payout,
        "type": txn.type,
        "reporting_category": txn.reporting_category,
        "amount_minor": txn.amount,
        "fee_minor": txn.fee,
        "net_minor": txn.net,
        "currency": txn.currency.upper(),
        "source_ref": txn.source,
        "exchange_rate": txn.exchange_rate,
        "created_at": txn.created_at,
    }


async def store_transactions(
    session: AsyncSession, source: str, transactions: Sequence[BalanceTransaction]
) -> tuple[int, int]:
    """Insert new transactions and update changed ones; return (stored, unchanged).

    One ``INSERT ... ON CONFLICT (source, txn_id) DO UPDATE ... WHERE`` a column differs, with
    no read first: the primary key keeps it idempotent by transaction id, and the rows it
    returns are those it inserted or changed. (A read-then-write check had the PostgreSQL
    planner scan every stored transaction of the source before ANALYZE.) Executed with many
    parameter sets, the statement is compiled once and SQLAlchemy sends the rows in batches.
    """
    latest = {txn.id: txn for txn in transactions}  # one row per id: the last word wins
    if not latest:
        return 0, 0
    insert = insert_for(session)
    rows = [
        {"source": source, "txn_id": txn.id, **_transaction_values(txn)} for txn in latest.values()
    ]
    statement = insert(PaymentTransactionRow)
    table = PaymentTransactionRow.__table__
    changed = [name for name in rows[0] if name not in ("source", "txn_id")]
    upsert = statement.on_conflict_do_update(
        index_elements=["source", "txn_id"],
        set_={name: statement.excluded[name] for name in changed},
        where=or_(*(table.c[name].is_distinct_from(statement.excluded[name]) for name in changed)),
    ).returning(PaymentTransactionRow.txn_id)
    stored = len((await session.execute(upsert, rows)).all())
    return stored, len(transactions) - stored


@dataclass(eq=False)
class PaymentsReader:
    """Follows each payments feed, storing the payouts it names and what they swept."""

    sessions: async_sessionmaker[AsyncSession]
    registry: SourceRegistry
    _: KW_ONLY
    page_size: int = 200
    clock: Callable[[], datetime] = utc_now

    async def sync_once(
        self, progress: Callable[[PaymentsSyncProgress], None] | None = None
    ) -> PaymentsSyncProgress:
        """Read every payments feed to its end."""
        total = PaymentsSyncProgress()
        for payments in self.registry.payments:
            await self._follow(payments, total, progress)
        return total

    async def sync_payouts(
        self, payments: PaymentsSource, payout_ids: Sequence[str]
    ) -> PaymentsSyncProgress:
        """Fetch these payouts and what they swept now, outside the feed (a webhook said they
        changed). The feed's cursor stays: its own pass reads them again, changing nothing."""
        total = PaymentsSyncProgress()
        payouts = await payments.payouts_by_id(payout_ids)
        swept = await payments.balance_transactions_by_payout(sorted(payouts)) if payouts else {}
        async with self.sessions() as session, session.begin():
            await self._store_payouts(session, payments.name, payouts, swept, total, self.clock())
        return total

    async def _follow(
        self,
        payments: PaymentsSource,
        total: PaymentsSyncProgress,
        progress: Callable[[PaymentsSyncProgress], None] | None,
    ) -> None:
        while True:
            position = await feed_position(self.sessions, payments.name, FEED)
            cursor = position.cursor if position else None
            events, next_cursor, more = await payments.client.changes(cursor, self.page_size)
            payouts: dict[str, Payout] = {}
            payout_events = 0
            for event in events:
                if event.get("recordType") == "payout" and isinstance(event.get("data"), dict):
                    payout = parse_record(payments.name, Payout, event["data"])
                    payouts[payout.id] = payout  # the feed is ordered: the last word wins
                    payout_events += 1
            swept = (
                await payments.balance_transactions_by_payout(sorted(payouts)) if payouts else {}
            )
            if await self._store_page(payments.name, cursor, next_cursor, payouts, swept, total):
                total.events_read += len(events)
                total.payout_events += payout_events
                total.other_events += len(events) - payout_events
            if progress is not None:
                progress(total)
            if not more or not events:
                return

    async def _store_page(
        self,
        source: str,
        cursor: str | None,
        next_cursor: str | None,
        payouts: dict[str, Payout],
        swept: dict[str, list[BalanceTransaction]],
        total: PaymentsSyncProgress,
    ) -> bool:
        """Store one page; False when another reader had moved the cursor meanwhile."""
        now = self.clock()
        async with self.sessions() as session, session.begin():
            position = await claim_feed_position(session, source, FEED, read_from=cursor, now=now)
            if position is None:
                return False  # another reader moved on meanwhile: re-read from its position
            await self._store_payouts(session, source, payouts, swept, total, now)
            position.cursor = next_cursor
            position.updated_at = now
        return True

    async def _store_payouts(
        self,
        session: AsyncSession,
        source: str,
        payouts: dict[str, Payout],
        swept: dict[str, list[BalanceTransaction]],
        total: PaymentsSyncProgress,
        now: datetime,
    ) -> None:
        """Upsert payouts (marked for reconciliation) and the transactions they swept."""
        if not payouts:
            return
        known = {
            row.payout_id: row
            for row in await session.scalars(
                select(PaymentPayoutRow).where(
                    tuple_(PaymentPayoutRow.source, PaymentPayoutRow.payout_id).in_(
                        [(source, payout_id) for payout_id in payouts]
                    )
                )
            )
        }
        for payout_id, payout in payouts.items():
            values = _payout_values(payout, now)
            row = known.get(payout_id)
            if row is None:
                session.add(PaymentPayoutRow(source=source, payout_id=payout_id, **values))
            else:
                for name, value in values.items():
                    setattr(row, name, value)
        for payout_id, transactions in swept.items():
            for txn in transactions:
                if txn.payout != payout_id:
                    raise SourceContractViolation(
                        source, f"{txn.id} came back for {payout_id} but names {txn.payout}"
                    )
            stored, unchanged = await store_transactions(session, source, transactions)
            total.transactions_stored += stored
            total.transactions_unchanged += unchanged
        total.payouts_seen += len(payouts)
