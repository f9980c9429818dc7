"""Per-request loaders: each batches the keys a resolver level asks for into one call per source.

Loaders are created per request (their cache is the request's memory of what a system said).
A source that fails answers its keys with :class:`~omnigraph.core.errors.UpstreamUnavailable`, so only
the fields that need it fail.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

from aiodataloader import DataLoader
from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnigraph.core.errors import OmnigraphError
from omnigraph.db.models import (
    ExceptionEventRow,
    ExceptionRow,
    OutboxCommandRow,
    PayoutReconciliationRow,
    ReconciliationLineRow,
)
from omnigraph.sources.records import (
    BalanceTransaction,
    Charge,
    FulfilmentOrder,
    Payout,
    SalesOrder,
    Sourced,
    StockLevel,
    StorefrontOrder,
)
from omnigraph.sources.registry import SourceRegistry

__all__ = [
    "BalanceTransactionsByPayoutLoader",
    "ChargesByOrderRefLoader",
    "CommandsByExceptionLoader",
    "ExceptionHistoryLoader",
    "ExceptionsByIdLoader",
    "ExceptionsByOrderLoader",
    "FulfilmentOrdersByOrderRefLoader",
    "Loaders",
    "PayoutsByKeyLoader",
    "SalesOrdersByOrderRefLoader",
    "StockBySkuLoader",
    "StorefrontOrdersByKeyLoader",
]

SourceKey = tuple[str, str]
RecordT = TypeVar("RecordT")
ValueT = TypeVar("ValueT")
KeyT = TypeVar("KeyT")


async def _gather_by_source(
    keys: Sequence[SourceKey],
    fetch: Callable[[str, list[str]], Awaitable[dict[str, ValueT]]],
) -> list[ValueT | Exception | None]:
    """Group ``(source, id)`` keys by source, fetch each group once, answer in key order."""
    by_source: dict[str, list[str]] = defaultdict(list)
    for source, record_id in keys:
        by_source[source].append(record_id)
    names = list(by_source)
    results = await asyncio.gather(
        *(fetch(name, by_source[name]) for name in names), return_exceptions=True
    )
    found: dict[str, dict[str, ValueT] | BaseException] = dict(zip(names, results, strict=True))
    answers: list[ValueT | Exception | None] = []
    for source, record_id in keys:
        result = found[source]
        if isinstance(result, OmnigraphError):
            answers.append(result)
        elif isinstance(result, BaseException):
            raise result
        else:
            answers.append(result.get(record_id))
    return answers


async def _fan_out_by_ref(
    refs: Sequence[str],
    adapters: Iterable[Any],
    fetch: Callable[[Any, list[str]], Awaitable[dict[str, list[RecordT]]]],
) -> list[list[Sourced[RecordT]] | Exception]:
    """Ask every source of one kind about ``refs`` at once; merge their answers per ref."""
    adapters = list(adapters)
    results = await asyncio.gather(
        *(fetch(adapter, list(refs)) for adapter in adapters), return_exceptions=True
    )
    merged: dict[str, list[Sourced[RecordT]]] = {ref: [] for ref in refs}
    for adapter, result in zip(adapters, results, strict=True):
        if isinstance(result, OmnigraphError):
            return [result for _ in refs]
        if isinstance(result, BaseException):
            raise result
        for ref, records in result.items():
            if ref in merged:
                merged[ref].extend(Sourced(adapter.name, record) for record in records)
    return [merged[ref] for ref in refs]


class StorefrontOrdersByKeyLoader(DataLoader[SourceKey, Sourced[StorefrontOrder] | None]):
    """``(storefront source, order id)`` -> ``Sourced[StorefrontOrder]`` or ``None``."""

    def __init__(self, registry: SourceRegistry) -> None:
        super().__init__()
        self.registry = registry

    async def batch_load_fn(  # type: ignore[override]  # per-key errors are documented
        self, keys: Sequence[SourceKey]
    ) -> list[Sourced[StorefrontOrder] | Exception | None]:
        async def fetch(source: str, ids: list[str]) -> dict[str, Sourced[StorefrontOrder]]:
            adapter = self.registry.storefront(source)
            if adapter is None:
                return {}
            found = await adapter.orders_by_id(ids)
            return {key: Sourced(source, order) for key, order in found.items()}

        return await _gather_by_source(keys, fetch)


class SalesOrdersByOrderRefLoader(DataLoader[str, list[Sourced[SalesOrder]]]):
    """Storefront order ref -> the ERP sales orders that carry it (from every ERP)."""

    def __init__(self, registry: SourceRegistry) -> None:
        super().__init__()
        self.registry = registry

    async def batch_load_fn(  # type: ignore[override]  # per-key errors are documented
        self, refs: Sequence[str]
    ) -> list[list[Sourced[SalesOrder]] | Exception]:
        return await _fan_out_by_ref(
            refs, self.registry.erps, lambda erp, chunk: erp.sales_orders_by_order_ref(chunk)
        )


class FulfilmentOrdersByOrderRefLoader(DataLoader[str, list[Sourced[FulfilmentOrder]]]):
    """Storefront order ref -> the WMS fulfilment orders that carry it (from every WMS)."""

    def __init__(self, registry: SourceRegistry) -> None:
        super().__init__()
        self.registry = registry

    async def batch_load_fn(  # type: ignore[override]  # per-key errors are documented
        self, refs: Sequence[str]
    ) -> list[list[Sourced[FulfilmentOrder]] | Exception]:
        return await _fan_out_by_ref(
            refs,
            self.registry.warehouses,
            lambda wms, chunk: wms.fulfilment_orders_by_order_ref(chunk),
        )


class ChargesByOrderRefLoader(DataLoader[str, list[Sourced[Charge]]]):
    """Storefront order ref -> the payment provider's charges for it."""

    def __init__(self, registry: SourceRegistry) -> None:
        super().__init__()
        self.registry = registry

    async def batch_load_fn(self, refs: Sequence[str]) -> list[list[Sourced[Charge]] | Exception]:  # type: ignore[override]  # per-key errors are documented
        return await _fan_out_by_ref(
            refs, self.registry.payments, lambda psp, chunk: psp.charges_by_order_ref(chunk)
        )


