"""``reconcile``: payouts reconciliation at scale (issue 6), each phase in its own process.

    .venv/bin/python benchmarks/run.py reconcile [--transactions 100000] [--payouts 500]

A synthetic payments provider, storefront, ERP and WMS answer through ``httpx.MockTransport``,
computing every record from its id on demand (charge ``ch_N`` -> order ``SF-N`` -> capture
amount from N), so the fake holds no records and the memory measured is omnigraph's. Phases:

1. baseline: the feed pages and their payouts' balance transactions fetched and parsed, not stored
2. ingestion: ``PaymentsReader.sync_once()`` into an empty database
3. baseline: the payout equation alone, one SQL ``GROUP BY`` over the stored transactions
4. reconciliation: ``Reconciler.reconcile_pending()`` (matching, equation, lines, exceptions)

Each phase runs in a fresh Python process, so its peak memory is that process's
``ru_maxrss`` (``tracemalloc`` made reconciliation 2.8x slower), printed with its growth
during the phase; inside ``omnigraph.runtime.batch.batch_collection()``, as
``omnigraph sync payments`` runs. Wall and CPU seconds are both printed, with the load
average: on a shared machine CPU seconds are the steadier figure. A small share of
mismatches is planted; the run fails unless reconciliation reports exactly those, and
nothing else.
SQLite (a temporary file) by default; ``OMNIGRAPH_BENCH_DATABASE_URL`` names another server
(a PostgreSQL URL gets a scratch database on that server, dropped afterwards).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import os
import platform
import pstats
import resource
import shlex
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from statistics_server import analyzing

from omnigraph.app import demo_sources_config
from omnigraph.db.engine import create_engine, create_session_factory, upgrade_database
from omnigraph.db.models import (
    ExceptionRow,
    PaymentPayoutRow,
    PaymentTransactionRow,
    PayoutReconciliationRow,
    ReconciliationLineRow,
)
from omnigraph.exceptions.catalogue import ExceptionCatalogue
from omnigraph.payouts.reconciler import Reconciler
from omnigraph.payouts.sync import PaymentsReader
from omnigraph.runtime.batch import batch_collection
from omnigraph.settings import Settings
from omnigraph.sources.parsing import parse_record
from omnigraph.sources.records import Payout
from omnigraph.sources.registry import SourceRegistry

__all__ = ["SyntheticBusiness", "reconcile_benchmark"]

BASE = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
DAY = 86_400
ADJUSTMENTS = (-850, -400, -120, 75, 230, 500)
PHASES = ("fetch", "ingest", "equation", "reconcile")
URLS = {
    "storefront": "http://storefront.invalid",
    "erp": "http://erp.invalid",
    "wms": "http://wms.invalid",
    "payments": "http://payments.invalid",
}

Json = dict[str, Any]


def _iso(unix: int) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat()


def _money(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


def _number(record_id: str, prefix: str) -> int | None:
    """N from ``prefix + N``; None for any other id (so ``ch_`` never matches ``ch_r7``)."""
    digits = record_id[len(prefix) :] if record_id.startswith(prefix) else ""
    return int(digits) if digits.isdigit() else None


@dataclass(frozen=True, slots=True)
class SyntheticBusiness:
    """``transactions`` balance transactions swept by ``payouts`` payouts, all derived from ids.

    Activities 1..N (N = transactions - payouts) are spread evenly over the payouts; each payout
    also has its own ``payout`` transaction. By N: 1% screening fees, 0.2% adjustments, 5%
    refunds (half for returned goods), 0.1% disputes, the rest charges, each its own order.
    Planted: 0.1% of charges captured for a different amount in the storefront, 1 in 100
    returned-goods refunds the warehouse never received, and 1% of payouts off by a penny.
    """

    transactions: int
    payouts: int

    @property
    def activities(self) -> int:
        return self.transactions - self.payouts

    def first(self, payout: int) -> int:
        """The first activity payout ``payout`` sweeps (payouts count from 1)."""
        return (payout - 1) * self.activities // self.payouts + 1

    def swept(self, payout: int) -> range:
        return range(self.first(payout), self.first(payout + 1))

    @staticmethod
    def kind(n: int) -> str:
        if n % 100 == 7:
            return "stripe_fee"
        if n % 500 == 251:
            return "adjustment"
        if n % 20 == 3:
            return "refund"
        if n % 1000 == 17:
            return "dispute"
        return "charge"

    @staticmethod
    def amount(n: int) -> int:
        return 500 + (n * 7919) % 19_500

    @staticmethod
    def returned(n: int) -> bool:
        return n % 40 == 3

    def refund_amount(self, n: int) -> int:
        return self.amount(n) if self.returned(n) else self.amount(n) // 2

    def capture_mismatch(self, n: int) -> bool:
        return n % 1000 == 999 and self.kind(n) == "charge"

    def never_received(self, n: int) -> bool:
        return n % 2000 == 1003 and self.kind(n) == "refund"

    @staticmethod
    def variance(payout: int) -> bool:
        return payout % 100 == 42

    def _valid(self, n: int | None, kind: str) -> bool:
        return n is not None and 1 <= n <= self.activities and self.kind(n) == kind

    # -- payments ------------------------------------------------------------------------------

    def transaction(self, n: int, payout: int) -> Json:
        kind, fee, source = self.kind(n), 0, None
        if kind == "charge":
            amount = self.amount(n)
            fee, source = (amount * 15 + 500) // 1000 + 20, f"ch_{n}"  # 1.5% + 20p
        elif kind == "refund":
            amount, source = -self.refund_amount(n), f"re_{n}"
        elif kind == "dispute":
            amount, fee, source = -self.amount(n), 1500, f"dp_{n}"
        elif kind == "stripe_fee":
            amount = -(250 + n % 950)
        else:
            amount = ADJUSTMENTS[n % len(ADJUSTMENTS)]
        category = {"stripe_fee": "fee"}.get(kind, kind)
        return {
            "id": f"txn_{n}",
            "object": "balance_transaction",
            "amount": amount,
            "fee": fee,
            "net": amount - fee,
            "currency": "gbp",
            "type": kind,
            "reporting_category": category,
            "source": source,
            "payout": f"po_{payout}",
            "created": BASE + n,
        }

    def payout(self, payout: int) -> Json:
        net = sum(t["net"] for t in (self.transaction(n, payout) for n in self.swept(payout)))
        created = BASE + self.first(payout + 1) + 3600
        return {
            "id": f"po_{payout}",
            "object": "payout",
            "amount": net + (1 if self.variance(payout) else 0),
            "currency": "gbp",
            "arrival_date": created + 2 * DAY,
            "created": created,
            "status": "paid",
            "method": "standard",
            "metadata": {},
        }

    def transactions_of(self, payout: int) -> Iterator[Json]:
        record = self.payout(payout)
        for n in self.swept(payout):
            yield self.transaction(n, payout)
        yield {
            "id": f"txn_po_{payout}",
            "object": "balance_transaction",
            "amount": -record["amount"],
            "fee": 0,
            "net": -record["amount"],
            "currency": "gbp",
            "type": "payout",
            "reporting_category": "payout",
            "source": record["id"],
            "payout": record["id"],
            "created": record["created"],
        }

    def charge(self, charge_id: str) -> Json | None:
        """``ch_N`` pays order SF-N; ``ch_rN`` and ``ch_dN`` are the earlier charges that
        refund N and dispute N are against (orders SF-RN and SF-DN)."""
        suffix = charge_id[3:] if charge_id.startswith("ch_") else ""
        order_ref = "SF-" + suffix.upper()  # ch_r7 -> SF-R7
        found = self._order_of(order_ref) if suffix.islower() or suffix.isdigit() else None
        if found is None:
            return None
        n, kind = found
        refunds: list[Json] = []
        disputes: list[Json] = []
        if kind == "refund":
            refund = {"id": f"re_{n}", "amount": self.refund_amount(n), "created": BASE + n}
            refunds.append(refund | {"status": "succeeded"})
        elif kind == "dispute":
            disputes.append(self.dispute(f"dp_{n}") or {})
        amount = self.amount(n)
        return {
            "id": charge_id,
            "object": "charge",
            "amount": amount,
            "amount_captured": amount,
            "amount_refunded": sum(r["amount"] for r in refunds),
            "currency": "gbp",
            "captured": True,
            "status": "succeeded",
            "created": BASE + n - DAY,
            "balance_transaction": f"txn_{n}" if charge_id.startswith("ch_") else None,
            "metadata": {"order_ref": order_ref},
            "refunds": refunds,
            "disputes": disputes,
        }

    def refund(self, refund_id: str) -> Json | None:
        n = _number(refund_id, "re_")
        if n is None or not self._valid(n, "refund"):
            return None
        return {
            "id": refund_id,
            "amount": self.refund_amount(n),
            "created": BASE + n,
            "status": "succeeded",
            "charge": f"ch_r{n}",
        }

    def dispute(self, dispute_id: str) -> Json | None:
        n = _number(dispute_id, "dp_")
        if n is None or not self._valid(n, "dispute"):
            return None
        return {
            "id": dispute_id,
            "amount": self.amount(n),
            "status": "lost",
            "created": BASE + n,
            "charge": f"ch_d{n}",
        }

    # -- storefront, ERP, WMS --------------------------------------------------------------------

    def _order_of(self, ref: str) -> tuple[int, str] | None:
        """(N, what the order was paid for) for a storefront order ref this business has."""
        for prefix, kind in (("SF-R", "refund"), ("SF-D", "dispute"), ("SF-", "charge")):
            n = _number(ref, prefix)
            if n is not None:
                return (n, kind) if self._valid(n, kind) else None
        return None

    def order(self, ref: str) -> Json | None:
        found = self._order_of(ref)
        if found is None:
            return None
        n, kind = found
        amount = self.amount(n)
        at = _iso(BASE + n - DAY)
        charge_id = {"charge": f"ch_{n}", "refund": f"ch_r{n}", "dispute": f"ch_d{n}"}[kind]
        captured = amount + (100 if self.capture_mismatch(n) else 0)
        money = [_transaction(f"{ref}-c", "capture", captured, charge_id, at)]
        returns = []
        if kind == "refund":
            refund = _transaction(f"{ref}-r", "refund", self.refund_amount(n), f"re_{n}", at)
            if self.returned(n):
                refund["returnId"] = f"RT-{n}"
                returns.append({"id": f"RT-{n}", "status": "received", "openedAt": at})
            money.append(refund)
        return {
            "id": ref,
            "name": f"#{ref}",
            "channel": "web",
            "fulfilmentMethod": "ship",
            "currency": "GBP",
            "status": "closed",
            "fulfilmentStatus": "fulfilled",
            "financialStatus": "paid",
            "placedAt": at,
            "updatedAt": at,
            "lines": [
                {"id": f"{ref}-1", "sku": _sku(n), "quantity": 1, "unitPrice": _money(amount)}
            ],
            "totals": {"subtotal": _money(amount), "total": _money(amount)},
            "returns": returns,
            "transactions": money,
        }

    def sales_order(self, ref: str) -> Json | None:
        found = self._order_of(ref)
        if found is None:
            return None
        n, kind = found
        at, amount = _iso(BASE + n), self.amount(n)
        memos = []
        if kind == "refund":
            memos.append(
                {
                    "id": f"CM-{n}",
                    "amount": _money(self.refund_amount(n)),
                    "issuedAt": at,
                    "returnRef": f"RT-{n}" if self.returned(n) else None,
                }
            )
        return {
            "id": f"SO-{ref[3:]}",
            "orderRef": ref,
            "currency": "GBP",
            "terms": "prepaid",
            "status": "invoiced",
            "financialStatus": "paid",
            "lines": [{"lineNo": 1, "sku": _sku(n), "quantity": 1, "unitPrice": _money(amount)}],
            "totals": {"subtotal": _money(amount), "total": _money(amount)},
            "creditMemos": memos,
            "updatedAt": at,
        }

    def fulfilment_order(self, ref: str) -> Json | None:
        found = self._order_of(ref)
        if found is None:
            return None
        n, kind = found
        at = _iso(BASE + n)
        receipts = []
        if kind == "refund" and self.returned(n) and not self.never_received(n):
            receipts.append(
                {
                    "id": f"RR-{n}",
                    "rmaRef": f"RT-{n}",
                    "receivedAt": at,
                    "lines": [{"sku": _sku(n), "quantity": 1}],
                }
            )
        return {
            "id": f"FO-{ref[3:]}",
            "orderRef": ref,
            "locationId": "wh-01",
            "status": "returned" if receipts else "delivered",
            "lines": [{"sku": _sku(n), "quantity": 1, "shipped": 1, "returned": len(receipts)}],
            "updatedAt": at,
            "returnReceipts": receipts,
        }


def _sku(n: int) -> str:
    return f"SKU-{n % 5000:05d}"


def _transaction(tid: str, kind: str, minor: int, gateway_ref: str, at: str) -> Json:
    return {
        "id": tid,
        "kind": kind,
        "amount": _money(minor),
        "currency": "GBP",
        "gatewayRef": gateway_ref,
        "processedAt": at,
    }


@dataclass
class Truth:
    """What reconciliation must report for a business: the planted problems, counted."""

    lines: int = 0
    capture_mismatches: int = 0
    never_received: int = 0
    variances: int = 0
    unreconciled: int = 0
    reconciled: int = 0
    kinds: Counter[str] = field(default_factory=Counter)

    @classmethod
    def of(cls, business: SyntheticBusiness) -> Truth:
        truth = cls()
        for payout in range(1, business.payouts + 1):
            flagged = False
            for n in business.swept(payout):
                truth.lines += 1
                truth.kinds[business.kind(n)] += 1
                if business.capture_mismatch(n):
                    truth.capture_mismatches += 1
                    flagged = True
                elif business.never_received(n):
                    truth.never_received += 1
                    flagged = True
            if business.variance(payout):
                truth.variances += 1
            elif flagged:
                truth.unreconciled += 1
            else:
                truth.reconciled += 1
        return truth


# -- the fake sources ---------------------------------------------------------------------------


class FakeSources:
    """MockTransport handlers for the four sources; they count calls and the time they took."""

    def __init__(self, business: SyntheticBusiness) -> None:
        self.business = business
        self.calls: Counter[str] = Counter()
        self.seconds = 0.0
        # CPU of the handlers' own thread (the phase's thread: the database's runs apart)
        self.cpu_seconds = 0.0

    def transports(self) -> dict[str, httpx.MockTransport]:
        handlers = {  # named as demo_sources_config names them
            "web-store": self._storefront,
            "erp": self._erp,
            "wms": self._wms,
            "psp": self._payments,
        }
        return {
            name: httpx.MockTransport(self._counted(name, handler))
            for name, handler in handlers.items()
        }

    def _counted(
        self, source: str, handler: Callable[[httpx.Request], Json | None]
    ) -> Callable[[httpx.Request], httpx.Response]:
        def answer(request: httpx.Request) -> httpx.Response:
            started, cpu_started = time.perf_counter(), time.thread_time()
            self.calls[f"{source} {request.url.path}"] += 1
            body = handler(request)
            # orjson, as a real source's server would encode: the standard library's encoder
            # was a third of the fake's time
            response = httpx.Response(
                404 if body is None else 200,
                content=orjson.dumps({"error": "NOT_FOUND"} if body is None else body),
                headers={"Content-Type": "application/json"},
            )
            self.seconds += time.perf_counter() - started
            self.cpu_seconds += time.thread_time() - cpu_started
            return response

        return answer

    @staticmethod
    def _wanted(request: httpx.Request, key: str) -> list[str]:
        return list(orjson.loads(request.content)[key])

    def _payments(self, request: httpx.Request) -> Json | None:
        business, path = self.business, request.url.path
        if path == "/changes":
            after = int(request.url.params.get("after") or 0)
            last = min(business.payouts, after + int(request.url.params["limit"]))
            events = []
            for payout in range(after + 1, last + 1):
                record = business.payout(payout)
                events.append(
                    {
                        "id": f"evt_payments_{payout}",
                        "sequence": payout,
                        "type": "payout.paid",
                        "recordType": "payout",
                        "recordId": record["id"],
                        "occurredAt": _iso(record["arrival_date"]),
                        "data": record,
                    }
                )
            return {"events": events, "nextCursor": str(last), "hasMore": last < business.payouts}
        if path == "/balance-transactions/by-payout":
            rows: list[Json] = []
            for payout_id in self._wanted(request, "payoutIds"):
                number = _number(payout_id, "po_")
                if number is not None and 1 <= number <= business.payouts:
                    rows.extend(business.transactions_of(number))
            return {"data": rows}
        lookups: dict[str, Callable[[str], Json | None]] = {
            "/charges/batch": business.charge,
            "/refunds/batch": business.refund,
            "/disputes/batch": business.dispute,
        }
        if path in lookups:
            return self._batch(request, "ids", lookups[path])
        return None

    def _storefront(self, request: httpx.Request) -> Json | None:
        if request.url.path == "/orders/batch":
            return self._batch(request, "ids", self.business.order)
        return None

    def _erp(self, request: httpx.Request) -> Json | None:
        if request.url.path == "/sales-orders/by-order-ref":
            return self._batch(request, "orderRefs", self.business.sales_order)
        return None

    def _wms(self, request: httpx.Request) -> Json | None:
        if request.url.path == "/fulfilment-orders/by-order-ref":
            return self._batch(request, "orderRefs", self.business.fulfilment_order)
        return None

    def _batch(
        self, request: httpx.Request, key: str, lookup: Callable[[str], Json | None]
    ) -> Json:
        found = (lookup(wanted) for wanted in self._wanted(request, key))
        return {"data": [record for record in found if record is not None]}


# -- one phase, run in its own process -----------------------------------------------------------


def _max_rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux


class _GarbageCollectorClock:
    """CPU time spent in Python's cyclic garbage collector while the block runs."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def _observe(self, phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.process_time()
        else:
            self.seconds += time.process_time() - self._started

    def __enter__(self) -> _GarbageCollectorClock:
        gc.callbacks.append(self._observe)
        return self

    def __exit__(self, *_exc: object) -> None:
        gc.callbacks.remove(self._observe)


