"""Loader building blocks every room's loaders share: per-source batching, fan-out by order
ref, and database loaders whose batches each run one query in their own short session.

Loaders are created per request (their cache is the request's memory of what a system said). A
source that fails answers its keys with :class:`~omnigraph.core.errors.UpstreamUnavailable`, so
only the fields that need it fail.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Generic, TypeVar

from aiodataloader import DataLoader
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnigraph.core.errors import OmnigraphError
from omnigraph.sources.records import Sourced

__all__ = [
    "BySourceLoader",
    "DatabaseLoader",
    "FanOutLoader",
    "RowLoader",
    "RowsLoader",
    "SourceKey",
    "fan_out_by_ref",
    "gather_by_source",
]

SourceKey = tuple[str, str]
RecordT = TypeVar("RecordT")
ValueT = TypeVar("ValueT")
KeyT = TypeVar("KeyT")
RowT = TypeVar("RowT")


async def gather_by_source(
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


async def fan_out_by_ref(
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


class BySourceLoader(DataLoader[SourceKey, ValueT | None]):
    """``(source, id)`` -> what ``fetch`` finds for that id at that source, or ``None``: each
    source asked once a batch (``gather_by_source``)."""

    def __init__(self, fetch: Callable[[str, list[str]], Awaitable[dict[str, ValueT]]]) -> None:
        super().__init__()
        self.fetch = fetch

    async def batch_load_fn(  # type: ignore[override]  # per-key errors are documented
        self, keys: Sequence[SourceKey]
    ) -> list[ValueT | Exception | None]:
        return await gather_by_source(keys, self.fetch)


class FanOutLoader(DataLoader[str, list[Sourced[RecordT]]]):
    """Order ref -> what every one of ``adapters`` (the sources of one kind) holds for it: each
    asked once a batch (``fan_out_by_ref``)."""

    def __init__(
        self,
        adapters: Iterable[Any],
        fetch: Callable[[Any, list[str]], Awaitable[dict[str, list[RecordT]]]],
    ) -> None:
        super().__init__()
        self.adapters = list(adapters)
        self.fetch = fetch

    async def batch_load_fn(  # type: ignore[override]  # per-key errors are documented
        self, refs: Sequence[str]
    ) -> list[list[Sourced[RecordT]] | Exception]:
        return await fan_out_by_ref(refs, self.adapters, self.fetch)


class DatabaseLoader(DataLoader[KeyT, ValueT]):
    """Each batch opens its own short session: one AsyncSession is not safe across tasks."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        super().__init__()
        self.sessions = sessions


class _QueryLoader(DatabaseLoader[KeyT, ValueT], Generic[KeyT, ValueT, RowT]):
    """One ``query`` a batch of keys, each row it finds under its ``key``."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        query: Callable[[Sequence[KeyT]], Select[RowT]],
        key: Callable[[RowT], KeyT],
    ) -> None:
        super().__init__(sessions)
        self.query = query
        self.key = key

    async def _rows(self, keys: Sequence[KeyT]) -> list[tuple[KeyT, RowT]]:
        async with self.sessions() as session:
            return [(self.key(row), row) for row in await session.scalars(self.query(keys))]


class RowLoader(_QueryLoader[KeyT, RowT | None, RowT]):
    """Key -> the row ``query`` finds for it, or ``None``."""

    async def batch_load_fn(self, keys: Sequence[KeyT]) -> list[RowT | None]:
        found = dict(await self._rows(keys))
        return [found.get(key) for key in keys]


class RowsLoader(_QueryLoader[KeyT, list[RowT], RowT]):
    """Key -> the rows ``query`` finds for it, in the query's order."""

    async def batch_load_fn(self, keys: Sequence[KeyT]) -> list[list[RowT]]:
        grouped: dict[KeyT, list[RowT]] = defaultdict(list)
        for key, row in await self._rows(keys):
            grouped[key].append(row)
        return [grouped.get(key, []) for key in keys]