class PayoutsByKeyLoader(DataLoader[SourceKey, Payout | None]):
    """``(payments source, payout id)`` -> ``Payout`` or ``None``."""

    def __init__(self, registry: SourceRegistry) -> None:
        super().__init__()
        self.registry = registry

    async def batch_load_fn(self, keys: Sequence[SourceKey]) -> list[Payout | Exception | None]:  # type: ignore[override]  # per-key errors are documented
        adapters = {p.name: p for p in self.registry.payments}

        async def fetch(source: str, ids: list[str]) -> dict[str, Payout]:
            adapter = adapters.get(source)
            return {} if adapter is None else await adapter.payouts_by_id(ids)

        return await _gather_by_source(keys, fetch)


class BalanceTransactionsByPayoutLoader(DataLoader[SourceKey, list[BalanceTransaction] | None]):
    """``(payments source, payout id)`` -> the balance transactions settled in that payout."""

    def __init__(self, registry: SourceRegistry) -> None:
        super().__init__()
        self.registry = registry

    async def batch_load_fn(  # type: ignore[override]  # per-key errors are documented
        self, keys: Sequence[SourceKey]
    ) -> list[list[BalanceTransaction] | Exception | None]:
        adapters = {p.name: p for p in self.registry.payments}

        async def fetch(source: str, ids: list[str]) -> dict[str, list[BalanceTransaction]]:
            adapter = adapters.get(source)
            return {} if adapter is None else await adapter.balance_transactions_by_payout(ids)

        return await _gather_by_source(keys, fetch)


class StockBySkuLoader(DataLoader[str, list[StockLevel]]):
    """SKU -> its stock rows at every location of every WMS."""

    def __init__(self, registry: SourceRegistry) -> None:
        super().__init__()
        self.registry = registry

    async def batch_load_fn(self, skus: Sequence[str]) -> list[list[StockLevel] | Exception]:  # type: ignore[override]  # per-key errors are documented
        async def fetch(wms: Any, chunk: list[str]) -> dict[str, list[StockLevel]]:
            grouped: dict[str, list[StockLevel]] = defaultdict(list)
            for row in await wms.stock(chunk, None):
                grouped[row.sku].append(row)
            return grouped

        answers = await _fan_out_by_ref(skus, self.registry.warehouses, fetch)
        return [
            a if isinstance(a, Exception) else [sourced.record for sourced in a] for a in answers
        ]