def _registry(fake: FakeSources, url: str) -> SourceRegistry:
    settings = Settings(database_url=url)
    return SourceRegistry(demo_sources_config(URLS), settings, transports=fake.transports())


async def _fetch_only(registry: SourceRegistry, page_size: int) -> dict[str, int]:
    """The ingestion baseline: every feed page and its payouts' transactions, parsed, not kept."""
    payments = registry.payments[0]
    cursor: str | None = None
    payouts = transactions = 0
    while True:
        events, cursor, more = await payments.client.changes(cursor, page_size)
        ids = sorted(
            parse_record(payments.name, Payout, event["data"]).id
            for event in events
            if event.get("recordType") == "payout"
        )
        swept = await payments.balance_transactions_by_payout(ids) if ids else {}
        payouts += len(ids)
        transactions += sum(len(txns) for txns in swept.values())
        if not more or not events:
            return {"payouts": payouts, "transactions": transactions}


async def _equation_only(url: str) -> dict[str, int]:
    """The reconciliation baseline: every payout's equation from one GROUP BY, no matching."""
    engine = create_engine(url)
    txn, payout = PaymentTransactionRow, PaymentPayoutRow
    swept = (
        select(txn.source, txn.payout_id, func.sum(txn.net_minor).label("net"))
        .where(txn.type != "payout")
        .group_by(txn.source, txn.payout_id)
        .subquery()
    )
    query = select(payout.payout_id, payout.amount_minor, func.coalesce(swept.c.net, 0)).outerjoin(
        swept, (swept.c.source == payout.source) & (swept.c.payout_id == payout.payout_id)
    )
    try:
        async with engine.connect() as connection:
            rows = (await connection.execute(query)).all()
    finally:
        await engine.dispose()
    return {"payouts": len(rows), "variances": sum(1 for _, paid, net in rows if paid != net)}


