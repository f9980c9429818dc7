"""The reconciler: matches every synced payout's transactions, checks its equation, stores the
verdict and raises the money exceptions through intake.

Payouts marked by the sync are taken a chunk at a time, a chunk holding at most
``chunk_transactions`` balance transactions (a larger payout goes alone), so memory is bounded
by the chunk, not by the history nor by how many transactions a payout sweeps. Transactions
are read as plain tuples and lines written with one executemany INSERT: a chunk's objects are
few and short-lived. The verdict and the lines of a chunk are written in one transaction, and
re-running it gives the same rows (lines are keyed by transaction). Exceptions are keyed by
what they are about, so a re-run raises nothing twice. On a database server a chunk is stored
while the next one is read, fetched and matched, so the server's work and ours overlap; chunks
are stored in order, and a page of marked payouts is stored whole before the next is read.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

import structlog
from sqlalchemy import and_, delete, func, insert, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnigraph.core.money import Money
from omnigraph.db.models import (
    PaymentPayoutRow,
    PaymentTransactionRow,
    PayoutReconciliationRow,
    ReconciliationLineRow,
)
from omnigraph.db.upsert import rows_insert, rows_parameters
from omnigraph.exceptions.catalogue import ExceptionCatalogue, ExceptionKind
from omnigraph.exceptions.intake import ExceptionReport, Reporter, take_in_many
from omnigraph.payouts.counterparts import fetch_counterparts
from omnigraph.payouts.matching import (
    LineResult,
    MatchStatus,
    SettledTransaction,
    match_transactions,
)
from omnigraph.payouts.payout_equation import PayoutBalance, ReconciliationStatus, balance_payout
from omnigraph.runtime.services import utc_now
from omnigraph.sources.bulk import bulk_reads
from omnigraph.sources.contract import PaymentsSource, PayoutSettlement
from omnigraph.sources.records import Payout
from omnigraph.sources.registry import SourceRegistry

log = structlog.get_logger(__name__)

__all__ = [
    "CHUNK_TRANSACTIONS",
    "ReconcileProgress",
    "Reconciler",
    "StoredTransaction",
    "line_row",
    "line_values",
    "transaction_chunks",
]


# ~5,000 transactions fill each batched call (500 ids) about ten times per source, and keep a
# chunk's working set to tens of megabytes
CHUNK_TRANSACTIONS = 5000
# payouts marked for reconciliation read per query, then cut into chunks by their transactions
PENDING_PAGE = 1000


@dataclass(slots=True)
class ReconcileProgress:
    payouts: int = 0
    lines: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    exceptions_raised: int = 0
    # payouts left marked because the provider is still linking their transactions
    deferred: list[str] = field(default_factory=list)


class StoredTransaction(NamedTuple):
    """A stored balance transaction as matching reads it: a plain tuple, not a model."""

    id: str
    amount: int
    fee: int
    net: int
    currency: str
    type: str
    source: str | None
    payout: str | None
    created_at: datetime


_LINES = ReconciliationLineRow.__table__
_LINE_COLUMNS = tuple(column.name for column in _LINES.columns)
_STORED_COLUMNS = (
    PaymentTransactionRow.txn_id,
    PaymentTransactionRow.amount_minor,
    PaymentTransactionRow.fee_minor,
    PaymentTransactionRow.net_minor,
    PaymentTransactionRow.currency,
    PaymentTransactionRow.type,
    PaymentTransactionRow.source_ref,
    PaymentTransactionRow.payout_id,
    PaymentTransactionRow.created_at,
)


def _by_id(txn: StoredTransaction) -> str:
    return txn.id


def transaction_chunks(
    payouts: Sequence[PaymentPayoutRow], sizes: Mapping[str, int], bound: int
) -> Iterator[list[PaymentPayoutRow]]:
    """Consecutive payouts, cut so each chunk sweeps at most ``bound`` transactions (by
    ``sizes``, per payout id); a payout larger than the bound is a chunk of its own."""
    chunk: list[PaymentPayoutRow] = []
    weight = 0
    for payout in payouts:
        size = max(1, sizes.get(payout.payout_id, 0))
        if chunk and weight + size > bound:
            yield chunk
            chunk, weight = [], 0
        chunk.append(payout)
        weight += size
    if chunk:
        yield chunk


def _payout_of(row: PaymentPayoutRow) -> Payout:
    return Payout(
        id=row.payout_id,
        amount=row.amount_minor,
        currency=row.currency.lower(),
        arrival_date=None if row.arrival_at is None else int(row.arrival_at.timestamp()),
        created=int(row.created_at.timestamp()),
        status=row.status,
    )


def line_values(
    source: str, line: LineResult, occurred_at: datetime, now: datetime
) -> dict[str, Any]:
    return {
        "source": source,
        "key": line.key,
        "txn_id": line.txn_id,
        "payout_id": line.payout_id,
        "type": line.type,
        "category": line.category.value,
        "currency": line.currency,
        "amount_minor": line.amount_minor,
        "fee_minor": line.fee_minor,
        "net_minor": line.net_minor,
        "status": line.status.value,
        "reason": line.reason,
        "order_ref": line.order_ref,
        "counterpart": line.counterpart,
        "difference_minor": line.difference_minor,
        "details": dict(line.details),
        "occurred_at": occurred_at,
        "reconciled_at": now,
    }


def line_row(
    source: str, line: LineResult, occurred_at: datetime, now: datetime
) -> ReconciliationLineRow:
    return ReconciliationLineRow(**line_values(source, line, occurred_at, now))


def _verdict_values(
    source: str, payout: Payout, balance: PayoutBalance, now: datetime
) -> dict[str, Any]:
    return {
        "source": source,
        "payout_id": payout.id,
        "status": balance.status.value,
        "currency": payout.currency.upper(),
        "amount_minor": payout.amount,
        "gross_minor": balance.gross_minor,
        "refunds_minor": balance.refunds_minor,
        "fees_minor": balance.fees_minor,
        "disputes_minor": balance.disputes_minor,
        "adjustments_minor": balance.adjustments_minor,
        "expected_minor": balance.expected_minor,
        "variance_minor": balance.variance_minor,
        "transaction_count": balance.transaction_count,
        "unmatched_count": balance.unmatched_count,
        "payout_created_at": payout.created_at,
        "reconciled_at": now,
    }


def _money(minor: int, currency: str) -> str:
    return str(Money.from_minor(minor, currency))


class _Chunk(NamedTuple):
    """A chunk matched and balanced, waiting to be stored."""

    source: str
    payouts: Sequence[PaymentPayoutRow]
    verdicts: list[tuple[Payout, PayoutBalance]]
    lines: list[LineResult]
    created: dict[str, datetime]
    now: datetime


@dataclass(eq=False)
class Reconciler:
    """Reconciles the payouts the sync marked, a chunk of transactions at a time."""

    sessions: async_sessionmaker[AsyncSession]
    registry: SourceRegistry
    catalogue: ExceptionCatalogue
    _: KW_ONLY
    chunk_transactions: int = CHUNK_TRANSACTIONS
    clock: Callable[[], datetime] = utc_now
    raise_exceptions: bool = True

    async def reconcile_pending(
        self, progress: Callable[[ReconcileProgress], None] | None = None
    ) -> ReconcileProgress:
        """Reconcile every payout the sync marked, a chunk at a time."""
        total = ReconcileProgress()
        for payments in self.registry.payments:
            deferred: list[str] = []  # left marked for the next pass, not asked again in this
            while True:
                async with self.sessions() as session:
                    pending = list(
                        await session.scalars(
                            select(PaymentPayoutRow)
                            .where(
                                PaymentPayoutRow.source == payments.name,
                                PaymentPayoutRow.needs_reconciliation.is_(True),
                                PaymentPayoutRow.payout_id.not_in(deferred),
                            )
                            .order_by(PaymentPayoutRow.created_at, PaymentPayoutRow.payout_id)
                            .limit(PENDING_PAGE)
                        )
                    )
                if not pending:
                    break
                before = len(total.deferred)
                await self._reconcile_rows(payments, pending, total, progress)
                deferred += total.deferred[before:]
        return total

    async def reconcile_payouts(
        self, payments: PaymentsSource, payout_ids: Sequence[str]
    ) -> ReconcileProgress:
        """Reconcile these synced payouts now, marked or not (a webhook named them); the
        others wait for :meth:`reconcile_pending`."""
        total = ReconcileProgress()
        async with self.sessions() as session:
            rows = list(
                await session.scalars(
                    select(PaymentPayoutRow)
                    .where(
                        PaymentPayoutRow.source == payments.name,
                        PaymentPayoutRow.payout_id.in_(list(payout_ids)),
                    )
                    .order_by(PaymentPayoutRow.created_at, PaymentPayoutRow.payout_id)
                )
            )
        if rows:
            await self._reconcile_rows(payments, rows, total, None)
        return total

    async def _reconcile_rows(
        self,
        payments: PaymentsSource,
        payouts: Sequence[PaymentPayoutRow],
        total: ReconcileProgress,
        progress: Callable[[ReconcileProgress], None] | None,
    ) -> None:
        """Cut ``payouts`` into chunks by the transactions they swept, and reconcile each;
        a payout the provider is still linking transactions to waits, marked (no verdict yet:
        a payout reconciled before its transactions can all be listed shows false variances)."""
        payouts = await self._settled(payments, payouts, total)
        if not payouts:
            return
        async with self.sessions() as session:
            counted = await session.execute(
                select(PaymentTransactionRow.payout_id, func.count())
                .where(
                    PaymentTransactionRow.source == payments.name,
                    PaymentTransactionRow.payout_id.in_([p.payout_id for p in payouts]),
                )
                .group_by(PaymentTransactionRow.payout_id)
            )
            sizes = {payout_id: int(n) for payout_id, n in counted if payout_id}
            # a database server does its share in a process of its own: there a chunk is stored
            # while the next is read, fetched and matched (1M transactions on PostgreSQL: 65.5 s
            # -> 55.2 s). SQLite's work runs in this process, on a thread of aiosqlite's, so
            # overlapping only added collector work (69.7 s -> 73.6 s): one chunk at a time
            overlap = session.get_bind().dialect.name != "sqlite"
        # chunks are stored in order, one at a time, and all stored before this returns (the
        # next page of marked payouts is read after)
        storing: asyncio.Task[None] | None = None

        async def stored() -> None:
            nonlocal storing
            if storing is not None:
                await storing
                storing = None
                if progress is not None:
                    progress(total)

        try:
            for chunk in transaction_chunks(payouts, sizes, self.chunk_transactions):
                prepared = await self._prepare_chunk(payments, chunk, total)
                await stored()
                storing = asyncio.create_task(self._store_chunk(prepared, total))
                if not overlap:
                    await stored()
            await stored()
        finally:
            # a chunk failed to prepare, or we were cancelled: the one being stored finishes
            # (its own transaction: whole or not at all) before the failure goes on
            if storing is not None and not storing.done():
                with contextlib.suppress(Exception):
                    await asyncio.shield(storing)

    async def _settled(
        self,
        payments: PaymentsSource,
        payouts: Sequence[PaymentPayoutRow],
        total: ReconcileProgress,
    ) -> list[PaymentPayoutRow]:
        """The payouts whose transactions the provider has all linked (every one, for a source
        that does not say)."""
        if not isinstance(payments, PayoutSettlement):
            return list(payouts)
        statuses = await payments.reconciliation_statuses([p.payout_id for p in payouts])
        ready = []
        for row in payouts:
            if statuses.get(row.payout_id) == "in_progress":
                total.deferred.append(row.payout_id)
                log.info(
                    "payout_reconciliation_deferred", source=payments.name, payout=row.payout_id
                )
            else:
                ready.append(row)
        return ready

    async def _prepare_chunk(
        self,
        payments: PaymentsSource,
        payouts: Sequence[PaymentPayoutRow],
        total: ReconcileProgress,
    ) -> _Chunk:
        """Read a chunk's transactions, fetch their counterparts, match them and balance each
        payout: everything but the writes."""
        source = payments.name
        ids = [row.payout_id for row in payouts]
        # read on the connection: plain rows, without the ORM's result machinery. Sorted here,
        # not by the database: asked for them in txn_id order, SQLite walked the primary key
        # (source, txn_id) through every transaction of the source, once per chunk, instead
        # of looking up the chunk's payouts in their index
        async with self.sessions() as session:
            connection = await session.connection()
            rows = await connection.execute(
                select(*_STORED_COLUMNS).where(
                    PaymentTransactionRow.source == source,
                    PaymentTransactionRow.payout_id.in_(ids),
                )
            )
            transactions = sorted(map(StoredTransaction._make, rows), key=_by_id)
        # read by the thousand and never again: not cached, not kept (sources.bulk)
        with bulk_reads():
            found = await fetch_counterparts(self.registry, payments, transactions)
        lines = match_transactions(transactions, found)
        created = {txn.id: txn.created_at for txn in transactions}
        by_payout: dict[str, list[LineResult]] = {}
        for line in lines:
            by_payout.setdefault(line.payout_id or "", []).append(line)
        txns_by_payout: dict[str, list[SettledTransaction]] = {}
        for txn in transactions:
            txns_by_payout.setdefault(txn.payout or "", []).append(txn)
        now = self.clock()
        verdicts: list[tuple[Payout, PayoutBalance]] = []
        for row in payouts:
            payout = _payout_of(row)
            balance = balance_payout(
                payout, txns_by_payout.get(payout.id, []), by_payout.get(payout.id, [])
            )
            verdicts.append((payout, balance))
            total.by_status[balance.status.value] = total.by_status.get(balance.status.value, 0) + 1
        return _Chunk(source, payouts, verdicts, lines, created, now)

    async def _store_chunk(self, chunk: _Chunk, total: ReconcileProgress) -> None:
        """Write a chunk's verdicts and lines and unmark its payouts in one transaction, then
        raise its exceptions."""
        source, payouts, verdicts, lines, created, now = chunk
        ids = [row.payout_id for row in payouts]
        # the sync may have touched a payout meanwhile: it stays marked (its synced_at moved)
        synced: dict[datetime, list[str]] = {}
        for row in payouts:
            synced.setdefault(row.synced_at, []).append(row.payout_id)
        async with self.sessions() as session, session.begin():
            await session.execute(
                delete(PayoutReconciliationRow).where(
                    tuple_(PayoutReconciliationRow.source, PayoutReconciliationRow.payout_id).in_(
                        [(source, payout_id) for payout_id in ids]
                    )
                )
            )
            await session.execute(
                delete(ReconciliationLineRow).where(
                    ReconciliationLineRow.source == source,
                    ReconciliationLineRow.payout_id.in_(ids),
                )
            )
            # on the connection, a Core executemany: through the session, the ORM's bulk path
            # spent as long again sorting the rows' values into its own per-row commands
            connection = await session.connection()
            await connection.execute(
                insert(PayoutReconciliationRow),
                [_verdict_values(source, payout, balance, now) for payout, balance in verdicts],
            )
            if lines:
                # on PostgreSQL one JSON array the server takes apart (db.upsert.rows_insert):
                # SQLAlchemy's executemany there bound every value of every line in Python
                # (about a fifth of the reconciliation's CPU at 200,000 transactions)
                dialect = connection.dialect.name
                await connection.execute(
                    rows_insert(dialect, _LINES, _LINE_COLUMNS),
                    rows_parameters(
                        dialect,
                        _LINE_COLUMNS,
                        [
                            line_values(source, line, created[line.txn_id or ""], now)
                            for line in lines
                        ],
                    ),
                )
            await session.execute(
                update(PaymentPayoutRow)
                .where(
                    PaymentPayoutRow.source == source,
                    or_(
                        *(
                            and_(
                                PaymentPayoutRow.synced_at == synced_at,
                                PaymentPayoutRow.payout_id.in_(payout_ids),
                            )
                            for synced_at, payout_ids in synced.items()
                        )
                    ),
                )
                .values(needs_reconciliation=False)
            )
        total.payouts += len(payouts)
        total.lines += len(lines)
        if self.raise_exceptions:
            await self._raise(source, verdicts, lines, total)

    async def _raise(
        self,
        source: str,
        verdicts: Sequence[tuple[Payout, PayoutBalance]],
        lines: Sequence[LineResult],
        total: ReconcileProgress,
    ) -> None:
        now = self.clock()
        reporter = Reporter("reconciler", detected_at=now)
        reports = []
        for payout, balance in verdicts:
            if balance.status is not ReconciliationStatus.VARIANCE:
                continue
            reports.append(
                reporter.about_record(
                    ExceptionKind.PAYOUT_MISMATCH,
                    f"PAYOUT_MISMATCH:{source}:{payout.id}",
                    source,
                    payout.id,
                    "payout",
                    summary=f"payout {payout.id} paid {_money(payout.amount, payout.currency)} but"
                    f" its transactions net {_money(balance.expected_minor, payout.currency)}"
                    f" (variance {_money(balance.variance_minor, payout.currency)})",
                    owner_source=source,
                    details={
                        "payoutId": payout.id,
                        "varianceMinor": str(balance.variance_minor),
                        "expectedMinor": str(balance.expected_minor),
                    },
                )
            )
        for line in lines:
            if line.status is not MatchStatus.REFUND_WITHOUT_RETURN:
                continue
            reports.append(
                reporter.about_record(
                    ExceptionKind.REFUND_WITHOUT_RETURN,
                    f"REFUND_WITHOUT_RETURN:{source}:{line.txn_id}",
                    source,
                    str(line.details.get("refundId", line.txn_id)),
                    "refund",
                    summary=line.reason,
                    # the catalogue names the owner kind (the ERP books a credit memo)
                    owner_source=self.registry.erps[0].name if self.registry.erps else source,
                    order_source=(
                        self.registry.storefronts[0].name if self.registry.storefronts else None
                    ),
                    order_ref=line.order_ref,
                    details=dict(line.details) | {"txnId": line.txn_id or ""},
                )
            )
        storefront = self.registry.storefronts[0].name if self.registry.storefronts else None
        reports += amount_mismatches(source, lines, now, order_source=storefront)
        total.exceptions_raised += await take_in_many(self.sessions, self.catalogue, reports)


def amount_mismatches(
    source: str, lines: Sequence[LineResult], now: datetime, *, order_source: str | None
) -> list[ExceptionReport]:
    """Money that moved wrongly, owned by the payments provider: a charge that took another
    amount than the storefront captured, or a refund that returned another amount than it
    recorded. A charge that took more offers its excess back (``excessMinor``)."""
    reporter = Reporter("reconciler", detected_at=now)
    reports = []
    for line in lines:
        if line.status is not MatchStatus.AMOUNT_MISMATCH or line.difference_minor is None:
            continue
        charge = line.details.get("chargeId")
        details: dict[str, Any] = dict(line.details) | {
            "txnId": line.txn_id or "",
            "orderRef": line.order_ref or "",
            "currency": line.details.get("currency") or line.currency,
            "differenceMinor": str(line.difference_minor),
            "recordId": charge or line.details.get("refundId") or line.txn_id or "",
        }
        if charge and line.type == "charge" and line.difference_minor > 0:
            details["excessMinor"] = str(line.difference_minor)
        reports.append(
            reporter.about_record(
                ExceptionKind.AMOUNT_MISMATCH,
                f"AMOUNT_MISMATCH:{source}:{line.txn_id}",
                source,
                details["recordId"],
                line.type,
                summary=line.reason,
                owner_source=source,
                order_source=order_source,
                order_ref=line.order_ref,
                details=details,
            )
        )
    return reports