class _DatabaseLoader(DataLoader[KeyT, ValueT]):
    """Each batch opens its own short session: one AsyncSession is not safe across tasks."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        super().__init__()
        self.sessions = sessions


class ExceptionsByIdLoader(_DatabaseLoader[str, ExceptionRow | None]):
    async def batch_load_fn(self, ids: Sequence[str]) -> list[ExceptionRow | None]:
        async with self.sessions() as session:
            rows = await session.scalars(select(ExceptionRow).where(ExceptionRow.id.in_(ids)))
            found = {row.id: row for row in rows}
        return [found.get(i) for i in ids]


class ExceptionsByOrderLoader(_DatabaseLoader[SourceKey, list[ExceptionRow]]):
    """``(storefront source, order ref)`` -> exceptions about that order, newest first."""

    async def batch_load_fn(self, keys: Sequence[SourceKey]) -> list[list[ExceptionRow]]:
        refs = sorted({ref for _, ref in keys})
        async with self.sessions() as session:
            rows = await session.scalars(
                select(ExceptionRow)
                .where(ExceptionRow.order_ref.in_(refs))
                .order_by(ExceptionRow.detected_at.desc(), ExceptionRow.id)
            )
            grouped: dict[SourceKey, list[ExceptionRow]] = defaultdict(list)
            for row in rows:
                grouped[(row.order_source or "", row.order_ref or "")].append(row)
        return [grouped.get(key, []) for key in keys]


class ExceptionHistoryLoader(_DatabaseLoader[str, list[ExceptionEventRow]]):
    async def batch_load_fn(self, ids: Sequence[str]) -> list[list[ExceptionEventRow]]:
        async with self.sessions() as session:
            rows = await session.scalars(
                select(ExceptionEventRow)
                .where(ExceptionEventRow.exception_id.in_(ids))
                .order_by(ExceptionEventRow.id)
            )
            grouped: dict[str, list[ExceptionEventRow]] = defaultdict(list)
            for row in rows:
                grouped[row.exception_id].append(row)
        return [grouped.get(i, []) for i in ids]


class CommandsByExceptionLoader(_DatabaseLoader[str, list[OutboxCommandRow]]):
    async def batch_load_fn(self, ids: Sequence[str]) -> list[list[OutboxCommandRow]]:
        async with self.sessions() as session:
            rows = await session.scalars(
                select(OutboxCommandRow)
                .where(OutboxCommandRow.exception_id.in_(ids))
                .order_by(OutboxCommandRow.created_at)
            )
            grouped: dict[str, list[OutboxCommandRow]] = defaultdict(list)
            for row in rows:
                grouped[row.exception_id].append(row)
        return [grouped.get(i, []) for i in ids]


class PayoutVerdictLoader(_DatabaseLoader[SourceKey, PayoutReconciliationRow | None]):
    """``(payments source, payout id)`` -> the reconciler's last verdict on that payout."""

    async def batch_load_fn(
        self, keys: Sequence[SourceKey]
    ) -> list[PayoutReconciliationRow | None]:
        async with self.sessions() as session:
            rows = await session.scalars(
                select(PayoutReconciliationRow).where(
                    tuple_(PayoutReconciliationRow.source, PayoutReconciliationRow.payout_id).in_(
                        list(keys)
                    )
                )
            )
            found = {(row.source, row.payout_id): row for row in rows}
        return [found.get(key) for key in keys]


class UnmatchedLinesLoader(_DatabaseLoader[SourceKey, list[ReconciliationLineRow]]):
    """``(payments source, payout id)`` -> the lines behind it that did not match."""

    async def batch_load_fn(self, keys: Sequence[SourceKey]) -> list[list[ReconciliationLineRow]]:
        async with self.sessions() as session:
            rows = await session.scalars(
                select(ReconciliationLineRow)
                .where(
                    tuple_(ReconciliationLineRow.source, ReconciliationLineRow.payout_id).in_(
                        list(keys)
                    ),
                    ReconciliationLineRow.status != "MATCHED",
                )
                .order_by(ReconciliationLineRow.key)
            )
            grouped: dict[SourceKey, list[ReconciliationLineRow]] = defaultdict(list)
            for row in rows:
                grouped[(row.source, row.payout_id or "")].append(row)
        return [grouped.get(key, []) for key in keys]


class Loaders:
    """The loaders of one request."""

    def __init__(
        self, registry: SourceRegistry, sessions: async_sessionmaker[AsyncSession]
    ) -> None:
        self.storefront_orders = StorefrontOrdersByKeyLoader(registry)
        self.sales_orders = SalesOrdersByOrderRefLoader(registry)
        self.fulfilment_orders = FulfilmentOrdersByOrderRefLoader(registry)
        self.charges = ChargesByOrderRefLoader(registry)
        self.payouts = PayoutsByKeyLoader(registry)
        self.balance_transactions = BalanceTransactionsByPayoutLoader(registry)
        self.stock = StockBySkuLoader(registry)
        self.exceptions = ExceptionsByIdLoader(sessions)
        self.exceptions_by_order = ExceptionsByOrderLoader(sessions)
        self.exception_history = ExceptionHistoryLoader(sessions)
        self.exception_commands = CommandsByExceptionLoader(sessions)
        self.payout_verdicts = PayoutVerdictLoader(sessions)
        self.unmatched_lines = UnmatchedLinesLoader(sessions)

    def forget(self) -> None:
        """Drop every answer the request's loaders hold, once the request is answered."""
        for loader in vars(self).values():
            if isinstance(loader, DataLoader):
                loader.clear_all()
