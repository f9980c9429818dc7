"""Loader building blocks every room's loaders share: per-source batching, fan-out by order
ref, and a database loader whose batches each open their own short session.

Loaders are created per request (their cache is the request's memory of what a system said). A
source that fails answers its keys with :class:`~omnigraph.core.errors.UpstreamUnavailable`, so
only the fields that need it fail.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

from aiodataloader import DataLoader
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from omnigraph.core.errors import OmnigraphError
from omnigraph.sources.records import Sourced

__all__ = ["DatabaseLoader", "SourceKey", "fan_out_by_ref", "gather_by_source"]

SourceKey = tuple[str, str]
RecordT = TypeVar("RecordT")
ValueT = TypeVar("ValueT")
KeyT = TypeVar("KeyT")


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


class DatabaseLoader(DataLoader[KeyT, ValueT]):
    """Each batch opens its own short session: one AsyncSession is not safe across tasks."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        super().__init__()
        self.sessions = sessions