async def _phase(name: str, business: SyntheticBusiness, url: str, profile: str | None) -> Json:
    fake = FakeSources(business)
    registry = _registry(fake, url)
    engine = create_engine(url)
    sessions = create_session_factory(engine)
    reader = PaymentsReader(sessions, registry)
    reconciler = Reconciler(sessions, registry, ExceptionCatalogue.load())
    work: Callable[[], Awaitable[Any]]
    if name == "fetch":
        work = lambda: _fetch_only(registry, reader.page_size)  # noqa: E731
    elif name == "ingest":
        work = reader.sync_once
    elif name == "equation":
        work = lambda: _equation_only(url)  # noqa: E731
    else:
        work = reconciler.reconcile_pending
    repeat = 3 if name == "equation" else 1  # the only phase that leaves no trace
    try:
        if name != "fetch":
            async with engine.connect() as connection:  # connect before the clock starts
                await connection.execute(text("SELECT 1"))
                if engine.dialect.name == "postgresql":  # as autovacuum would have by now
                    await connection.execute(text("ANALYZE"))
                    await connection.commit()
        rss_ready = _max_rss_kb()
        profiler = cProfile.Profile() if profile else None
        samples, cpu = [], []
        # each phase is a batch process, collected as `omnigraph sync payments` collects; on
        # PostgreSQL, ANALYZE as autovacuum would while the phase fills its tables (planned as
        # the empty tables they were, the reconciliation's DELETE of each chunk's old lines read
        # every line stored so far: 1M transactions took 216 s wall for 91 s of CPU)
        async with analyzing(engine):
            with _GarbageCollectorClock() as collector, batch_collection():
                for _ in range(repeat):
                    if profiler:
                        profiler.enable()
                    started, cpu_started = time.perf_counter(), time.process_time()
                    outcome = await work()
                    samples.append(time.perf_counter() - started)
                    cpu.append(time.process_time() - cpu_started)
                    if profiler:
                        profiler.disable()
        rss_peak = _max_rss_kb()
    finally:
        await registry.aclose()
        await engine.dispose()
    if profiler and profile:
        profiler.dump_stats(profile)
    counts = outcome if isinstance(outcome, dict) else asdict(outcome)
    return {
        "seconds": statistics.median(samples),
        "cpu_seconds": statistics.median(cpu),
        "gc_seconds": collector.seconds / repeat,
        "repeat": repeat,
        "calls": dict(fake.calls),
        "fake_seconds": fake.seconds / repeat,
        "fake_cpu_seconds": fake.cpu_seconds / repeat,
        "rss_ready_kb": rss_ready,
        "rss_peak_kb": rss_peak,
        "outcome": counts,
    }


