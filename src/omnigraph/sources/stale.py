"""Stale-if-error: the last good answer of a source, served for a while when it is down.

A GraphQL request opens a :func:`stale_reads` scope; inside it, a read that fails with
``UpstreamUnavailable`` may be answered from the last good copy of every record it asked for,
if that copy is younger than the source's window, and the scope records which source was
served stale and how old the copy was (the response carries it in ``extensions.stale``).
Outside a scope (background workers: the reconciler, the ledger, the detector) nothing is ever
served stale: they must see the truth or wait. Nor are copies kept there (:attr:`LastGood.keeping`):
a reconciliation reads a million records no request will ask for again. Money never goes stale:
ERP and payments sources have no window at all (see ``SourceRegistry``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from cachetools import TTLCache

from omnigraph.core.errors import UpstreamUnavailable

__all__ = ["LastGood", "StaleRead", "served_stale", "stale_reads"]


@dataclass(frozen=True, slots=True)
class StaleRead:
    source: str
    age_seconds: float
    reason: str

    def as_extension(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "ageSeconds": round(self.age_seconds, 1),
            "reason": self.reason,
        }


_reads: ContextVar[list[StaleRead] | None] = ContextVar("omnigraph_stale_reads", default=None)


@contextlib.contextmanager
def stale_reads() -> Iterator[list[StaleRead]]:
    """Allow stale answers in this scope; the list fills with what was served stale."""
    served: list[StaleRead] = []
    token = _reads.set(served)
    try:
        yield served
    finally:
        _reads.reset(token)


def served_stale(read: StaleRead) -> bool:
    """Say that ``read`` was answered from an old copy, where a scope is open (the response
    then carries it); whether one was. For reference data kept elsewhere than :class:`LastGood`
    (a WMS's locations, omnigraph.inventory.locations)."""
    served = _reads.get()
    if served is None:
        return False
    served.append(read)
    return True


class LastGood:
    """The last good copy of each record a source answered, kept for ``window_seconds``.

    Ages are read from ``clock`` (seconds, monotonic; tests replace it to move time by hand)."""

    def __init__(
        self,
        source: str,
        *,
        window_seconds: float,
        max_entries: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.window_seconds = window_seconds
        self.clock = clock
        self._copies: TTLCache[tuple[str, ...], tuple[float, Any]] | None = (
            TTLCache(maxsize=max_entries, ttl=window_seconds, timer=lambda: self.clock())
            if window_seconds > 0 and max_entries
            else None
        )

    @property
    def keeping(self) -> bool:
        """Whether a copy kept now may ever be served: only inside a :func:`stale_reads` scope
        (a GraphQL query), so that background reads hold no copies in memory."""
        return self._copies is not None and _reads.get() is not None

    def keep(self, key: tuple[str, ...], value: Any) -> None:
        if self._copies is not None:
            self._copies[key] = (self.clock(), value)

    def serve(self, keys: Sequence[tuple[str, ...]], error: UpstreamUnavailable) -> list[Any]:
        """The copies for ``keys``, or ``error`` again when stale answers are not allowed here
        or any copy is missing (a partial answer would hide which records are stale)."""
        served = _reads.get()
        if served is None or self._copies is None:
            raise error
        copies = [self._copies.get(key) for key in keys]
        if any(copy is None for copy in copies):
            raise error
        now = self.clock()
        oldest = max(now - copy[0] for copy in copies if copy is not None)
        served.append(StaleRead(self.source, oldest, error.message))
        return [copy[1] for copy in copies if copy is not None]