def _child(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("phase", choices=PHASES)
    parser.add_argument("--transactions", type=int, required=True)
    parser.add_argument("--payouts", type=int, required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--result", required=True)
    parser.add_argument("--profile")
    args = parser.parse_args(argv)
    business = SyntheticBusiness(args.transactions, args.payouts)
    result = asyncio.run(_phase(args.phase, business, args.database, args.profile))
    Path(args.result).write_text(json.dumps(result))


# -- the run ------------------------------------------------------------------------------------


def _run_phase(
    name: str, business: SyntheticBusiness, url: str, folder: str, profile: bool
) -> Json:
    result = Path(folder) / f"{name}.json"
    command = [
        sys.executable,
        __file__,
        name,
        f"--transactions={business.transactions}",
        f"--payouts={business.payouts}",
        f"--database={url}",
        f"--result={result}",
    ]
    if profile:
        command.append(f"--profile={Path(folder) / f'{name}.prof'}")
    subprocess.run(command, check=True)
    return dict(json.loads(result.read_text()))


async def _prepare(url: str) -> str:
    """Migrate an empty database; return what it is (engine and version) for the report."""
    engine = create_engine(url)
    try:
        await upgrade_database(engine)
        async with engine.connect() as connection:
            if engine.dialect.name == "sqlite":
                return f"SQLite {sqlite3.sqlite_version} (file)"
            version = await connection.scalar(text("SHOW server_version"))
            # without autovacuum nothing is ever analyzed, and plans stay those of empty tables
            autovacuum = await connection.scalar(text("SHOW autovacuum"))
            return f"PostgreSQL {str(version).split()[0]}, autovacuum {autovacuum}"
    finally:
        await engine.dispose()


async def _scratch(server: str, name: str, statement: str) -> None:
    """CREATE or DROP database ``name`` through the PostgreSQL database ``server`` names."""
    engine = create_async_engine(make_url(server), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(f'{statement} "{name}"'))
    finally:
        await engine.dispose()


async def _found(url: str) -> dict[str, Counter[str]]:
    engine = create_engine(url)
    queries = {
        "lines": select(ReconciliationLineRow.status, func.count()).group_by(
            ReconciliationLineRow.status
        ),
        "payouts": select(PayoutReconciliationRow.status, func.count()).group_by(
            PayoutReconciliationRow.status
        ),
        "exceptions": select(ExceptionRow.kind, func.count()).group_by(ExceptionRow.kind),
        "stored": select(text("'transactions'"), func.count()).select_from(PaymentTransactionRow),
    }
    try:
        async with engine.connect() as connection:
            return {
                what: Counter({str(k): int(v) for k, v in (await connection.execute(q)).all()})
                for what, q in queries.items()
            }
    finally:
        await engine.dispose()


def _check(business: SyntheticBusiness, truth: Truth, found: dict[str, Counter[str]]) -> list[str]:
    """(what, planted, found) rows; raise SystemExit if reconciliation missed or invented any."""
    expected = {
        ("stored", "transactions"): business.transactions,
        ("lines", "MATCHED"): truth.lines - truth.capture_mismatches - truth.never_received,
        ("lines", "AMOUNT_MISMATCH"): truth.capture_mismatches,
        ("lines", "REFUND_WITHOUT_RETURN"): truth.never_received,
        ("payouts", "VARIANCE"): truth.variances,
        ("payouts", "UNRECONCILED"): truth.unreconciled,
        ("payouts", "RECONCILED"): truth.reconciled,
        ("exceptions", "PAYOUT_MISMATCH"): truth.variances,
        ("exceptions", "REFUND_WITHOUT_RETURN"): truth.never_received,
        # each charge captured for another amount is money that moved wrongly: one exception
        # owned by the payments provider per mismatched line
        ("exceptions", "AMOUNT_MISMATCH"): truth.capture_mismatches,
    }
    report, wrong = [], []
    for (what, key), want in expected.items():
        got = found[what].pop(key, 0)
        report.append(f"{what} {key}: {got:,} of {want:,}")
        if got != want:
            wrong.append(f"{what} {key}: expected {want:,}, found {got:,}")
    wrong += [
        f"{what} {key}: {count:,} unexpected"
        for what, c in found.items()
        for key, count in c.items()
    ]
    if wrong:
        raise SystemExit("reconciliation is wrong:\n  " + "\n  ".join(wrong))
    return report


def _by_source(calls: dict[str, int]) -> Counter[str]:
    totals: Counter[str] = Counter()
    for endpoint, count in calls.items():
        totals[endpoint.split()[0]] += count
    return totals


def reconcile_benchmark(
    transactions: int, payouts: int, *, profile: bool = False
) -> dict[str, Json]:
    """Print the table, and answer each phase's figures (``seconds``, ``cpu_seconds``,
    ``calls``, ...) by phase name."""
    if payouts < 1 or transactions < 2 * payouts:
        raise SystemExit("need at least one payout and two transactions per payout")
    business = SyntheticBusiness(transactions, payouts)
    truth = Truth.of(business)
    load = os.getloadavg()[0]
    given = os.environ.get("OMNIGRAPH_BENCH_DATABASE_URL")
    scratch = given is not None and make_url(given).get_backend_name() == "postgresql"
    with tempfile.TemporaryDirectory() as folder:
        url = given or f"sqlite+aiosqlite:///{folder}/reconcile.sqlite3"
        scratch_name = f"omnigraph_bench_{os.getpid()}"
        if given and scratch:
            asyncio.run(_scratch(given, scratch_name, "CREATE DATABASE"))
            url = make_url(given).set(database=scratch_name).render_as_string(hide_password=False)
        try:
            database = asyncio.run(_prepare(url))
            if scratch:
                database += f" (scratch database {scratch_name})"
            results = {name: _run_phase(name, business, url, folder, profile) for name in PHASES}
            found = asyncio.run(_found(url))
            if profile:
                for name in ("ingest", "reconcile"):
                    _print_profile(name, Path(folder) / f"{name}.prof")
        finally:
            if given and scratch:
                asyncio.run(_scratch(given, scratch_name, "DROP DATABASE IF EXISTS"))
    checks = _check(business, truth, found)
    _print_table(business, truth, database, results, (load, os.getloadavg()[0]), profile)
    print("planted and found: " + "; ".join(checks))
    return results


def _own_rate(business: SyntheticBusiness, result: Json) -> str:
    """Transactions per CPU second spent by omnigraph itself: not in the fake sources."""
    own = result["cpu_seconds"] - result["fake_cpu_seconds"]
    return f"{business.transactions / own:,.0f}" if own > 0 else "-"


def _print_profile(name: str, path: Path) -> None:
    out = io.StringIO()
    pstats.Stats(str(path), stream=out).sort_stats("tottime").print_stats(25)
    print(f"--- cProfile of {name}, by own time ---")
    print(out.getvalue())


def _print_table(
    business: SyntheticBusiness,
    truth: Truth,
    database: str,
    results: dict[str, Json],
    load: tuple[float, float],
    profile: bool,
) -> None:
    command = [os.path.relpath(sys.executable), *sys.argv]
    prefix = ""
    if "OMNIGRAPH_BENCH_DATABASE_URL" in os.environ:
        prefix = (
            "OMNIGRAPH_BENCH_DATABASE_URL="
            + shlex.quote(os.environ["OMNIGRAPH_BENCH_DATABASE_URL"])
            + " "
        )
    mix = ", ".join(f"{kind} {count:,}" for kind, count in truth.kinds.most_common())
    print(f"command: {prefix}{shlex.join(command)}")
    print(
        f"cores: {os.cpu_count()}   Python {platform.python_version()}   database: {database}"
        f"   load average at start and end: {load[0]:.1f}, {load[1]:.1f} (other work on the"
        " machine shows here: then trust CPU seconds over wall seconds)"
    )
    print(
        f"{business.transactions:,} balance transactions across {business.payouts:,} payouts"
        f" ({mix}, payout {business.payouts:,})"
    )
    print(
        "one run per phase (the GROUP BY baseline: median of 3), each in a fresh process."
        " wall and CPU seconds of the phase; 'in fake': wall seconds inside the fake sources'"
        " handlers, 'fake CPU': their CPU seconds, 'GC': CPU seconds in Python's garbage"
        " collector (all three included in the phase); 'own/s': transactions per CPU second"
        " of omnigraph's own (the phase's CPU less the fake's); peak = the process's"
        " ru_maxrss, (+) = its growth during the phase"
        + ("; UNDER cProfile, times inflated" if profile else "")
    )
    header = (
        f"{'phase':<45}{'wall s':>8}{'CPU s':>8}{'txns/s':>10}{'vs base':>9}{'calls/1k':>9}"
        f"{'in fake':>8}{'fake CPU':>9}{'own/s':>10}{'GC':>7}{'peak MB':>8}{'(+)':>6}"
    )
    print(header)
    print("-" * len(header))
    labels = {
        "fetch": "baseline: fetch + parse pages, no store",
        "ingest": "ingestion: PaymentsReader.sync_once",
        "equation": "baseline: payout equation, one GROUP BY",
        "reconcile": "reconciliation: Reconciler.reconcile_pending",
    }
    baseline_of = {"ingest": "fetch", "reconcile": "equation"}
    for name in PHASES:
        result = results[name]
        seconds = result["seconds"]
        calls = sum(result["calls"].values())
        base = results[baseline_of.get(name, name)]["seconds"]
        print(
            f"{labels[name]:<45}{seconds:>8.2f}{result['cpu_seconds']:>8.1f}"
            f"{business.transactions / seconds:>10,.0f}{seconds / base:>8.1f}x"
            f"{calls * 1000 / business.transactions:>9.2f}{result['fake_seconds']:>8.1f}"
            f"{result['fake_cpu_seconds']:>9.1f}{_own_rate(business, result):>10}"
            f"{result['gc_seconds']:>7.1f}{result['rss_peak_kb'] / 1024:>8.0f}"
            f"{(result['rss_peak_kb'] - result['rss_ready_kb']) / 1024:>+6.0f}"
        )
    for name in ("ingest", "reconcile"):
        calls = results[name]["calls"]
        by_source = ", ".join(f"{s} {c:,}" for s, c in sorted(_by_source(calls).items()))
        endpoints = ", ".join(f"{e} {c:,}" for e, c in sorted(calls.items()))
        print(f"upstream calls in {name}: {by_source}  ({endpoints})")


if __name__ == "__main__":
    _child(sys.argv[1:])
